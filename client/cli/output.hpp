#pragma once

// Text the `depot` CLI prints: JSON for scripts, sizes, times and durations
// for humans. Pure functions, safe from any thread.

#include "client/client.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace depot::cli {

/// `text` as a JSON string literal, quotes included: '"', '\\' and control
/// characters escaped; valid UTF-8 as it is, any other byte as the text
/// `\xNN` (so the result is always valid JSON).
std::string json_string(std::string_view text);

/// `text` safe to print on a terminal: valid UTF-8 kept, control characters
/// (U+0000-U+001F, U+007F-U+009F) and bytes that are not valid UTF-8
/// escaped (`\x1b`, `\u0085`, `\xff`), whatever a server sent.
std::string display_text(std::string_view text);

/// One line of `depot ls` (no newline): id, size, created, mime and name,
/// the strings through display_text.
std::string list_row(const client::file_meta& m);

/// docs/protocol.md's metadata map as a JSON object, keys in its order:
/// {"id","name","size","sha256","mime","created","refs"}.
std::string json_meta(const client::file_meta& m);

/// {"error":CODE,"message":TEXT}; CODE is "timeout" for a timeout.
std::string json_error(const client::error& e);

/// 1536 -> "1.5 KiB"; below 1 KiB: "12 B".
std::string human_bytes(uint64_t bytes);

/// Milliseconds since the Unix epoch as UTC "2024-11-27 18:17:05".
std::string human_time(uint64_t ms_since_epoch);

/// Seconds as "42s", "3m05s" or "2h01m".
std::string human_duration(double seconds);

}  // namespace depot::cli
