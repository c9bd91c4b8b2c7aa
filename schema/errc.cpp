#include "schema/errc.hpp"

#include <array>
#include <cstddef>

namespace depot::schema {
namespace {

constexpr std::array<std::string_view, errc_count> names = {
    "bad_request",   "unsupported_version",
    "unknown_op",    "unknown_upload",
    "out_of_order",  "too_large",
    "size_mismatch", "checksum_mismatch",
    "not_found",     "out_of_range",
    "busy",          "name_exhausted",
    "io_error",      "internal",
    "unauthorized",  "forbidden",
};

}  // namespace

std::string_view to_string(errc code) {
  auto i = static_cast<size_t>(code);
  return i >= 1 && i <= names.size() ? names[i - 1] : "internal";
}

std::optional<errc> errc_from_string(std::string_view text) {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == text) return static_cast<errc>(i + 1);
  return std::nullopt;
}

}  // namespace depot::schema
