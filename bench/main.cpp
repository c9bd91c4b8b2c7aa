// depot_bench: measures the ceilings of this machine (raw ZeroMQ, SHA-256,
// the storage file system), then depot itself against them, and prints one
// table. It starts its own depotd on a loopback port it picks with its root in
// a temp dir, stops it with SIGTERM and removes every file it made, also when
// it fails or is interrupted. See bench/README.md.

#include "bench/ceilings.hpp"
#include "bench/depot_load.hpp"
#include "bench/process_stats.hpp"
#include "bench/report.hpp"
#include "bench/wire.hpp"
#include "testkit/child_process.hpp"
#include "testkit/content.hpp"
#include "testkit/depotd_process.hpp"
#include "testkit/temp_dir.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <malloc.h>
#include <map>
#include <optional>
#include <signal.h>
#include <sstream>
#include <stdlib.h>
#include <string>
#include <sys/utsname.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace depot::bench {
namespace {

namespace fs = std::filesystem;

// Transfers that take a fraction of a second (1 GiB at 3 GB/s) are at the
// mercy of a moment's noise on these VMs: they are run this many times and
// the median run is the figure.
constexpr int short_runs = 3;

// The run of median rate among `short_runs` runs of `run`.
template <class Fn>
measure median_run(Fn run) {
  std::vector<measure> runs;
  for (int i = 0; i < short_runs; ++i) runs.push_back(run());
  std::sort(runs.begin(), runs.end(), [](const measure& a, const measure& b) {
    return a.rate() < b.rate();
  });
  return runs[runs.size() / 2];
}

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
};

bool skipped(const options& o, const std::string& part) {
  return std::find(o.skip.begin(), o.skip.end(), part) != o.skip.end();
}

void on_signal(int) { stop_requested = true; }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void progress(const std::string& text) {
  std::cerr << "[bench] " << text << std::endl;
}

std::string first_line_of(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) {
      auto colon = line.find(':');
      auto text = colon == std::string::npos ? line : line.substr(colon + 1);
      text.erase(0, text.find_first_not_of(" \t"));
      return text;
    }
  return "?";
}

// The 1, 5 and 15 minute load averages: other work on the machine skews
// every figure, so the table says how busy it was.
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

void print_machine(const options& o, const std::string& dir) {
  utsname u{};
  ::uname(&u);
  std::time_t now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z",
                std::localtime(&now));
  std::cout << "depot_bench  " << when << "\n"
            << "machine      " << std::thread::hardware_concurrency()
            << " cores, " << first_line_of("/proc/cpuinfo", "model name")
            << ", Linux " << u.release << "\n"
            << "depotd       " << o.depotd << "\n"
            << "storage dir  " << dir << "\n"
            << "sizes        large " << o.size_mib << " MiB, RSS test "
            << o.big_mib << " MiB, " << o.small_count
            << " x 4 KiB per small test, " << o.clients << " clients, cap "
            << o.cap_s << " s per small test\n"
            << "depot        chunk_max " << o.chunk_max << ", window "
            << o.window << ", memory budget "
            << mib_text(static_cast<double>(o.memory_budget)) << "\n"
            << "load average " << load_average() << " (at the start)\n";
}

// The flags every depotd of the run gets.
std::vector<std::string> depotd_flags(const options& o) {
  uint64_t largest = std::max(o.size_mib, o.big_mib) * mib;
  std::vector<std::string> f{
      "--chunk-max",     std::to_string(o.chunk_max),
      "--window",        std::to_string(o.window),
      "--memory-budget", std::to_string(o.memory_budget),
      "--max-file-size", std::to_string(std::max(largest, uint64_t{4} << 30)),
      "--log-level",     o.log_level};
  f.insert(f.end(), o.depotd_flags.begin(), o.depotd_flags.end());
  return f;
}

// How every depotd of the run is started: root and log in the run's temp
// dir, SIGTERM if the benchmark dies, 20 s to start (abandoned on an
// interrupt), 30 s to stop.
test::depotd_options depotd_setup(const options& o, const std::string& root,
                                  const std::string& log) {
  test::depotd_options d;
  d.binary = o.depotd;
  d.flags = depotd_flags(o);
  d.root = root;
  d.log = log;
  d.ready_limit = std::chrono::seconds(20);
  d.stop_grace = std::chrono::seconds(30);
  d.death_signal = SIGTERM;
  d.interrupted = [] { return stop_requested.load(); };
  return d;
}

struct figures {
  std::optional<measure> transport, tiny, sha, write, fsync1, fsync16;
  std::optional<measure> upload, download, small_up, small_down, big_upload;
  std::optional<measure> small_up_detect;       // without a declared mime
  std::optional<measure> small_up_before_busy;  // until the first `busy`
  std::optional<uint64_t> rss_peak, rss_hwm, rss_samples;
  std::optional<uint64_t> small_rss;  // depotd's VmRSS after the 4 KiB uploads
  uint64_t small_dedups = 0;
  std::vector<std::string> warnings;
  std::map<std::string, std::string> failed;  // part -> why
  std::string upload_stop, rss_stop;
};

void measure_ceilings(const options& o, const std::string& dir, figures& f) {
  const uint64_t bytes = o.size_mib * mib;
  const uint64_t fsync_count =
      o.quick ? 200 : std::min<uint64_t>(o.small_count, 3000);
  test::rng r;
  auto block = test::random_block(64 * mib, r);
  progress("transport ceiling: ZeroMQ DEALER->ROUTER, " + mib_text(bytes) +
           ", " + std::to_string(short_runs) + " times...");
  f.transport = median_run(
      [&] { return transport_bulk(block, bytes, o.chunk_max, o.window); });
  progress("transport ceiling: tiny request/reply, " +
           std::to_string(o.clients) + " clients...");
  f.tiny = transport_tiny(o.clients, o.small_count * 2, o.cap_s);
  progress("SHA-256 of " + mib_text(bytes) + "...");
  f.sha = sha256_rate(block, bytes, o.chunk_max);
  progress("sequential write + fsync of " + mib_text(bytes) + "...");
  f.write = write_fsync(dir, block, bytes, o.chunk_max);
  progress("4 KiB files with fsync, 1 thread...");
  f.fsync1 = small_file_fsync(dir, 1, fsync_count, 10);
  progress("4 KiB files with fsync, " + std::to_string(o.clients) +
           " threads...");
  f.fsync16 = small_file_fsync(dir, o.clients, fsync_count * 4, 10);
}

// Chunks refused although the client kept within the window are a server
// bug worth a line of their own.
void note_refusals(figures& f, const std::string& which,
                   const upload_outcome& up) {
  if (up.busy == 0 && up.out_of_order == 0) return;
  f.warnings.push_back(
      "warning: in the " + which + " upload depotd refused " +
      std::to_string(up.busy) +
      " chunks with busy (\"too many chunks in "
      "flight\") although\n  the client kept within the window, and " +
      std::to_string(up.out_of_order) +
      " sent after them with out_of_order; all were resent (go-back-N), "
      "the time includes it");
}

// Runs one part; if it fails (other than by an interrupt), records why under
// `part` and lets the benchmark go on with the next one.
template <class Fn>
bool attempt(figures& f, const std::string& part, Fn fn) {
  try {
    fn();
    return true;
  } catch (const std::exception& e) {
    if (stop_requested) throw;
    progress(part + " failed: " + e.what());
    f.failed[part] = e.what();
    return false;
  }
}

// `m` with what depotd's CPU and the hypervisor did meanwhile.
measure metered(measure m, const cpu_meter& cpu) {
  auto r = cpu.finish();
  m.server_cpu_seconds = r.process_seconds;
  m.steal_fraction = r.steal_fraction;
  return m;
}

void measure_depot(const options& o, const std::string& dir, figures& f,
                   std::vector<std::string>& logs) {
  const std::string root = dir + "/root";
  logs.push_back(dir + "/depotd.log");
  {
    test::depotd_process depotd(depotd_setup(o, root, logs.back()));
    progress("depotd pid " + std::to_string(depotd.pid()) + " on " +
             depotd.endpoint());
    if (!skipped(o, "large")) {
      const uint64_t bytes = o.size_mib * mib;
      upload_outcome up;
      bool uploaded = attempt(f, "upload", [&] {
        progress("warm-up upload of " +
                 mib_text(static_cast<double>(std::min(bytes, 64 * mib))) +
                 " (not counted)...");
        upload_big(depotd.endpoint(), std::min(bytes, 64 * mib), o.window);
        progress("depot upload of " + mib_text(static_cast<double>(bytes)) +
                 "...");
        std::optional<perf_recorder> perf;
        if (!o.perf_path.empty())
          perf.emplace(depotd.pid(), o.perf_path, dir + "/perf.log");
        cpu_meter cpu(depotd.pid());
        up = upload_big(depotd.endpoint(), bytes, o.window);
        if (perf) perf->stop();
        f.upload = metered(up.time, cpu);
        note_refusals(f, "timed " + mib_text(static_cast<double>(bytes)), up);
      });
      if (uploaded) {
        attempt(f, "download", [&] {
          progress("depot download of " + mib_text(static_cast<double>(bytes)) +
                   ", " + std::to_string(short_runs) + " times...");
          std::optional<perf_recorder> perf;
          if (!o.perf_path.empty())
            perf.emplace(depotd.pid(), o.perf_path + ".download",
                         dir + "/perf-download.log");
          f.download = median_run([&] {
            cpu_meter cpu(depotd.pid());
            return metered(download_big(depotd.endpoint(), up.id, bytes,
                                        o.chunk_max, o.window),
                           cpu);
          });
          if (perf) perf->stop();
        });
      } else {
        f.failed["download"] = "no file: the upload failed";
      }
    }
    if (!skipped(o, "small")) {
      small_outcome small;
      attempt(f, "small_up", [&] {
        progress("depot 4 KiB uploads, " + std::to_string(o.clients) +
                 " clients...");
        cpu_meter cpu(depotd.pid());
        small = upload_small(depotd.endpoint(), o.clients, o.small_count,
                             o.cap_s, "application/octet-stream");
        f.small_up = metered(small.time, cpu);
      });
      f.small_dedups = small.dedups;
      if (small.busy > 0 && small.first_busy_s > 0)
        f.small_up_before_busy = measure{
            static_cast<double>(small.first_busy_after), small.first_busy_s};
      if (small.busy > 0) {
        char when[32];
        std::snprintf(when, sizeof when, "%.1f", small.first_busy_s);
        f.warnings.push_back(
            "warning: depotd answered " + std::to_string(small.busy) +
            " 4 KiB `upload` requests with busy (\"" + small.busy_message +
            "\"),\n  the first after " +
            std::to_string(small.first_busy_after) + " files stored in " +
            when +
            " s; each was retried after 10 ms and the time includes the waits");
      }
      attempt(f, "small_detect", [&] {
        uint64_t n = std::max<uint64_t>(o.small_count / 10, 100);
        progress("depot 4 KiB uploads, no mime declared, " + grouped(n) +
                 " files...");
        cpu_meter cpu(depotd.pid());
        auto detect = upload_small(depotd.endpoint(), o.clients, n, o.cap_s,
                                   std::nullopt);
        f.small_up_detect = metered(detect.time, cpu);
      });
      // Every upload of the last 60 s still answers retries (docs/protocol.md).
      f.small_rss = proc_status_bytes(depotd.pid(), "VmRSS:");
      attempt(f, "small_down", [&] {
        progress("depot 4 KiB downloads, " + std::to_string(o.clients) +
                 " clients...");
        cpu_meter cpu(depotd.pid());
        f.small_down =
            metered(download_small(depotd.endpoint(), o.clients, small.ids,
                                   o.small_count, o.cap_s),
                    cpu);
      });
    }
    f.upload_stop = test::exit_text(depotd.stop());
    if (f.upload_stop != "exit 0")
      f.warnings.push_back("depotd's log (end):\n" + depotd.log_tail(1500));
    progress("depotd stopped: " + f.upload_stop);
  }
  std::error_code ec;
  if (!o.keep) fs::remove_all(root, ec);

  if (!skipped(o, "rss")) {
    const std::string root2 = dir + "/root-rss";
    logs.push_back(dir + "/depotd-rss.log");
    test::depotd_process depotd(depotd_setup(o, root2, logs.back()));
    progress("depotd pid " + std::to_string(depotd.pid()) +
             " (fresh) for the RSS test");
    const uint64_t bytes = o.big_mib * mib;
    progress("depot upload of " + mib_text(static_cast<double>(bytes)) +
             ", sampling VmRSS every 20 ms...");
    rss_sampler sampler(depotd.pid(), std::chrono::milliseconds(20));
    attempt(f, "rss", [&] {
      auto up = upload_big(depotd.endpoint(), bytes, o.window);
      f.big_upload = up.time;
      note_refusals(f, "RSS test's " + mib_text(static_cast<double>(bytes)),
                    up);
    });
    sampler.stop();
    f.rss_peak = sampler.peak();
    f.rss_samples = sampler.samples();
    f.rss_hwm = proc_status_bytes(depotd.pid(), "VmHWM:");
    f.rss_stop = test::exit_text(depotd.stop());
    if (f.rss_stop != "exit 0")
      f.warnings.push_back("depotd's log (RSS test, end):\n" +
                           depotd.log_tail(1500));
    progress("depotd stopped: " + f.rss_stop);
    if (!o.keep) fs::remove_all(root2, ec);
  }
}

std::string met(bool ok) { return ok ? "yes" : "NO"; }

void print_table(const options& o, const figures& f, summary& sum) {
  table t;
  auto bps = [](const std::optional<measure>& m) {
    return m ? m->rate() : 0.0;
  };

  t.section("ceilings (this machine, without depot)");
  if (f.transport) {
    t.add({"ZeroMQ DEALER->ROUTER, " +
               mib_text(static_cast<double>(o.chunk_max)) + " frames, " +
               std::to_string(o.window) + " in flight, median of " +
               std::to_string(short_runs),
           gb_per_s(f.transport->rate()), "", "", "", ""});
    sum["transport_bytes_per_s"] = std::to_string(f.transport->rate());
  }
  if (f.tiny) {
    t.add({"ZeroMQ tiny request/reply, " + std::to_string(o.clients) +
               " clients x 1",
           per_s(f.tiny->rate()), "", "", "", ""});
    sum["tiny_rr_per_s"] = std::to_string(f.tiny->rate());
  }
  if (f.sha) {
    t.add({"SHA-256 (OpenSSL EVP, 1 core)", gb_per_s(f.sha->rate()), "", "", "",
           ""});
    sum["sha256_bytes_per_s"] = std::to_string(f.sha->rate());
  }
  if (f.write) {
    t.add({"sequential write + fsync, " + mib_text(f.write->count),
           gb_per_s(f.write->rate()), "", "", "", ""});
    sum["write_fsync_bytes_per_s"] = std::to_string(f.write->rate());
  }
  if (f.fsync1) {
    t.add({"4 KiB create+write+fsync file+dir, 1 thread",
           per_s(f.fsync1->rate()), "", "", "", ""});
    sum["fsync_files_per_s"] = std::to_string(f.fsync1->rate());
  }
  if (f.fsync16) {
    t.add({"  same, " + std::to_string(o.clients) +
               " threads at once (for reference)",
           per_s(f.fsync16->rate()), "", "", "", ""});
    sum["fsync_files_per_s_parallel"] = std::to_string(f.fsync16->rate());
  }

  t.section("depot (ratio = figure / ceiling)");
  auto failed_row = [&](const char* part, const std::string& what,
                        const std::string& target) {
    if (f.failed.count(part)) t.add({what, "FAILED", "", "", target, "NO"});
  };
  failed_row(
      "upload",
      "upload " + mib_text(static_cast<double>(o.size_mib * mib)) + ", durable",
      ">= 1.00 GB/s");
  failed_row("download",
             "download " + mib_text(static_cast<double>(o.size_mib * mib)),
             ">= 2.00 GB/s");
  failed_row("small_up", "4 KiB uploads", ">= 5,000/s");
  // What the operation cost depotd in CPU, and how much the host took.
  auto cost_row = [&](const measure& m, const std::string& key, double units,
                      const char* per, double scale, const char* unit) {
    if (m.server_cpu_seconds <= 0 || units <= 0) return;
    double cost = m.server_cpu_seconds / units * scale;
    char text[64];
    std::snprintf(text, sizeof text, "%.*f %s per %s", cost < 10 ? 2 : 0, cost,
                  unit, per);
    char steal[64];
    std::snprintf(steal, sizeof steal,
                  "  depotd CPU (host steal meanwhile %.0f%%)",
                  100 * m.steal_fraction);
    t.add({steal, text, "", "", "", ""});
    sum[key + "_server_cpu_seconds"] = std::to_string(m.server_cpu_seconds);
    sum[key + "_steal_fraction"] = std::to_string(m.steal_fraction);
  };
  failed_row("small_down", "4 KiB downloads", ">= 25,000/s");
  if (f.upload) {
    std::string which = "";
    double ceiling = 0;
    auto consider = [&](const std::optional<measure>& m, const char* name) {
      if (m && (ceiling == 0 || m->rate() < ceiling)) {
        ceiling = m->rate();
        which = name;
      }
    };
    consider(f.transport, "transport");
    consider(f.sha, "sha256");
    consider(f.write, "write+fsync");
    double rate = f.upload->rate();
    t.add({"upload " + mib_text(f.upload->count) + ", durable", gb_per_s(rate),
           ceiling > 0 ? gb_per_s(ceiling) + " (" + which + ")" : "",
           ceiling > 0 ? ratio_text(rate / ceiling) : "", ">= 1.00 GB/s",
           met(rate >= 1e9)});
    sum["upload_bytes_per_s"] = std::to_string(rate);
    sum["upload_seconds"] = std::to_string(f.upload->seconds);
    cost_row(*f.upload, "upload", f.upload->count / 1e9, "GB", 1, "s");
  }
  if (f.download) {
    double rate = f.download->rate();
    double ceiling = bps(f.transport);
    t.add({"download " + mib_text(f.download->count) + ", " +
               std::to_string(o.window) + " in flight, median of " +
               std::to_string(short_runs),
           gb_per_s(rate),
           ceiling > 0 ? gb_per_s(ceiling) + " (transport)" : "",
           ceiling > 0 ? ratio_text(rate / ceiling) : "", ">= 2.00 GB/s",
           met(rate >= 2e9)});
    sum["download_bytes_per_s"] = std::to_string(rate);
    sum["download_seconds"] = std::to_string(f.download->seconds);
    cost_row(*f.download, "download", f.download->count / 1e9, "GB", 1, "s");
  }
  if (f.small_up) {
    double rate = f.small_up->rate();
    double ceiling = bps(f.fsync1);
    t.add({"4 KiB uploads, " + std::to_string(o.clients) + " clients (" +
               grouped(f.small_up->count) + " files)",
           per_s(rate), ceiling > 0 ? per_s(ceiling) + " (fsync/file)" : "",
           ceiling > 0 ? ratio_text(rate / ceiling) : "", ">= 5,000/s",
           met(rate >= 5000)});
    sum["small_upload_per_s"] = std::to_string(rate);
    cost_row(*f.small_up, "small_upload", f.small_up->count, "file", 1e6, "us");
    if (f.small_up_before_busy) {
      const auto& b = *f.small_up_before_busy;
      t.add({"  until the first busy (" + grouped(b.count) + " files)",
             per_s(b.rate()), "",
             ceiling > 0 ? ratio_text(b.rate() / ceiling) : "", "", ""});
      sum["small_upload_per_s_before_busy"] = std::to_string(b.rate());
    }
  }
  if (f.small_up_detect) {
    const auto& m = *f.small_up_detect;
    t.add({"  no mime declared: depotd detects it (" + grouped(m.count) +
               " files)",
           per_s(m.rate()), "", "", "", ""});
    sum["small_upload_detect_per_s"] = std::to_string(m.rate());
    cost_row(m, "small_upload_detect", m.count, "file", 1e6, "us");
  }
  if (f.small_rss) {
    t.add(
        {"  depotd VmRSS right after them (each finished upload answers "
         "retries for 60 s)",
         mib_text(static_cast<double>(*f.small_rss)), "", "", "", ""});
    sum["small_upload_rss_bytes"] = std::to_string(*f.small_rss);
  }
  if (f.small_down) {
    double rate = f.small_down->rate();
    double ceiling = bps(f.tiny);
    t.add({"4 KiB downloads, " + std::to_string(o.clients) + " clients (" +
               grouped(f.small_down->count) + ")",
           per_s(rate), ceiling > 0 ? per_s(ceiling) + " (tiny req/rep)" : "",
           ceiling > 0 ? ratio_text(rate / ceiling) : "", ">= 25,000/s",
           met(rate >= 25000)});
    sum["small_download_per_s"] = std::to_string(rate);
    cost_row(*f.small_down, "small_download", f.small_down->count, "file", 1e6,
             "us");
  }
  if (f.rss_peak) {
    const double limit = static_cast<double>(o.memory_budget + 64 * mib);
    const double peak = static_cast<double>(std::max(*f.rss_peak, *f.rss_hwm));
    const double big = static_cast<double>(o.big_mib * mib);
    t.add({"depotd peak RSS, " + mib_text(big) + " upload" +
               (f.failed.count("rss") ? " (FAILED)" : ""),
           mib_text(peak), mib_text(limit) + " (budget+64 MiB)",
           ratio_text(peak / limit), "<= " + mib_text(limit),
           met(peak <= limit)});
    t.add({"  VmRSS sampled every 20 ms (" + std::to_string(*f.rss_samples) +
               " samples) / VmHWM",
           mib_text(static_cast<double>(*f.rss_peak)) + " / " +
               mib_text(static_cast<double>(*f.rss_hwm)),
           "", "", "", ""});
    if (f.big_upload) {
      t.add({"  that upload's rate (for reference)",
             gb_per_s(f.big_upload->rate()), "", "", "", ""});
      sum["big_upload_bytes_per_s"] = std::to_string(f.big_upload->rate());
    }
    sum["rss_peak_bytes"] = std::to_string(*f.rss_peak);
    sum["rss_hwm_bytes"] = std::to_string(*f.rss_hwm);
  }
  std::cout << "\n";
  t.print(std::cout);
  std::cout << "\nnotes: GB/s = 10^9 bytes/s. Uploads declare `size` and send "
               "no `sha256` "
               "(the server hashes once;\nthe client does not pre-hash). "
               "Upload time runs from "
               "the `upload` request to the last chunk's\nreply (the file is "
               "durable then). A "
               "64 MiB warm-up upload precedes the timed one.\n";
  std::cout << "load average " << load_average() << " (at the end)\n";
  for (const auto& w : f.warnings) std::cout << w << "\n";
  for (const auto& [part, why] : f.failed)
    std::cout << "error: " << part << " failed: " << why << "\n";
  if (f.small_dedups > 0)
    std::cout << "warning: " << f.small_dedups
              << " 4 KiB uploads were dedups\n";
  if (!f.upload_stop.empty() && f.upload_stop != "exit 0")
    std::cout << "warning: depotd ended with " << f.upload_stop << "\n";
  if (!f.rss_stop.empty() && f.rss_stop != "exit 0")
    std::cout << "warning: depotd (RSS test) ended with " << f.rss_stop << "\n";
}

int run(int argc, char** argv) {
  options o;
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
      o.clients <= 0 || o.window == 0 || o.chunk_max < 16) {
    std::cerr << "sizes, counts, clients and window must be positive\n";
    return 2;
  }
  if (o.dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    o.dir = tmp && *tmp ? tmp : "/tmp";
  }

  // Freed ZeroMQ messages stay in the heap instead of going back to the
  // kernel and faulting in again (STACK-NOTES.md: ~13 us per page fault).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  install_signal_handlers();

  test::temp_dir dir(o.dir, "depot-bench", o.keep);
  print_machine(o, dir.path());
  std::cout.flush();
  figures f;
  std::vector<std::string> logs;
  try {
    if (!skipped(o, "ceilings")) measure_ceilings(o, dir.path(), f);
    measure_depot(o, dir.path(), f, logs);
  } catch (const std::exception& e) {
    std::cerr << "depot_bench failed: " << e.what() << "\n";
    for (const auto& log : logs)
      std::cerr << "---- end of " << log << " ----\n"
                << test::read_file_tail(log, 4000) << "----\n";
    return 1;
  }
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
