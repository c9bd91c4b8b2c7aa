// log_line_cost: what one structured log line costs, in CPU time per line,
// written as depotd writes it (spdlog's default logger: standard output,
// which the caller points at a file), and what a line of a disabled level
// costs. The line is depotd's `upload stored` with its seven fields.
//
//   build/log_line_cost --format json > /tmp/lines.json
//
// Prints the figures to stderr. See bench/RESULTS.md.

#include "logging/log.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace {

// CPU seconds of this process so far.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Logs `n` upload lines at info; returns the CPU seconds it took.
double log_lines(int n) {
  const std::string id = "yeblTiGwOzlS";
  const std::string token = "071557d6019a7efb98699f8ae181a5a1";
  const std::string routing_id{"\x00\x6b\x8b\x45\x67", 5};
  auto start = std::chrono::steady_clock::now();
  double before = cpu_seconds();
  for (int i = 0; i < n; ++i)
    depot::log::info("upload stored",
                     {{"id", id},
                      {"token", token},
                      {"bytes", uint64_t{4096}},
                      {"dedup", false},
                      {"duration_ms", std::chrono::steady_clock::now() - start},
                      {"peer", depot::log::hex{routing_id}},
                      {"key", depot::log::if_set{""}}});
  return cpu_seconds() - before;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"log_line_cost: CPU per structured log line (lines to stdout)"};
  int lines = 200000;
  std::string format = "text";
  app.add_option("--lines", lines, "lines per measurement")
      ->capture_default_str();
  app.add_option("--format", format, "text or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  CLI11_PARSE(app, argc, argv);
  depot::log::setup(*depot::log::parse_format(format));
  spdlog::set_level(spdlog::level::info);
  double on = log_lines(lines);
  spdlog::set_level(spdlog::level::warn);
  double off = log_lines(lines);
  std::fprintf(stderr,
               "%s: %.2f us of CPU per line written, %.3f us per line of a "
               "disabled level (%d lines each)\n",
               format.c_str(), 1e6 * on / lines, 1e6 * off / lines, lines);
  return 0;
}
