#include "depotd/fsck_main.hpp"

#include "schema/validate.hpp"
#include "storage/fsck.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace {

namespace st = depot::storage;
using clock_type = std::chrono::steady_clock;

struct fsck_flags {
  st::fsck_options check;
  bool json = false;
};

// 5600000000 -> "5.6 GB" (decimal units, as disks are sold).
std::string human_size(double bytes) {
  static constexpr const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  size_t u = 0;
  while (bytes >= 1000 && u + 1 < std::size(units)) {
    bytes /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes,
                units[u]);
  return buf;
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// Returns an exit status, or -1 to go on.
int parse(int argc, char** argv, fsck_flags& f) {
  CLI::App app{
      "depotd fsck: re-hashes every file of a POSIX store and checks its "
      "name, metadata and reference entries, and finds orphans (bytes "
      "without metadata, metadata without bytes, staging directories of "
      "dead instances, stale delete markers, names the store never makes). "
      "Safe while depotd serves the same root: what a live instance is "
      "working on is skipped, never touched.",
      "depotd fsck"};
  app.add_option("--root", f.check.root, "the store's directory (--root)")
      ->required();
  app.add_flag("--repair", f.check.repair,
               "move corrupt, misnamed, unreferenced and orphaned objects "
               "and strays into ROOT/.quarantine/ (renamed, never deleted), "
               "remove reference entries of dead generations, recover dead "
               "instances and stale markers; a healthy file is never "
               "touched");
  app.add_flag("--json", f.json,
               "one JSON document on stdout (findings and counts), no "
               "progress bar");
  app.add_option("--id-bits", f.check.id_bits,
                 "as the depotd serving the root was given it")
      ->check(CLI::Range(1u, 128u));
  app.add_option("--max-candidates", f.check.max_candidates,
                 "as the depotd serving the root was given it (an id past "
                 "the first N naming candidates is misnamed)")
      ->capture_default_str()
      ->check(CLI::Range(uint32_t{16}, uint32_t{1024}));
  app.footer(
      "Exit status: 0 the store is clean (with --repair: everything found "
      "was repaired), 1 findings remain, 2 usage error or a root that "
      "cannot be checked.\nOnly the POSIX store: a --store rados pool is "
      "not checked by this command.\n");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    app.exit(e);
    return 0;
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  return -1;
}

// The report as it goes: one line per finding, or one JSON document.
class printer {
 public:
  explicit printer(const fsck_flags& f)
      : json_(f.json),
        bar_(!f.json && ::isatty(STDERR_FILENO)),
        start_(clock_type::now()) {}

  void progress(const st::fsck_progress& p) {
    if (!bar_) return;
    auto now = clock_type::now();
    if (now - drawn_ < std::chrono::milliseconds(100)) return;
    drawn_ = now;
    double s = seconds_since(start_);
    std::fprintf(
        stderr, "\r\033[Kfsck: %llu files, %s, %s/s",
        static_cast<unsigned long long>(p.objects),
        human_size(static_cast<double>(p.bytes)).c_str(),
        human_size(s > 0 ? static_cast<double>(p.bytes) / s : 0).c_str());
    shown_ = true;
  }

  void finding(const st::fsck_finding& f) {
    clear_bar();
    if (json_) {
      std::printf(
          "%s{\"kind\":%s,\"id\":%s,\"path\":%s,\"detail\":%s,"
          "\"action\":%s,\"repaired\":%s}",
          separator(), quote(st::fsck_kind_name(f.kind)).c_str(),
          quote(f.id).c_str(), quote(f.path).c_str(), quote(f.detail).c_str(),
          quote(f.action).c_str(), f.repaired ? "true" : "false");
      return;
    }
    std::string line =
        std::string{st::fsck_kind_name(f.kind)} + "  " +
        depot::schema::escape_text(f.id.empty() ? f.path : f.id) + "  " +
        depot::schema::escape_text(f.detail);
    if (!f.action.empty())
      line += "  -> " + depot::schema::escape_text(f.action);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }

  void done(const st::fsck_report& r, const st::fsck_options& o) {
    clear_bar();
    double s = seconds_since(start_);
    if (json_) {
      std::string counts;
      for (size_t k = 0; k < st::fsck_kinds; ++k)
        counts += std::string{k ? "," : ""} + "\"" +
                  st::fsck_kind_name(static_cast<st::fsck_kind>(k)) +
                  "\":" + std::to_string(r.by_kind[k]);
      begin();
      std::printf(
          "],\"root\":%s,\"repair\":%s,\"clean\":%s,\"objects\":%llu,"
          "\"bytes\":%llu,\"elapsed_ms\":%llu,\"in_flight\":%llu,"
          "\"findings_total\":%llu,\"repaired\":%llu,\"unrepaired\":%llu,"
          "\"counts\":{%s}}\n",
          quote(o.root).c_str(), o.repair ? "true" : "false",
          r.unrepaired() == 0 ? "true" : "false", ull(r.objects), ull(r.bytes),
          ull(static_cast<uint64_t>(s * 1000)), ull(r.in_flight),
          ull(r.total()), ull(r.repaired), ull(r.unrepaired()), counts.c_str());
      return;
    }
    char head[128];
    std::snprintf(head, sizeof head, "fsck: %llu files, %s checked in %.1f s",
                  ull(r.objects),
                  human_size(static_cast<double>(r.bytes)).c_str(), s);
    std::string line = head;
    std::string found;
    for (size_t k = 0; k < st::fsck_kinds; ++k)
      if (r.by_kind[k])
        found += std::string{found.empty() ? "" : ", "} +
                 std::to_string(r.by_kind[k]) + " " +
                 st::fsck_kind_name(static_cast<st::fsck_kind>(k));
    line += found.empty() ? ": clean" : ": " + found;
    if (o.repair && r.total() > 0)
      line += "; repaired " + std::to_string(r.repaired);
    if (r.in_flight)
      line += "; " + std::to_string(r.in_flight) + " in flight, skipped";
    std::printf("%s\n", line.c_str());
  }

  void failed(const std::string& message) {
    clear_bar();
    if (json_ && opened_)
      std::printf("],\"error\":%s}\n", quote(message).c_str());
    std::fprintf(stderr, "depotd fsck: %s\n", message.c_str());
  }

 private:
  static unsigned long long ull(uint64_t v) {
    return static_cast<unsigned long long>(v);
  }
  static std::string quote(const std::string& s) {
    return depot::schema::json_string(s);
  }
  // The document's start before the first finding, a comma between two.
  const char* separator() {
    begin();
    return written_++ > 0 ? "," : "";
  }
  void begin() {
    if (opened_) return;
    opened_ = true;
    std::printf("{\"findings\":[");
  }
  void clear_bar() {
    if (!shown_) return;
    std::fprintf(stderr, "\r\033[K");
    shown_ = false;
  }

  bool json_;
  bool bar_;
  bool opened_ = false;
  uint64_t written_ = 0;
  bool shown_ = false;
  clock_type::time_point start_;
  clock_type::time_point drawn_{};
};

}  // namespace

int fsck_main(int argc, char** argv) {
  fsck_flags f;
  if (int rc = parse(argc, argv, f); rc >= 0) return rc;
  // Logs (what recovery did, refused symlinks) go to stderr: stdout is the
  // report.
  spdlog::set_default_logger(spdlog::stderr_color_mt("fsck"));
  spdlog::set_level(spdlog::level::warn);
  printer out{f};
  f.check.progress = [&out](const st::fsck_progress& p) { out.progress(p); };
  f.check.on_finding = [&out](const st::fsck_finding& x) { out.finding(x); };
  auto report = st::run_fsck(f.check);
  if (!report) {
    out.failed(depot::schema::message_of(report.error()));
    return 2;
  }
  out.done(*report, f.check);
  return report->unrepaired() == 0 ? 0 : 1;
}
