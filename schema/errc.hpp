#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace depot::schema {

/// The error codes of PROTOCOL.md's table, in its order. Zero is never used,
/// so a default-constructed caf::error ("no error") never maps to one.
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
};

/// The wire spelling of `code`, e.g. "bad_request".
std::string_view to_string(errc code);

/// Parses a wire spelling; nullopt for a code PROTOCOL.md does not name.
std::optional<errc> errc_from_string(std::string_view text);

/// The CAF error category of depot's codes.
inline constexpr caf::atom_value errc_category = caf::atom("depot");

/// A depot error as a CAF error value: the code plus a sentence for humans.
caf::error make_error(errc code, std::string message);

/// A depot error without a message (lets caf::error convert from errc).
caf::error make_error(errc code);

/// The depot code carried by `err`; `internal` for errors of other categories
/// (e.g. CAF's own `request_receiver_down`).
errc code_of(const caf::error& err);

/// The human sentence carried by `err`, or a generic one.
std::string message_of(const caf::error& err);

/// Results across folder boundaries: a value or a depot error.
template <class T>
using expected = caf::expected<T>;

}  // namespace depot::schema
