#pragma once

// For `depotd fsck --repair` (storage/fsck.hpp): the repairs, made by an
// instance of the store's own so that live instances see them as they see
// each other's work. Each re-checks what it acts on just before acting:
//   - moving an object aside (quarantine) first links a `.dead` marker to
//     this instance's lock, as a delete deciding does: a joining upload
//     that comes later waits for it, one that came earlier is in its
//     instance's journal, read after the marker, and then the object is
//     left alone; the object is looked at again under the marker and moved
//     (bytes first, metadata last) only if it is still what was examined;
//   - a stale marker is collected by the store's own object_table::collect;
//   - a reference entry of a dead generation is removed (no operation ever
//     makes one valid again), a bogus one of the live generation replaced
//     by a link to the metadata in one rename (the count never drops).

#include "storage/file_system.hpp"
#include "storage/fsck.hpp"
#include "storage/fsck_instances.hpp"
#include "storage/fsck_object.hpp"
#include "storage/posix_instance.hpp"

#include <string>

namespace depot::storage {

/// Repairs in the store at `root` as instance `own`. One thread at a time;
/// every reference outlives this.
class fsck_repairer {
 public:
  /// `stamp` names this run's quarantine directories.
  fsck_repairer(file_system& fs, std::string root, posix_instance& own,
                fsck_instances& instances, std::string stamp);

  /// Does what `c` (an examination) says repair should, filling its
  /// findings' action and repaired.
  void repair_object(object_check& c);

  /// Moves the stray entry `f.path` into ROOT/.quarantine/stray.STAMP/.
  void quarantine_stray(fsck_finding& f);

 private:
  // Where the entries of `c` go: a fresh ROOT/.quarantine/ID.STAMP; false
  // with `*why` if it cannot be made.
  bool quarantine_dir(const std::string& name, std::string* dir,
                      std::string* why);
  bool quarantine(const object_check& c, std::string* action);
  bool take_marked(const object_check& c, std::string* action);
  void fix_refs(object_check& c);

  file_system* fs_;
  std::string root_;
  posix_instance* own_;
  fsck_instances* instances_;
  std::string stamp_;
  std::string stray_dir_;  // made on first use
};

}  // namespace depot::storage
