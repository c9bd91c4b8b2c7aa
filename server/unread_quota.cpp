#include "server/unread_quota.hpp"

#include <algorithm>

namespace depot::server {

// One charge: gives its bytes back when the payload holding it is freed
// (by ZeroMQ, once the reply is written to the socket, or when dropped).
struct unread_quota::charged {
  charged(std::shared_ptr<account> a, uint64_t n) : acct(std::move(a)), n(n) {}
  charged(const charged&) = delete;
  charged& operator=(const charged&) = delete;
  ~charged() {
    // Lock-free (ZeroMQ's I/O thread frees payloads): each 0→n in charge()
    // pairs with exactly one n→0 here.
    if (n > 0 && acct->bytes.fetch_sub(n, std::memory_order_relaxed) == n)
      acct->shared->holding.fetch_sub(1, std::memory_order_relaxed);
    acct->shared->total.fetch_sub(n, std::memory_order_relaxed);
    acct->shared->ranges.fetch_sub(1, std::memory_order_relaxed);
  }
  std::shared_ptr<account> acct;
  uint64_t n;
};

std::shared_ptr<const void> unread_quota::charge(const std::string& client,
                                                 uint64_t n, refusal* why) {
  auto refuse = [why](refusal r) {
    if (why) *why = r;
    return nullptr;
  };
  if (why) *why = refusal::none;
  std::lock_guard<std::mutex> guard{mutex_};
  auto& slot = accounts_[client];
  auto acct = slot.lock();
  if (!acct) {
    acct = std::make_shared<account>();
    acct->shared = shared_;
    slot = acct;
  }
  uint64_t now = acct->bytes.load(std::memory_order_relaxed);
  if (now > 0 && now + n > per_client_) return refuse(refusal::per_client);
  uint64_t total = shared_->total.load(std::memory_order_relaxed);
  if (now > 0 && total + n > cap_) {
    // Past the cap only light clients, within their fair share of it, are
    // served, from the headroom: the ones holding the most are refused,
    // and one that reads its replies keeps a few ranges in flight. (The
    // bytes of clients that hold more cannot be taken back; a client
    // holding nothing always gets one range, above.)
    uint64_t holding =
        std::max<uint64_t>(1, shared_->holding.load(std::memory_order_relaxed));
    uint64_t share = std::min(cap_ / holding, light());
    if (now + n > share || total + n - cap_ > headroom())
      return refuse(refusal::overall);
  }
  if (acct->bytes.fetch_add(n, std::memory_order_relaxed) == 0 && n > 0)
    shared_->holding.fetch_add(1, std::memory_order_relaxed);
  shared_->total.fetch_add(n, std::memory_order_relaxed);
  shared_->ranges.fetch_add(1, std::memory_order_relaxed);
  // An account lives as long as its charges; forget the ones gone by.
  if (accounts_.size() > swept_at_) {
    for (auto i = accounts_.begin(); i != accounts_.end();)
      i = i->second.expired() ? accounts_.erase(i) : std::next(i);
    swept_at_ = std::max<size_t>(64, 2 * accounts_.size());
  }
  return std::make_shared<charged>(std::move(acct), n);
}

uint64_t unread_quota::unread(const std::string& client) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = accounts_.find(client);
  if (i == accounts_.end()) return 0;
  auto acct = i->second.lock();
  return acct ? acct->bytes.load(std::memory_order_relaxed) : 0;
}

size_t unread_quota::clients() const {
  std::lock_guard<std::mutex> guard{mutex_};
  size_t n = 0;
  for (auto& [client, a] : accounts_) n += !a.expired();
  return n;
}

}  // namespace depot::server
