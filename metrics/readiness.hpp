#pragma once

// Where depotd is in its life, for /readyz (metrics/http/) and for anyone
// else who reports readiness (systemd's sd_notify): starting, recovering
// (opening the store, which rolls back what a dead process left, then
// binding the sockets), ready, stopping. Ready also needs the storage to be
// writable, which a check supplied by the caller decides at the moment of
// asking.

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace depot::metrics {

/// depotd's phases, in the order they come.
enum class phase : uint8_t { starting, recovering, ready, stopping };

/// "starting", "recovering", "ready", "stopping".
std::string_view to_string(phase p);

/// The phase and the storage check. set() and current() are thread safe
/// and lock free; set_storage_check() must happen before check() is first
/// called from another thread.
class readiness {
 public:
  /// The reason a storage is not writable ("read-only file system"), or
  /// empty when it is. Called on the thread that calls check().
  using storage_check = std::function<std::string()>;

  /// Moves to phase `p`. Once `stopping`, it stays there.
  void set(phase p) noexcept;

  /// The phase now.
  phase current() const noexcept {
    return phase_.load(std::memory_order_acquire);
  }

  /// Installs the storage check (none: storage counts as writable).
  void set_storage_check(storage_check check) { check_ = std::move(check); }

  /// Whether depotd is ready to serve, and if not, why.
  struct status {
    bool ready = false;
    /// One line: "recovering", "storage not writable: ...", "shutting
    /// down", "starting"; "ok" when ready.
    std::string reason;
  };

  /// The phase, and when ready the storage check too.
  status check() const;

 private:
  std::atomic<phase> phase_{phase::starting};
  storage_check check_;
};

/// A storage check for a directory on a local file system: not writable
/// when it is on a read-only mount, not writable by this process, or its
/// file system has no free block or inode left (statvfs, access; no write).
readiness::storage_check directory_writable_check(std::string dir);

}  // namespace depot::metrics
