#pragma once

// A POSIX store instance's private directory ROOT/.staging/INSTANCE, held
// under an flock for the life of the instance: its temp files and journal
// live there, and an unlocked one belongs to a dead instance
// (storage/recovery.hpp).

#include "schema/error.hpp"
#include "storage/file_system.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace depot::storage {

/// True if `name` could be an instance's name (16 lowercase hex digits):
/// what a `.dead` marker names and ROOT/.staging holds directories of.
bool is_instance_name(const std::string& name);

/// This instance's staging directory. Thread safe.
class staging_area {
 public:
  /// Creates a new instance directory under `staging_root` (which exists),
  /// appearing under its name already locked, so that no recoverer ever
  /// takes a live instance for a dead one. `fs` outlives the result.
  static schema::expected<std::unique_ptr<staging_area>> open(
      file_system& fs, const std::string& staging_root);

  /// The instance's name: 16 random hex digits.
  const std::string& instance() const { return instance_; }

  /// ROOT/.staging/INSTANCE.
  const std::string& dir() const { return dir_; }

  /// ROOT/.staging/INSTANCE/lock, which holds the instance's name: what a
  /// `.dead` marker of this instance links to.
  std::string lock_path() const { return dir_ + "/lock"; }

  /// A path in the directory never handed out before: PREFIX + number.
  std::string next_path(const char* prefix) {
    return dir_ + "/" + prefix + std::to_string(next_number());
  }

  /// A number never handed out before by this instance.
  uint64_t next_number() { return ++counter_; }

 private:
  staging_area(std::string instance, std::string dir,
               std::unique_ptr<file_lock> lock)
      : instance_(std::move(instance)),
        dir_(std::move(dir)),
        lock_(std::move(lock)) {}

  std::string instance_;
  std::string dir_;
  std::unique_ptr<file_lock> lock_;
  std::atomic<uint64_t> counter_{0};
};

}  // namespace depot::storage
