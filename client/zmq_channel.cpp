#include "client/channel.hpp"
#include "schema/codec.hpp"

#include <zmq.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>

namespace depot::client::detail {
namespace {

// Frames this small are copied: ZeroMQ stores them inline anyway, and an
// empty frame may have no data pointer to hand over.
constexpr size_t copy_below = 64;

// Room for header frames on top of the largest payload we ask for.
constexpr uint64_t header_room = 64 * 1024;

long remaining_ms(clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock::now());
  return std::max<long>(0, static_cast<long>(left.count()));
}

error zmq_failure(const std::string& what, const zmq::error_t& e) {
  return {errc::io_error, what + ": " + e.what(), error_source::local};
}

// The handshake events the monitor reports.
constexpr int monitored_events =
    ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
    ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED;

// A server that closes the connection in the middle of a handshake
// (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) is how a wrong server key shows
// (the server cannot decrypt our HELLO and hangs up), and often how a
// mechanism mismatch does (the server saw it first and hung up before we
// read its greeting). A server killed at that moment looks the same once,
// so it takes this many in a row (ZeroMQ reconnects after 100-200 ms)
// before the handshake counts as failed.
constexpr unsigned closed_handshakes_to_fail = 2;

// Every monitor needs its own inproc address within the context.
std::string monitor_address() {
  static std::atomic<uint64_t> counter{0};
  return "inproc://depot-client-monitor-" + std::to_string(++counter);
}

std::string hex(uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof text, "%#x", static_cast<unsigned>(v));
  return text;
}

// Why a ZAP handler's status refused us, in words.
std::string zap_status_text(uint32_t status) {
  std::string code = "(ZAP status " + std::to_string(status) + ")";
  switch (status) {
    case 400:
      return "the server refused this client's key " + code;
    case 300:
      return "the server could not check this client's key just now " + code +
             ": a temporary failure; try again later";
    case 500:
      return "the server could not check this client's key " + code +
             ": its authentication failed";
    default:
      return "the server's authentication refused this client " + code;
  }
}

// A ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL value in words.
std::string protocol_text(uint32_t value, bool curve) {
  switch (value) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
      return curve ? "security mechanism mismatch: this client uses CURVE "
                     "but the server does not (it uses NULL, no security, "
                     "or PLAIN)"
                   : "security mechanism mismatch: this client uses no "
                     "security (NULL) but the server requires another "
                     "mechanism (CURVE, for a depot server started with "
                     "--curve-secret-key): give the server's public key and "
                     "this client's secret certificate";
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
      return "a CURVE message of the server did not decrypt (protocol error " +
             hex(value) + "): is the server's public key right?";
    default:
      return "protocol error " + hex(value) +
             " during the handshake (ZMQ_PROTOCOL_ERROR_*)";
  }
}

class zmq_channel final : public channel {
 public:
  zmq_channel(const options& opts, std::string endpoint,
              std::shared_ptr<zmq::context_t> context,
              std::optional<curve_keys> curve)
      : endpoint_(std::move(endpoint)),
        timeout_(opts.timeout),
        max_message_(std::max<uint64_t>(opts.max_frame_bytes,
                                        schema::max_reply_header_bytes) +
                     header_room),
        context_(std::move(context)),
        curve_(std::move(curve)) {}

  ~zmq_channel() override {
    // Linger is 0: closing never blocks, and then neither does the context
    // (terminated with the last channel that shares it).
    close();
  }

  void* zmq_socket() override {
    return socket_ ? static_cast<void*>(*socket_) : nullptr;
  }

  void* monitor_socket() override {
    return monitor_ ? static_cast<void*>(*monitor_) : nullptr;
  }

  std::optional<error> handshake_failure() override {
    if (!socket_) return std::nullopt;
    drain_monitor();
    if (!failure_ || writable_now()) return std::nullopt;
    return handshake_error();
  }

  result<void> open() override {
    close();
    try {
      zmq::socket_t s{*context_, zmq::socket_type::dealer};
      s.set(zmq::sockopt::linger, 0);
      s.set(zmq::sockopt::immediate, 1);
      s.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(max_message_));
      if (curve_) {
        set_key(s, ZMQ_CURVE_SERVERKEY, curve_->server_public);
        set_key(s, ZMQ_CURVE_PUBLICKEY, curve_->client_public);
        set_key(s, ZMQ_CURVE_SECRETKEY, curve_->client_secret);
      }
      // The monitor is attached before connecting, so that no handshake
      // goes unreported.
      std::string address = monitor_address();
      if (zmq_socket_monitor(static_cast<void*>(s), address.c_str(),
                             monitored_events) != 0)
        throw zmq::error_t{};
      zmq::socket_t m{*context_, zmq::socket_type::pair};
      m.set(zmq::sockopt::linger, 0);
      m.connect(address);
      try {
        s.connect(endpoint_);
      } catch (const zmq::error_t& e) {
        return error{errc::bad_request,
                     "cannot connect to '" + endpoint_ + "': " + e.what(),
                     error_source::local};
      }
      socket_.emplace(std::move(s));
      monitor_.emplace(std::move(m));
    } catch (const zmq::error_t& e) {
      return zmq_failure("cannot create a ZeroMQ socket", e);
    }
    return {};
  }

  result<void> send(const frames& message,
                    clock::time_point deadline) override {
    if (!socket_) return error{errc::internal, "channel is not open"};
    // Fast path: a connected socket takes the message at once. Polling
    // first (the socket and its monitor) costs several system calls per
    // message (ZMQ_EVENTS makes ZeroMQ poll its mailbox and call getpid):
    // a fifth of the time of a 4 KiB download through the library.
    if (!failure_ && !message.empty()) {
      try {
        zmq::message_t first = to_message(message[0]);
        auto flags = message.size() > 1 ? zmq::send_flags::sndmore
                                        : zmq::send_flags::none;
        if (socket_->send(first, flags | zmq::send_flags::dontwait))
          return send_rest(message);
      } catch (const zmq::error_t& e) {
        return zmq_failure("send to " + endpoint_ + " failed", e);
      }
    }
    // With ZMQ_IMMEDIATE the socket is writable only once connected, which
    // includes a completed handshake.
    switch (wait_for(ZMQ_POLLOUT, deadline)) {
      case waited::ready:
        break;
      case waited::refused:
        return handshake_error();
      case waited::deadline:
        return error{
            errc::io_error,
            "no connection to " + endpoint_ + " within " + seconds_text(),
            error_source::timeout};
    }
    try {
      for (size_t i = 0; i < message.size(); ++i) {
        auto flags = i + 1 < message.size() ? zmq::send_flags::sndmore
                                            : zmq::send_flags::none;
        zmq::message_t frame = to_message(message[i]);
        // Only the first frame can be refused: ZeroMQ takes the rest of a
        // multipart message atomically once it took the first.
        if (!socket_->send(frame, flags | zmq::send_flags::dontwait))
          return error{errc::io_error,
                       "send to " + endpoint_ + " would block after polling",
                       error_source::local};
      }
    } catch (const zmq::error_t& e) {
      return zmq_failure("send to " + endpoint_ + " failed", e);
    }
    return {};
  }

  result<std::optional<frames>> receive(clock::time_point deadline) override {
    if (!socket_) return error{errc::internal, "channel is not open"};
    frames out;
    // Fast path, as in send(): a message already here is taken without
    // polling; only when none is does the wait (and the monitor) come in.
    auto msg = std::make_shared<zmq::message_t>();
    try {
      if (!socket_->recv(*msg, zmq::recv_flags::dontwait)) {
        switch (wait_for(ZMQ_POLLIN, deadline)) {
          case waited::ready:
            break;
          case waited::refused:
            return handshake_error();
          case waited::deadline:
            return std::optional<frames>{};
        }
        if (!socket_->recv(*msg, zmq::recv_flags::dontwait))
          return std::optional<frames>{};
      }
    } catch (const zmq::error_t& e) {
      return zmq_failure("receive from " + endpoint_ + " failed", e);
    }
    try {
      while (true) {
        if (!msg) {
          msg = std::make_shared<zmq::message_t>();
          if (!socket_->recv(*msg, zmq::recv_flags::dontwait))
            return error{errc::io_error, "truncated multipart message",
                         error_source::local};
        }
        bool more = msg->more();
        auto* data = static_cast<const std::byte*>(msg->data());
        size_t size = msg->size();
        out.emplace_back(std::shared_ptr<const void>{std::move(msg)}, data,
                         size);
        msg.reset();
        if (!more) break;
      }
    } catch (const zmq::error_t& e) {
      return zmq_failure("receive from " + endpoint_ + " failed", e);
    }
    return std::optional<frames>{std::move(out)};
  }

 private:
  enum class waited : uint8_t { ready, refused, deadline };

  static void set_key(zmq::socket_t& s, int option, const std::string& z85) {
    // Z85 text with its terminating NUL: 41 bytes.
    if (zmq_setsockopt(static_cast<void*>(s), option, z85.c_str(),
                       z85.size() + 1) != 0)
      throw zmq::error_t{};
  }

  void close() {
    socket_.reset();  // its monitor stops with it
    monitor_.reset();
    failure_.reset();
    closed_in_handshake_ = 0;
  }

  // Sends frames 1.. of `message` after its first went (ZeroMQ takes the
  // rest of a multipart message atomically once it took the first).
  result<void> send_rest(const frames& message) {
    try {
      for (size_t i = 1; i < message.size(); ++i) {
        auto flags = i + 1 < message.size() ? zmq::send_flags::sndmore
                                            : zmq::send_flags::none;
        zmq::message_t frame = to_message(message[i]);
        if (!socket_->send(frame, flags | zmq::send_flags::dontwait))
          return error{errc::io_error,
                       "send to " + endpoint_ + " refused a frame",
                       error_source::local};
      }
    } catch (const zmq::error_t& e) {
      return zmq_failure("send to " + endpoint_ + " failed", e);
    }
    return {};
  }

  // Until `events` are ready on the socket (ready), the handshake has
  // failed and the socket is not connected (refused), or the deadline. The
  // monitor is polled alongside, so a failure ends the wait at once.
  waited wait_for(short events, clock::time_point deadline) {
    drain_monitor();
    while (true) {
      // A failure known already: only look whether the socket is ready.
      const bool refused = failure_ && !writable_now();
      zmq::pollitem_t items[2] = {
          {static_cast<void*>(*socket_), 0, events, 0},
          {monitor_ ? static_cast<void*>(*monitor_) : nullptr, 0, ZMQ_POLLIN,
           0}};
      int rc = zmq_poll(items, monitor_ ? 2 : 1,
                        refused ? 0 : remaining_ms(deadline));
      if (rc > 0 && (items[0].revents & events)) return waited::ready;
      if (refused) return waited::refused;
      if (rc > 0 && (items[1].revents & ZMQ_POLLIN)) {
        drain_monitor();
        continue;
      }
      if (rc < 0 && zmq_errno() != EINTR) return waited::deadline;
      if (clock::now() >= deadline) return waited::deadline;
    }
  }

  // True if the socket takes a message now (it is connected).
  bool writable_now() {
    zmq::pollitem_t item{static_cast<void*>(*socket_), 0, ZMQ_POLLOUT, 0};
    return zmq_poll(&item, 1, 0) > 0 && (item.revents & ZMQ_POLLOUT);
  }

  // Takes every pending monitor event; the last handshake's outcome wins.
  void drain_monitor() {
    if (!monitor_) return;
    while (true) {
      zmq::message_t head;
      zmq::message_t address;
      try {
        if (!monitor_->recv(head, zmq::recv_flags::dontwait)) return;
        // The second frame (the endpoint) always follows the first.
        if (head.more()) (void)monitor_->recv(address);
      } catch (const zmq::error_t&) {
        return;
      }
      if (head.size() < 6) continue;
      uint16_t event;
      uint32_t value;
      std::memcpy(&event, head.data(), sizeof event);
      std::memcpy(&value, static_cast<const char*>(head.data()) + 2,
                  sizeof value);
      on_event(event, value);
    }
  }

  void on_event(uint16_t event, uint32_t value) {
    switch (event) {
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        failure_.reset();
        closed_in_handshake_ = 0;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        failure_ = zap_status_text(value);
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        failure_ = protocol_text(value, curve_.has_value());
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        if (++closed_in_handshake_ >= closed_handshakes_to_fail)
          failure_ =
              curve_ ? "the server closed the connection during the CURVE "
                       "handshake: is the server's public key right, and "
                       "does the server use CURVE?"
                     : "the server closed the connection during the "
                       "handshake, as a server does on a security mechanism "
                       "mismatch: this client uses no security (NULL); a "
                       "depot server started with --curve-secret-key "
                       "requires CURVE: give the server's public key and "
                       "this client's secret certificate";
        break;
      default:
        break;
    }
  }

  error handshake_error() const {
    return error{errc::unauthorized,
                 std::string{curve_ ? "CURVE handshake" : "handshake"} +
                     " with " + endpoint_ +
                     " failed: " + failure_.value_or("unknown reason"),
                 error_source::handshake};
  }

  static zmq::message_t to_message(const schema::buffer& b) {
    if (b.empty()) return zmq::message_t{};
    if (b.size() < copy_below) return zmq::message_t{b.data(), b.size()};
    // The heap copy of the buffer keeps the bytes alive until ZeroMQ's I/O
    // thread is done with them and calls the free function.
    auto* keep = new schema::buffer(b);
    return zmq::message_t{
        const_cast<std::byte*>(b.data()), b.size(),
        [](void*, void* hint) { delete static_cast<schema::buffer*>(hint); },
        keep};
  }

  std::string seconds_text() const {
    auto ms = timeout_.count();
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s"
                          : std::to_string(ms) + " ms";
  }

  std::string endpoint_;
  std::chrono::milliseconds timeout_;
  uint64_t max_message_;
  std::shared_ptr<zmq::context_t> context_;
  std::optional<curve_keys> curve_;
  std::optional<zmq::socket_t> socket_;
  std::optional<zmq::socket_t> monitor_;  // the PAIR end of socket_'s monitor
  std::optional<std::string> failure_;    // why the last handshake failed
  unsigned closed_in_handshake_ = 0;      // NO_DETAIL failures in a row
};

}  // namespace

result<std::unique_ptr<channel>> make_zmq_channel(const options& opts) {
  auto keys = read_curve_keys(opts);
  if (!keys) return std::move(keys).error();
  try {
    return std::unique_ptr<channel>{std::make_unique<zmq_channel>(
        opts, endpoint_list(opts).front(), std::make_shared<zmq::context_t>(1),
        std::move(*keys))};
  } catch (const zmq::error_t& e) {
    return zmq_failure("cannot create a ZeroMQ context", e);
  }
}

result<std::vector<std::unique_ptr<channel>>> make_zmq_channels(
    const options& opts) {
  auto keys = read_curve_keys(opts);
  if (!keys) return std::move(keys).error();
  try {
    auto context = std::make_shared<zmq::context_t>(1);
    std::vector<std::unique_ptr<channel>> out;
    for (const std::string& endpoint : endpoint_list(opts))
      out.push_back(
          std::make_unique<zmq_channel>(opts, endpoint, context, *keys));
    return out;
  } catch (const zmq::error_t& e) {
    return zmq_failure("cannot create a ZeroMQ context", e);
  }
}

unsigned socket_events(void* zmq_socket) {
  if (!zmq_socket) return 0;
  int events = 0;
  size_t size = sizeof events;
  if (zmq_getsockopt(zmq_socket, ZMQ_EVENTS, &events, &size) != 0) return 0;
  return ((events & ZMQ_POLLIN) ? socket_in : 0u) |
         ((events & ZMQ_POLLOUT) ? socket_out : 0u);
}

int socket_fd(void* zmq_socket) {
  if (!zmq_socket) return -1;
  int fd = -1;
  size_t size = sizeof fd;
  if (zmq_getsockopt(zmq_socket, ZMQ_FD, &fd, &size) != 0) return -1;
  return fd;
}

std::vector<std::string> endpoint_list(const options& opts) {
  if (!opts.endpoints.empty()) return opts.endpoints;
  return {opts.endpoint};
}

}  // namespace depot::client::detail
