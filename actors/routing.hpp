#pragma once

// Requests that need no session: reads go to a reader, requests naming an
// upload go straight to its assembler. The transport's I/O thread routes
// them through the pipeline (one actor hop fewer per chunk and per read);
// a session routes them the same way should one reach it.

#include "actors/context.hpp"
#include "actors/messages.hpp"

#include <cstddef>

namespace depot::actors {

/// Sends `body` on if it is a read (download, stat, list: to reader
/// `turn++` of the pool) or names an upload (chunk, upload_status, abort: to
/// its assembler; a finished upload's record answers at once, an unknown
/// token gets `unknown_upload`).
/// Returns false, leaving `body` alone, for anything else. Thread safe as
/// long as `turn` is the caller's own.
bool route_without_session(const context& ctx, size_t& turn, const requester& o,
                           schema::request_body& body);

}  // namespace depot::actors
