#pragma once

// Content for tests and the benchmark, and what the protocol derives from
// it computed independently of the server's code: SHA-256 (a small
// reference implementation, so no crypto library is needed) and the naming
// walk of docs/protocol.md. Pseudo-random content comes from one generator,
// `rng`.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace depot::test {

/// The 32-byte SHA-256 digest of `data` (FIPS 180-4; slow but plain).
std::array<uint8_t, 32> sha256_raw(std::string_view data);

/// The SHA-256 of `data` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

/// The id of naming candidate `k` of `content`, per docs/protocol.md's
/// Naming section (`bits`: the server's --id-bits).
std::string candidate_id(std::string_view content, uint32_t k,
                         std::optional<unsigned> bits = std::nullopt);

/// xoshiro256** seeded by splitmix64: fast, good enough for test content,
/// not for anything secret. Not thread safe: one per thread.
class rng {
 public:
  /// Seeded from std::random_device, so each run produces new content.
  rng();

  /// The same sequence for the same `seed`.
  explicit rng(uint64_t seed);

  /// The next 64 random bits.
  uint64_t next();

  /// Fills `size` bytes at `out` with random bytes.
  void fill(void* out, size_t size);

 private:
  uint64_t s_[4];
};

/// `size` pseudo-random bytes, the same for the same `seed`.
std::string random_bytes(size_t size, uint64_t seed);

/// `size` random bytes from `r`, every page touched (no page faults later).
std::vector<std::byte> random_block(size_t size, rng& r);

/// Writes two 64-bit stamps at `at` (which must hold 16 bytes): how distinct
/// pieces of content made from one random block are told apart.
void stamp(std::byte* at, uint64_t a, uint64_t b);

}  // namespace depot::test
