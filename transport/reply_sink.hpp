#pragma once

// What actors see of the transport: who asked, and where answers go. No
// ZeroMQ here; transport/server.hpp implements reply_sink on a ROUTER socket.

#include "schema/messages.hpp"

#include <cstdint>
#include <string>

namespace depot::transport {

/// A client connection as the ROUTER sees it: its routing id, whether it
/// is a REQ socket (whose empty delimiter frame is echoed in replies), and
/// with CURVE the client's public key.
struct peer {
  std::string routing_id;
  bool req = false;
  /// With CURVE: the client's public key (Z85, ZAP's User-Id); else empty.
  std::string user{};
  /// The request this peer came with, for the metrics of its reply: which
  /// operation (its index in schema::request_body; no_op when it did not
  /// decode) and when it arrived (steady-clock ns; 0 when metrics are off).
  static constexpr uint8_t no_op = 0xff;
  uint8_t op = no_op;
  int64_t arrived_ns = 0;

  /// Who this peer's use of per-client limits (uploads, reserved memory,
  /// unread downloads) is charged to: its key with CURVE, so that one key
  /// cannot escape them by opening more connections; else its connection.
  /// (A routing id is 5 bytes, a key 40 characters: they never collide.)
  const std::string& client() const { return user.empty() ? routing_id : user; }
};

/// Where replies go. `send` is safe to call from any thread, never blocks on
/// the network, and never fails: a reply to a vanished client is counted
/// and dropped by the transport.
class reply_sink {
 public:
  virtual ~reply_sink() = default;
  virtual void send(const peer& to, schema::reply r) = 0;
};

}  // namespace depot::transport
