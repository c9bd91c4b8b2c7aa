#pragma once

#include "actors/context.hpp"
#include "schema/messages.hpp"

#include <caf/fwd.hpp>

namespace depot::actors {

/// Bytes of the memory budget an upload reserves when it begins: enough for
/// everything it may hold at once (its RAM part, or a window of chunks in
/// flight to disk), never more than its declared size.
uint64_t upload_reservation(const limits& lim, std::optional<uint64_t> size);

/// The assembler: one per upload, owner of its token. It applies
/// PROTOCOL.md's chunk rules, holds up to `ram_threshold` bytes in RAM and
/// streams the rest through its disk writer to a staging file, feeds every
/// chunk to its hasher as it arrives (a one-chunk upload of at most 64 KiB
/// it hashes itself: no hasher is spawned), and at the last chunk checks
/// size and digest and has a committer commit the file. A chunk is
/// acknowledged once it is hashed and held or written; the last one once
/// the file is durable.
/// It answers clients itself through ctx->sink.
///
/// Takes (each with the asking client's origin):
/// - (chunk_atom, origin, schema::chunk_request)
/// - (status_atom, origin)  → upload_status reply
/// - (abort_atom, origin)   → {"ok": true}; frees everything unless done
/// - (tick_atom) from the janitor (actors/janitor.hpp): after
///   `idle_timeout` without a request it aborts itself. It keeps no timer.
///
/// At completion it hands a finished_upload record to ctx->uploads (which
/// answers retries and status from then on, for `completion_linger`) and
/// ends; aborted or failed, it withdraws its token and ends. Either way it
/// gives its `reservation` back to ctx->budget first, and answers what is
/// already in its mailbox before it goes.
///
/// Spawns the assembler of upload `token` which owns `reservation` bytes of
/// the memory budget from now on (given back whenever it ends).
caf::actor spawn_assembler(caf::actor_system& sys, context_ptr ctx,
                           std::string token, schema::upload_request decl,
                           uint64_t reservation);

}  // namespace depot::actors
