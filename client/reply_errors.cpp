#include "client/reply_errors.hpp"

#include <string>

namespace depot::client::detail {

error server_error(const schema::error_reply& r) {
  return {r.code, r.message, error_source::server};
}

error unexpected_reply(std::string_view op) {
  return {errc::internal,
          "the server's reply to '" + std::string{op} +
              "' is of an unexpected kind",
          error_source::local};
}

}  // namespace depot::client::detail
