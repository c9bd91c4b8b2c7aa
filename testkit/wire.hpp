#pragma once

// The wire of docs/protocol.md over raw ZeroMQ sockets, for tests and the
// benchmark: sockets, request frames and reply decoding with the project's
// own codec (schema/codec.hpp), received frames shared with the decoded
// reply without a copy. Failures throw std::runtime_error (or
// zmq::error_t). wire_client.hpp builds a client on these.

#include "schema/buffer.hpp"
#include "schema/codec.hpp"
#include "schema/messages.hpp"

#include <zmq.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace depot::test {

/// A socket of `type` with linger 0, connected to `endpoint`.
zmq::socket_t connect_socket(zmq::context_t& ctx, const std::string& endpoint,
                             zmq::socket_type type = zmq::socket_type::dealer);

/// Sets a client socket's options before it connects (e.g. CURVE keys).
using socket_setup = std::function<void(zmq::socket_t&)>;

/// As above, with `setup` applied before the connect.
zmq::socket_t connect_socket(zmq::context_t& ctx, const std::string& endpoint,
                             zmq::socket_type type, const socket_setup& setup);

/// The header frame of `r` alone (a chunk's payload is left out, for a
/// caller that sends its own zero-copy payload frame).
zmq::message_t header_frame(const schema::request& r);

/// Received frames as schema buffers sharing the messages (no copy).
std::vector<schema::buffer> to_buffers(std::vector<zmq::message_t> msgs);

/// Decodes reply frames (envelope already stripped) of a request of `op`;
/// throws if they do not decode.
schema::reply decode_reply(std::vector<zmq::message_t> msgs,
                           std::string_view op);

/// The `rid` of a reply header frame, if it decodes as a map holding a uint
/// `rid` (to match replies before decoding them by op).
std::optional<uint64_t> peek_rid(std::string_view header);

/// Receives one multipart message on `s`, waiting at most `limit`; throws
/// std::runtime_error naming `what` after that. `between_polls`, if set, is
/// called every 100 ms while waiting and may throw to give up.
std::vector<zmq::message_t> receive_message(
    zmq::socket_t& s, std::chrono::milliseconds limit, std::string_view what,
    const std::function<void()>& between_polls = {});

/// "ok" for a successful reply, else the wire error code ("too_large", ...).
std::string code(const schema::reply& r);

/// A one-line description of `r` for failure messages: the body's type,
/// and an error's code and message.
std::string describe(const schema::reply& r);

/// The `next` of an out_of_order error reply (nullopt if absent).
std::optional<uint64_t> error_next(const schema::reply& r);

/// The body of `r` as a T; throws std::runtime_error naming `what` and
/// describing `r` if it is anything else (an error reply, say).
template <class T>
const T& as(const schema::reply& r, std::string_view what = "reply") {
  if (auto* body = std::get_if<T>(&r.body)) return *body;
  throw std::runtime_error(std::string(what) +
                           ": unexpected reply: " + describe(r));
}

}  // namespace depot::test
