#pragma once

// The store on Ceph RADOS: any number of depotd processes on any number of
// hosts serve one store, with nothing shared but the pool. Its parts:
// rados_io (librados handles, errors), index (one entry per file in sorted
// shard objects: claims, references, list), striped (data objects, async
// reads and writes), leases (what a dead process left is reclaimed by the
// others).
//
// An upload: its full stripes are written while it streams in, each under
// the instance's lease; at commit the lease records the candidate id, the
// last stripe is written, and one compare-and-swap on the id's shard object
// claims the id (a free id), or adds a reference (the same content: the new
// data objects are removed), or finds a collision (the next candidate).
// Writes are durable when librados acknowledges them, so batches need no
// barrier.

#include "storage/store.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace depot::storage {

/// How to open a store on a RADOS pool.
struct rados_store_options {
  std::string pool;          ///< the pool (must exist)
  std::string ns;            ///< the namespace in it: a whole store of its own
  std::string conf;          ///< ceph.conf; empty: librados' default search
  std::string id = "admin";  ///< the cephx user, without "client."
  std::optional<unsigned> id_bits;  ///< narrows ids (collision tests only)
  uint32_t max_candidates = 16;     ///< naming candidates tried (>= 16)
  uint64_t stripe_bytes = uint64_t{4} << 20;  ///< bytes per data object
  /// Bytes an upload holds in RAM before its first write: smaller uploads
  /// are written whole when committed, their lease records batched.
  uint64_t first_write = uint64_t{1} << 20;
  /// Bytes of writes one upload has in flight at most (librados' copies).
  uint64_t write_window = uint64_t{4} << 20;

  /// RAM the store holds at most for one upload streaming into it.
  uint64_t staging_bytes() const {
    return first_write > write_window ? first_write : write_window;
  }
  /// How long a stalled or dead instance's staging stays before another
  /// reclaims it.
  std::chrono::milliseconds lease{30000};
};

/// Connects and opens the store. io_error, in one line, when the cluster
/// or the pool cannot be reached; internal for options out of range.
schema::expected<std::shared_ptr<store>> open_rados_store(
    rados_store_options options);

}  // namespace depot::storage
