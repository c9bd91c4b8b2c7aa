#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace depot::actors {

/// Content-type detection with libmagic. One detector per thread (libmagic
/// handles are not thread safe); loading the database costs milliseconds,
/// so keep a detector for the actor's lifetime.
class content_type_detector {
 public:
  content_type_detector();
  ~content_type_detector();
  content_type_detector(const content_type_detector&) = delete;
  content_type_detector& operator=(const content_type_detector&) = delete;

  /// The MIME type of content starting with `head` (e.g. "image/png");
  /// "application/octet-stream" when libmagic cannot tell or is missing.
  std::string detect(std::string_view head);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace depot::actors
