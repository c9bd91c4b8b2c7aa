#include "bench/options.hpp"

#include "testkit/rados_env.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>

namespace depot::bench {

bool skipped(const options& o, const std::string& part) {
  return std::find(o.skip.begin(), o.skip.end(), part) != o.skip.end();
}

std::optional<int> parse_options(int argc, char** argv, options& o) {
  CLI::App app{
      "depot_bench: the ceilings of this machine, then depot against them.\n"
      "Starts its own depotd; extra depotd flags go after `--`."};
  app.add_option("--depotd", o.depotd, "depotd binary")->capture_default_str();
  app.add_option(
      "--dir", o.dir,
      "directory for the temp dir holding depotd's root and the disk ceilings "
      "(default $TMPDIR or /tmp)");
  app.add_option("--size-mib", o.size_mib, "large upload/download size")
      ->capture_default_str();
  app.add_option("--big-mib", o.big_mib, "upload size of the RSS test")
      ->capture_default_str();
  app.add_option("--small-count", o.small_count,
                 "4 KiB operations per small test")
      ->capture_default_str();
  app.add_option("--clients", o.clients,
                 "concurrent clients of the small tests")
      ->capture_default_str();
  app.add_option("--cap-seconds", o.cap_s, "time limit of each small test")
      ->capture_default_str();
  app.add_option("--chunk-max", o.chunk_max,
                 "depotd --chunk-max, also the ceilings' frame size")
      ->capture_default_str();
  app.add_option("--window", o.window,
                 "depotd --window, also the ceilings' window")
      ->capture_default_str();
  app.add_option("--memory-budget", o.memory_budget, "depotd --memory-budget")
      ->capture_default_str();
  app.add_option("--log-level", o.log_level,
                 "depotd --log-level (info or lower: the bench reads the port "
                 "from depotd's start-up line)")
      ->capture_default_str();
  app.add_flag("--quick", o.quick,
               "smoke run of a few seconds (64 MiB, 256 MiB, 500 small "
               "operations) unless "
               "sizes are given");
  app.add_option("--skip", o.skip, "parts to skip: ceilings, large, small, rss")
      ->delimiter(',')
      ->check(CLI::IsMember({"ceilings", "large", "small", "rss"}));
  app.add_option("--summary", o.summary_path,
                 "also write the figures as key=value lines here");
  app.add_option("--perf-record", o.perf_path,
                 "run `perf record -g -e cpu-clock` on depotd during the timed "
                 "large upload, "
                 "writing this file, and during the large download, writing "
                 "FILE.download");
  app.add_flag(
      "--keep", o.keep,
      "leave every file in place (for runs in a row: on an ext4 without "
      "a journal, freeing many inodes slows the creates after it for "
      "minutes; see README.md)");
  app.add_option("--servers", o.servers,
                 "depotd processes on one store (same --root or RADOS "
                 "namespace); the small tests' clients go round-robin, the "
                 "large tests use the first")
      ->capture_default_str();
  app.add_flag("--rados", o.rados,
               "store in a fresh namespace of the RADOS cluster named by "
               "DEPOT_CEPH_CONF, DEPOT_RADOS_POOL, DEPOT_CEPH_ID (as "
               "`deploy/ceph-dev.sh env` exports them; run inside its network "
               "namespace); the ceilings are then librados's, without depot");
  app.add_option("--osd-pid", o.osd_pid,
                 "also measure this process's CPU time (the Ceph OSD's) "
                 "during each depot and RADOS figure");
  app.add_flag("--curve", o.curve,
               "depotd with CURVE (--curve-secret-key, --curve-clients), "
               "every client with an admitted key: what encryption and "
               "authentication cost");
  app.add_option("depotd_flags", o.depotd_flags,
                 "extra depotd flags (after --)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (o.quick) {
    if (app.count("--size-mib") == 0) o.size_mib = 64;
    if (app.count("--big-mib") == 0) o.big_mib = 256;
    if (app.count("--small-count") == 0) o.small_count = 500;
  }
  if (o.size_mib == 0 || o.big_mib == 0 || o.small_count == 0 ||
      o.clients <= 0 || o.window == 0 || o.chunk_max < 16 || o.servers <= 0) {
    std::cerr << "sizes, counts, clients and window must be positive\n";
    return 2;
  }
  if (o.rados) {
    auto env = [](const char* name) {
      const char* v = std::getenv(name);
      return std::string(v ? v : "");
    };
    o.ceph_conf = env("DEPOT_CEPH_CONF");
    o.rados_pool = env("DEPOT_RADOS_POOL");
    o.ceph_id = env("DEPOT_CEPH_ID");
    if (o.ceph_id.empty()) o.ceph_id = "admin";
    o.rados_ns = test::unique_namespace("bench");
    if (o.ceph_conf.empty() || o.rados_pool.empty()) {
      std::cerr << "--rados needs DEPOT_CEPH_CONF and DEPOT_RADOS_POOL: eval "
                   "\"$(deploy/ceph-dev.sh env)\"\n";
      return 2;
    }
  }
  if (o.curve) {
    o.keys = std::make_shared<test::curve_keys>();
    o.keys->add_client("bench");
  }
  if (o.dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    o.dir = tmp && *tmp ? tmp : "/tmp";
  }
  return std::nullopt;
}

}  // namespace depot::bench
