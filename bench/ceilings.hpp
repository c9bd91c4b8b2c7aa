#pragma once

// The ceilings depot is measured against, each taken without depot on this
// machine: raw ZeroMQ over tcp loopback, SHA-256 through the library depot
// uses, and the storage file system. Every function runs on the calling
// thread (plus the helper threads it starts and joins), throws
// std::runtime_error on failure, and leaves no file behind.

#include "bench/report.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace depot::bench {

/// Raw ZeroMQ DEALER→ROUTER over tcp loopback, as depot's uploads use it: the
/// DEALER sends a chunk header frame plus a `chunk`-byte payload frame taken
/// zero-copy from `block`, keeping `window` messages unacknowledged; a ROUTER
/// thread (own context, so own I/O thread) answers each with a small ack.
/// After a 64 MiB warm-up, counts `total` payload bytes.
measure transport_bulk(const std::vector<std::byte>& block, uint64_t total,
                       size_t chunk, size_t window);

/// Raw ZeroMQ tiny request/reply: `clients` DEALER sockets driven by one
/// thread, each with one small request in flight, against a ROUTER thread
/// that answers each with a small reply. Counts up to `ops` round trips
/// within `cap_s` seconds.
measure transport_tiny(int clients, uint64_t ops, double cap_s);

/// SHA-256 through storage/sha256.hpp (OpenSSL EVP) on one core, fed
/// `piece` bytes at a time from `block`, `total` bytes in all.
measure sha256_rate(const std::vector<std::byte>& block, uint64_t total,
                    size_t piece);

/// One file of `total` bytes written sequentially in `piece`-byte writes from
/// `block` into `dir`, then fsync'd; the time covers open to close.
measure write_fsync(const std::string& dir, const std::vector<std::byte>& block,
                    uint64_t total, size_t piece);

/// 4 KiB files created in a fresh subdirectory of `dir`, each: open
/// (O_CREAT|O_EXCL), write, fsync the file, close, fsync the directory.
/// `threads` threads do this at once, up to `count` files or `cap_s` seconds.
measure small_file_fsync(const std::string& dir, int threads, uint64_t count,
                         double cap_s);

}  // namespace depot::bench
