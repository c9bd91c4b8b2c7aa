#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace depot::schema {

/// An immutable byte range with shared ownership of whatever holds the bytes
/// (a ZeroMQ frame, a pooled block, a vector). Copying a buffer copies a
/// pointer, never the bytes; it is safe to pass between threads and actors.
class buffer {
 public:
  /// An empty buffer.
  buffer() = default;

  /// Views `size` bytes at `data`, kept alive by `owner`.
  buffer(std::shared_ptr<const void> owner, const std::byte* data, size_t size)
      : owner_(std::move(owner)), data_(data), size_(size) {}

  /// Takes ownership of `bytes` (moved, not copied).
  static buffer from_vector(std::vector<std::byte> bytes);

  /// Copies `text` into a new buffer (for tests and small headers).
  static buffer copy_of(std::string_view text);

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  /// The bytes as characters, for codecs and tests.
  std::string_view view() const {
    return {reinterpret_cast<const char*>(data_), size_};
  }

  /// A sub-range sharing the same owner.
  buffer slice(size_t offset, size_t length) const {
    return {owner_, data_ + offset, length};
  }
  /// The same bytes, also keeping `also` alive until the last copy goes.
  buffer keeping(std::shared_ptr<const void> also) const;

 private:
  std::shared_ptr<const void> owner_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

inline buffer buffer::from_vector(std::vector<std::byte> bytes) {
  auto owner = std::make_shared<std::vector<std::byte>>(std::move(bytes));
  const std::byte* data = owner->data();
  size_t size = owner->size();
  return {std::move(owner), data, size};
}

inline buffer buffer::keeping(std::shared_ptr<const void> also) const {
  struct both {
    std::shared_ptr<const void> owner, also;
  };
  auto owner = std::make_shared<both>(both{owner_, std::move(also)});
  return {std::move(owner), data_, size_};
}

inline buffer buffer::copy_of(std::string_view text) {
  auto p = reinterpret_cast<const std::byte*>(text.data());
  return from_vector(std::vector<std::byte>(p, p + text.size()));
}

}  // namespace depot::schema
