#pragma once

#include "actors/context.hpp"

#include <caf/fwd.hpp>

namespace depot::actors {

/// A reader: serves the read-only operations straight from the store and
/// answers the client itself through ctx->sink. Downloads are ranged reads
/// (pread) of at most chunk_max bytes into a fresh buffer that travels to
/// the socket without another copy. A client with more than its quota of
/// download bytes still unwritten to its connection (ctx->unread) gets
/// `busy` instead. Blocks on disk I/O: runs detached.
///
/// Takes (no response to the sender; the client gets the reply):
/// - (request_atom, origin, schema::download_request)
/// - (request_atom, origin, schema::stat_request)
/// - (request_atom, origin, schema::list_request)
caf::behavior reader(caf::event_based_actor* self, context_ptr ctx);

}  // namespace depot::actors
