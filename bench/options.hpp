#pragma once

// depot_bench's command line: what to measure, how large, and the flags of
// the depotd it starts. See bench/README.md.

#include "bench/report.hpp"
#include "testkit/curve_keys.hpp"
#include "testkit/depotd_process.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace depot::bench {

/// One run's settings, defaults as documented in `depot_bench --help`.
struct options {
  std::string depotd = test::depotd_binary();
  std::string dir;  // empty: $TMPDIR or /tmp
  uint64_t size_mib = 1024;
  uint64_t big_mib = 4096;
  uint64_t small_count = 20000;
  uint64_t chunk_max = 1 * mib;
  uint64_t window = 16;
  uint64_t memory_budget = 512 * mib;
  int clients = 16;
  double cap_s = 60;
  bool quick = false;
  std::vector<std::string> skip;
  std::string summary_path;
  std::string perf_path;
  std::string log_level = "info";
  bool keep = false;
  std::vector<std::string> depotd_flags;
  /// depotd processes on the one store (the same --root, or the same RADOS
  /// namespace); the small tests' clients are spread over them.
  int servers = 1;
  /// --rados: the store is a RADOS namespace of the cluster in the
  /// environment (DEPOT_CEPH_CONF, DEPOT_RADOS_POOL, DEPOT_CEPH_ID), fresh
  /// for each run and emptied at its end; the ceilings are RADOS's.
  bool rados = false;
  std::string ceph_conf, rados_pool, ceph_id;
  std::string rados_ns;  ///< the run's namespace, fresh (bench-<random>)
  /// If set, this process's CPU (the Ceph OSD's) is measured beside
  /// depotd's in every depot and RADOS figure.
  int osd_pid = 0;
  /// --curve: depotd speaks CURVE and every client holds an admitted key
  /// (client "bench"); the keys live in a temp dir of their own.
  bool curve = false;
  std::shared_ptr<test::curve_keys> keys;
};

/// Whether `part` ("ceilings", "large", "small", "rss") is in --skip.
bool skipped(const options& o, const std::string& part);

/// Parses the command line into `o` (--quick's smaller sizes, the default
/// dir $TMPDIR or /tmp filled in). Returns nullopt to go on, else the exit
/// status to end with: after --help (0), a parse error or sizes that are
/// not positive (2); the message is already printed.
std::optional<int> parse_options(int argc, char** argv, options& o);

}  // namespace depot::bench
