#pragma once

// Internal to the client library: the upload and download procedures behind
// connection::upload*/download*. Not thread safe.

#include "client/client.hpp"
#include "client/local_io.hpp"
#include "client/requester.hpp"

#include <exception>
#include <string_view>

namespace depot::client::detail {

/// Carries an exception thrown by a user's progress callback past the
/// library's catch-all, to be rethrown unchanged at the API boundary.
struct callback_failure {
  std::exception_ptr thrown;
};

/// Calls `fn` (if set) with `p`; its exceptions leave as callback_failure.
void report(const progress_fn& fn, progress p);

/// Uploads `src` under `opts.name`: begins, pipelines chunks within the
/// server's window, resumes from upload_status after timeouts (new socket),
/// and starts over (at most twice, if `src` can rewind) when the server
/// answers unknown_upload.
result<upload_result> run_upload(requester& rq, source& src,
                                 const upload_options& opts);

/// Downloads file `id` (whose metadata `meta` came from `stat`) into `out`
/// with up to options::download_depth requests of `range` bytes in flight;
/// verifies size and SHA-256 against `meta`, then commits `out`.
result<file_meta> run_download(requester& rq, const file_meta& meta,
                               uint64_t range, sink& out,
                               const download_options& opts);

}  // namespace depot::client::detail
