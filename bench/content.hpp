#pragma once

// Benchmark content: a fast PRNG and a block of random bytes generated once
// and reused, so that producing data never shows up in a measurement.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace depot::bench {

/// xoshiro256** seeded by splitmix64: fast, good enough for test content.
/// Not thread safe: one per thread.
class rng {
 public:
  /// Seeded from std::random_device, so each run produces new content.
  rng()
      : rng(std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32)) {
  }

  explicit rng(uint64_t seed) {
    for (auto& s : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      s = z ^ (z >> 31);
    }
  }

  /// The next 64 random bits.
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  /// Fills `size` bytes at `out` with random bytes.
  void fill(void* out, size_t size) {
    auto* p = static_cast<unsigned char*>(out);
    while (size >= 8) {
      uint64_t v = next();
      std::memcpy(p, &v, 8);
      p += 8;
      size -= 8;
    }
    if (size > 0) {
      uint64_t v = next();
      std::memcpy(p, &v, size);
    }
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

/// `size` random bytes, every page touched (no page faults later).
inline std::vector<std::byte> random_block(size_t size, rng& r) {
  std::vector<std::byte> block(size);
  r.fill(block.data(), block.size());
  return block;
}

/// Writes two 64-bit stamps at `at` (which must hold 16 bytes): how distinct
/// pieces of content made from one random block are told apart.
inline void stamp(std::byte* at, uint64_t a, uint64_t b) {
  std::memcpy(at, &a, 8);
  std::memcpy(at + 8, &b, 8);
}

}  // namespace depot::bench
