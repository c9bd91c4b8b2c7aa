#pragma once

// How a client connection appears in log lines (logging/log.hpp): the
// fields every line about a request names its client with.

#include "logging/log.hpp"
#include "transport/reply_sink.hpp"

namespace depot::transport {

/// `peer`: the connection's ZeroMQ routing id in hex, the same on every
/// line about that connection's requests. Views `p`.
inline log::field peer_field(const peer& p) {
  return {"peer", log::hex{p.routing_id}};
}

/// `key`: with CURVE, the client's public key (Z85); nothing without.
/// Views `p`.
inline log::field key_field(const peer& p) {
  return {"key", log::if_set{p.user}};
}

}  // namespace depot::transport
