#pragma once

#include "actors/messages.hpp"

#include <cstddef>

namespace depot::actors {

/// Download ranges of this many bytes or more are the file's pages mapped
/// into memory; smaller ones are read into a buffer of their own.
inline constexpr size_t reader_mapped_from = 64 * 1024;

/// A reader: serves the read-only operations straight from the store and
/// answers the requester itself through ctx->sink. A download is one range
/// of at most chunk_max bytes: from `reader_mapped_from` bytes up the
/// file's pages mapped (ZeroMQ writes them to the socket from the page
/// cache, no copy), below it read (pread) into a fresh buffer; either
/// travels to the socket without another copy. A client with more than its
/// quota of download bytes still unwritten to its connection (ctx->unread)
/// gets `busy` instead. Blocks on disk I/O: runs detached.
///
/// Each message gets no response to the sender; the requester gets the
/// reply (download_reply, with the file's metadata when the request asked
/// for it; stat_reply, list_reply, or an error). Logged at
/// debug: one line per download range ("download": id, offset, bytes,
/// size, eof, peer), per stat and per list, and the error code of each
/// refused one.
using reader_actor = caf::typed_actor<
    caf::reacts_to<request_atom, requester, schema::download_request>,
    caf::reacts_to<request_atom, requester, schema::stat_request>,
    caf::reacts_to<request_atom, requester, schema::list_request>>;

/// The reader's behavior, to spawn (detached) with a context.
reader_actor::behavior_type reader(reader_actor::pointer self, context_ptr ctx);

}  // namespace depot::actors
