#pragma once

// What every actor of the pipeline shares: limits, the store, where replies
// go, the memory budget and the table of open uploads. Built once by
// actors/pipeline.hpp; immutable after that except for the thread-safe
// members.

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/store.hpp"
#include "transport/reply_sink.hpp"

namespace depot::actors {

/// The server's limits, from depotd's flags.
struct limits {
  uint64_t chunk_max = 1 << 20;             ///< largest chunk / download range
  uint64_t window = 16;                      ///< chunks a client may have unacknowledged
  uint64_t max_file_size = uint64_t{4} << 30;
  std::chrono::milliseconds idle_timeout{60000};    ///< an upload with no request is aborted
  std::chrono::milliseconds completion_linger{60000};  ///< a finished upload still answers
  uint64_t memory_budget = uint64_t{512} << 20;     ///< bytes all uploads may hold
  uint64_t ram_threshold = uint64_t{4} << 20;       ///< per upload; beyond it, staging file
  uint64_t max_uploads = 10000;              ///< open upload tokens
  std::string server_name = "depotd/0.1";
};

/// Bytes that uploads may hold in RAM, reserved up front. Thread safe.
class memory_budget {
 public:
  explicit memory_budget(uint64_t limit) : limit_(limit) {}
  /// Reserves `n` bytes; false (and nothing reserved) if that would pass the limit.
  bool try_reserve(uint64_t n) {
    uint64_t cur = used_.load();
    do {
      if (n > limit_ || cur > limit_ - n) return false;
    } while (!used_.compare_exchange_weak(cur, cur + n));
    return true;
  }
  /// Gives back bytes reserved before.
  void release(uint64_t n) { used_ -= n; }
  uint64_t used() const { return used_.load(); }
  uint64_t limit() const { return limit_; }

 private:
  uint64_t limit_;
  std::atomic<uint64_t> used_{0};
};

/// Upload tokens to their assembler actors, in progress or lingering after
/// completion (to answer retries). Only uploads in progress count against
/// the limit. Thread safe.
class upload_table {
 public:
  /// Adds `token`; false if `max` uploads are in progress already.
  bool insert(const std::string& token, caf::actor a, size_t max) {
    std::lock_guard<std::mutex> guard{mutex_};
    if (active_ >= max) return false;
    if (!map_.emplace(token, entry{std::move(a), true, false}).second) return false;
    ++active_;
    return true;
  }
  /// The assembler of `token`, or an invalid handle once withdrawn.
  caf::actor find(const std::string& token) const {
    std::lock_guard<std::mutex> guard{mutex_};
    auto i = map_.find(token);
    return i == map_.end() || i->second.withdrawn ? caf::actor{} : i->second.actor;
  }
  /// `token` answers no more; its actor stays listed (for shutdown) until
  /// it ends and erases itself.
  void withdraw(const std::string& token, const caf::actor_addr& a) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto i = map_.find(token);
    if (i != map_.end() && i->second.actor.address() == a) i->second.withdrawn = true;
  }
  /// `token` (still mapped to `a`) is no longer in progress.
  void finished(const std::string& token, const caf::actor_addr& a) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto i = map_.find(token);
    if (i != map_.end() && i->second.actor.address() == a && i->second.active) {
      i->second.active = false;
      --active_;
    }
  }
  /// Removes `token` if it still maps to `a`.
  void erase(const std::string& token, const caf::actor_addr& a) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto i = map_.find(token);
    if (i != map_.end() && i->second.actor.address() == a) {
      if (i->second.active) --active_;
      map_.erase(i);
    }
  }
  /// Uploads in progress.
  size_t active() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return active_;
  }
  /// Every assembler (for shutdown).
  std::vector<caf::actor> all() const {
    std::lock_guard<std::mutex> guard{mutex_};
    std::vector<caf::actor> out;
    for (auto& [token, e] : map_) out.push_back(e.actor);
    return out;
  }

 private:
  struct entry {
    caf::actor actor;
    bool active;
    bool withdrawn = false;
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::string, entry> map_;
  size_t active_ = 0;
};

/// Everything an actor of the pipeline may use.
struct context {
  limits lim;
  std::shared_ptr<storage::store> store;
  transport::reply_sink* sink = nullptr;  ///< outlives every actor
  std::shared_ptr<memory_budget> budget;
  std::shared_ptr<upload_table> uploads;
  std::vector<caf::actor> writers;  ///< disk writers; an upload sticks to one
  std::vector<caf::actor> namers;   ///< commit to the store
  std::vector<caf::actor> readers;  ///< downloads, stat, list
  caf::actor catalog;               ///< deletes
};

using context_ptr = std::shared_ptr<const context>;

}  // namespace depot::actors
