#pragma once

// depotd's HTTP endpoint (--metrics ADDR:PORT), on cpp-httplib:
//   GET /metrics  the registry in the Prometheus text format (0.0.4)
//   GET /healthz  200 "ok" while the process answers
//   GET /readyz   200 "ok" when ready (metrics/readiness.hpp), else 503
//                 with the one-line reason
// Anything else is 404. It serves on two threads of its own, so that a slow
// scraper delays no request of the file server.

#include "metrics/listen_address.hpp"
#include "metrics/readiness.hpp"
#include "metrics/registry.hpp"

#include <memory>
#include <string>

namespace depot::metrics {

/// The endpoint. start() once, stop() (or the destructor) once; both from
/// the same thread. The registry and the readiness outlive it.
class http_endpoint {
 public:
  http_endpoint(const registry& reg, const readiness& ready);
  ~http_endpoint();

  http_endpoint(const http_endpoint&) = delete;
  http_endpoint& operator=(const http_endpoint&) = delete;

  /// Binds `where` (port 0: a free one) and starts serving on a thread of
  /// its own. Empty on success, else why it could not bind.
  std::string start(const listen_address& where);

  /// The port bound, after a successful start().
  uint16_t port() const { return port_; }

  /// Stops serving and joins the thread (requests in progress finish).
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace depot::metrics
