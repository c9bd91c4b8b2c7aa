#pragma once

// For `depotd fsck` (storage/fsck.hpp): the instances sharing a POSIX store,
// as ROOT/.staging shows them now. An instance is alive while the flock on
// its `lock` file is held; probing takes that lock for an instant when it
// is free (as recovery does), which a recoverer or a forming instance
// already tolerates.

#include "storage/file_system.hpp"

#include <set>
#include <string>
#include <vector>

namespace depot::storage {

/// One entry of ROOT/.staging.
struct staging_entry {
  std::string name;
  bool is_dir = false;  ///< an instance directory (ID, or ID.tmp forming)
  bool alive = false;   ///< its lock is held
};

/// The instances of the store at `root`, seen from instance `own` (empty
/// when fsck runs without one). One thread at a time.
class fsck_instances {
 public:
  /// `fs` outlives this.
  fsck_instances(file_system& fs, std::string root, std::string own);

  /// The entries of ROOT/.staging but `own`'s, looked at now (none if it
  /// does not exist). 0 or an errno.
  int list(std::vector<staging_entry>* out);

  /// Whether instance `name` (16 hex digits, as a `.dead` marker holds
  /// it) is alive now: `own`, or its lock held.
  bool alive(const std::string& name);

  /// The ids that operations open in live instances' journals (`own`'s
  /// excepted) name, read now; a journal rotated while read is read again.
  std::set<std::string> busy_ids();

 private:
  std::string dir_of(const std::string& name) const;

  file_system* fs_;
  std::string staging_root_;
  std::string own_;
};

}  // namespace depot::storage
