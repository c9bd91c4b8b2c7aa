// depot_bench: measures the ceilings of this machine (raw ZeroMQ, SHA-256,
// the storage file system, or with --rados the same operations through
// librados), then depot itself against them, and prints one table. It
// starts its own depotd (--servers of them) on loopback ports they pick, with
// the root in a temp dir (or a fresh RADOS namespace), stops them with
// SIGTERM and removes every file it made, also when it fails or is
// interrupted. See bench/README.md.

#include "bench/depot_load.hpp"
#include "bench/options.hpp"
#include "bench/phases.hpp"
#include "bench/report.hpp"
#include "bench/wire.hpp"
#include "testkit/child_process.hpp"
#include "testkit/temp_dir.hpp"

#include <exception>
#include <iostream>
#include <malloc.h>
#include <signal.h>
#include <string>
#include <vector>

namespace depot::bench {
namespace {

void on_signal(int) { stop_requested = true; }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int run(int argc, char** argv) {
  options o;
  if (std::optional<int> status = parse_options(argc, argv, o)) return *status;

  // Freed ZeroMQ messages stay in the heap instead of going back to the
  // kernel and faulting in again (STACK-NOTES.md: ~13 us per page fault).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  install_signal_handlers();
  if (o.keys) client_setup = o.keys->as("bench");

  test::temp_dir dir(o.dir, "depot-bench", o.keep);
  print_machine(o, dir.path());
  std::cout.flush();
  figures f;
  std::vector<std::string> logs;
  try {
    if (!skipped(o, "ceilings")) measure_ceilings(o, dir.path(), f);
    measure_depot(o, dir.path(), f, logs);
  } catch (const std::exception& e) {
    clean_rados(o);
    std::cerr << "depot_bench failed: " << e.what() << "\n";
    for (const auto& log : logs)
      std::cerr << "---- end of " << log << " ----\n"
                << test::read_file_tail(log, 4000) << "----\n";
    return 1;
  }
  clean_rados(o);
  summary sum;
  print_table(o, f, sum);
  if (!o.summary_path.empty()) write_summary(sum, o.summary_path);
  return f.failed.empty() ? 0 : 1;
}

}  // namespace
}  // namespace depot::bench

int main(int argc, char** argv) {
  try {
    return depot::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "depot_bench: " << e.what() << "\n";
    return 1;
  }
}