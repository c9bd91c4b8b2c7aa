#pragma once

#include "storage/file_system.hpp"

#include <atomic>
#include <cerrno>
#include <mutex>
#include <string>
#include <vector>

namespace depot::storage {

/// The operations a fault can be injected into.
enum class fs_op {
  create,
  append,
  direct,  ///< writable_file::set_direct
  sync,
  close,
  open_read,
  read,
  link,
  unlink,
  mkdir,
  rmdir,
  sync_dir,
  sync_fs,
  list_dir,
  stat,
  rename,
  lock,
};

/// A file system for tests: passes every call to a real one, except those a
/// rule matches, which fail with the rule's errno and do nothing (in the
/// manner of RocksDB's FaultInjectionTestFS). `crash()` makes every later
/// call fail with EIO, as if the process had died at that instant: what is
/// on disk then is exactly what a crash would leave. Thread safe.
class fault_fs final : public file_system {
 public:
  /// One injected fault: the `skip`+1-th matching call and the `times`-1
  /// after it fail with `error`. An empty `path_contains` matches any path.
  struct rule {
    fs_op op;
    int error = EIO;
    std::string path_contains;
    int skip = 0;
    int times = 1;
  };

  explicit fault_fs(std::shared_ptr<file_system> base);

  /// Adds a rule; rules are tried in the order added.
  void inject(rule r);

  /// Drops every rule, spent or not (the fault is over: space is back).
  void clear_rules() {
    std::lock_guard<std::mutex> guard{mutex_};
    rules_.clear();
  }

  /// Fails every later call with EIO (see above).
  void crash() { crashed_ = true; }

  /// Crashes (see above) once `n` more calls have run: call n+1 fails.
  void crash_after(int n) {
    std::lock_guard<std::mutex> guard{mutex_};
    crash_countdown_ = n;
  }

  /// Whether the crash has happened.
  bool crashed() const { return crashed_; }

  /// How many calls of `op` were made (including failed ones).
  int calls(fs_op op) const;

  /// How many calls failed because of a rule or a crash.
  int injected() const { return injected_; }

  int create_exclusive(const std::string& path, bool append_mode,
                       std::unique_ptr<writable_file>* out) override;
  int open_read(const std::string& path,
                std::unique_ptr<readable_file>* out) override;
  int read_small(const std::string& path, size_t max,
                 std::string* out) override;
  int link(const std::string& from, const std::string& to) override;
  int unlink(const std::string& path) override;
  int mkdir(const std::string& path) override;
  int rmdir(const std::string& path) override;
  int sync_fs(const std::string& path) override;
  int sync_dir(const std::string& path) override;
  using file_system::list_dir;
  int list_dir(const std::string& path, std::vector<std::string>* names,
               std::vector<std::string>* symlinks) override;
  int stat(const std::string& path, file_status* out) override;
  int rename(const std::string& from, const std::string& to) override;
  int rename_exclusive(const std::string& from, const std::string& to) override;
  int try_lock(const std::string& path, bool create,
               std::unique_ptr<file_lock>* out) override;

  /// Whether the call (op, path) fails, and with what errno (0: it runs).
  int check(fs_op op, const std::string& path);

 private:
  std::shared_ptr<file_system> base_;
  mutable std::mutex mutex_;
  std::vector<rule> rules_;
  std::vector<int> calls_;
  std::atomic<bool> crashed_{false};
  std::atomic<int> injected_{0};
  int crash_countdown_ = -1;
};

}  // namespace depot::storage
