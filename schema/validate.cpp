#include "schema/validate.hpp"

#include <cstdio>

namespace depot::schema {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";
constexpr char upper_hex_digits[] = "0123456789ABCDEF";

bool is_alnum_ascii(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         (c >= 'a' && c <= 'z');
}

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

// U+0000-U+001F, U+007F and U+0080-U+009F (C0, DEL, C1).
bool is_control(uint32_t cp) {
  return cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F);
}

// The index of the first byte of `s` that does not start a valid UTF-8
// sequence, or s.size().
size_t first_invalid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    size_t len = 0;
    if (!decode_utf8(s, i, cp, len)) return i;
    i += len;
  }
  return s.size();
}

void append_escape(std::string& out, const char* prefix, uint32_t value) {
  out += prefix;
  out += hex_digits[(value >> 4) & 0xF];
  out += hex_digits[value & 0xF];
}

std::string escape(std::string_view text, bool controls) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    size_t len = 0;
    if (!decode_utf8(text, i, cp, len)) {
      append_escape(out, "\\x", static_cast<uint8_t>(text[i]));
      ++i;
      continue;
    }
    if (controls && is_control(cp))
      append_escape(out, cp < 0x80 ? "\\x" : "\\u00", cp);
    else
      out.append(text.substr(i, len));
    i += len;
  }
  return out;
}

// RFC 6838 section 4.2: restricted-name-chars.
bool is_restricted_name_char(char c) {
  return is_alnum_ascii(c) || c == '!' || c == '#' || c == '$' || c == '&' ||
         c == '-' || c == '^' || c == '_' || c == '.' || c == '+';
}

// RFC 9110 section 5.6.2: tchar.
bool is_token_char(char c) {
  return is_alnum_ascii(c) || c == '!' || c == '#' || c == '$' || c == '%' ||
         c == '&' || c == '\'' || c == '*' || c == '+' || c == '-' ||
         c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~';
}

// Reads an RFC 6838 restricted-name at s[i]; false if there is none or it is
// longer than max_mime_name_bytes.
bool read_restricted_name(std::string_view s, size_t& i) {
  size_t start = i;
  if (i >= s.size() || !is_alnum_ascii(s[i])) return false;
  while (i < s.size() && is_restricted_name_char(s[i])) ++i;
  return i - start <= max_mime_name_bytes;
}

// Reads one or more token characters at s[i].
bool read_token(std::string_view s, size_t& i) {
  size_t start = i;
  while (i < s.size() && is_token_char(s[i])) ++i;
  return i > start;
}

// Reads an RFC 9110 quoted-string of printable ASCII at s[i].
bool read_quoted(std::string_view s, size_t& i) {
  if (i >= s.size() || s[i] != '"') return false;
  for (++i; i < s.size(); ++i) {
    if (s[i] == '"') {
      ++i;
      return true;
    }
    if (s[i] == '\\' && ++i == s.size()) return false;
    if (s[i] < 0x20 || s[i] > 0x7E) return false;
  }
  return false;
}

void skip_spaces(std::string_view s, size_t& i) {
  while (i < s.size() && s[i] == ' ') ++i;
}

// True if `mime` is `type/subtype` with optional `; name=value` parameters.
bool is_media_type(std::string_view mime) {
  size_t i = 0;
  if (!read_restricted_name(mime, i)) return false;
  if (i >= mime.size() || mime[i++] != '/') return false;
  if (!read_restricted_name(mime, i)) return false;
  while (i < mime.size()) {
    skip_spaces(mime, i);
    if (i >= mime.size() || mime[i++] != ';') return false;
    skip_spaces(mime, i);
    if (!read_token(mime, i)) return false;
    if (i >= mime.size() || mime[i++] != '=') return false;
    if (!(i < mime.size() && mime[i] == '"' ? read_quoted(mime, i)
                                            : read_token(mime, i)))
      return false;
  }
  return true;
}

}  // namespace

bool is_file_id_char(char c) { return is_alnum_ascii(c); }

bool is_utf8(std::string_view text) {
  return first_invalid_utf8(text) == text.size();
}

std::optional<std::string> check_mime(std::string_view mime) {
  if (mime.empty()) return "is empty";
  if (mime.size() > max_mime_bytes)
    return "is " + std::to_string(mime.size()) +
           " bytes long, more than the 255 allowed";
  if (size_t bad = first_invalid_utf8(mime); bad != mime.size())
    return "is not valid UTF-8 (at byte " + std::to_string(bad) + ")";
  for (size_t i = 0; i < mime.size();) {
    uint32_t cp = 0;
    size_t len = 0;
    decode_utf8(mime, i, cp, len);
    if (is_control(cp))
      return "contains the control character " + code_point_text(cp) +
             " (at byte " + std::to_string(i) + ")";
    i += len;
  }
  if (!is_media_type(mime))
    return std::string{
        "is not a media type: type/subtype of letters, digits and "
        "!#$&-^_.+ (each at most 127, starting with a letter or digit), "
        "optionally followed by parameters like '; charset=utf-8'"};
  return std::nullopt;
}

std::string sanitize_mime(std::string_view mime) {
  return check_mime(mime) ? std::string{fallback_mime} : std::string{mime};
}

std::string escape_text(std::string_view text) { return escape(text, true); }

std::string escape_invalid_utf8(std::string_view text) {
  return escape(text, false);
}

std::string json_string(std::string_view raw) {
  // JSON text must be UTF-8: bytes that are not stay readable as \xNN.
  std::string text = escape_invalid_utf8(raw);
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x",
                        static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
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
    if (is_control(cp))
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
