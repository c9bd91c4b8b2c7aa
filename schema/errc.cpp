#include "schema/errc.hpp"

#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <array>

namespace depot::schema {
namespace {

constexpr std::array<std::string_view, 14> names = {
    "bad_request",  "unsupported_version", "unknown_op",
    "unknown_upload", "out_of_order",      "too_large",
    "size_mismatch",  "checksum_mismatch", "not_found",
    "out_of_range",   "busy",              "name_exhausted",
    "io_error",       "internal",
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

caf::error make_error(errc code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), errc_category,
                    caf::make_message(std::move(message))};
}

caf::error make_error(errc code) {
  return caf::error{static_cast<uint8_t>(code), errc_category};
}

errc code_of(const caf::error& err) {
  if (err.category() != errc_category || err.code() < 1 ||
      err.code() > names.size())
    return errc::internal;
  return static_cast<errc>(err.code());
}

std::string message_of(const caf::error& err) {
  const auto& ctx = err.context();
  if (err.category() == errc_category && ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  if (err.category() == errc_category)
    return std::string{to_string(code_of(err))};
  return "internal error (" + caf::to_string(err.category()) + " code " +
         std::to_string(err.code()) + ")";
}

}  // namespace depot::schema
