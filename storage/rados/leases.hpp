#pragma once

// Leases: what a depotd instance has written to RADOS but not finished
// (staged bytes of uploads in progress, data of a file being deleted) is
// recorded under the instance's lease, so that whatever happens to the
// process, some live depotd cleans it up.
//
// Each instance holds the object `lease.INSTANCE`: xattrs `owner` and
// `expires` (ms since the epoch), renewed every duration/6; one omap key
// per unfinished token, its value what recovery needs. The object `leases`
// lists the instances (omap keys). Every live instance looks for leases
// past their expiry every duration/2, takes one over with a
// compare-and-swap of its xattrs (so one recoverer at a time), reclaims its
// tokens and removes it. An instance that finds its own lease taken over
// (it stalled longer than the duration) starts a new one and fails what it
// had staged under the old. An instance commits only while its last
// renewal is younger than half the duration: clocks may differ between
// hosts by up to half the duration without a commit meeting a reclaim.

#include "schema/error.hpp"
#include "storage/rados/rados_io.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace depot::storage::rados {

/// Reclaims one token of a dead instance (or of this one at close): true
/// when nothing of it is left to clean (the token can be forgotten).
using reclaim_fn =
    std::function<bool(const std::string& token, const std::string& value)>;

class lease_keeper {
 public:
  /// Takes a new lease on `p` and starts renewing it (and recovering the
  /// expired leases of others, at once and then periodically).
  static schema::expected<std::unique_ptr<lease_keeper>> start(
      std::shared_ptr<pool> p, std::chrono::milliseconds duration,
      reclaim_fn reclaim);
  /// Stops, reclaims this instance's own tokens and drops its lease.
  ~lease_keeper();
  lease_keeper(const lease_keeper&) = delete;
  lease_keeper& operator=(const lease_keeper&) = delete;

  /// A token never used before by any instance, under the current lease.
  std::string new_token();

  /// Records (or updates) `values` (token -> what recovery needs) under
  /// this instance's lease. Tokens must be this lease's (see holds()).
  caf::error note(const std::map<std::string, std::string>& values);
  /// Forgets tokens: nothing of them is left to clean.
  caf::error forget(const std::vector<std::string>& tokens);

  /// none if `token` belongs to the lease this instance holds now and the
  /// lease was renewed recently enough to finish work under it; io_error
  /// otherwise.
  caf::error holds(const std::string& token) const;

  /// Takes over and reclaims every expired lease of another instance now
  /// (the periodic pass, for tests); returns how many it finished.
  size_t recover_expired();

 private:
  lease_keeper(std::shared_ptr<pool> p, std::chrono::milliseconds duration,
               reclaim_fn reclaim);
  std::string current_instance() const;
  caf::error take_new_lease();
  bool renew();
  bool reclaim_lease(const std::string& object, const std::string& instance,
                     const std::string& owner);
  void run();

  std::shared_ptr<pool> pool_;
  std::chrono::milliseconds duration_;
  reclaim_fn reclaim_;
  std::atomic<uint64_t> next_token_{0};

  mutable std::mutex mutex_;
  std::string instance_;  ///< current lease's instance id
  std::chrono::steady_clock::time_point renewed_;
  bool stopping_ = false;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace depot::storage::rados
