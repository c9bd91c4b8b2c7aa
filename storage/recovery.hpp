#pragma once

// Recovery of what dead instances of a POSIX store left: an instance
// directory under ROOT/.staging whose lock nobody holds. Its unfinished
// operations (storage/journal.hpp) are rolled back, then its staging files
// and directory removed; what it did is logged.

#include "storage/file_system.hpp"
#include "storage/journal.hpp"
#include "storage/object_table.hpp"

#include <mutex>
#include <string>

namespace depot::storage {

/// Recovers dead instances on behalf of the live instance `own`. Thread
/// safe; recoveries in several processes at once exclude each other
/// through the dead instance's lock.
class recovery {
 public:
  /// For the store at `root`; what it does is journaled in `log` (the
  /// live instance's). Every reference outlives this.
  recovery(file_system& fs, std::string root, std::string own, journal& log,
           object_table& objects);

  /// Recovers every dead instance found now, and removes directories of
  /// instances that died while forming (ID.tmp, unlocked). An instance
  /// that cannot be recovered completely is left (logged) for the next
  /// attempt. Returns how many were recovered (0 after a clean stop).
  size_t recover_dead_instances();

 private:
  bool recover_instance(const std::string& name);
  bool recover_forming(const std::string& name);

  file_system* fs_;
  journal* log_;
  std::string root_;
  std::string staging_root_;
  std::string own_;
  object_table* objects_;
  std::mutex mutex_;
};

}  // namespace depot::storage
