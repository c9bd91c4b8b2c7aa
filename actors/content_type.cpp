#include "actors/content_type.hpp"

#include <magic.h>
#include <spdlog/spdlog.h>

namespace depot::actors {

struct content_type_detector::impl {
  magic_t cookie = nullptr;
};

content_type_detector::content_type_detector() : impl_(std::make_unique<impl>()) {
  impl_->cookie = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
  if (impl_->cookie != nullptr && magic_load(impl_->cookie, nullptr) != 0) {
    spdlog::warn("libmagic database not loaded ({}); content types will be "
                 "application/octet-stream",
                 magic_error(impl_->cookie));
    magic_close(impl_->cookie);
    impl_->cookie = nullptr;
  }
}

content_type_detector::~content_type_detector() {
  if (impl_->cookie != nullptr) magic_close(impl_->cookie);
}

std::string content_type_detector::detect(std::string_view head) {
  constexpr const char* fallback = "application/octet-stream";
  if (impl_->cookie == nullptr) return fallback;
  const char* type = magic_buffer(impl_->cookie, head.data(), head.size());
  return type != nullptr && *type != '\0' ? type : fallback;
}

}  // namespace depot::actors
