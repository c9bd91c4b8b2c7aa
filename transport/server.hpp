#pragma once

// The only owner of depot's ROUTER socket. One thread (the one calling
// run()) does all socket I/O: it receives requests, decodes them at the edge
// (schema/codec.hpp), answers undecodable ones itself, hands decoded ones to
// a handler, and sends the replies that any thread queued with send().

#include "metrics/server_metrics.hpp"
#include "schema/error.hpp"
#include "schema/messages.hpp"
#include "transport/curve/key_ring.hpp"
#include "transport/reply_sink.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace depot::transport {

/// CURVE (RFC 26) on the ROUTER: its key pair and the clients it admits.
struct curve_options {
  std::string public_key;  ///< Z85, 40 characters
  std::string secret_key;  ///< Z85, 40 characters
  /// The admitted client keys and their roles; never null.
  std::shared_ptr<const curve::key_ring> clients;
};

/// How the ROUTER is set up.
struct server_options {
  /// tcp://..., ipc://...; port 0 or * picks one.
  std::vector<std::string> endpoints{"tcp://127.0.0.1:5570"};
  /// The largest chunk payload taken; ZMQ_MAXMSGSIZE is set just above it
  /// (the request header's limit and 1 KiB more). No default of its own:
  /// depotd sets it to server::limits::chunk_max.
  size_t max_payload = 0;
  /// ZMTP heartbeat interval; a peer silent for three is dead.
  std::chrono::milliseconds heartbeat{10000};
  /// Messages queued per peer before ZeroMQ stops reading from it.
  int receive_hwm = 1000;
  /// Connections at once; past it the connection idle longest (no complete
  /// request for the longest time) is dropped. 0: no cap.
  size_t max_connections = 0;
  /// Bytes one TCP connection may have sent that are not yet part of a
  /// complete request (a multipart message ZeroMQ is still buffering); past
  /// it the connection is dropped. 0: two requests' worth (connections.cpp).
  size_t peer_memory_limit = 0;
  /// Such bytes of all connections together; past it the connections
  /// holding them longest are dropped until under it. 0: no cap.
  size_t peer_memory_cap = size_t{256} << 20;
  /// Set: the ROUTER speaks only CURVE; a ZAP handler admits the keys of
  /// `clients` (domain "depot", enforced), every request is checked against
  /// the current keys (a removed key gets `unauthorized`) and their roles (a
  /// `read` key's writes get `forbidden`). Unset: the NULL mechanism.
  std::optional<curve_options> curve{};
  /// Set: every reply is counted there by operation and code, with its
  /// request's duration and its bytes, every request's wire bytes too, and
  /// the counters below are exposed in its registry (depot_connections,
  /// depot_connections_dropped_total, ...) while the server lives. Outlives
  /// the server. Null: no metrics.
  metrics::server_metrics* metrics = nullptr;
};

/// True when `endpoint` can be reached from this machine only: ipc://,
/// inproc://, or tcp:// on a loopback address (127.0.0.0/8, [::1],
/// localhost, the interface lo). A wildcard, any other address or a host
/// name is not.
bool is_loopback_endpoint(std::string_view endpoint);

/// Counters, readable from any thread.
struct server_stats {
  std::atomic<uint64_t> requests{0};     ///< messages received
  std::atomic<uint64_t> malformed{0};    ///< answered with a decode failure
  std::atomic<uint64_t> replies{0};      ///< replies sent
  std::atomic<uint64_t> unroutable{0};   ///< replies to clients that were gone
  std::atomic<uint64_t> dropped{0};      ///< messages without a routing id
  std::atomic<uint64_t> connections{0};  ///< connections open now
  std::atomic<uint64_t> connections_dropped{0};  ///< closed by the limits
  std::atomic<uint64_t> unauthorized{0};         ///< requests of removed keys
  std::atomic<uint64_t> forbidden{0};  ///< requests outside a key's role
};

/// Called on the I/O thread for every decoded request. It must not block:
/// hand the work on (to an actor) and return.
using request_handler = std::function<void(const peer&, schema::request)>;

/// The ROUTER server. Construct, bind(), then run() on the thread that will
/// own the socket; stop() and send() may be called from any thread.
class server final : public reply_sink {
 public:
  server(server_options options, request_handler handler);
  ~server() override;

  /// Creates the socket and binds every endpoint. Errors: io_error naming
  /// the endpoint that failed.
  caf::error bind();

  /// The endpoints actually bound (ports resolved), after bind().
  std::vector<std::string> endpoints() const;

  /// Serves until stop(): returns after sending the replies queued so far.
  /// Closes the socket (linger 0) before returning.
  void run();

  /// Makes run() return soon. Thread safe, async-signal unsafe.
  void stop();

  /// True if the I/O loop, woken now, comes round within `limit`: the
  /// liveness behind depotd's systemd watchdog. Any thread but the I/O one.
  bool responsive(std::chrono::milliseconds limit);

  /// Queues a reply for the I/O thread; wakes it if the queue was empty.
  /// Payload buffers are handed to ZeroMQ without copying.
  void send(const peer& to, schema::reply r) override;

  /// Live counters.
  const server_stats& stats() const;

  /// With CURVE: replaces the admitted client keys. New handshakes use them
  /// at once, and every request after this returns is checked against them,
  /// also on connections opened before. Thread safe; ignored without CURVE.
  void set_clients(std::shared_ptr<const curve::key_ring> clients);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace depot::transport
