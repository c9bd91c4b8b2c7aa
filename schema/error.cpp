#include "schema/error.hpp"

#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <utility>

namespace depot::schema {

caf::error make_error(errc code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), errc_category,
                    caf::make_message(std::move(message))};
}

caf::error make_error(errc code) {
  return caf::error{static_cast<uint8_t>(code), errc_category};
}

errc code_of(const caf::error& err) {
  if (err.category() != errc_category || err.code() < 1 ||
      err.code() > errc_count)
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

reply error_from(std::optional<uint64_t> rid, const caf::error& err) {
  return {rid, error_reply{code_of(err), message_of(err), std::nullopt}};
}

}  // namespace depot::schema
