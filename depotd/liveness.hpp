#pragma once

// Is depotd still serving? The check behind the systemd watchdog
// (systemd.hpp): the transport's I/O loop must come round when woken, and an
// actor on the shared scheduler must answer a message. A deadlock or a
// spinning handler that takes either stops the WATCHDOG=1 pings, and
// systemd restarts depotd. The detached actors (disk writers, committers,
// readers) may legitimately wait on a slow disk and are not probed.

#include <caf/all.hpp>

#include <chrono>
#include <string>

namespace depot::transport {
class server;
}

namespace depotd {

class liveness {
 public:
  /// Spawns the probe actor on `sys`. Both must outlive this object.
  liveness(caf::actor_system& sys, depot::transport::server& server);

  /// Stops the probe actor (before the actor system waits for its actors).
  ~liveness();

  liveness(const liveness&) = delete;
  liveness& operator=(const liveness&) = delete;

  /// Empty when both answered within `limit` each; otherwise what did not.
  std::string check(std::chrono::milliseconds limit);

 private:
  caf::actor_system& sys_;
  depot::transport::server& server_;
  caf::actor probe_;
};

}  // namespace depotd
