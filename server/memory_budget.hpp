#pragma once

#include <atomic>
#include <cstdint>

namespace depot::server {

/// Bytes that uploads may hold in RAM, reserved up front (a session
/// reserves an upload's share when it begins; its assembler gives it back
/// when it ends). Thread safe.
class memory_budget {
 public:
  /// A budget of `limit` bytes, none reserved.
  explicit memory_budget(uint64_t limit) : limit_(limit) {}

  /// Reserves `n` bytes; false (and nothing reserved) if that would pass
  /// the limit.
  bool try_reserve(uint64_t n) {
    uint64_t cur = used_.load();
    do {
      if (n > limit_ || cur > limit_ - n) return false;
    } while (!used_.compare_exchange_weak(cur, cur + n));
    return true;
  }

  /// Gives back `n` bytes reserved before.
  void release(uint64_t n) { used_ -= n; }

  /// Bytes reserved now.
  uint64_t used() const { return used_.load(); }

  /// The limit given at construction.
  uint64_t limit() const { return limit_; }

 private:
  uint64_t limit_;
  std::atomic<uint64_t> used_{0};
};

}  // namespace depot::server
