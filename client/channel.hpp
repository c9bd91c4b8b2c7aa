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
  /// wait_ready() can wait on several channels at once; nullptr while the
  /// channel is not open. A wrapping channel returns its inner one's.
  virtual void* zmq_socket() = 0;
};

/// Which readiness wait_ready() waits for.
enum class ready_for : uint8_t {
  sending,    ///< the socket is connected and takes a message (POLLOUT)
  receiving,  ///< a message is waiting (POLLIN)
};

/// Waits until at least one of `chs` is ready `for_what`, or `deadline`.
/// Returns the indexes into `chs` of the ready ones, ascending; empty at the
/// deadline. A channel that is not open is never ready.
std::vector<size_t> wait_ready(const std::vector<channel*>& chs,
                               ready_for for_what, clock::time_point deadline);

/// A channel over a ZeroMQ DEALER socket with its own context: ZMQ_LINGER 0,
/// ZMQ_IMMEDIATE (nothing is queued for a server that is not connected),
/// ZMQ_MAXMSGSIZE from options::max_frame_bytes. Payload buffers are handed
/// to ZeroMQ without copying. It connects to the first endpoint of
/// endpoint_list(opts). Errors:
/// io_error if no context can be made.
result<std::unique_ptr<channel>> make_zmq_channel(const options& opts);

/// One such channel per endpoint of endpoint_list(opts), in that order,
/// sharing one ZeroMQ context (one I/O thread). Errors: as above.
result<std::vector<std::unique_ptr<channel>>> make_zmq_channels(
    const options& opts);

/// The servers `opts` names: options::endpoints if not empty, else
/// {options::endpoint}.
std::vector<std::string> endpoint_list(const options& opts);

}  // namespace depot::client::detail
