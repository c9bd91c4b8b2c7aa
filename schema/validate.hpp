#pragma once

// Checks of single wire values that PROTOCOL.md constrains (file ids, upload
// names, digests). Pure functions: no allocation beyond their results, safe
// to call from any thread.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace depot::schema {

/// Length of a file id: PROTOCOL.md's "12 characters of [0-9A-Za-z]".
inline constexpr size_t file_id_length = 12;

/// Longest upload `name` (and `mime`) in bytes.
inline constexpr size_t max_name_bytes = 255;

/// True if `c` may appear in a file id: one of [0-9A-Za-z].
bool is_file_id_char(char c);

/// True if `text` is exactly 12 characters of [0-9A-Za-z] (a well-formed id;
/// whether such a file is stored is another question).
bool is_file_id(std::string_view text);

/// nullopt if `name` is a valid upload name per PROTOCOL.md: 1 to 255 bytes
/// of valid UTF-8 (no overlong forms, surrogates, code points above U+10FFFF
/// or truncated sequences), no '/', no U+0000-U+001F and no U+007F-U+009F.
/// Otherwise a sentence saying what is wrong, e.g. for a bad_request reply.
std::optional<std::string> check_name(std::string_view name);

/// The 64 hex digits of `text` (either case) in lowercase; nullopt unless
/// `text` is exactly 64 hex digits.
std::optional<std::string> normalize_sha256_hex(std::string_view text);

/// The `n` bytes at `p` as 2n lowercase hex digits.
std::string to_hex(const uint8_t* p, size_t n);

}  // namespace depot::schema
