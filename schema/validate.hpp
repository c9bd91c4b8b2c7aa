#pragma once

// Checks of single wire values that docs/protocol.md constrains (file ids,
// upload names, mimes, digests) and the project's one UTF-8 validator. Pure
// functions: no allocation beyond their results, safe to call from any
// thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace depot::schema {

/// Length of a file id: docs/protocol.md's "12 characters of [0-9A-Za-z]".
inline constexpr size_t file_id_length = 12;

/// Longest upload `name` in bytes.
inline constexpr size_t max_name_bytes = 255;

/// True if `c` may appear in a file id: one of [0-9A-Za-z].
bool is_file_id_char(char c);

/// Longest `mime` in bytes, parameters included.
inline constexpr size_t max_mime_bytes = 255;

/// Longest type or subtype of a `mime` (RFC 6838's restricted-name).
inline constexpr size_t max_mime_name_bytes = 127;

/// What a stored `mime` that check_mime refuses is served as.
inline constexpr std::string_view fallback_mime = "application/octet-stream";

/// True if `text` is exactly 12 characters of [0-9A-Za-z] (a well-formed id;
/// whether such a file is stored is another question).
bool is_file_id(std::string_view text);

/// nullopt if `name` is a valid upload name per docs/protocol.md: 1 to 255
/// bytes of valid UTF-8 (no overlong forms, surrogates, code points above
/// U+10FFFF or truncated sequences), no '/', no U+0000-U+001F and no
/// U+007F-U+009F. Otherwise a sentence saying what is wrong, e.g. for a
/// bad_request reply.
std::optional<std::string> check_name(std::string_view name);

/// True if `text` is valid UTF-8 (no overlong forms, surrogates, code points
/// above U+10FFFF or truncated sequences). Every string depot stores or
/// echoes passes this.
bool is_utf8(std::string_view text);

/// nullopt if `mime` is a media type per docs/protocol.md: 1 to 255 bytes of
/// `type "/" subtype *( *SP ";" *SP name "=" value )`, type and subtype
/// RFC 6838 restricted-names (a letter or digit, then up to 126 of
/// [0-9A-Za-z!#$&^_.+-]), name an RFC 9110 token, value a token or a quoted
/// string of printable ASCII. Otherwise a phrase to follow the key's name
/// ("is not valid UTF-8 (at byte 5)"); it never quotes `mime`'s bytes.
std::optional<std::string> check_mime(std::string_view mime);

/// `mime` if check_mime accepts it, else fallback_mime: what metadata that
/// an older version stored is served with.
std::string sanitize_mime(std::string_view mime);

/// `text` as valid UTF-8 free of control characters, for a message or a
/// terminal: a byte that is not part of valid UTF-8, a U+0000-U+001F or
/// U+007F becomes `\xNN`, a U+0080-U+009F `\u00NN`; everything else,
/// backslashes included, is kept (so the escaping is for humans, not
/// reversible). Valid text without control characters comes back unchanged.
std::string escape_text(std::string_view text);

/// `text` with only the bytes that are not part of valid UTF-8 written as
/// `\xNN` (control characters kept): valid UTF-8 for a JSON writer that
/// escapes control characters itself.
std::string escape_invalid_utf8(std::string_view text);

/// `text` as a JSON string literal, quotes included: '"', '\\' and control
/// characters escaped; valid UTF-8 as it is, any other byte as the text
/// `\xNN` (so the result is always valid JSON, whatever bytes came in).
std::string json_string(std::string_view text);

/// The 64 hex digits of `text` (either case) in lowercase; nullopt unless
/// `text` is exactly 64 hex digits.
std::optional<std::string> normalize_sha256_hex(std::string_view text);

/// The `n` bytes at `p` as 2n lowercase hex digits.
std::string to_hex(const uint8_t* p, size_t n);

}  // namespace depot::schema
