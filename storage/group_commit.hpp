#pragma once

// Group commit for the POSIX store: the staged_batch that store::stage
// returns. A batch's uploads share their durability barriers: each one's
// bytes and metadata are written (stage), one barrier makes all of them
// durable, each is put in place (place), a second barrier makes all the
// placements durable, and only then is anything acknowledged (settle).
// Small batches use syncfs as the barrier (one journal commit for
// everything); large ones flush file by file and need no barrier, so that
// a small upload never waits for unrelated gigabytes.

#include "storage/file_system.hpp"
#include "storage/object_table.hpp"
#include "storage/shard_dirs.hpp"
#include "storage/staging_area.hpp"
#include "storage/store.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace depot::storage {

/// Ids this store claimed fresh and has not settled yet, and whether one of
/// its own uploads joined the claim meanwhile (any batch). A claim nobody
/// joined has one reference, ours: known without listing its directory.
/// Thread safe.
class fresh_claims {
 public:
  /// Notes a placement: a fresh claim, or a join of one.
  void note(const placement& pl);
  /// Whether the fresh claim of `id` is still ours alone; forgets it.
  bool settle_alone(const std::string& id);

 private:
  std::mutex mutex_;
  std::map<std::string, bool> joined_;
};

/// What a batch works with: parts of its store, which outlive the batch.
struct group_commit_parts {
  file_system& fs;                  ///< the store's file system
  std::string root;                 ///< the store's root directory
  object_table& objects;            ///< where uploads are placed
  shard_dirs& dirs;                 ///< made durable at settle
  staging_area& staging;            ///< where metadata is staged
  fresh_claims& claims;             ///< shared by all batches
  uint32_t max_candidates;          ///< naming candidates tried
  std::optional<unsigned> id_bits;  ///< narrows ids (tests only)
  uint64_t whole_fs_max_bytes;      ///< larger batches flush file by file
  /// How many barrier() calls have begun on the store: a batch that needs
  /// a barrier refuses a step that no barrier began before.
  const std::atomic<uint64_t>& barriers_begun;
};

/// store::stage for the POSIX store: writes each upload's metadata beside
/// its staged bytes (flushing both only when the batch is too large for a
/// shared barrier). A staging file not made by this store fails with
/// internal.
std::unique_ptr<staged_batch> stage_batch(const group_commit_parts& parts,
                                          std::vector<commit_request> requests);

}  // namespace depot::storage
