#include "testkit/content.hpp"

#include <cstring>
#include <random>

namespace depot::test {

std::array<uint8_t, 32> sha256_raw(std::string_view data) {
  static constexpr uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
      0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
      0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
      0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
      0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
      0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
      0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
      0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  auto block = [&](const uint8_t* p) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = uint32_t{p[4 * i]} << 24 | uint32_t{p[4 * i + 1]} << 16 |
             uint32_t{p[4 * i + 2]} << 8 | uint32_t{p[4 * i + 3]};
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5],
             g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) +
                    ((e & f) ^ (~e & g)) + k[i] + w[i];
      uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) +
                    ((a & b) ^ (a & c) ^ (b & c));
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d;
    h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  };
  auto bytes = reinterpret_cast<const uint8_t*>(data.data());
  size_t full = data.size() / 64;
  for (size_t i = 0; i < full; ++i) block(bytes + 64 * i);
  uint8_t tail[128] = {};
  size_t rest = data.size() - 64 * full;
  if (rest > 0) std::memcpy(tail, bytes + 64 * full, rest);
  tail[rest] = 0x80;
  size_t tail_len = rest < 56 ? 64 : 128;
  uint64_t bits = uint64_t{data.size()} * 8;
  for (int i = 0; i < 8; ++i)
    tail[tail_len - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  for (size_t off = 0; off < tail_len; off += 64) block(tail + off);
  std::array<uint8_t, 32> out{};
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 4; ++j)
      out[4 * i + j] = static_cast<uint8_t>(h[i] >> (24 - 8 * j));
  return out;
}

std::string sha256_hex(std::string_view data) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : sha256_raw(data)) {
    out += digits[b >> 4];
    out += digits[b & 0xF];
  }
  return out;
}

std::string candidate_id(std::string_view content, uint32_t k,
                         std::optional<unsigned> bits) {
  auto d = sha256_raw(content);
  std::array<uint8_t, 32> hk = d;
  if (k > 0) {
    std::string input(reinterpret_cast<const char*>(d.data()), d.size());
    for (int i = 3; i >= 0; --i)
      input += static_cast<char>((k >> (8 * i)) & 0xFF);
    hk = sha256_raw(input);
  }
  // N: the first 16 bytes, big-endian; narrowed to `bits` by masking.
  uint8_t n[16];
  std::memcpy(n, hk.data(), 16);
  if (bits && *bits < 128) {
    unsigned keep = *bits;
    for (int i = 15; i >= 0; --i) {
      unsigned byte_bits =
          8 * static_cast<unsigned>(15 - i);  // bits below this byte
      if (byte_bits >= keep)
        n[i] = 0;
      else if (keep - byte_bits < 8)
        n[i] &= static_cast<uint8_t>((1u << (keep - byte_bits)) - 1);
    }
  }
  // The 12 least significant base-62 digits of N (= N mod 62^12).
  static constexpr char alphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string id(12, '0');
  for (int pos = 11; pos >= 0; --pos) {
    unsigned rem = 0;
    for (auto& byte : n) {
      unsigned cur = rem << 8 | byte;
      byte = static_cast<uint8_t>(cur / 62);
      rem = cur % 62;
    }
    id[pos] = alphabet[rem];
  }
  return id;
}

namespace {

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

rng::rng()
    : rng(std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32)) {}

rng::rng(uint64_t seed) {
  for (auto& s : s_) {
    seed += 0x9e3779b97f4a7c15ULL;
    uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    s = z ^ (z >> 31);
  }
}

uint64_t rng::next() {
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

void rng::fill(void* out, size_t size) {
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

std::string random_bytes(size_t size, uint64_t seed) {
  std::string out(size, '\0');
  rng r(seed);
  r.fill(out.data(), out.size());
  return out;
}

std::vector<std::byte> random_block(size_t size, rng& r) {
  std::vector<std::byte> block(size);
  r.fill(block.data(), block.size());
  return block;
}

void stamp(std::byte* at, uint64_t a, uint64_t b) {
  std::memcpy(at, &a, 8);
  std::memcpy(at + 8, &b, 8);
}

}  // namespace depot::test
