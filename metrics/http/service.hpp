#pragma once

// What depotd's main holds for --metrics: the registry, depotd's metrics,
// its readiness and the HTTP endpoint, as one object, so that wiring them
// takes main a few lines. Without --metrics (start() never called) it
// still tracks readiness (for sd_notify, say) and server() is null: the
// code then counts nothing.

#include "metrics/http/http_endpoint.hpp"
#include "metrics/listen_address.hpp"
#include "metrics/readiness.hpp"
#include "metrics/registry.hpp"
#include "metrics/server_metrics.hpp"

#include <optional>
#include <string>

namespace depot::metrics {

/// Declare it before everything that takes server() (the transport, the
/// pipeline): they then go first, and their families with them. One thread
/// (main's) calls start() and stop().
class service {
 public:
  service() = default;
  ~service() { stop(); }
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  /// Registers depotd's metrics and the process' and starts serving on
  /// `where`. Empty on success, else why not (a bind failure).
  std::string start(const listen_address& where);

  /// depotd's metrics once started, else null (what the transport's and
  /// the pipeline's options take).
  server_metrics* server() { return metrics_ ? &*metrics_ : nullptr; }

  /// The endpoint's URL once started ("http://127.0.0.1:9570"), else empty.
  std::string url() const;

  /// Stops the endpoint (requests in progress finish). Idempotent.
  void stop();

  /// depotd's phase and the storage check: /readyz reads it.
  readiness ready;
  /// Every family served.
  registry reg;

 private:
  std::optional<server_metrics> metrics_;
  std::optional<http_endpoint> endpoint_;
  listen_address where_;
};

}  // namespace depot::metrics
