#include "transport/server.hpp"

#include "logging/log.hpp"
#include "schema/codec.hpp"
#include "transport/connections.hpp"
#include "transport/log_fields.hpp"
#include "transport/rate_limited_log.hpp"
#include "transport/zap_handler.hpp"

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace depot::transport {
namespace {

// Per-peer outbound queue inside ZeroMQ, in messages. Deep enough for a
// pipelining client (the benchmark keeps 64 in flight); when it is full the
// reply is dropped and counted as unroutable rather than blocking the I/O
// thread for everyone (see send_frames).
constexpr int send_hwm = 10000;

// Messages received per wake-up before queued replies get their turn, so a
// flood of requests cannot starve the replies.
constexpr size_t receive_batch = 256;

// Frames smaller than this are copied into the ZeroMQ message: one memcpy is
// cheaper than a zero-copy frame's extra allocation (the hint) and its free
// callback on ZeroMQ's thread. Frames up to 33 bytes are inlined by ZeroMQ
// anyway. Payloads above it (download ranges, large list headers) are never
// copied.
constexpr size_t copy_below = 1024;

// Frames after the envelope whose bytes are kept for the decoder. Two is the
// most any request has; a third lets the decoder report "too many frames".
// Beyond that only the count is kept (as empty buffers).
constexpr size_t kept_frames = 3;

// A frames_ vector grown past this by a many-frame message is shrunk back.
constexpr size_t frames_capacity_kept = 64;

// ZMQ_ZAP_ENFORCE_DOMAIN: with it, a CURVE handshake that finds no ZAP
// handler fails instead of admitting everyone. Debian's zmq.h declares it
// only for the draft API, but libzmq 4.3.4 takes it.
constexpr int zap_enforce_domain_option = 93;

// Under CURVE each frame travels as a MESSAGE command: its name (8 bytes),
// a nonce (8), the box's MAC (16) and the frame's flags (1) come on top of
// the frame's bytes (libzmq's curve_mechanism_base_t::encode).
constexpr uint64_t curve_frame_overhead = 33;

// libzmq keeps ZMQ_HEARTBEAT_TTL in deciseconds in a uint16_t.
constexpr int max_heartbeat_ttl_ms = 6553500;

// Set on the thread inside run(): send() from the handler (on that thread)
// needs no eventfd wake-up, since the loop flushes the queue before it polls.
thread_local const void* io_thread_of = nullptr;

struct outgoing {
  peer to;
  std::vector<schema::buffer> frames;
};

// Free function of zero-copy frames; runs on ZeroMQ's I/O thread once the
// bytes are written (or dropped), releasing our reference to the owner.
void release_buffer(void*, void* hint) {
  delete static_cast<schema::buffer*>(hint);
}

zmq::message_t to_message(const schema::buffer& b) {
  if (b.size() < copy_below) return zmq::message_t(b.data(), b.size());
  auto keep = std::make_unique<schema::buffer>(b);
  zmq::message_t msg(const_cast<std::byte*>(b.data()), b.size(), release_buffer,
                     keep.get());
  keep.release();  // now owned by msg (its free function deletes it)
  return msg;
}

// IPv6 is switched on per endpoint: for a bracketed IPv6 address, and for
// the wildcard host (dual stack: IPv4 clients still connect). With it on, an
// IPv4 address would be reported as tcp://[::ffff:127.0.0.1]:port, and a
// host name might resolve to IPv6 only; those keep ZeroMQ's IPv4 default.
bool wants_ipv6(std::string_view endpoint) {
  constexpr std::string_view tcp = "tcp://";
  if (endpoint.substr(0, tcp.size()) != tcp) return false;
  std::string_view host = endpoint.substr(tcp.size());
  return host.substr(0, 1) == "[" || host.substr(0, 2) == "*:";
}

schema::reply error_of(schema::errc code, std::optional<uint64_t> rid,
                       std::string text) {
  return {rid, schema::error_reply{code, std::move(text), std::nullopt}};
}

schema::reply internal_error(std::optional<uint64_t> rid, std::string text) {
  return error_of(schema::errc::internal, rid, std::move(text));
}

// What a `read` key may ask: nothing that changes the store or an upload.
bool read_only(const schema::request_body& body) {
  return std::holds_alternative<schema::download_request>(body) ||
         std::holds_alternative<schema::stat_request>(body) ||
         std::holds_alternative<schema::list_request>(body) ||
         std::holds_alternative<schema::ping_request>(body);
}

}  // namespace

bool is_loopback_endpoint(std::string_view endpoint) {
  for (std::string_view local : {"ipc://", "inproc://"})
    if (endpoint.substr(0, local.size()) == local) return true;
  constexpr std::string_view tcp = "tcp://";
  if (endpoint.substr(0, tcp.size()) != tcp) return false;
  std::string_view host = endpoint.substr(tcp.size());
  size_t colon = host.rfind(':');
  if (colon == std::string_view::npos) return false;
  host = host.substr(0, colon);
  if (host == "localhost" || host == "lo") return true;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    std::string v6{host.substr(1, host.size() - 2)};
    in6_addr a6{};
    return ::inet_pton(AF_INET6, v6.c_str(), &a6) == 1 &&
           (IN6_IS_ADDR_LOOPBACK(&a6) ||
            (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127));
  }
  std::string v4{host};
  in_addr a4{};
  return ::inet_pton(AF_INET, v4.c_str(), &a4) == 1 &&
         (ntohl(a4.s_addr) >> 24) == 127;
}

struct server::impl {
  impl(server_options o, request_handler h)
      : options(std::move(o)), handler(std::move(h)) {
    wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0) wake_fd_errno = errno;
    if (options.metrics) register_metrics();
  }

  // The transport's own counters, read at each scrape. Requests refused
  // here (unauthorized, forbidden, malformed) need no family of their own:
  // their replies are counted in depot_requests_total under their code.
  void register_metrics() {
    using metrics::metric_type;
    registered = metrics::registration{&options.metrics->reg()};
    auto read = [this](const std::atomic<uint64_t>& c) {
      return [&c](metrics::sample_sink& out) {
        out.value({}, static_cast<double>(c.load(std::memory_order_relaxed)));
      };
    };
    registered.add_callback("depot_connections", "Client connections open.",
                            metric_type::gauge, {}, read(stats.connections));
    registered.add_callback(
        "depot_connections_dropped_total",
        "Connections dropped by the limits (--max-connections, "
        "--peer-memory-limit, --peer-memory-cap).",
        metric_type::counter, {}, read(stats.connections_dropped));
    registered.add_callback(
        "depot_replies_unroutable_total",
        "Replies dropped: their client was gone or did not read.",
        metric_type::counter, {}, read(stats.unroutable));
  }

  // A reply queued (or sent from the I/O thread) for `to`'s request.
  void count_reply(const peer& to, const schema::reply& r,
                   const std::vector<schema::buffer>& frames) {
    if (!options.metrics) return;
    size_t code = 0;
    if (auto* e = std::get_if<schema::error_reply>(&r.body))
      code = static_cast<size_t>(e->code);
    uint64_t bytes = 0;
    for (const schema::buffer& b : frames) bytes += b.size();
    options.metrics->reply_queued(to.op, code, to.arrived_ns, bytes);
  }

  ~impl() {
    close_socket();
    if (wake_fd >= 0) ::close(wake_fd);
  }

  // --- set-up and tear-down (the owning thread) ------------------------------

  caf::error bind() {
    using schema::errc;
    if (wake_fd < 0)
      return schema::make_error(
          errc::io_error, std::string{"cannot create the wake-up eventfd: "} +
                              std::strerror(wake_fd_errno));
    if (bind_called)
      return schema::make_error(errc::io_error, "bind() was already called");
    bind_called = true;
    if (options.endpoints.empty())
      return schema::make_error(errc::io_error, "no endpoint to bind");
    try {
      context.emplace();
      // Before the ROUTER exists: no handshake may find no handler.
      if (options.curve) zap.emplace(*context);
      socket.emplace(*context, zmq::socket_type::router);
      configure();
      watch_connections();
    } catch (const zmq::error_t& e) {
      close_socket();
      return schema::make_error(
          errc::io_error,
          std::string{"cannot create the ROUTER socket: "} + e.what());
    }
    for (const std::string& ep : options.endpoints) {
      try {
        socket->set(zmq::sockopt::ipv6, wants_ipv6(ep));
        socket->bind(ep);
        bound.push_back(socket->get(zmq::sockopt::last_endpoint));
      } catch (const zmq::error_t& e) {
        // Release what was bound: a failed bind() leaves nothing behind.
        close_socket();
        bound.clear();
        return schema::make_error(errc::io_error,
                                  "cannot bind " + ep + ": " + e.what());
      }
    }
    return {};
  }

  void configure() {
    socket->set(zmq::sockopt::linger, 0);
    socket->set(zmq::sockopt::router_mandatory, 1);
    // Set before the first byte is read: libzmq would otherwise allocate
    // whatever size a frame header declares. A larger frame makes libzmq
    // drop that connection; it never reaches us.
    socket->set(zmq::sockopt::maxmsgsize,
                static_cast<int64_t>(options.max_payload +
                                     schema::max_request_header_bytes + 1024));
    socket->set(zmq::sockopt::rcvhwm, options.receive_hwm);
    socket->set(zmq::sockopt::sndhwm, send_hwm);
    auto ivl = options.heartbeat.count();
    if (ivl > 0) {
      int ivl_ms =
          static_cast<int>(std::min<int64_t>(ivl, max_heartbeat_ttl_ms / 3));
      socket->set(zmq::sockopt::heartbeat_ivl, ivl_ms);
      socket->set(zmq::sockopt::heartbeat_timeout, 3 * ivl_ms);
      socket->set(zmq::sockopt::heartbeat_ttl, 3 * ivl_ms);
    }
    if (options.curve) {
      clients = options.curve->clients;
      socket->set(zmq::sockopt::curve_server, true);
      socket->set(zmq::sockopt::curve_secretkey, options.curve->secret_key);
      socket->set(zmq::sockopt::zap_domain, zap_domain);
      int one = 1;
      if (zmq_setsockopt(socket->handle(), zap_enforce_domain_option, &one,
                         sizeof one) != 0)
        throw zmq::error_t();
    }
  }

  // The monitor reports every connection's fd to the connection guard
  // (transport/connections.hpp). Set up before the first bind, so that no
  // connection is accepted unseen.
  void watch_connections() {
    std::string address = "inproc://depot-transport-monitor-" +
                          std::to_string(reinterpret_cast<uintptr_t>(this));
    if (zmq_socket_monitor(socket->handle(), address.c_str(),
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_ACCEPT_FAILED |
                               ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0)
      throw zmq::error_t();
    monitor.emplace(*context, zmq::socket_type::pair);
    monitor->set(zmq::sockopt::linger, 0);
    monitor->connect(address);
    guard.emplace(options, stats, [this] { drain(); });
  }

  // Reads every monitor event queued. Each is two frames: 16-bit event and
  // 32-bit value (the fd, or errno for ACCEPT_FAILED), then the endpoint.
  void read_monitor() {
    while (monitor->recv(event_msg, zmq::recv_flags::dontwait)) {
      bool more = event_msg.more();
      if (event_msg.size() >= 6) {
        uint16_t event;
        uint32_t value;
        std::memcpy(&event, event_msg.data(), sizeof event);
        std::memcpy(&value, static_cast<const char*>(event_msg.data()) + 2,
                    sizeof value);
        int v = static_cast<int>(value);
        if (event == ZMQ_EVENT_ACCEPTED)
          guard->accepted(v);
        else if (event == ZMQ_EVENT_DISCONNECTED)
          guard->disconnected(v);
        else if (event == ZMQ_EVENT_ACCEPT_FAILED)
          guard->accept_failed(v);
        else
          log::debug("depot transport: handshake failed",
                     {{"event", event}, {"fd", v}});
      }
      while (more && monitor->recv(event_msg, zmq::recv_flags::dontwait))
        more = event_msg.more();
    }
  }

  // Everything ready, so that the guard judges connections by what is still
  // unfinished. Bounded: a flood cannot keep the guard here.
  void drain() {
    read_monitor();
    for (int i = 0; i < 16 && receive_some(); ++i) {
    }
  }

  // The socket goes before the context, or zmq_ctx_term waits for it.
  // Linger is 0: whatever ZeroMQ has not written yet is dropped, and the
  // free functions of its zero-copy frames run before the context is gone.
  void close_socket() {
    monitor.reset();
    socket.reset();
    zap.reset();
    context.reset();
  }

  // --- the I/O loop ----------------------------------------------------------

  void run() {
    if (!socket) {
      spdlog::error("depot transport: run() without a successful bind()");
      return;
    }
    io_thread_of = this;
    zmq_pollitem_t items[4] = {
        {socket->handle(), 0, ZMQ_POLLIN, 0},
        {nullptr, wake_fd, ZMQ_POLLIN, 0},
        {monitor->handle(), 0, ZMQ_POLLIN, 0},
        {zap ? zap->handle() : nullptr, 0, ZMQ_POLLIN, 0},
    };
    const int polled = zap ? 4 : 3;
    // Requests may have arrived between bind() and run(): look at once.
    bool backlog = true;
    for (;;) {
      loop_passes.fetch_add(1, std::memory_order_release);
      try {
        bool stopping = stop_requested.load(std::memory_order_acquire);
        flush(stopping);
        if (stopping) break;
        auto next_check = guard->tick();
        for (auto& item : items) item.revents = 0;
        zmq::poll(items, polled,
                  backlog ? std::chrono::milliseconds{0} : next_check);
        if (items[1].revents & ZMQ_POLLIN) drain_wake_fd();
        if (items[3].revents & ZMQ_POLLIN)
          zap->answer_pending(current_clients());
        // Before the requests: a request's connection is known before it.
        if (items[2].revents & ZMQ_POLLIN) read_monitor();
        if (backlog || (items[0].revents & ZMQ_POLLIN))
          backlog = receive_some();
      } catch (const std::exception& e) {
        // zmq_poll's EINTR, or worse: log and keep serving, without
        // spinning on an error that persists.
        log::error("depot transport: I/O loop failed; going on",
                   {{"error", e.what()}});
        discard_partial_message();
        backlog = true;
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
      }
    }
    io_thread_of = nullptr;
    close_socket();
  }

  // After an error inside a multipart message, reads its remaining frames so
  // that the next message starts at a routing id.
  void discard_partial_message() {
    try {
      while (socket->get(zmq::sockopt::rcvmore))
        if (!socket->recv(scratch, zmq::recv_flags::dontwait)) break;
    } catch (const zmq::error_t&) {
    }
  }

  void drain_wake_fd() {
    uint64_t count;
    // Nonblocking: EAGAIN just means another wake-up already drained it.
    [[maybe_unused]] ssize_t n = ::read(wake_fd, &count, sizeof count);
  }

  void wake() {
    uint64_t one = 1;
    while (::write(wake_fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
  }

  // Sends everything queued. The eventfd was drained before this swap, so a
  // reply queued after it finds the queue empty and wakes us again: no
  // wake-up is lost. `last` closes the queue: later replies are dropped.
  void flush(bool last) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      queue.swap(sending);
      if (last) closed = true;
    }
    if (sending.empty()) return;
    uint64_t sent = 0;
    for (outgoing& o : sending) sent += send_frames(o.to, o.frames);
    sending.clear();  // releases the buffers copied into ZeroMQ messages
    stats.replies.fetch_add(sent, std::memory_order_relaxed);
  }

  // Sends one reply; false when it was dropped. Every ZeroMQ message is
  // built before the first frame goes out, so a failure cannot leave half a
  // message on the socket. After that only the routing-id frame can fail:
  // ROUTER checks the peer once per message. EHOSTUNREACH (peer gone,
  // ZMQ_ROUTER_MANDATORY) and EAGAIN (its send HWM is full: a client that
  // does not read) both drop the reply and count it as unroutable; blocking
  // here would stall every other client.
  bool send_frames(const peer& to, const std::vector<schema::buffer>& frames) {
    using zmq::send_flags;
    const send_flags more = send_flags::sndmore | send_flags::dontwait;
    try {
      parts.clear();
      for (const schema::buffer& b : frames) parts.push_back(to_message(b));
      if (parts.empty()) return false;  // encode_reply never gives none
      zmq::message_t id(to.routing_id.data(), to.routing_id.size());
      if (!socket->send(id, more)) {
        parts.clear();
        stats.unroutable.fetch_add(1, std::memory_order_relaxed);
        log::debug("depot transport: reply dropped, peer's queue is full",
                   {peer_field(to), key_field(to)});
        return false;
      }
      if (to.req) socket->send(zmq::message_t{}, more);
      for (size_t i = 0; i < parts.size(); ++i)
        socket->send(parts[i],
                     i + 1 < parts.size() ? more : send_flags::dontwait);
      parts.clear();
      return true;
    } catch (const std::exception& e) {
      parts.clear();
      stats.unroutable.fetch_add(1, std::memory_order_relaxed);
      auto* z = dynamic_cast<const zmq::error_t*>(&e);
      if (z && z->num() == EHOSTUNREACH)
        log::debug("depot transport: reply dropped, peer is gone",
                   {peer_field(to), key_field(to)});
      else
        log::warn("depot transport: reply dropped",
                  {{"error", e.what()}, peer_field(to), key_field(to)});
      return false;
    }
  }

  // Replies from the I/O thread itself (decode failures, handler crashes) go
  // out at once, without the queue.
  void reply_now(const peer& to, const schema::reply& r) {
    auto frames = schema::encode_reply(r);
    count_reply(to, r, frames);
    if (send_frames(to, frames))
      stats.replies.fetch_add(1, std::memory_order_relaxed);
  }

  // Receives up to receive_batch messages; true if the batch was full, so
  // more may be waiting (ZeroMQ's poll may not say so again).
  bool receive_some() {
    for (size_t n = 0; n < receive_batch; ++n) {
      if (!socket->recv(id_msg, zmq::recv_flags::dontwait)) return false;
      stats.requests.fetch_add(1, std::memory_order_relaxed);
      receive_rest();
    }
    return true;
  }

  // Reads the frames after the routing id (a multipart message arrives
  // whole, so they are all there) and dispatches the request.
  void receive_rest() {
    from.routing_id.assign(id_msg.data<char>(), id_msg.size());
    from.req = false;
    from.user.clear();
    from.op = peer::no_op;
    from.arrived_ns = options.metrics ? metrics::server_metrics::now_ns() : 0;
    frames.clear();
    bool more = id_msg.more();
    bool first = true;
    // The connection it came from, and its size on the wire (ZMTP frame
    // headers are 2 bytes up to 255 bytes of body, 9 above), for the guard.
    int fd = -1;
    uint64_t wire = 0;
    const uint64_t overhead = options.curve ? curve_frame_overhead : 0;
    auto count = [&](zmq::message_t& m) {
      uint64_t body = m.size() + overhead;
      wire += body + (body < 256 ? 2 : 9);
      if (fd < 0) fd = zmq_msg_get(m.handle(), ZMQ_SRCFD);
    };
    while (more) {
      if (frames.size() >= kept_frames) {
        if (!socket->recv(scratch, zmq::recv_flags::dontwait)) break;
        count(scratch);
        more = scratch.more();
        frames.emplace_back();
        continue;
      }
      // The frame lives in the shared_ptr's block: its bytes (inline in the
      // message for small frames) never move, and a chunk's payload buffer
      // keeps the frame alive without a copy.
      auto msg = std::make_shared<zmq::message_t>();
      if (!socket->recv(*msg, zmq::recv_flags::dontwait)) break;
      count(*msg);
      // ZAP's User-Id, which libzmq attaches to every message of a CURVE
      // connection: the client's key.
      if (options.curve && first)
        if (const char* user = zmq_msg_gets(msg->handle(), "User-Id"))
          from.user.assign(user);
      more = msg->more();
      if (first && more && msg->size() == 0) {
        from.req = true;  // REQ's delimiter, echoed in the reply
        first = false;
        continue;
      }
      first = false;
      const auto* data = msg->data<std::byte>();
      size_t size = msg->size();
      frames.emplace_back(std::shared_ptr<const void>(std::move(msg)), data,
                          size);
    }
    if (fd >= 0) guard->received(fd, wire);
    if (options.metrics) options.metrics->request_received(wire);
    if (more) {
      // Cannot happen: ZeroMQ delivers all parts of a message at once.
      spdlog::error("depot transport: message truncated; dropped");
      stats.dropped.fetch_add(1, std::memory_order_relaxed);
      frames.clear();
      return;
    }
    if (from.routing_id.empty()) {
      // ROUTER always prefixes a routing id; without one no reply can go back.
      stats.dropped.fetch_add(1, std::memory_order_relaxed);
      frames.clear();
      return;
    }
    auto decoded = schema::decode_request(frames);
    frames.clear();
    if (frames.capacity() > frames_capacity_kept) frames.shrink_to_fit();
    auto* failure = std::get_if<schema::decode_failure>(&decoded);
    if (!failure)
      from.op =
          static_cast<uint8_t>(std::get<schema::request>(decoded).body.index());
    const curve::client_key* key = nullptr;
    if (options.curve && !(key = current_clients().find(from.user))) {
      // Admitted at its handshake, removed since (docs/protocol.md, check 0).
      stats.unauthorized.fetch_add(1, std::memory_order_relaxed);
      warn_limited(
          "curve: removed key",
          "a request of a key no longer in --curve-clients: " + from.user,
          {peer_field(from), key_field(from)});
      reply_now(from, error_of(schema::errc::unauthorized,
                               failure ? failure->rid
                                       : std::get<schema::request>(decoded).rid,
                               "this client's key is no longer admitted by the "
                               "server"));
      return;
    }
    if (failure) {
      stats.malformed.fetch_add(1, std::memory_order_relaxed);
      log::debug("depot transport: request refused",
                 {{"code", schema::to_string(failure->code)},
                  {"error", failure->message},
                  peer_field(from),
                  key_field(from)});
      reply_now(from, schema::failure_reply(*failure));
      return;
    }
    auto& req = std::get<schema::request>(decoded);
    std::optional<uint64_t> rid = req.rid;
    if (key && key->role == curve::role::read && !read_only(req.body)) {
      stats.forbidden.fetch_add(1, std::memory_order_relaxed);
      log::debug("depot transport: forbidden to a read-only key",
                 {{"op", schema::op_name(req.body)},
                  {"client", key->name},
                  peer_field(from),
                  key_field(from)});
      reply_now(from, error_of(schema::errc::forbidden, rid,
                               "this client's key has the role read: " +
                                   std::string{schema::op_name(req.body)} +
                                   " is not allowed"));
      return;
    }
    try {
      handler(from, std::move(req));
    } catch (const std::exception& e) {
      log::error("depot transport: request handler threw",
                 {{"error", e.what()}, peer_field(from), key_field(from)});
      reply_now(from,
                internal_error(rid, "the server failed to handle the request"));
    } catch (...) {
      log::error("depot transport: request handler threw",
                 {peer_field(from), key_field(from)});
      reply_now(from,
                internal_error(rid, "the server failed to handle the request"));
    }
  }

  // The admitted keys as of now (I/O thread). A new set from set_clients()
  // is picked up by comparing a version number, so that the common case
  // costs one atomic load and no lock.
  const curve::key_ring& current_clients() {
    uint64_t v = clients_version.load(std::memory_order_acquire);
    if (v != clients_seen) {
      std::lock_guard<std::mutex> lock(clients_mutex);
      clients = clients_next;
      clients_seen = v;
    }
    return *clients;
  }

  void set_clients(std::shared_ptr<const curve::key_ring> next) {
    std::lock_guard<std::mutex> lock(clients_mutex);
    clients_next = std::move(next);
    clients_version.fetch_add(1, std::memory_order_release);
  }

  // --- send() from any thread -----------------------------------------------

  void enqueue(const peer& to, std::vector<schema::buffer> frames) {
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (closed) {
        stats.unroutable.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      was_empty = queue.empty();
      queue.push_back(outgoing{to, std::move(frames)});
    }
    // Outside the lock; only the push that made the queue non-empty wakes
    // the I/O thread, and never when the I/O thread queues for itself.
    if (was_empty && io_thread_of != this && wake_fd >= 0) wake();
  }

  server_options options;
  request_handler handler;
  server_stats stats;
  std::atomic<bool> stop_requested{false};
  std::atomic<uint64_t> loop_passes{0};  ///< turns of the I/O loop

  int wake_fd = -1;
  int wake_fd_errno = 0;

  // Owned by the thread that calls bind() and then run().
  std::optional<zmq::context_t> context;
  std::optional<zmq::socket_t> socket;
  std::optional<zmq::socket_t> monitor;
  std::optional<zap_handler> zap;
  std::optional<connection_guard> guard;
  std::vector<std::string> bound;
  bool bind_called = false;

  // I/O thread only: reused across messages.
  zmq::message_t id_msg;
  zmq::message_t scratch;
  zmq::message_t event_msg;
  peer from;
  std::vector<schema::buffer> frames;
  std::vector<outgoing> sending;
  std::vector<zmq::message_t> parts;

  // CURVE's admitted keys: the I/O thread's, and the next set.
  std::shared_ptr<const curve::key_ring> clients;
  uint64_t clients_seen = 0;
  std::atomic<uint64_t> clients_version{0};
  std::mutex clients_mutex;
  std::shared_ptr<const curve::key_ring> clients_next;

  // Guarded by mutex.
  std::mutex mutex;
  std::vector<outgoing> queue;
  bool closed = false;

  // Last: its families read `stats`, so they go first.
  metrics::registration registered;
};

server::server(server_options options, request_handler handler)
    : impl_(std::make_unique<impl>(std::move(options), std::move(handler))) {}

server::~server() = default;

caf::error server::bind() { return impl_->bind(); }

std::vector<std::string> server::endpoints() const { return impl_->bound; }

void server::run() { impl_->run(); }

void server::stop() {
  impl_->stop_requested.store(true, std::memory_order_release);
  if (impl_->wake_fd >= 0) impl_->wake();
}

bool server::responsive(std::chrono::milliseconds limit) {
  uint64_t before = impl_->loop_passes.load(std::memory_order_acquire);
  if (impl_->wake_fd < 0) return false;
  impl_->wake();
  auto deadline = std::chrono::steady_clock::now() + limit;
  // The loop reaching its top again means the turn under way when `before`
  // was read has ended: it is not stuck in it.
  while (impl_->loop_passes.load(std::memory_order_acquire) == before) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
    impl_->wake();
  }
  return true;
}

void server::send(const peer& to, schema::reply r) {
  // Encoded here, on the caller's thread, so the I/O thread only moves bytes.
  std::vector<schema::buffer> frames;
  try {
    frames = schema::encode_reply(r);
  } catch (const std::exception& e) {
    log::error("depot transport: cannot encode a reply",
               {{"error", e.what()}, peer_field(to), key_field(to)});
    try {
      frames = schema::encode_reply(
          internal_error(r.rid, "the server could not encode its reply"));
    } catch (const std::exception&) {
      impl_->stats.unroutable.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  impl_->count_reply(to, r, frames);
  try {
    impl_->enqueue(to, std::move(frames));
  } catch (const std::exception& e) {  // out of memory for the queue
    log::error("depot transport: cannot queue a reply",
               {{"error", e.what()}, peer_field(to), key_field(to)});
    impl_->stats.unroutable.fetch_add(1, std::memory_order_relaxed);
  }
}

const server_stats& server::stats() const { return impl_->stats; }

void server::set_clients(std::shared_ptr<const curve::key_ring> clients) {
  if (impl_->options.curve && clients) impl_->set_clients(std::move(clients));
}

}  // namespace depot::transport
