#pragma once

// depot's protocol error codes: the one list of them, as docs/protocol.md's
// table names them. Standard library only: the client library installs this
// header. The server carries these codes as CAF errors (schema/error.hpp).

#include <cstdint>
#include <optional>
#include <string_view>

namespace depot::schema {

/// The error codes of docs/protocol.md's table, in its order. Zero is never a
/// code: 0 means "no error" wherever a code travels as a number.
enum class errc : uint8_t {
  bad_request = 1,
  unsupported_version,
  unknown_op,
  unknown_upload,
  out_of_order,
  too_large,
  size_mismatch,
  checksum_mismatch,
  not_found,
  out_of_range,
  busy,
  name_exhausted,
  io_error,
  internal,
  unauthorized,
  forbidden,
};

/// The number of codes: errc's values are 1 to errc_count.
inline constexpr uint8_t errc_count = static_cast<uint8_t>(errc::forbidden);

/// The wire spelling of `code`, e.g. "bad_request"; "internal" for a value
/// outside the enum.
std::string_view to_string(errc code);

/// Parses a wire spelling; nullopt for a code docs/protocol.md does not name.
std::optional<errc> errc_from_string(std::string_view text);

}  // namespace depot::schema
