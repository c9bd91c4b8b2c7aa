#pragma once

// depot's error codes (schema/errc.hpp) as CAF error values: how the server
// carries a failure across folder boundaries (storage/, transport/, actors/)
// and turns it into an error reply. Server-side only: the client library
// neither installs nor includes this header.

#include "schema/errc.hpp"
#include "schema/messages.hpp"

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace depot::schema {

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

/// The error reply that answers a request whose handling failed with `err`:
/// code_of(err), message_of(err), and the request's `rid` echoed.
reply error_from(std::optional<uint64_t> rid, const caf::error& err);

}  // namespace depot::schema
