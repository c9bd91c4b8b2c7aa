#pragma once

// The RADOS ceilings depot_bench --rados measures depot against: the same
// operations depot's RADOS store does, through librados directly, on the
// same pool and namespace, without depot. And the cleanup that empties the
// namespace at the end of a run (the test cluster's memstore OSD keeps every
// object in RAM). Every function runs on the calling thread, waits for every
// operation it started, and throws std::runtime_error on a failed one.

#include "bench/report.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace depot::storage::rados {
class pool;
}

namespace depot::bench {

/// A connection to one pool and namespace, for the ceilings and the cleanup.
class rados_target {
 public:
  /// Connects as `id` with `conf` to `pool` and sets namespace `ns`; throws
  /// std::runtime_error saying why it cannot.
  rados_target(const std::string& conf, const std::string& id,
               const std::string& pool, const std::string& ns);
  ~rados_target();
  rados_target(const rados_target&) = delete;
  rados_target& operator=(const rados_target&) = delete;

  /// `total` bytes from `block` written as objects of `object_bytes` each
  /// (write_full), `in_flight` at once, as depot's store writes an upload's
  /// stripes. The objects stay for read_bulk.
  measure write_bulk(const std::vector<std::byte>& block, uint64_t total,
                     size_t object_bytes, unsigned in_flight);

  /// The objects write_bulk wrote, read back in `piece`-byte reads,
  /// `in_flight` at once, as depot's download requests arrive.
  measure read_bulk(uint64_t total, size_t object_bytes, size_t piece,
                    unsigned in_flight);

  /// 4 KiB objects, distinct random content, written (write_full) with
  /// `in_flight` at once; up to `count` or `cap_s` seconds.
  measure write_small(unsigned in_flight, uint64_t count, double cap_s);

  /// The objects write_small wrote, read whole in turn, `in_flight` at
  /// once; up to `count` or `cap_s` seconds.
  measure read_small(unsigned in_flight, uint64_t count, double cap_s);

  /// Removes every object in the namespace (64 removals in flight);
  /// returns how many.
  uint64_t remove_all();

 private:
  std::shared_ptr<storage::rados::pool> pool_;
  uint64_t small_written_ = 0;
};

}  // namespace depot::bench
