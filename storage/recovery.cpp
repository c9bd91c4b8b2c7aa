#include "storage/recovery.hpp"

#include "logging/log.hpp"
#include "storage/journal.hpp"
#include "storage/layout.hpp"

#include <cerrno>

namespace depot::storage {

recovery::recovery(file_system& fs, std::string root, std::string own,
                   journal& log, object_table& objects)
    : fs_(&fs),
      log_(&log),
      root_(std::move(root)),
      staging_root_(root_ + "/.staging"),
      own_(std::move(own)),
      objects_(&objects) {}

size_t recovery::recover_dead_instances() {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<std::string> names;
  if (fs_->list_dir(staging_root_, &names) != 0) return 0;
  size_t recovered = 0;
  for (auto& name : names) {
    if (name == own_) continue;
    bool forming =
        name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0;
    if (forming ? recover_forming(name) : recover_instance(name)) ++recovered;
  }
  return recovered;
}

// A directory that never became an instance holds at most its lock file.
// Unlocked, its creator died (or is between mkdir and flock: taking the
// lock then makes it start over under another name).
bool recovery::recover_forming(const std::string& name) {
  std::string dir = staging_root_ + "/" + name;
  std::unique_ptr<file_lock> lock;
  int err = fs_->try_lock(dir + "/lock", false, &lock);
  if (err == ENOENT) err = fs_->try_lock(dir + "/lock", true, &lock);
  if (err) return false;  // forming now, or gone
  std::vector<std::string> files;
  if (fs_->list_dir(dir, &files) != 0) return false;
  for (auto& f : files)
    if (f != "lock") fs_->unlink(dir + "/" + f);
  fs_->unlink(dir + "/lock");
  if (fs_->rmdir(dir) != 0) return false;
  log::warn("store: removed a half-formed instance directory",
            {{"instance", name}});
  return true;
}

bool recovery::recover_instance(const std::string& name) {
  std::string dir = staging_root_ + "/" + name;
  std::unique_ptr<file_lock> lock;
  // Alive, or already recovered by someone else: not ours.
  if (fs_->try_lock(dir + "/lock", false, &lock) != 0) return false;
  std::vector<std::string> files;
  if (fs_->list_dir(dir, &files) != 0) return false;
  auto open = unfinished_ops(*fs_, dir, files);
  bool clean = true;
  for (auto& [id, ref] : open) {
    auto p = paths_of(root_, id);
    // Journaled in our own journal, as any operation: if we die halfway,
    // whoever recovers us finishes it (the dead instance's journal is
    // removed only once all of it is done, so it names the op too).
    uint64_t op = log_->begin(id, "-");
    bool done = true;
    if (ref != "-" && ref.rfind(p.rest + ".r.", 0) == 0) {
      int err = fs_->unlink(p.dir + "/" + ref);
      if (err && err != ENOENT) done = false;
    }
    if (auto err = objects_->collect(id, name)) {
      log::warn(
          "store: recovery for a dead instance failed",
          {{"instance", name}, {"id", id}, {"error", schema::message_of(err)}});
      done = false;
    }
    if (done && log_->end(op)) done = false;
    clean = clean && done;
  }
  if (!clean) {
    log::warn("store: recovery of a dead instance incomplete; will retry",
              {{"instance", name}});
    return false;
  }
  size_t removed = 0;
  for (auto& f : files) {
    if (f == "lock") continue;
    if (fs_->unlink(dir + "/" + f) == 0) ++removed;
  }
  fs_->unlink(dir + "/lock");
  fs_->rmdir(dir);
  log::warn("store: recovered dead instance",
            {{"instance", name},
             {"rolled_back", open.size()},
             {"staging_files_removed", removed}});
  return true;
}

}  // namespace depot::storage
