#include "schema/validate.hpp"

namespace depot::schema {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";
constexpr char upper_hex_digits[] = "0123456789ABCDEF";

// -1 for a character that is not a hex digit.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string code_point_text(uint32_t cp) {
  std::string out = "U+";
  for (int shift = 12; shift >= 0; shift -= 4)
    out += upper_hex_digits[(cp >> shift) & 0xF];
  return out;
}

// Decodes one UTF-8 sequence at `s[i]`. On success stores the code point and
// the sequence length; on failure returns false. The ranges follow RFC 3629's
// table, which is what rules out overlong forms, surrogates and values above
// U+10FFFF without further checks.
bool decode_utf8(std::string_view s, size_t i, uint32_t& cp, size_t& len) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  auto cont = [&](size_t k, uint8_t lo = 0x80, uint8_t hi = 0xBF) {
    return i + k < s.size() && byte(k) >= lo && byte(k) <= hi;
  };
  uint8_t b0 = byte(0);
  if (b0 < 0x80) {
    cp = b0;
    len = 1;
    return true;
  }
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (!cont(1)) return false;
    cp = (b0 & 0x1Fu) << 6 | (byte(1) & 0x3Fu);
    len = 2;
    return true;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    uint8_t lo = b0 == 0xE0 ? 0xA0 : 0x80;  // E0 80..9F would be overlong
    uint8_t hi = b0 == 0xED ? 0x9F : 0xBF;  // ED A0..BF would be surrogates
    if (!cont(1, lo, hi) || !cont(2)) return false;
    cp = (b0 & 0x0Fu) << 12 | (byte(1) & 0x3Fu) << 6 | (byte(2) & 0x3Fu);
    len = 3;
    return true;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    uint8_t lo = b0 == 0xF0 ? 0x90 : 0x80;  // F0 80..8F would be overlong
    uint8_t hi = b0 == 0xF4 ? 0x8F : 0xBF;  // F4 90.. is above U+10FFFF
    if (!cont(1, lo, hi) || !cont(2) || !cont(3)) return false;
    cp = (b0 & 0x07u) << 18 | (byte(1) & 0x3Fu) << 12 | (byte(2) & 0x3Fu) << 6 |
         (byte(3) & 0x3Fu);
    len = 4;
    return true;
  }
  return false;  // 80..C1 (stray continuation, overlong lead), F5..FF
}

}  // namespace

bool is_file_id_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         (c >= 'a' && c <= 'z');
}

bool is_file_id(std::string_view text) {
  if (text.size() != file_id_length) return false;
  for (char c : text)
    if (!is_file_id_char(c)) return false;
  return true;
}

std::optional<std::string> check_name(std::string_view name) {
  if (name.empty()) return "name is empty";
  if (name.size() > max_name_bytes)
    return "name is " + std::to_string(name.size()) +
           " bytes long, more than the 255 allowed";
  for (size_t i = 0; i < name.size();) {
    uint32_t cp = 0;
    size_t len = 0;
    if (!decode_utf8(name, i, cp, len))
      return "name is not valid UTF-8 (at byte " + std::to_string(i) + ")";
    if (cp == '/') return "name contains '/'";
    if (cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F))
      return "name contains the control character " + code_point_text(cp) +
             " (at byte " + std::to_string(i) + ")";
    i += len;
  }
  return std::nullopt;
}

std::optional<std::string> normalize_sha256_hex(std::string_view text) {
  if (text.size() != 64) return std::nullopt;
  std::string out(64, '0');
  for (size_t i = 0; i < text.size(); ++i) {
    int v = hex_value(text[i]);
    if (v < 0) return std::nullopt;
    out[i] = hex_digits[v];
  }
  return out;
}

std::string to_hex(const uint8_t* p, size_t n) {
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = hex_digits[p[i] >> 4];
    out[2 * i + 1] = hex_digits[p[i] & 0xF];
  }
  return out;
}

}  // namespace depot::schema
