#pragma once

// For `depotd fsck` (storage/fsck.hpp): what the entries of one object in
// its shard directory say, and what repair would do about it. Reads only.

#include "storage/file_system.hpp"
#include "storage/fsck.hpp"
#include "storage/fsck_instances.hpp"
#include "storage/layout.hpp"
#include "storage/meta_file.hpp"
#include "storage/sha256.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace depot::storage {

/// The names of one object in its shard directory.
struct object_entries {
  bool bytes = false;             ///< REST
  bool meta = false;              ///< REST.meta
  bool dead = false;              ///< REST.dead
  std::vector<std::string> refs;  ///< `REST.r.GEN.TOKEN` names
};

/// A shard directory's names grouped by object (REST -> its entries), and
/// the names that belong to none (strays).
void group_entries(const std::vector<std::string>& names,
                   std::map<std::string, object_entries>* objects,
                   std::vector<std::string>* strays);

/// One look at an object, and what repair would do.
struct object_check {
  std::string id;                 ///< the object's
  object_entries entries;         ///< as listed
  bool meta_ok = false;           ///< `meta` was read and decoded
  stored_meta meta;               ///< valid if meta_ok
  file_status meta_st;            ///< of REST.meta, if present
  file_status bytes_st;           ///< of REST, if present
  std::optional<digest> content;  ///< the bytes' digest, if hashed
  bool in_flight = false;         ///< a live instance's `.dead`: left alone
  std::vector<fsck_finding> findings;    ///< what is wrong, none if clean
  bool tombstone = false;                ///< collect the stale `.dead` marker
  bool quarantine = false;               ///< move every entry aside
  std::vector<std::string> drop_refs;    ///< refs of another generation
  std::vector<std::string> relink_refs;  ///< refs that hold no metadata

  /// Nothing to report (though it may be in flight).
  bool clean() const { return findings.empty() && !in_flight; }
};

/// Examines objects, hashing their bytes with one fixed buffer. One
/// thread at a time; every reference outlives this.
class object_examiner {
 public:
  object_examiner(file_system& fs, const std::string& root,
                  const fsck_options& options, fsck_instances& instances,
                  fsck_report& counts);

  /// Looks at `id` as `names` (a listing of its shard directory, sorted)
  /// shows it.
  /// `before`: an earlier look whose digest is reused if the bytes are the
  /// same file (inode and size) and were hashed.
  object_check examine(const std::string& id,
                       const std::vector<std::string>& names,
                       const object_check* before);

 private:
  void check_bytes(object_check& c, const object_paths& p,
                   const object_check* before);
  void check_refs(object_check& c, const object_paths& p);
  std::optional<digest> hash(const std::string& path, uint64_t* size, int* err);
  void add(object_check& c, fsck_kind kind, const std::string& path,
           std::string detail);
  std::string rel(const std::string& path) const;

  file_system* fs_;
  std::string root_;
  const fsck_options* options_;
  fsck_instances* instances_;
  fsck_report* counts_;
  std::vector<std::byte> buffer_;
};

}  // namespace depot::storage
