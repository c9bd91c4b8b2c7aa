#pragma once

// One live instance of a POSIX store: its locked staging directory
// ROOT/.staging/INSTANCE, its journal, the object table working through
// them and the recovery of dead instances. Opened and retired together by
// the store (posix_store.cpp) and by `depotd fsck --repair`
// (storage/fsck.hpp), which acts on the store as one more instance.

#include "schema/error.hpp"
#include "storage/file_system.hpp"
#include "storage/journal.hpp"
#include "storage/object_table.hpp"
#include "storage/recovery.hpp"
#include "storage/shard_dirs.hpp"
#include "storage/staging_area.hpp"

#include <memory>
#include <string>

namespace depot::storage {

/// A live instance. Thread safe as its parts are.
class posix_instance {
 public:
  /// Creates ROOT/.staging if missing (io_error if it is a symlink or not a
  /// directory), then a new locked instance directory in it with a journal,
  /// and recovers every dead instance found there (logged). `root` must
  /// exist; `fs` and `dirs` outlive the instance.
  static schema::expected<std::unique_ptr<posix_instance>> open(
      file_system& fs, const std::string& root, shard_dirs& dirs);

  /// Its locked directory ROOT/.staging/INSTANCE (and its name).
  staging_area& staging() { return *staging_; }
  /// Its journal of operations in flight.
  journal& log() { return *journal_; }
  /// The objects, worked on as this instance.
  object_table& objects() { return *objects_; }
  /// The recovery of dead instances, on this instance's behalf.
  recovery& recoverer() { return *recovery_; }

  /// A clean stop: if no operation is open and nothing but the lock is left
  /// in the instance directory, removes it (nothing is left to recover) and
  /// returns true; else leaves it for recovery. Nothing may be begun after.
  bool retire();

 private:
  posix_instance() = default;

  file_system* fs_ = nullptr;
  std::unique_ptr<staging_area> staging_;
  std::unique_ptr<journal> journal_;
  std::unique_ptr<object_table> objects_;
  std::unique_ptr<recovery> recovery_;
};

}  // namespace depot::storage
