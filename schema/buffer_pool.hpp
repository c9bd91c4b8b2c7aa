#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "schema/buffer.hpp"

namespace depot::schema {

/// Fixed-size blocks recycled instead of freed. Fresh memory costs a page
/// fault per 4 KiB on these machines (~3.4 s per GiB), so payload buffers
/// that come and go with every download are better reused. Thread safe:
/// blocks come back from whichever thread drops the last buffer (ZeroMQ's
/// I/O thread, for a sent reply). The pool may die before its blocks.
class buffer_pool : public std::enable_shared_from_this<buffer_pool> {
 public:
  /// A pool of `block_size`-byte blocks keeping at most `max_idle` unused.
  static std::shared_ptr<buffer_pool> make(size_t block_size, size_t max_idle);

  /// A block to fill: write up to block_size() bytes at data(), then
  /// seal() it into an immutable buffer of the bytes written.
  class block {
   public:
    std::byte* data() { return bytes_.get(); }
    /// The first `n` bytes as a buffer; the block returns to its pool when
    /// the last copy of that buffer is gone.
    buffer seal(size_t n) &&;

   private:
    friend class buffer_pool;
    block(std::shared_ptr<buffer_pool> pool, std::unique_ptr<std::byte[]> bytes)
        : pool_(std::move(pool)), bytes_(std::move(bytes)) {}
    std::shared_ptr<buffer_pool> pool_;
    std::unique_ptr<std::byte[]> bytes_;
  };

  /// A block, reused if one is idle.
  block take();

  size_t block_size() const { return block_size_; }

 private:
  buffer_pool(size_t block_size, size_t max_idle)
      : block_size_(block_size), max_idle_(max_idle) {}
  void give_back(std::byte* p);

  size_t block_size_;
  size_t max_idle_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<std::byte[]>> idle_;
};

inline std::shared_ptr<buffer_pool> buffer_pool::make(size_t block_size,
                                                      size_t max_idle) {
  return std::shared_ptr<buffer_pool>(new buffer_pool(block_size, max_idle));
}

inline buffer_pool::block buffer_pool::take() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (!idle_.empty()) {
      auto bytes = std::move(idle_.back());
      idle_.pop_back();
      return {shared_from_this(), std::move(bytes)};
    }
  }
  // Default-initialized: no memset of bytes about to be overwritten.
  return {shared_from_this(), std::unique_ptr<std::byte[]>(new std::byte[block_size_])};
}

inline void buffer_pool::give_back(std::byte* p) {
  std::unique_ptr<std::byte[]> bytes{p};
  std::lock_guard<std::mutex> guard{mutex_};
  if (idle_.size() < max_idle_) idle_.push_back(std::move(bytes));
}

inline buffer buffer_pool::block::seal(size_t n) && {
  std::weak_ptr<buffer_pool> pool = pool_;
  std::byte* raw = bytes_.release();
  std::shared_ptr<const void> owner(raw, [pool](const void* p) {
    auto* bytes = static_cast<std::byte*>(const_cast<void*>(p));
    if (auto live = pool.lock())
      live->give_back(bytes);
    else
      delete[] bytes;
  });
  return {std::move(owner), raw, n};
}

}  // namespace depot::schema
