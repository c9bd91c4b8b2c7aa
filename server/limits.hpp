#pragma once

// The server's limits. Each member's initializer is its default, and the
// only one: depotd binds its flags to these members, so `depotd --help`
// prints them from here.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace depot::server {

/// What the server allows; read-only once the pipeline is built.
struct limits {
  uint64_t chunk_max = 1 << 20;  ///< largest chunk or download range, bytes
  uint64_t window = 16;          ///< chunks a client may have unacknowledged
  uint64_t max_file_size = uint64_t{4} << 30;  ///< largest file, bytes
  /// An upload no request names for this long is aborted.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  /// A finished upload still answers retries and status for this long.
  std::chrono::milliseconds completion_linger{std::chrono::seconds(60)};
  uint64_t memory_budget = uint64_t{512} << 20;  ///< bytes all uploads may hold
  /// Bytes one upload holds in RAM; past them it streams to a staging file.
  uint64_t ram_threshold = uint64_t{4} << 20;
  uint64_t max_uploads = 10000;  ///< uploads in progress at once
  /// Uploads in progress one client may have (a tenth of max_uploads).
  uint64_t max_uploads_per_client = 1000;
  /// Bytes of memory_budget one client's uploads may reserve (a quarter:
  /// six uploads of unknown size at the default limits).
  uint64_t memory_per_client = uint64_t{128} << 20;
  /// Download reply bytes of all clients not yet written out; past it the
  /// clients holding more than their share get busy (server/unread_quota).
  uint64_t unread_cap = uint64_t{256} << 20;
  uint64_t max_finished = 300000;  ///< finished uploads answering retries
  /// Bytes the store itself holds in RAM for one upload streaming into it
  /// (the RADOS store: its stripe being filled and its writes in flight;
  /// the POSIX store: none beyond the reservation's RAM part, which holds
  /// its direct I/O block once the upload is past staging_direct_from).
  uint64_t store_staging_bytes = 0;
  std::string server_name =
      "depotd/" DEPOT_VERSION;  ///< told to clients in `ping`
};

/// Bytes of the memory budget an upload reserves when it begins: enough
/// for everything it may hold at once (its RAM part, or a window of chunks
/// in flight to the store and what the store holds of it), never more than
/// its declared `size`.
uint64_t upload_reservation(const limits& lim, std::optional<uint64_t> size);

}  // namespace depot::server
