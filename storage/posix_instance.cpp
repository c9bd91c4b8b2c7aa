#include "storage/posix_instance.hpp"

#include "storage/io_error.hpp"

#include <cerrno>

namespace depot::storage {

schema::expected<std::unique_ptr<posix_instance>> posix_instance::open(
    file_system& fs, const std::string& root, shard_dirs& dirs) {
  std::string staging_root = root + "/.staging";
  int err = fs.mkdir(staging_root);
  if (err && err != EEXIST) return io_failure(err, "mkdir", staging_root);
  file_status st;
  if ((err = fs.stat(staging_root, &st)))
    return io_failure(err, "stat", staging_root);
  if (st.is_symlink || !st.is_dir)
    return schema::make_error(schema::errc::io_error,
                              "store staging directory " + staging_root +
                                  " is a symlink or not a directory; "
                                  "refusing it");
  std::unique_ptr<posix_instance> self{new posix_instance()};
  self->fs_ = &fs;
  auto staging = staging_area::open(fs, staging_root);
  if (!staging) return staging.error();
  self->staging_ = std::move(*staging);
  auto log = journal::open(fs, self->staging_->dir());
  if (!log) return log.error();
  self->journal_ = std::move(*log);
  auto* raw = self.get();
  self->objects_ = std::make_unique<object_table>(
      fs, root, *self->journal_, *self->staging_, dirs,
      [raw] { raw->recovery_->recover_dead_instances(); });
  self->recovery_ = std::make_unique<recovery>(
      fs, root, self->staging_->instance(), *self->journal_, *self->objects_);
  self->recovery_->recover_dead_instances();
  return self;
}

bool posix_instance::retire() {
  if (!journal_->retire()) return false;
  const std::string& dir = staging_->dir();
  std::vector<std::string> names;
  // Only the lock left: anything else (a staging file still held, which
  // may outlive the store) keeps the directory, and its lock, for recovery.
  if (fs_->list_dir(dir, &names) != 0 || names.size() != 1 ||
      names[0] != "lock")
    return false;
  if (fs_->unlink(staging_->lock_path()) != 0) return false;
  return fs_->rmdir(dir) == 0;
}

}  // namespace depot::storage
