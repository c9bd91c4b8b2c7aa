#pragma once

#include "schema/validate.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace depot::storage {

/// A SHA-256 digest.
using digest = std::array<uint8_t, 32>;

/// Incremental SHA-256 through OpenSSL's EVP interface (hardware accelerated
/// where the CPU has SHA extensions). Not thread safe: one hasher per stream.
class sha256 {
 public:
  sha256();
  ~sha256();
  sha256(sha256&&) noexcept;
  sha256& operator=(sha256&&) noexcept;

  /// Feeds `size` bytes.
  void update(const void* data, size_t size);

  /// The digest of everything fed; the hasher is reset afterwards.
  digest finish();

  /// One-shot digest of a byte range.
  static digest of(const void* data, size_t size);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The digest as 64 lowercase hex digits (schema::to_hex, the one encoder).
inline std::string to_hex(const digest& d) {
  return schema::to_hex(d.data(), d.size());
}

}  // namespace depot::storage
