#include "depotd/options.hpp"

#include "metrics/listen_address.hpp"

namespace depotd {

uint64_t seconds_of(std::chrono::milliseconds d) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

void add_flags(CLI::App& app, options& o) {
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
                 "bytes one upload holds in RAM before streaming to disk "
                 "(under 4 MiB: no direct I/O for staging files)")
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
  app.add_option(
         "--readers", o.pipeline.readers,
         "reader actors serving download, stat and list, each on a thread of "
         "its own (with --store rados: 16 unless given; its reads wait on the "
         "network)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{256}));
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
  app.add_option("--log-format", o.log_format,
                 "text (readable lines) or json (one object per line)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
}

void check_flags(const CLI::App& app, options& o) {
  if (o.store_kind == "rados" && o.rados.pool.empty())
    throw CLI::ValidationError("--rados-pool", "--store rados needs a pool");
  if (o.store_kind == "rados" && app.get_option("--readers")->count() == 0)
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
}

}  // namespace depotd
