#pragma once

// An independent UTF-8 oracle for tests: written from the definition
// (decode, then reject overlong forms, surrogates and values above
// U+10FFFF), not from RFC 3629's byte table that schema/validate.cpp uses,
// so that the server is checked against a second implementation.

#include <msgpack.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace depot::test {

/// True if `s` is well-formed UTF-8 as the Unicode standard defines it.
inline bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto b = static_cast<uint8_t>(s[i]);
    size_t n = b < 0x80           ? 1
               : (b >> 5) == 0x6  ? 2
               : (b >> 4) == 0xE  ? 3
               : (b >> 3) == 0x1E ? 4
                                  : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? b : b & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
      auto c = static_cast<uint8_t>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = cp << 6 | (c & 0x3F);
    }
    static constexpr uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < smallest[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

/// True if every str (keys included) anywhere in the msgpack value `o` is
/// valid UTF-8: what a strict client (msgpack with raw=False) requires.
inline bool all_strings_utf8(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::STR:
      return is_valid_utf8({o.via.str.ptr, o.via.str.size});
    case msgpack::type::ARRAY:
      for (uint32_t i = 0; i < o.via.array.size; ++i)
        if (!all_strings_utf8(o.via.array.ptr[i])) return false;
      return true;
    case msgpack::type::MAP:
      for (uint32_t i = 0; i < o.via.map.size; ++i)
        if (!all_strings_utf8(o.via.map.ptr[i].key) ||
            !all_strings_utf8(o.via.map.ptr[i].val))
          return false;
      return true;
    default:
      return true;
  }
}

/// all_strings_utf8 of the msgpack value encoded in `bytes` (false if they
/// do not decode).
inline bool all_strings_utf8(std::string_view bytes) {
  try {
    msgpack::object_handle h = msgpack::unpack(bytes.data(), bytes.size());
    return all_strings_utf8(h.get());
  } catch (...) {
    return false;
  }
}

}  // namespace depot::test
