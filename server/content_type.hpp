#pragma once

#include <string>
#include <string_view>

namespace depot::server {

/// How many leading bytes of a file content-type detection looks at.
inline constexpr size_t content_type_head_bytes = 8192;

/// The MIME type of content starting with `head` (e.g. "image/png");
/// "application/octet-stream" when it cannot be told.
///
/// The formats chat users send most (JPEG, PNG, GIF, WebP, PDF, WAV,
/// gzip) are recognised by their signature in well under a microsecond;
/// anything else goes to libmagic, which walks its whole database (0.5-5 ms
/// per call here). Safe to call from any thread: each thread keeps its own
/// libmagic handle (they are not thread safe, and loading the database
/// costs milliseconds, so a handle lives as long as its thread).
std::string detect_content_type(std::string_view head);

/// The signature table alone: the MIME type, or "" if no signature matches.
/// Exposed for tests, which check it against libmagic.
std::string_view content_type_by_signature(std::string_view head);

/// libmagic alone (the fallback of detect_content_type).
std::string content_type_by_libmagic(std::string_view head);

}  // namespace depot::server
