#pragma once

#include "actors/messages.hpp"
#include "schema/messages.hpp"

#include <caf/fwd.hpp>

#include <string>

namespace depot::actors {

/// The assembler: one per upload, owner of its token. It applies
/// docs/protocol.md's chunk rules, holds up to `ram_threshold` bytes in RAM
/// and streams the rest through its disk writer to a staging file, feeds
/// every chunk to its hasher as it arrives (a one-chunk upload of at most
/// 64 KiB it hashes itself: no hasher is spawned), and at the last chunk
/// checks size and digest and has a committer commit the file: uploads
/// held in RAM the first commit lane, streamed ones the others. A chunk is
/// acknowledged once it is hashed and held or written; the last one once
/// the file is durable. It answers requesters itself through ctx->sink;
/// no message gets a response to its sender.
///
/// - (chunk_atom, requester, schema::chunk_request): the chunk's ack,
///   completion or error;
/// - (status_atom, requester): upload_status reply;
/// - (abort_atom, requester): abort reply; frees everything unless done;
/// - (tick_atom) from the janitor (actors/janitor.hpp): after
///   `idle_timeout` without a request it aborts itself. It keeps no timer.
///
/// At completion it hands a finished_upload record to ctx->uploads (which
/// answers retries and status from then on, for `completion_linger`) and
/// ends; aborted or failed, it withdraws its token and ends. Either way it
/// gives its `reservation` back to ctx->budget (and the client's share of
/// the per-client limits) first, and answers what is
/// already in its mailbox before it goes.
using assembler_actor = caf::typed_actor<
    caf::reacts_to<chunk_atom, requester, schema::chunk_request>,
    caf::reacts_to<status_atom, requester>,
    caf::reacts_to<abort_atom, requester>, caf::reacts_to<tick_atom>>;

/// Spawns the assembler of upload `token` declared as `decl`, which owns
/// `reservation` bytes of the memory budget from now on, and `client_hold`
/// (server::client_uploads::begin: the upload charged to the client that
/// began it); it gives both back whenever it ends
/// (server::upload_reservation says how many bytes). `began_by` is the
/// client that asked for it, named in its log lines until another
/// connection sends a request naming the upload.
///
/// Logged at info: one line as it ends, "upload stored" (id, token, bytes,
/// dedup, duration_ms, peer), "upload failed" (token, code, error, bytes,
/// duration_ms, peer; at warn when the server is at fault) or "upload
/// aborted" (token, reason: client or idle, bytes, duration_ms, peer).
assembler_actor spawn_assembler(caf::actor_system& sys, context_ptr ctx,
                                std::string token, schema::upload_request decl,
                                uint64_t reservation,
                                std::shared_ptr<const void> client_hold,
                                transport::peer began_by);

}  // namespace depot::actors
