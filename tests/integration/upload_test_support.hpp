#pragma once

// What the upload tests share: the wall clock and upload requests with
// declarations.

#include "schema/messages.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace depot::test::test_support {

/// The wall clock in milliseconds since the Unix epoch.
inline uint64_t now_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

/// An upload request for `name` declaring `size` and, if given, `sha`.
inline schema::upload_request declared(
    const std::string& name, std::optional<uint64_t> size,
    std::optional<std::string> sha = std::nullopt) {
  schema::upload_request req;
  req.name = name;
  req.size = size;
  req.sha256 = std::move(sha);
  return req;
}

}  // namespace depot::test::test_support
