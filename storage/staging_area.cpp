#include "storage/staging_area.hpp"

#include "storage/io_error.hpp"
#include "storage/layout.hpp"

#include <algorithm>
#include <cerrno>

namespace depot::storage {

namespace {

// One try under a fresh name. A recoverer may take a directory still
// forming for a dead one and remove it (its lock not held yet): that try
// fails (ENOENT, EEXIST, EWOULDBLOCK) and the next uses another name.
caf::error try_open(file_system& fs, const std::string& staging_root,
                    const std::string& instance,
                    std::unique_ptr<file_lock>* lock, bool* retry) {
  std::string dir = staging_root + "/" + instance;
  std::string forming = dir + ".tmp";
  auto failed = [&](int err, const char* what, const std::string& path) {
    *retry = err == ENOENT || err == EEXIST || err == EWOULDBLOCK;
    return io_failure(err, what, path);
  };
  if (int err = fs.mkdir(forming)) return failed(err, "mkdir", forming);
  // The lock file holds the instance's name: the `.dead` markers of its
  // deletes are links to it, so that marking needs no new space.
  std::string lock_path = forming + "/lock";
  std::unique_ptr<writable_file> f;
  int err = fs.create_exclusive(lock_path, false, &f);
  if (err) return failed(err, "create", lock_path);
  err = f->append(instance.data(), instance.size());
  int close_err = f->close();
  if (err || close_err) {
    fs.unlink(lock_path);
    fs.rmdir(forming);
    return failed(err ? err : close_err, "write", lock_path);
  }
  if ((err = fs.try_lock(lock_path, false, lock)))
    return failed(err, "lock", lock_path);
  if ((err = fs.rename(forming, dir))) {
    lock->reset();
    return failed(err, "rename", forming);
  }
  return {};
}

}  // namespace

bool is_instance_name(const std::string& name) {
  return name.size() == 16 && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

schema::expected<std::unique_ptr<staging_area>> staging_area::open(
    file_system& fs, const std::string& staging_root) {
  for (int attempt = 0;; ++attempt) {
    std::string instance = random_hex(16);
    std::unique_ptr<file_lock> lock;
    bool retry = false;
    auto err = try_open(fs, staging_root, instance, &lock, &retry);
    if (!err)
      return std::unique_ptr<staging_area>{new staging_area(
          instance, staging_root + "/" + instance, std::move(lock))};
    if (!retry || attempt == 7) return err;
  }
}

}  // namespace depot::storage
