#include "storage/shard_dirs.hpp"

#include "storage/io_error.hpp"
#include "storage/layout.hpp"

#include <cerrno>

namespace depot::storage {

shard_dirs::shard_dirs(file_system& fs, std::string root)
    : fs_(&fs),
      root_(std::move(root)),
      durable_l1_(l1_shards),
      durable_l2_(l2_shards) {}

caf::error shard_dirs::ensure(const std::string& id) {
  auto shard = shard_of(id);
  bool l1_known;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (durable_l2_[shard.l2]) return {};
    l1_known = durable_l1_[shard.l1];
  }
  auto make = [this](const std::string& dir) -> caf::error {
    int err = fs_->mkdir(dir);
    if (err && err != EEXIST) return io_failure(err, "mkdir", dir);
    return {};
  };
  std::string l1 = l1_dir(root_, id);
  if (!l1_known) {
    if (auto err = make(l1)) return err;
  }
  return make(paths_of(root_, id).dir);
}

caf::error shard_dirs::make_durable(const std::string& id,
                                    bool parent_flushed) {
  auto shard = shard_of(id);
  bool l1_durable;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (durable_l2_[shard.l2]) return {};
    l1_durable = durable_l1_[shard.l1] || parent_flushed;
  }
  std::string l1 = l1_dir(root_, id);
  if (!l1_durable) {
    if (int err = fs_->sync_dir(root_)) return io_failure(err, "fsync", root_);
  }
  if (!parent_flushed) {
    if (int err = fs_->sync_dir(l1)) return io_failure(err, "fsync", l1);
  }
  std::lock_guard<std::mutex> guard{mutex_};
  durable_l1_[shard.l1] = true;
  durable_l2_[shard.l2] = true;
  return {};
}

}  // namespace depot::storage
