#include "server/content_type.hpp"

#include <magic.h>
#include <spdlog/spdlog.h>

namespace depot::server {
namespace {

constexpr const char* fallback = "application/octet-stream";

// One libmagic handle per thread, opened on first use.
class magic_handle {
 public:
  magic_handle() : cookie_(magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR)) {
    if (cookie_ != nullptr && magic_load(cookie_, nullptr) != 0) {
      spdlog::warn(
          "libmagic database not loaded ({}); content types will be "
          "application/octet-stream unless recognised by signature",
          magic_error(cookie_));
      magic_close(cookie_);
      cookie_ = nullptr;
    }
  }
  ~magic_handle() {
    if (cookie_ != nullptr) magic_close(cookie_);
  }
  magic_handle(const magic_handle&) = delete;
  magic_handle& operator=(const magic_handle&) = delete;

  std::string detect(std::string_view head) {
    if (cookie_ == nullptr) return fallback;
    const char* type = magic_buffer(cookie_, head.data(), head.size());
    return type != nullptr && *type != '\0' ? type : fallback;
  }

 private:
  magic_t cookie_;
};

struct signature {
  size_t offset;
  std::string_view bytes;
  const char* mime;
};

// Only signatures that decide the type alone (libmagic names the same type
// whatever follows them; tests/server/content_type_test.cpp checks this
// against libmagic). Containers whose type depends on what is inside
// (ZIP: docx, epub, jar; ISO media: mp4, mov, heic, m4a; Ogg; MP3 behind
// an ID3 tag) are left to libmagic. RIFF needs two signatures: see below.
constexpr signature signatures[] = {
    {0, std::string_view("\x89PNG\r\n\x1a\n", 8), "image/png"},
    {0, std::string_view("\xff\xd8\xff", 3), "image/jpeg"},
    {0, "GIF87a", "image/gif"},
    {0, "GIF89a", "image/gif"},
    {0, "%PDF-", "application/pdf"},
    {0, std::string_view("\x1f\x8b\x08", 3), "application/gzip"},
};

bool has(std::string_view head, size_t offset, std::string_view bytes) {
  return head.size() >= offset + bytes.size() &&
         head.compare(offset, bytes.size(), bytes) == 0;
}

}  // namespace

std::string_view content_type_by_signature(std::string_view head) {
  for (const auto& s : signatures)
    if (has(head, s.offset, s.bytes)) return s.mime;
  if (has(head, 0, "RIFF")) {
    if (has(head, 8, "WEBPVP8")) return "image/webp";
    if (has(head, 8, "WAVEfmt ")) return "audio/x-wav";
  }
  return {};
}

std::string content_type_by_libmagic(std::string_view head) {
  thread_local magic_handle handle;
  return handle.detect(head);
}

std::string detect_content_type(std::string_view head) {
  if (auto mime = content_type_by_signature(head); !mime.empty())
    return std::string{mime};
  return content_type_by_libmagic(head);
}

}  // namespace depot::server
