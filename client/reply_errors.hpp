#pragma once

// Internal to the client library: what a server's error reply, or a reply of
// the wrong kind, means as an error value.

#include "client/client.hpp"
#include "schema/messages.hpp"

#include <string_view>

namespace depot::client::detail {

/// The error value of a server's error reply (error_source::server).
error server_error(const schema::error_reply& r);

/// A local error that names a reply this client did not expect.
error unexpected_reply(std::string_view op);

}  // namespace depot::client::detail
