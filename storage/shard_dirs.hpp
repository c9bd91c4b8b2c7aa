#pragma once

// The shard directories ROOT/ab and ROOT/ab/cd that a POSIX store creates
// on demand and never removes, with what this process knows about them
// (created, and known durable), so that a shard it has used once costs no
// further mkdir or directory flush.

#include "schema/error.hpp"
#include "storage/file_system.hpp"

#include <mutex>
#include <string>
#include <vector>

namespace depot::storage {

/// The shard directories of the store at `root`. Thread safe.
class shard_dirs {
 public:
  /// `fs` outlives this.
  shard_dirs(file_system& fs, std::string root);

  /// Makes sure the shard directories of `id` exist (io_error if not).
  caf::error ensure(const std::string& id);

  /// Makes the shard directories of `id` durable: a new directory is
  /// durable once its parent is flushed. Each process flushes the parents
  /// of a shard once, the first time it commits there, whoever created it.
  /// `parent_flushed`: ROOT/ab (and everything else) was flushed since the
  /// entries of `id` were made, by a syncfs.
  caf::error make_durable(const std::string& id, bool parent_flushed);

 private:
  file_system* fs_;
  std::string root_;
  std::mutex mutex_;
  std::vector<bool> durable_l1_;  // ROOT/ab known durable
  std::vector<bool> durable_l2_;  // ROOT/ab/cd known durable
};

}  // namespace depot::storage
