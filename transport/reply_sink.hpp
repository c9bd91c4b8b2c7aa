#pragma once

// What actors see of the transport: who asked, and where answers go. No
// ZeroMQ here; transport/server.hpp implements reply_sink on a ROUTER socket.

#include "schema/messages.hpp"

#include <string>

namespace depot::transport {

/// A client connection as the ROUTER sees it: its routing id, and whether it
/// is a REQ socket (whose empty delimiter frame is echoed in replies).
struct peer {
  std::string routing_id;
  bool req = false;

  /// Who this peer's use of per-client limits (uploads, reserved memory,
  /// unread downloads) is charged to: its connection for now. The one place
  /// to change when clients have keys (CURVE): then the key.
  const std::string& client() const { return routing_id; }
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
