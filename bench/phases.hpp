#pragma once

// The phases of a depot_bench run, each on the calling thread: the machine
// line, the ceilings (bench/ceilings.hpp), depot itself against them (its
// own depotd, started and stopped here), and the table of the figures. A
// part that fails is recorded in figures::failed and the run goes on; an
// interrupt (stop_requested) ends it with an exception.

#include "bench/options.hpp"
#include "bench/report.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace depot::bench {

/// Transfers that take a fraction of a second (1 GiB at 3 GB/s) are at the
/// mercy of a moment's noise on these VMs: they are run this many times and
/// the median run is the figure.
inline constexpr int short_runs = 3;

/// Everything one run measured; a part skipped or failed leaves its figures
/// unset.
struct figures {
  std::optional<measure> transport, tiny, sha, write, fsync1, fsync16;
  std::optional<measure> upload, download, small_up, small_down, big_upload;
  std::optional<measure> download_spread;  // over every depotd (--servers)
  // --rados: the same operations through librados, without depot.
  std::optional<measure> rados_write, rados_read, rados_small_write,
      rados_small_read;
  std::optional<measure> small_up_detect;       // without a declared mime
  std::optional<measure> small_up_before_busy;  // until the first `busy`
  std::optional<uint64_t> rss_peak, rss_hwm, rss_samples;
  std::optional<uint64_t> small_rss;  // depotd's VmRSS after the 4 KiB uploads
  uint64_t small_dedups = 0;
  std::vector<std::string> warnings;
  std::map<std::string, std::string> failed;  // part -> why
  std::string upload_stop, rss_stop;
};

/// Prints a progress line to stderr.
void progress(const std::string& text);

/// The 1, 5 and 15 minute load averages: other work on the machine skews
/// every figure, so the table says how busy it was.
std::string load_average();

/// Prints the table's head: date, machine, depotd, storage dir, sizes, load.
void print_machine(const options& o, const std::string& dir);

/// Measures the ceilings into `f`, with scratch files in `dir`; with --rados
/// the RADOS ones (bench/rados_ceilings.hpp) instead of the disk's, their
/// objects removed again before it returns.
void measure_ceilings(const options& o, const std::string& dir, figures& f);

/// Starts --servers depotd on one store (root and logs in `dir`, each log's
/// path appended to `logs`) and measures the large, small and RSS parts
/// into `f`.
void measure_depot(const options& o, const std::string& dir, figures& f,
                   std::vector<std::string>& logs);

/// --rados: removes every object of the run's namespace (the test
/// cluster's OSD keeps them in RAM); reports failures to stderr only.
void clean_rados(const options& o);

/// Prints the table of `f` beside its ceilings and fills `sum` with the
/// figures as key=value pairs.
void print_table(const options& o, const figures& f, summary& sum);

}  // namespace depot::bench
