#pragma once

// Hand-made msgpack for tests: headers the project's encoder
// would never write (wrong key types, unknown keys, nil values, v=2, ...).

#include <msgpack.hpp>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

namespace depot::test::mp {

/// One encoded msgpack value.
struct value {
  std::string bytes;
};

namespace detail {
// The bytes `f` packs.
template <class F>
value pack(F&& f) {
  std::stringstream ss;
  msgpack::packer<std::stringstream> pk(ss);
  f(pk);
  return {ss.str()};
}
}  // namespace detail

/// A str of `s`.
inline value str(std::string_view s) {
  return detail::pack([&](auto& pk) {
    pk.pack_str(static_cast<uint32_t>(s.size()));
    pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
  });
}
/// A bin of `s`.
inline value bin(std::string_view s) {
  return detail::pack([&](auto& pk) {
    pk.pack_bin(static_cast<uint32_t>(s.size()));
    pk.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
  });
}
/// An unsigned integer (msgpack-c picks the shortest form).
inline value uint(uint64_t u) {
  return detail::pack([&](auto& pk) { pk.pack_uint64(u); });
}
/// A signed integer (msgpack-c picks the shortest form).
inline value sint(int64_t i) {
  return detail::pack([&](auto& pk) { pk.pack_int64(i); });
}
/// true or false.
inline value boolean(bool b) {
  return detail::pack([&](auto& pk) { b ? pk.pack_true() : pk.pack_false(); });
}
/// nil.
inline value nil() {
  return detail::pack([&](auto& pk) { pk.pack_nil(); });
}
/// A float64 (0xcb), written by hand: msgpack-c's packer writes integral
/// doubles as integers.
inline value real(double d) {
  uint64_t bits = 0;
  std::memcpy(&bits, &d, sizeof bits);
  std::string out(1, '\xcb');
  for (int i = 7; i >= 0; --i)
    out += static_cast<char>((bits >> (8 * i)) & 0xFF);
  return {out};
}

/// Bytes taken as an encoded value as they are.
inline value raw(std::string bytes) { return {std::move(bytes)}; }

/// The header of a map of `size` entries (the entries to follow).
inline value map_header(size_t size) {
  return detail::pack(
      [&](auto& pk) { pk.pack_map(static_cast<uint32_t>(size)); });
}

/// An array of values.
inline value array(std::initializer_list<value> items) {
  auto head = detail::pack(
      [&](auto& pk) { pk.pack_array(static_cast<uint32_t>(items.size())); });
  for (const auto& v : items) head.bytes += v.bytes;
  return head;
}

/// A map with arbitrary (already encoded) keys.
inline value map_of(std::initializer_list<std::pair<value, value>> entries) {
  auto head = map_header(entries.size());
  for (const auto& [k, v] : entries) head.bytes += k.bytes + v.bytes;
  return head;
}

/// A header: a map with string keys, encoded as one frame.
inline std::string header(
    std::initializer_list<std::pair<std::string, value>> entries) {
  auto head = map_header(entries.size());
  for (const auto& [k, v] : entries) head.bytes += str(k).bytes + v.bytes;
  return head.bytes;
}

}  // namespace depot::test::mp
