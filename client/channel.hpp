#pragma once

// Internal to the client library (not installed): how a connection moves
// frames. The ZeroMQ implementation is the only client code that includes
// zmq.hpp; tests wrap it to lose replies on purpose.

#include "client/client.hpp"
#include "schema/buffer.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace depot::client::detail {

using clock = std::chrono::steady_clock;

/// Frames of one multipart message.
using frames = std::vector<schema::buffer>;

/// A DEALER-like pipe to the server. Not thread safe.
class channel {
 public:
  virtual ~channel() = default;

  /// (Re)creates the socket and connects it: the server sees a new routing
  /// id, and whatever the old socket had queued is dropped. Errors:
  /// bad_request for an endpoint that does not parse, io_error otherwise.
  virtual result<void> open() = 0;

  /// Sends one message; waits until `deadline` for the connection to accept
  /// it. Errors: a timeout (error_source::timeout), io_error.
  virtual result<void> send(const frames& message,
                            clock::time_point deadline) = 0;

  /// The next message, or nullopt if none arrived by `deadline`.
  virtual result<std::optional<frames>> receive(clock::time_point deadline) = 0;

  /// The ZeroMQ socket underneath (a `void*` as zmq_poll takes it), so that
  /// the engine can poll it (socket_fd, socket_events); nullptr while the
  /// channel is not open. A wrapping channel returns its inner one's.
  virtual void* zmq_socket() = 0;

  /// The socket on which ZeroMQ's monitor reports the handshakes of
  /// zmq_socket() (a `void*` for zmq_poll; readable when an event waits), so
  /// that the engine wakes on a failed handshake; nullptr if none. A
  /// wrapping channel returns its inner one's.
  virtual void* monitor_socket() { return nullptr; }

  /// Takes the monitor's pending events. If the last handshake with the
  /// server failed and the socket is not connected, the error to report
  /// (error_source::handshake, code unauthorized, naming the server); else
  /// nullopt. send() and receive() return this error instead of waiting
  /// for their deadline. A wrapping channel returns its inner one's.
  virtual std::optional<error> handshake_failure() { return std::nullopt; }
};

/// The keys of a CURVE client, as Z85 text (40 characters each).
struct curve_keys {
  std::string server_public;  ///< ZMQ_CURVE_SERVERKEY: the server's
  std::string client_public;  ///< ZMQ_CURVE_PUBLICKEY: this client's
  std::string client_secret;  ///< ZMQ_CURVE_SECRETKEY: this client's
};

/// Reads the certificates options::curve_server_key and options::curve_key
/// name: nullopt when both are empty (NULL mechanism). Errors (local,
/// bad_request): one without the other, or a certificate that cannot be
/// read (the message names the file).
result<std::optional<curve_keys>> read_curve_keys(const options& opts);

/// A channel over a ZeroMQ DEALER socket with its own context: ZMQ_LINGER 0,
/// ZMQ_IMMEDIATE (nothing is queued for a server that is not connected),
/// ZMQ_MAXMSGSIZE from options::max_frame_bytes, the CURVE keys of
/// read_curve_keys(opts) if any, and a socket monitor (an inproc PAIR) that
/// watches its handshakes. Payload buffers are handed to ZeroMQ without
/// copying. It connects to the first endpoint of endpoint_list(opts).
/// Errors: those of read_curve_keys; io_error if no context can be made.
result<std::unique_ptr<channel>> make_zmq_channel(const options& opts);

/// One such channel per endpoint of endpoint_list(opts), in that order,
/// sharing one ZeroMQ context (one I/O thread) and the same CURVE keys.
/// Errors: as above.
result<std::vector<std::unique_ptr<channel>>> make_zmq_channels(
    const options& opts);

/// What a ZeroMQ socket (a channel's zmq_socket()) is ready for now:
/// ZMQ_EVENTS, as the bits below. Asking also lets ZeroMQ process the
/// socket's pending commands, which resets its ZMQ_FD signal: a caller that
/// polls socket_fd() must ask this until it says nothing is to be received.
/// 0 for a null socket.
inline constexpr unsigned socket_in = 1;   ///< a message can be received
inline constexpr unsigned socket_out = 2;  ///< a message can be sent
unsigned socket_events(void* zmq_socket);

/// ZMQ_FD of a ZeroMQ socket (or of a monitor socket): readable when the
/// socket's state may have changed (edge-like, see socket_events); -1 for a
/// null socket or on failure.
int socket_fd(void* zmq_socket);

/// The servers `opts` names: options::endpoints if not empty, else
/// {options::endpoint}.
std::vector<std::string> endpoint_list(const options& opts);

}  // namespace depot::client::detail
