// depotd: the depot file server. Wires the store (storage/), the actor
// pipeline (actors/) and the ROUTER socket (transport/), then serves until
// SIGTERM or SIGINT.
//
// Every flag is bound to the member of the options struct it sets, and that
// member's initializer is the flag's default: `depotd --help` prints it
// from there, and nothing here repeats it.

#include "actors/pipeline.hpp"
#include "depotd/fsck_main.hpp"
#include "metrics/http/service.hpp"
#include "server/limits.hpp"
#include "storage/posix_store.hpp"
#include "storage/rados/rados_store.hpp"
#include "transport/curve/certificate.hpp"
#include "transport/curve/key_ring.hpp"
#include "transport/resources.hpp"
#include "transport/server.hpp"

#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <pthread.h>
#include <signal.h>
#include <string>
#include <string_view>
#include <thread>

namespace {

/// Everything depotd's flags set.
struct options {
  depot::server::limits lim;
  std::string store_kind = "posix";
  depot::storage::posix_store_options store;
  depot::storage::rados_store_options rados;
  depot::transport::server_options transport;
  depot::actors::pipeline_options pipeline;
  size_t threads = 0;  ///< 0: CAF's default, max(cores, 4)
  std::string log_level = "info";
  std::string curve_secret_key;  ///< the server's secret certificate
  std::string curve_clients;     ///< directory of admitted client keys
  bool insecure = false;         ///< NULL security on a public address
  std::string metrics;           ///< --metrics ADDR:PORT; empty: off
};

uint64_t seconds_of(std::chrono::milliseconds d) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

// Returns an exit status, or -1 to go on.
int parse(int argc, char** argv, options& o) {
  CLI::App app{
      "depotd: the depot file server (speaks docs/protocol.md over a ZeroMQ "
      "ROUTER)"};
  o.store.root = "./data";
  app.add_option("--listen", o.transport.endpoints,
                 "endpoint to bind, repeatable (tcp://, ipc://; port 0 or * "
                 "picks one)")
      ->capture_default_str();
  app.add_option("--root", o.store.root,
                 "storage directory (created if missing; a symlink is "
                 "refused)")
      ->capture_default_str();
  app.add_option("--store", o.store_kind,
                 "where files are kept: posix (under --root) or rados (a Ceph "
                 "pool, shared by any number of depotd processes)")
      ->capture_default_str()
      ->check(CLI::IsMember({"posix", "rados"}));
  app.add_option("--rados-pool", o.rados.pool,
                 "--store rados: the pool (it must exist)");
  app.add_option("--rados-namespace", o.rados.ns,
                 "--store rados: the namespace in the pool; each is a whole "
                 "store of its own")
      ->capture_default_str();
  app.add_option("--ceph-conf", o.rados.conf,
                 "--store rados: ceph.conf to read (default: librados' "
                 "search, $CEPH_CONF)");
  app.add_option("--ceph-id", o.rados.id,
                 "--store rados: the Ceph user, without client.")
      ->capture_default_str();
  app.add_option("--rados-stripe", o.rados.stripe_bytes,
                 "--store rados: bytes per data object")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{4096}, uint64_t{64} << 20));
  app.add_option_function<uint64_t>(
         "--rados-lease",
         [&o](uint64_t s) { o.rados.lease = std::chrono::seconds(s); },
         "--store rados: seconds a stalled or dead depotd's unfinished "
         "uploads stay before another depotd reclaims them")
      ->default_str(std::to_string(seconds_of(o.rados.lease)))
      ->check(CLI::Range(uint64_t{2}, uint64_t{3600}));
  app.add_option("--chunk-max", o.lim.chunk_max,
                 "largest chunk or download range, bytes")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{64} << 20));
  app.add_option("--window", o.lim.window,
                 "chunks a client may have unacknowledged")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1024}));
  app.add_option("--max-file-size", o.lim.max_file_size, "largest file, bytes")
      ->capture_default_str();
  app.add_option_function<uint64_t>(
         "--idle-timeout",
         [&o](uint64_t s) { o.lim.idle_timeout = std::chrono::seconds(s); },
         "seconds without a request before an upload is aborted")
      ->default_str(std::to_string(seconds_of(o.lim.idle_timeout)))
      ->check(CLI::Range(uint64_t{1}, uint64_t{86400}));
  app.add_option("--memory-budget", o.lim.memory_budget,
                 "bytes all uploads together may hold in RAM; past it new "
                 "uploads get busy")
      ->capture_default_str();
  app.add_option("--ram-threshold", o.lim.ram_threshold,
                 "bytes one upload holds in RAM before streaming to disk")
      ->capture_default_str();
  app.add_option("--max-uploads", o.lim.max_uploads,
                 "uploads in progress at once; past it new uploads get busy")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{10000000}));
  app.add_option("--max-uploads-per-client", o.lim.max_uploads_per_client,
                 "uploads one client (connection) may have in progress; past "
                 "it that client's new uploads get busy")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{10000000}));
  app.add_option("--memory-per-client", o.lim.memory_per_client,
                 "bytes of --memory-budget one client's (connection's) "
                 "uploads may reserve; past it that client's new uploads get "
                 "busy")
      ->capture_default_str();
  app.add_option("--unread-cap", o.lim.unread_cap,
                 "download reply bytes of all clients not yet written to them; "
                 "past it clients holding more than their share get busy")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 50));
  app.add_option("--max-finished", o.lim.max_finished,
                 "finished uploads still answering retries and upload_status "
                 "(" +
                     std::to_string(seconds_of(o.lim.completion_linger)) +
                     " s each, under 1 KB each); past it new uploads get busy")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{100000000}));
  app.add_option("--id-bits", o.store.id_bits,
                 "narrow ids to B bits so contents collide (testing only)")
      ->check(CLI::Range(1u, 128u));
  app.add_option("--max-candidates", o.store.max_candidates,
                 "naming candidates tried before name_exhausted")
      ->capture_default_str()
      ->check(CLI::Range(uint32_t{16}, uint32_t{1024}));
  // The flag keeps its old name (scripts use it); each one is a committer.
  app.add_option("--namers", o.pipeline.committers,
                 "commit lanes (committer actors): the first group-commits "
                 "uploads held in RAM, the others share those streamed to "
                 "disk (past --ram-threshold)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{64}));
  auto* readers = app.add_option(
      "--readers", o.pipeline.readers,
      "reader actors serving download, stat and list, each on a thread of "
      "its own (with --store rados: 16 unless given; its reads wait on the "
      "network)");
  readers->capture_default_str()->check(CLI::Range(size_t{1}, size_t{256}));
  app.add_option("--threads", o.threads,
                 "actor scheduler threads (0: max(cores, 4))")
      ->capture_default_str();
  app.add_option("--max-connections", o.transport.max_connections,
                 "connections at once; past it the one idle longest is dropped "
                 "(0: the fd limit less a quarter, at least 64, for files)")
      ->capture_default_str();
  app.add_option("--peer-memory-limit", o.transport.peer_memory_limit,
                 "bytes one connection may send without completing a request "
                 "before it is dropped (0: two requests' worth)")
      ->capture_default_str();
  app.add_option("--peer-memory-cap", o.transport.peer_memory_cap,
                 "bytes of unfinished requests of all connections; past it the "
                 "connections holding them longest are dropped (0: no cap)")
      ->capture_default_str();
  app.add_option("--curve-secret-key", o.curve_secret_key,
                 "CURVE: this server's secret certificate (ZeroMQ's format, "
                 "`depot keygen`; mode 0600); needs --curve-clients");
  app.add_option("--curve-clients", o.curve_clients,
                 "CURVE: directory of the public certificates of the clients "
                 "admitted (role = \"read\" in a certificate's metadata: "
                 "download, stat, list, ping only); SIGHUP re-reads it");
  app.add_flag("--insecure", o.insecure,
               "listen on addresses other than loopback without CURVE: "
               "anyone who reaches them can read, replace and delete every "
               "file");
  app.add_option("--metrics", o.metrics,
                 "serve /metrics (Prometheus), /healthz and /readyz over HTTP "
                 "on ADDR:PORT (port 0 picks one, logged); off by default")
      ->check([](const std::string& s) {
        std::string error;
        return depot::metrics::parse_listen_address(s, &error) ? "" : error;
      });
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember(
          {"trace", "debug", "info", "warn", "error", "critical", "off"}));
  try {
    app.parse(argc, argv);
    if (o.store_kind == "rados" && o.rados.pool.empty())
      throw CLI::ValidationError("--rados-pool", "--store rados needs a pool");
    if (o.store_kind == "rados" && readers->count() == 0)
      o.pipeline.readers = 16;
    if (o.curve_secret_key.empty() != o.curve_clients.empty())
      throw CLI::ValidationError(
          o.curve_clients.empty() ? "--curve-secret-key" : "--curve-clients",
          "CURVE needs both --curve-secret-key and --curve-clients");
    if (o.curve_secret_key.empty() && !o.insecure)
      for (const std::string& e : o.transport.endpoints)
        if (!depot::transport::is_loopback_endpoint(e))
          throw CLI::ValidationError(
              "--listen",
              "refusing to listen on " + e +
                  " without CURVE: anyone who reaches it could read, replace "
                  "and delete every file. Give --curve-secret-key and "
                  "--curve-clients, or --insecure to do it anyway");
  } catch (const CLI::CallForHelp& e) {
    app.exit(e);
    return 0;
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  return -1;
}

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
  if (!current) {
    spdlog::info("SIGHUP: nothing to reload (no --curve-clients)");
    return;
  }
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

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view{argv[1]} == "fsck")
    return fsck_main(argc - 1, argv + 1);
  options o;
  if (int rc = parse(argc, argv, o); rc >= 0) return rc;
  spdlog::set_level(spdlog::level::from_str(o.log_level));
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

  // Signals are taken by sigwait below, never by a random thread.
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

  std::string where;
  depot::schema::expected<std::shared_ptr<depot::storage::store>> store =
      std::shared_ptr<depot::storage::store>{};
  if (o.store_kind == "rados") {
    o.rados.id_bits = o.store.id_bits;
    o.rados.max_candidates = o.store.max_candidates;
    where = "rados pool " + o.rados.pool +
            (o.rados.ns.empty() ? "" : " namespace " + o.rados.ns);
    store = depot::storage::open_rados_store(o.rados);
  } else {
    where = "root " + o.store.root;
    store = depot::storage::open_posix_store(o.store);
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
  spdlog::info(
      "depotd serving on {} | {} | chunk_max {} window {} max_file_size "
      "{} idle_timeout {}s memory_budget {} ram_threshold {} per client: "
      "uploads {} memory {} | unread_cap {} threads {} committers {} readers "
      "{}{}",
      endpoints, where, lim.chunk_max, lim.window, lim.max_file_size,
      seconds_of(lim.idle_timeout), lim.memory_budget, lim.ram_threshold,
      lim.max_uploads_per_client, lim.memory_per_client, lim.unread_cap,
      threads, o.pipeline.committers, o.pipeline.readers,
      o.store.id_bits
          ? " id_bits " + std::to_string(*o.store.id_bits) + " (TESTING ONLY)"
          : "");

  std::thread io{[&server] { server.run(); }};
  std::shared_ptr<const depot::curve::key_ring> clients;
  if (o.transport.curve) clients = o.transport.curve->clients;
  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0 || sig == SIGHUP)
    if (sig == SIGHUP) reload_clients(o, server, clients);
  metrics.ready.set(depot::metrics::phase::stopping);
  spdlog::info("signal {}: stopping", sig);
  server.stop();
  io.join();
  pipe.shutdown();
  sys.await_all_actors_done();
  if (uint64_t n = pipe.ctx().unexpected_messages.load())
    spdlog::warn("actors got {} messages they do not take", n);
  spdlog::info("depotd stopped");
  return 0;
}
