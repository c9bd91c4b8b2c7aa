#pragma once

// The depot workloads, spoken over raw ZeroMQ with schema/codec.hpp (no
// client library): one large upload, its pipelined download, and many 4 KiB
// uploads and downloads from concurrent DEALER sockets. Each function runs
// on the calling thread, throws std::runtime_error on an error reply or a
// silent server, and discards what it downloads.

#include "bench/report.hpp"
#include "testkit/wire.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace depot::bench {

/// Applied to every client socket below before it connects (with --curve:
/// the key of an admitted client). Set before the load starts.
extern test::socket_setup client_setup;

/// A finished large upload.
struct upload_outcome {
  measure time;    ///< bytes, and seconds from `upload` to the last reply
  std::string id;  ///< the stored file
  /// Chunks refused with `busy` and with `out_of_order` (they are resent:
  /// see upload_big). A client within its window should see neither.
  uint64_t busy = 0, out_of_order = 0;
};

/// Uploads one file of `size` bytes (declared `size`, no `sha256`, so the
/// content is hashed once, by the server), keeping min(`window`, the
/// server's window) chunks unacknowledged. The content is a 64 MiB random
/// block reused chunk by chunk and sent zero-copy, each chunk stamped with
/// a per-upload nonce and its index so that no two chunks or uploads are
/// alike. Chunks refused with `busy` are resent (go-back-N) and counted.
upload_outcome upload_big(const std::string& endpoint, uint64_t size,
                          size_t window);

/// Downloads file `id` of `size` bytes with `window` `download` requests in
/// flight at consecutive offsets, each of `chunk` bytes. With several
/// `endpoints` (depotd processes on one store) the requests go to them in
/// turn, one socket each.
measure download_big(const std::vector<std::string>& endpoints,
                     const std::string& id, uint64_t size, size_t chunk,
                     size_t window);

/// Finished 4 KiB uploads.
struct small_outcome {
  measure time;                  ///< files, seconds
  std::vector<std::string> ids;  ///< the stored files
  uint64_t dedups = 0;           ///< replies with dedup true (should be 0)
  /// `upload` requests answered `busy` (each retried after a short pause),
  /// how many files were stored and how long it had run when the first
  /// came, and its message.
  uint64_t busy = 0;
  uint64_t first_busy_after = 0;
  double first_busy_s = 0;
  std::string busy_message;
};

/// 4 KiB uploads (`upload` with size, then one last chunk) from `clients`
/// DEALER sockets driven by one thread, connected to `endpoints` in turn, each
/// doing one upload at a time; up to `count` files or `cap_s` seconds. Every
/// file has distinct random content. An `upload` answered `busy` is retried
/// after busy_backoff. `mime`, if given, is declared with every upload (as a
/// chat server passing on its client's content type would); without it depotd
/// detects the type from the content.
small_outcome upload_small(const std::vector<std::string>& endpoints,
                           int clients, uint64_t count, double cap_s,
                           std::optional<std::string> mime);

/// `download`s of whole 4 KiB files from `ids` in turn, from `clients`
/// DEALER sockets (connected to `endpoints` in turn) each with one request
/// in flight; up to `count` downloads or `cap_s` seconds. With `meta`, each
/// asks for the file's metadata too (`meta: true`, as a client that knows
/// only the id does) and a reply without it is an error.
measure download_small(const std::vector<std::string>& endpoints, int clients,
                       const std::vector<std::string>& ids, uint64_t count,
                       double cap_s, bool meta = false);

}  // namespace depot::bench
