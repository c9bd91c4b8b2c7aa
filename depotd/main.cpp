// depotd: the depot file server. Wires the store (storage/), the actor
// pipeline (actors/) and the ROUTER socket (transport/), then serves until
// SIGTERM or SIGINT.

#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "actors/assembler.hpp"
#include "actors/pipeline.hpp"
#include "storage/posix_store.hpp"
#include "transport/resources.hpp"
#include "transport/server.hpp"

namespace {

struct flags {
  std::vector<std::string> listen;
  std::string root = "./data";
  uint64_t chunk_max = 1 << 20;
  uint64_t window = 16;
  uint64_t max_file_size = uint64_t{4} << 30;
  uint64_t idle_timeout = 60;
  uint64_t memory_budget = uint64_t{512} << 20;
  uint64_t ram_threshold = uint64_t{4} << 20;
  uint64_t max_uploads = 10000;
  uint64_t max_finished = 300000;
  std::optional<unsigned> id_bits;
  uint32_t max_candidates = 16;
  size_t threads = 0;
  size_t namers = 2;
  std::string log_level = "info";
  uint64_t max_connections = 0;
  uint64_t peer_memory_limit = 0;
  uint64_t peer_memory_cap = uint64_t{256} << 20;
};

int parse(int argc, char** argv, flags& f) {
  CLI::App app{"depotd: the depot file server (speaks PROTOCOL.md over a ZeroMQ ROUTER)"};
  app.add_option("--listen", f.listen,
                 "endpoint to bind, repeatable (default tcp://127.0.0.1:5570)");
  app.add_option("--root", f.root, "storage directory (created if missing)")
      ->capture_default_str();
  app.add_option("--chunk-max", f.chunk_max, "largest chunk or download range, bytes")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{64} << 20));
  app.add_option("--window", f.window, "chunks a client may have unacknowledged")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1024}));
  app.add_option("--max-file-size", f.max_file_size, "largest file, bytes")
      ->capture_default_str();
  app.add_option("--idle-timeout", f.idle_timeout,
                 "seconds without a request before an upload is aborted")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{86400}));
  app.add_option("--memory-budget", f.memory_budget,
                 "bytes all uploads together may hold in RAM")
      ->capture_default_str();
  app.add_option("--ram-threshold", f.ram_threshold,
                 "bytes one upload holds in RAM before streaming to disk")
      ->capture_default_str();
  app.add_option("--max-uploads", f.max_uploads,
                 "uploads in progress at once; past it new uploads get busy")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{10000000}));
  app.add_option("--max-finished", f.max_finished,
                 "finished uploads still answering retries (60 s each, under 1 KB); "
                 "past it new uploads get busy")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{100000000}));
  app.add_option("--id-bits", f.id_bits,
                 "narrow ids to B bits so contents collide (testing only)")
      ->check(CLI::Range(1u, 128u));
  app.add_option("--max-candidates", f.max_candidates,
                 "naming candidates tried before name_exhausted")
      ->capture_default_str()
      ->check(CLI::Range(uint32_t{16}, uint32_t{1024}));
  app.add_option("--namers", f.namers,
                 "commit lanes: the first group-commits uploads held in RAM, the "
                 "others share those streamed to disk (past --ram-threshold)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{64}));
  app.add_option("--threads", f.threads, "actor scheduler threads (default: max(cores, 4))");
  app.add_option(
      "--max-connections", f.max_connections,
      "connections at once; past it the one idle longest is dropped "
      "(default: the fd limit less a quarter, at least 64, for files)");
  app.add_option("--peer-memory-limit", f.peer_memory_limit,
                 "bytes one connection may send without completing a request "
                 "before it is dropped (default: two requests, ~4.1 MiB at "
                 "--chunk-max 1 MiB)");
  app.add_option("--peer-memory-cap", f.peer_memory_cap,
                 "bytes of unfinished requests of all connections; past it the "
                 "connections holding them longest are dropped")
      ->capture_default_str();
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    app.exit(e);
    return 0;
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  if (f.listen.empty()) f.listen.push_back("tcp://127.0.0.1:5570");
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  flags f;
  if (int rc = parse(argc, argv, f); rc >= 0) return rc;
  spdlog::set_level(spdlog::level::from_str(f.log_level));
  auto fds = depot::transport::raise_fd_limit();
  if (fds.error != 0)
    spdlog::warn("cannot raise the fd limit: {} (soft {}, hard {})",
                 std::strerror(fds.error), fds.soft, fds.hard);
  uint64_t max_connections =
      f.max_connections > 0
          ? f.max_connections
          : depot::transport::default_max_connections(fds.soft);
  spdlog::info(
      "file descriptors: soft limit {} (was {}, hard {}); max connections {}",
      fds.soft, fds.soft_before, fds.hard, max_connections);

  // Large buffers come and go with every chunk: keep freed memory for reuse
  // instead of returning it to the kernel and faulting it in again.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);

  // Signals are taken by sigwait below, never by a random thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  depot::actors::limits lim;
  lim.chunk_max = f.chunk_max;
  lim.window = f.window;
  lim.max_file_size = f.max_file_size;
  lim.idle_timeout = std::chrono::seconds(f.idle_timeout);
  lim.memory_budget = f.memory_budget;
  lim.ram_threshold = f.ram_threshold;
  lim.max_uploads = f.max_uploads;
  lim.max_finished = f.max_finished;
  if (depot::actors::upload_reservation(lim, std::nullopt) > lim.memory_budget) {
    spdlog::error("--memory-budget {} cannot hold one upload of unknown size ({} bytes)",
                  lim.memory_budget, depot::actors::upload_reservation(lim, std::nullopt));
    return 2;
  }

  auto store = depot::storage::open_posix_store(
      {f.root, f.id_bits, f.max_candidates, nullptr});
  if (!store) {
    spdlog::error("cannot open the store: {}", depot::schema::message_of(store.error()));
    return 1;
  }

  caf::actor_system_config cfg;
  cfg.set("scheduler.policy", caf::atom("sharing"));
  // CAF's default: max(cores, 4).
  size_t threads = f.threads > 0 ? f.threads
                                 : std::max<size_t>(4, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", threads);
  caf::actor_system sys{cfg};

  depot::actors::pipeline* route = nullptr;
  depot::transport::server_options sopts;
  sopts.endpoints = f.listen;
  sopts.max_payload = f.chunk_max;
  sopts.max_connections = max_connections;
  sopts.peer_memory_limit = f.peer_memory_limit;
  sopts.peer_memory_cap = f.peer_memory_cap;
  depot::transport::server server{
      sopts, [&route](const depot::transport::peer& p, depot::schema::request r) {
        route->handle(p, std::move(r));
      }};
  depot::actors::pipeline_options popts;
  popts.namers = f.namers;
  depot::actors::pipeline pipe{sys, lim, *store, &server, popts};
  route = &pipe;
  if (auto err = server.bind()) {
    spdlog::error("{}", depot::schema::message_of(err));
    pipe.shutdown();
    return 1;
  }
  std::string endpoints;
  for (auto& e : server.endpoints()) endpoints += (endpoints.empty() ? "" : " ") + e;
  spdlog::info(
      "depotd serving on {} | root {} | chunk_max {} window {} max_file_size {} "
      "idle_timeout {}s memory_budget {} ram_threshold {} threads {} namers {}{}",
      endpoints, f.root, lim.chunk_max, lim.window, lim.max_file_size, f.idle_timeout,
      lim.memory_budget, lim.ram_threshold, threads, f.namers,
      f.id_bits ? " id_bits " + std::to_string(*f.id_bits) + " (TESTING ONLY)" : "");

  std::thread io{[&server] { server.run(); }};
  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("signal {}: stopping", sig);
  server.stop();
  io.join();
  pipe.shutdown();
  sys.await_all_actors_done();
  spdlog::info("depotd stopped");
  return 0;
}
