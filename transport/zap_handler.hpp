#pragma once

// The ZAP handler (ZeroMQ's authentication protocol, RFC 27) of a CURVE
// ROUTER: libzmq asks it, over inproc://zeromq.zap.01 on the socket's
// context, whether each connecting client's public key may come in. It
// admits exactly the keys of the current key ring and names the client by
// its key (Z85) as ZAP's User-Id, which libzmq then attaches to every
// message of that connection ("User-Id" metadata): transport/server.cpp
// checks it again on every request, so that a key removed later is refused
// on connections it opened before.

#include "transport/curve/key_ring.hpp"

#include <zmq.hpp>

#include <string>

namespace depot::transport {

/// The ZAP domain of depot's ROUTER; the handler refuses any other.
inline constexpr const char* zap_domain = "depot";

/// One per ZeroMQ context, owned by the thread that polls it (the ROUTER's
/// I/O thread). Must be bound before the ROUTER accepts its first
/// connection.
class zap_handler {
 public:
  /// Binds the ZAP endpoint on `context`. Throws zmq::error_t if it is taken.
  explicit zap_handler(zmq::context_t& context);

  /// The socket to poll for ZMQ_POLLIN.
  void* handle() { return socket_.handle(); }

  /// Answers every ZAP request waiting, admitting the keys of `clients`.
  /// Never blocks; a malformed request gets status 500.
  void answer_pending(const curve::key_ring& clients);

 private:
  zmq::socket_t socket_;
  std::vector<zmq::message_t> request_;
};

}  // namespace depot::transport
