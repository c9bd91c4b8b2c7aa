#pragma once

// The server's actors, wired: pools of disk writers, committers and readers, a
// deleter, a janitor (idle uploads), and one session per client. The
// transport's I/O thread hands every decoded request to pipeline::handle():
// reads and requests naming an upload go straight to a reader or the
// upload's assembler (actors/routing.hpp); the rest through the client's
// session.

#include "actors/context.hpp"
#include "actors/session.hpp"
#include "metrics/registry.hpp"
#include "metrics/server_metrics.hpp"
#include "server/limits.hpp"

#include <caf/actor_system.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>

namespace depot::actors {

/// How many of each blocking actor to run, and how.
struct pipeline_options {
  size_t writers = 2;     ///< disk writers; an upload sticks to one
  size_t committers = 2;  ///< commit lanes (depotd's --namers)
  size_t readers = 2;     ///< serve download, stat and list
  /// Blocking actors run detached (own threads). Tests under CAF's
  /// deterministic scheduler turn this off.
  bool detached = true;
  /// Set: the actors count busy replies, storage errors, commits and
  /// flushes there, and the pipeline exposes its tables and budgets in its
  /// registry while it lives (depot_uploads_in_progress, ...). Outlives the
  /// pipeline. Null: no metrics.
  metrics::server_metrics* metrics = nullptr;
};

/// Owns the actors. Construct after the actor system; call shutdown()
/// before the actor system is destroyed.
class pipeline {
 public:
  pipeline(caf::actor_system& sys, server::limits lim,
           std::shared_ptr<storage::store> store, transport::reply_sink* sink,
           pipeline_options opts = {});
  /// Removes its metrics from the registry (call shutdown() before).
  ~pipeline();

  /// Routes one request: a read to the next reader, a chunk, status or
  /// abort to its upload's assembler, anything else to its client's
  /// session (created on first use).
  /// Called by one thread only (the transport's I/O thread); never blocks.
  /// Sessions idle for the idle timeout are let go here.
  void handle(const transport::peer& p, schema::request req);

  /// Stops every actor: uploads in progress are dropped (their staging
  /// files removed), nothing more is answered.
  void shutdown();

  /// The shared context (for tests and stats).
  const context& ctx() const { return *ctx_; }

 private:
  struct client {
    session_actor session;
    std::chrono::steady_clock::time_point last_seen;
  };
  void sweep(std::chrono::steady_clock::time_point now);
  void register_metrics(metrics::registry& reg);

  caf::actor_system& sys_;
  std::shared_ptr<context> ctx_;
  std::unordered_map<std::string, client> clients_;
  std::chrono::steady_clock::time_point last_sweep_;
  size_t next_reader_ = 0;
  metrics::registration registered_;  // last: its readers use ctx_
};

}  // namespace depot::actors
