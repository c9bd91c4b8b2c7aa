#pragma once

// The stored objects of a POSIX store and the protocol that keeps them
// consistent between processes sharing the store, using only exclusive
// creates, links that fail on an existing name and unlinks of one entry:
//   - claim: the first upload of content under a free id renames its
//     metadata into place (the claim), then its bytes;
//   - join: an upload of content already stored adds a reference entry;
//   - collect: the delete of the last reference marks the object `.dead`,
//     counts references again, and only then removes bytes and metadata.
// A reference exists before the step that needs it and every step is
// journaled, so a crash at any point is rolled back by recovery.

#include "schema/error.hpp"
#include "schema/messages.hpp"
#include "storage/file_system.hpp"
#include "storage/journal.hpp"
#include "storage/layout.hpp"
#include "storage/meta_file.hpp"
#include "storage/shard_dirs.hpp"
#include "storage/staging_area.hpp"
#include "storage/temp_file.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace depot::storage {

/// How an upload went into place under one candidate id.
enum class placed {
  stored,     ///< it claimed the id: the content is new
  dedup,      ///< it joined the same content under the id
  collision,  ///< the id holds other content: try the next candidate
};

/// An upload in place: its reference entry exists and its journal entry
/// is open until it is sealed (made durable and acknowledged) or rolled back.
struct placement {
  placed how = placed::stored;
  std::string id;
  stored_meta meta;  ///< the incarnation joined: ours, or a dedup's
  uint64_t op = 0;   ///< its journal entry
  std::string ref_path;
};

/// A live incarnation of an id: its metadata and reference entries.
struct live_object {
  stored_meta meta;
  std::vector<std::string> refs;  ///< names in the id's directory
};

/// The objects of the store at `root`. Thread safe; several processes may
/// work on the same objects at once. Every `id` must be well-formed.
class object_table {
 public:
  /// Every reference outlives this. `recover_dead` is called when a delete
  /// seems stuck: it should recover dead instances, whose deletes stay
  /// undecided otherwise.
  object_table(file_system& fs, std::string root, journal& log,
               staging_area& staging, shard_dirs& dirs,
               std::function<void()> recover_dead);

  /// Puts an upload in place under `id`: claims the id if it is free, joins
  /// it if it holds the same content (`m.sha256`), tries again while it
  /// changes under us. The staged bytes and metadata are renamed into place
  /// where used last, else linked (and their temp names removed later).
  /// busy if the id keeps changing; io_error.
  schema::expected<placement> place_under(const std::string& id,
                                          posix_staging& data,
                                          temp_file& meta_temp,
                                          const stored_meta& m);

  /// Makes `pl` final: its journal entry is ended. An error means the
  /// upload must not be acknowledged (roll it back).
  caf::error seal(const placement& pl) { return log_->end(pl.op); }

  /// Takes `pl` back: its reference goes, the object too if that was the
  /// last. What cannot be undone now stays journaled for recovery.
  void roll_back(const placement& pl);

  /// The file `id` as stat answers, counting the references of `m`'s
  /// generation now (one directory listing).
  schema::expected<schema::file_meta> describe(const std::string& id,
                                               const stored_meta& m);

  /// The live incarnation of `id` among `names` (its directory's entries):
  /// not_found unless its bytes, metadata and a reference are all there.
  schema::expected<live_object> find_live(
      const std::string& id, const std::vector<std::string>& names);

  /// Removes the incarnation of `id` if no reference to it is left,
  /// deciding against concurrent joiners through `.dead`. `dead_owner`
  /// names a dead instance (its lock held by the caller) whose `.dead`
  /// marker may be taken over; a marker of any other instance that is not
  /// alive is taken over too, under that instance's lock. The caller
  /// journals the call. An error leaves the object for recovery to collect.
  caf::error collect(const std::string& id, const std::string& dead_owner);

 private:
  // One try of place_under; nullopt when the id changed under us (retry).
  using try_result = schema::expected<std::optional<placement>>;
  try_result claim(const std::string& id, posix_staging& data,
                   temp_file& meta_temp, const stored_meta& m);
  try_result join(const std::string& id, posix_staging& data,
                  const std::string& meta_temp, const stored_meta& existing);
  // A new reference of `gen` to `id`, a hard link to `link_from`, journaled.
  schema::expected<placement> add_ref(placed how, const std::string& id,
                                      const stored_meta& m,
                                      const std::string& link_from);
  caf::error wait_while_dying(const std::string& id);
  bool lock_if_dead(const std::string& owner, std::unique_ptr<file_lock>* held);
  int read_meta(const object_paths& p, stored_meta* out);
  int settle_bytes(const object_paths& p, posix_staging& data,
                   const stored_meta& m);

  file_system* fs_;
  std::string root_;
  journal* log_;
  staging_area* staging_;
  shard_dirs* dirs_;
  std::function<void()> recover_dead_;
};

}  // namespace depot::storage
