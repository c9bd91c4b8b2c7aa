#include "storage/fsck_instances.hpp"

#include "storage/journal.hpp"
#include "storage/staging_area.hpp"

#include <algorithm>
#include <cerrno>
#include <memory>

namespace depot::storage {
namespace {

std::vector<std::string> journal_files(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (auto& n : names)
    if (n.rfind("journal.", 0) == 0) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

fsck_instances::fsck_instances(file_system& fs, std::string root,
                               std::string own)
    : fs_(&fs), staging_root_(root + "/.staging"), own_(std::move(own)) {}

std::string fsck_instances::dir_of(const std::string& name) const {
  return staging_root_ + "/" + name;
}

int fsck_instances::list(std::vector<staging_entry>* out) {
  out->clear();
  std::vector<std::string> names;
  int err = fs_->list_dir(staging_root_, &names);
  if (err == ENOENT) return 0;
  if (err) return err;
  std::sort(names.begin(), names.end());
  for (auto& name : names) {
    if (name == own_) continue;
    staging_entry e;
    e.name = name;
    file_status st;
    if (fs_->stat(dir_of(name), &st) != 0) continue;  // gone meanwhile
    e.is_dir = st.is_dir && !st.is_symlink;
    if (e.is_dir) {
      std::unique_ptr<file_lock> lock;
      e.alive =
          fs_->try_lock(dir_of(name) + "/lock", false, &lock) == EWOULDBLOCK;
    }
    out->push_back(std::move(e));
  }
  return 0;
}

bool fsck_instances::alive(const std::string& name) {
  if (!own_.empty() && name == own_) return true;
  if (!is_instance_name(name)) return false;
  std::unique_ptr<file_lock> lock;
  return fs_->try_lock(dir_of(name) + "/lock", false, &lock) == EWOULDBLOCK;
}

std::set<std::string> fsck_instances::busy_ids() {
  std::set<std::string> busy;
  std::vector<staging_entry> entries;
  if (list(&entries) != 0) return busy;
  for (auto& e : entries) {
    if (!e.is_dir || !e.alive) continue;
    // A journal rotates by writing the next file with the open operations
    // and then removing the last: read until the set of files holds still.
    std::string dir = dir_of(e.name);
    std::vector<std::string> before, after;
    for (int attempt = 0; attempt < 8; ++attempt) {
      if (fs_->list_dir(dir, &before) != 0) break;
      auto open = unfinished_ops(*fs_, dir, before);
      for (auto& op : open) busy.insert(op.id);
      if (fs_->list_dir(dir, &after) != 0 ||
          journal_files(before) == journal_files(after))
        break;
    }
  }
  return busy;
}

}  // namespace depot::storage
