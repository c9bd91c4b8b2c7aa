#pragma once

// What every actor of the pipeline shares: limits, the store, where replies
// go, the memory budget and the table of open uploads. Built once by
// actors/pipeline.hpp; immutable after that except for the thread-safe
// members.

#include "actors/unread_quota.hpp"
#include "actors/upload_table.hpp"
#include "storage/store.hpp"
#include "transport/reply_sink.hpp"

#include <caf/actor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace depot::actors {

/// The server's limits, from depotd's flags.
struct limits {
  uint64_t chunk_max = 1 << 20;  ///< largest chunk / download range
  uint64_t window = 16;          ///< chunks a client may have unacknowledged
  uint64_t max_file_size = uint64_t{4} << 30;
  std::chrono::milliseconds idle_timeout{
      60000};  ///< an upload with no request is aborted
  std::chrono::milliseconds completion_linger{
      60000};  ///< a finished upload still answers
  uint64_t memory_budget = uint64_t{512} << 20;  ///< bytes all uploads may hold
  uint64_t ram_threshold = uint64_t{4}
                           << 20;  ///< per upload; beyond it, staging file
  uint64_t max_uploads = 10000;    ///< uploads in progress
  uint64_t max_finished = 300000;  ///< finished uploads answering retries
  std::string server_name = "depotd/0.1";
};

/// Bytes that uploads may hold in RAM, reserved up front. Thread safe.
class memory_budget {
 public:
  explicit memory_budget(uint64_t limit) : limit_(limit) {}
  /// Reserves `n` bytes; false (and nothing reserved) if that would pass the
  /// limit.
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

/// Everything an actor of the pipeline may use.
struct context {
  limits lim;
  std::shared_ptr<storage::store> store;
  transport::reply_sink* sink = nullptr;  ///< outlives every actor
  std::shared_ptr<memory_budget> budget;
  std::shared_ptr<upload_table> uploads;
  std::shared_ptr<unread_quota>
      unread;  ///< download bytes each client has yet to take
  std::vector<caf::actor> writers;  ///< disk writers; an upload sticks to one
  std::vector<caf::actor> committers;  ///< commit to the store
  std::vector<caf::actor> readers;     ///< downloads, stat, list
  caf::actor deleter;                  ///< deletes
  caf::actor janitor;                  ///< expires idle uploads
};

using context_ptr = std::shared_ptr<const context>;

}  // namespace depot::actors
