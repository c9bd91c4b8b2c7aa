// depotd: the depot file server. Reads its settings (depotd/config.hpp:
// flags, DEPOTD_* variables, --config), wires the store (storage/), the actor
// pipeline (actors/) and the ROUTER socket (transport/), tells systemd when
// it is ready (depotd/systemd.hpp), then serves until SIGTERM or SIGINT;
// SIGHUP applies what can change while it runs.

#include "actors/pipeline.hpp"
#include "depotd/config.hpp"
#include "depotd/fsck_main.hpp"
#include "depotd/liveness.hpp"
#include "depotd/systemd.hpp"
#include "logging/log.hpp"
#include "metrics/http/service.hpp"
#include "server/limits.hpp"
#include "storage/posix_store.hpp"
#include "storage/rados/rados_store.hpp"
#include "transport/curve/certificate.hpp"
#include "transport/curve/key_ring.hpp"
#include "transport/resources.hpp"
#include "transport/server.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <iostream>
#include <pthread.h>
#include <signal.h>
#include <string>
#include <string_view>
#include <thread>

namespace {

using depotd::options;
using depotd::seconds_of;

// The admitted client keys in `dir`, or null (logged) when they cannot be
// read.
std::shared_ptr<const depot::curve::key_ring> load_clients(
    const std::string& dir) {
  std::string error;
  std::vector<std::string> notes;
  auto ring = depot::curve::key_ring::load(dir, &error, &notes);
  for (const std::string& n : notes) spdlog::warn("--curve-clients: {}", n);
  if (!ring) {
    spdlog::error("--curve-clients: {}", error);
    return nullptr;
  }
  return std::make_shared<const depot::curve::key_ring>(std::move(*ring));
}

// Loads the server's certificate and the client keys into `o.transport`;
// false (logged) if either cannot be used.
bool load_curve(options& o) {
  if (o.curve_secret_key.empty()) return true;
  std::string error;
  auto cert = depot::curve::read_certificate(o.curve_secret_key, true, &error);
  if (!cert) {
    spdlog::error("--curve-secret-key: {}", error);
    return false;
  }
  auto clients = load_clients(o.curve_clients);
  if (!clients) return false;
  size_t readers = 0;
  for (const auto& [key, c] : clients->keys())
    readers += c.role == depot::curve::role::read;
  spdlog::info(
      "CURVE: server key {}; {} client keys from {} ({} read-only); ZAP "
      "enforced",
      cert->public_key, clients->keys().size(), o.curve_clients, readers);
  o.transport.curve = depot::transport::curve_options{
      cert->public_key, cert->secret_key, std::move(clients)};
  return true;
}

// SIGHUP: the client keys again, and what changed.
void reload_clients(const options& o, depot::transport::server& server,
                    std::shared_ptr<const depot::curve::key_ring>& current) {
  auto next = load_clients(o.curve_clients);
  if (!next) {
    spdlog::error("SIGHUP: keeping the {} client keys loaded before",
                  current->keys().size());
    return;
  }
  auto change = depot::curve::compare(*current, *next);
  for (const auto& c : change.added)
    spdlog::info("SIGHUP: client key added: {} {} ({}, {})", c.name,
                 c.public_key, depot::curve::to_string(c.role), c.file);
  for (const auto& c : change.removed)
    spdlog::info("SIGHUP: client key removed: {} {} (refused from now on)",
                 c.name, c.public_key);
  for (const auto& c : change.role_changed)
    spdlog::info("SIGHUP: client key {} {} now has the role {}", c.name,
                 c.public_key, depot::curve::to_string(c.role));
  spdlog::info("SIGHUP: {} client keys ({} added, {} removed, {} changed)",
               next->keys().size(), change.added.size(), change.removed.size(),
               change.role_changed.size());
  server.set_clients(next);
  current = std::move(next);
}

// What SIGHUP can change without a restart.
bool reloadable(const std::string& key, bool curve) {
  return key == "log-level" || (curve && key == "curve-clients");
}

// SIGHUP: the settings again (the command line as at the start, the
// environment, the --config file as it is now). The log level and the client
// keys' directory take effect; any other change is logged as waiting for a
// restart. A configuration with an error changes nothing.
void reload(const std::vector<std::string>& args,
            depotd::configuration& current, depot::transport::server& server,
            std::shared_ptr<const depot::curve::key_ring>& clients) {
  depotd::resolution r = depotd::resolve(args);
  if (!r.config) {
    std::string why = r.text.substr(0, r.text.find('\n'));
    spdlog::error("SIGHUP: nothing changed, the configuration has an error: {}",
                  why);
    return;
  }
  size_t changed = 0;
  for (const depotd::setting& next : r.config->table) {
    const depotd::setting* now = std::as_const(current).find(next.key);
    if (!now || (now->value == next.value && now->set == next.set)) continue;
    ++changed;
    std::string was = now->set ? now->value : "(not set)";
    std::string is = next.set ? next.value : "(not set)";
    if (!reloadable(next.key, clients != nullptr)) {
      spdlog::warn(
          "SIGHUP: {} = {} ({}) takes effect at the next start; still {}",
          next.key, is, next.source, was);
      continue;
    }
    spdlog::info("SIGHUP: {} = {} ({}), was {}", next.key, is, next.source,
                 was);
    *current.find(next.key) = next;
    if (next.key == "log-level") {
      current.o.log_level = r.config->o.log_level;
      spdlog::set_level(spdlog::level::from_str(current.o.log_level));
    } else {
      current.o.curve_clients = r.config->o.curve_clients;
    }
  }
  if (changed == 0)
    spdlog::info("SIGHUP: settings unchanged{}",
                 current.file.empty() ? "" : " (" + current.file + ")");
  if (clients)
    reload_clients(current.o, server, clients);
  else
    spdlog::info("SIGHUP: no client keys to reload (no --curve-clients)");
}

// "serving on ...: N connections, M requests so far", for STATUS=.
std::string serving_status(const std::string& endpoints,
                           const depot::transport::server& server) {
  const auto& st = server.stats();
  return "serving on " + endpoints + ": " +
         std::to_string(st.connections.load()) + " connections, " +
         std::to_string(st.requests.load()) + " requests so far";
}

timespec timespec_of(std::chrono::microseconds d) {
  auto s = std::chrono::duration_cast<std::chrono::seconds>(d);
  return {static_cast<time_t>(s.count()),
          static_cast<long>((d - s).count() * 1000)};
}

}  // namespace
int main(int argc, char** argv) {
  if (argc > 1 && std::string_view{argv[1]} == "fsck")
    return fsck_main(argc - 1, argv + 1);
  const std::vector<std::string> args(argv + 1, argv + argc);
  depotd::resolution start = depotd::resolve(args);
  if (!start.config) {
    (start.exit_code == 0 ? std::cout : std::cerr) << start.text;
    return start.exit_code;
  }
  depotd::configuration config = std::move(*start.config);
  if (config.print) {
    std::cout << config.text();
    return 0;
  }
  options& o = config.o;
  spdlog::set_level(spdlog::level::from_str(o.log_level));
  depot::log::setup(*depot::log::parse_format(o.log_format));
  if (!config.file.empty()) spdlog::info("configuration: {}", config.file);
  depotd::service_manager systemd;
  auto fds = depot::transport::raise_fd_limit();
  if (fds.error != 0)
    spdlog::warn("cannot raise the fd limit: {} (soft {}, hard {})",
                 std::strerror(fds.error), fds.soft, fds.hard);
  if (o.transport.max_connections == 0)
    o.transport.max_connections =
        depot::transport::default_max_connections(fds.soft);
  spdlog::info(
      "file descriptors: soft limit {} (was {}, hard {}); max connections {}",
      fds.soft, fds.soft_before, fds.hard, o.transport.max_connections);
  if (!load_curve(o)) return 1;
  if (!o.transport.curve && o.insecure)
    for (const std::string& e : o.transport.endpoints)
      if (!depot::transport::is_loopback_endpoint(e))
        spdlog::warn(
            "--insecure: listening on {} without CURVE: anyone who reaches it "
            "can read, replace and delete every file",
            e);
  if (o.store_kind == "rados")
    o.lim.store_staging_bytes = o.rados.staging_bytes();
  // The POSIX store's direct I/O block stands in for bytes of an upload's
  // RAM part already written (it appears only once staging_direct_from
  // bytes are), so the reservation covers it if --ram-threshold holds one.
  o.store.direct_io =
      o.lim.ram_threshold >= depot::storage::staging_direct_block;
  const auto& lim = o.lim;
  uint64_t one_upload = depot::server::upload_reservation(lim, std::nullopt);
  if (one_upload > lim.memory_budget) {
    spdlog::error(
        "--memory-budget {} cannot hold one upload of unknown size ({} bytes)",
        lim.memory_budget, one_upload);
    return 2;
  }
  if (one_upload > lim.memory_per_client) {
    spdlog::error(
        "--memory-per-client {} cannot hold one upload of unknown size ({} "
        "bytes)",
        lim.memory_per_client, one_upload);
    return 2;
  }

  // Signals are taken by sigtimedwait below, never by a random thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Serving before the store opens: /readyz says "recovering" meanwhile.
  depot::metrics::service metrics;
  if (!o.metrics.empty()) {
    auto where = depot::metrics::parse_listen_address(o.metrics, nullptr);
    if (auto err = metrics.start(*where); !err.empty()) {
      spdlog::error("--metrics: {}", err);
      return 1;
    }
    spdlog::info("metrics on {}", metrics.url());
  }
  metrics.ready.set(depot::metrics::phase::recovering);
  o.transport.metrics = o.pipeline.metrics = metrics.server();

  depot::schema::expected<std::shared_ptr<depot::storage::store>> store =
      std::shared_ptr<depot::storage::store>{};
  {
    depotd::startup_progress progress{systemd, "opening the store (recovery)"};
    if (o.store_kind == "rados") {
      o.rados.id_bits = o.store.id_bits;
      o.rados.max_candidates = o.store.max_candidates;
      store = depot::storage::open_rados_store(o.rados);
    } else {
      store = depot::storage::open_posix_store(o.store);
    }
  }
  if (!store) {
    spdlog::error("cannot open the store: {}",
                  depot::schema::message_of(store.error()));
    return 1;
  }

  caf::actor_system_config cfg;
  cfg.set("scheduler.policy", caf::atom("sharing"));
  size_t threads =
      o.threads > 0 ? o.threads
                    : std::max<size_t>(4, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", threads);
  caf::actor_system sys{cfg};

  depot::actors::pipeline* route = nullptr;
  o.transport.max_payload = lim.chunk_max;
  depot::transport::server server{
      o.transport,
      [&route](const depot::transport::peer& p, depot::schema::request r) {
        route->handle(p, std::move(r));
      }};
  depot::actors::pipeline pipe{sys, lim, *store, &server, o.pipeline};
  route = &pipe;
  if (auto err = server.bind()) {
    spdlog::error("{}", depot::schema::message_of(err));
    pipe.shutdown();
    return 1;
  }
  if (o.store_kind == "posix")
    metrics.ready.set_storage_check(
        depot::metrics::directory_writable_check(o.store.root));
  metrics.ready.set(depot::metrics::phase::ready);
  std::string endpoints;
  for (auto& e : server.endpoints())
    endpoints += (endpoints.empty() ? "" : " ") + e;
  using maybe = std::optional<std::string_view>;
  bool rados = o.store_kind == "rados";
  depot::log::info("depotd serving on " + endpoints,
                   {{"store", o.store_kind},
                    {"root", rados ? maybe{} : maybe{o.store.root}},
                    {"pool", rados ? maybe{o.rados.pool} : maybe{}},
                    {"namespace", rados ? maybe{o.rados.ns} : maybe{}},
                    {"chunk_max", lim.chunk_max},
                    {"window", lim.window},
                    {"max_file_size", lim.max_file_size},
                    {"idle_timeout_s", seconds_of(lim.idle_timeout)},
                    {"memory_budget", lim.memory_budget},
                    {"ram_threshold", lim.ram_threshold},
                    {"max_uploads", lim.max_uploads},
                    {"max_uploads_per_client", lim.max_uploads_per_client},
                    {"memory_per_client", lim.memory_per_client},
                    {"unread_cap", lim.unread_cap},
                    {"threads", threads},
                    {"committers", o.pipeline.committers},
                    {"readers", o.pipeline.readers},
                    {"id_bits_testing_only", o.store.id_bits}});

  std::thread io{[&server] { server.run(); }};
  std::shared_ptr<const depot::curve::key_ring> clients;
  if (o.transport.curve) clients = o.transport.curve->clients;
  {
    depotd::liveness alive{sys, server};
    systemd.ready(serving_status(endpoints, server));
    // With WatchdogSec, WATCHDOG=1 at half its interval while depotd is
    // alive; STATUS= every 10 s either way.
    auto watchdog = systemd.watchdog_interval();
    auto tick = std::chrono::microseconds{std::chrono::seconds{10}};
    if (watchdog.count() > 0) {
      tick = std::min(tick, watchdog / 2);
      systemd.watchdog();
    }
    auto probe_limit = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::min<std::chrono::microseconds>(std::chrono::seconds{1}, tick / 2));
    int sig = 0;
    for (;;) {
      timespec wait = timespec_of(tick);
      sig = sigtimedwait(&stop_signals, nullptr, &wait);
      if (sig == SIGHUP) {
        systemd.reloading();
        reload(args, config, server, clients);
        spdlog::info("SIGHUP: reload done");
        systemd.ready(serving_status(endpoints, server));
      } else if (sig > 0) {
        break;
      } else if (errno == EAGAIN && systemd.listening()) {
        if (watchdog.count() > 0) {
          std::string stuck = alive.check(probe_limit);
          if (stuck.empty())
            systemd.watchdog();
          else
            spdlog::error(
                "watchdog: {} did not answer within {} ms; WATCHDOG=1 "
                "withheld",
                stuck, probe_limit.count());
        }
        systemd.status(serving_status(endpoints, server));
      }
    }
    metrics.ready.set(depot::metrics::phase::stopping);
    spdlog::info("signal {}: stopping", sig);
    systemd.stopping("stopping (signal " + std::to_string(sig) +
                     "): sending the replies under way");
  }
  server.stop();
  io.join();
  pipe.shutdown();
  sys.await_all_actors_done();
  if (uint64_t n = pipe.ctx().unexpected_messages.load())
    spdlog::warn("actors got {} messages they do not take", n);
  spdlog::info("depotd stopped");
  return 0;
}
