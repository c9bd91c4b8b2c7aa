#include "bench/phases.hpp"

#include "bench/ceilings.hpp"
#include "bench/depot_load.hpp"
#include "bench/process_stats.hpp"
#include "bench/rados_ceilings.hpp"
#include "bench/report.hpp"
#include "bench/wire.hpp"
#include "testkit/child_process.hpp"
#include "testkit/content.hpp"
#include "testkit/depotd_process.hpp"
#include "testkit/temp_dir.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <malloc.h>
#include <map>
#include <memory>
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

// The flags every depotd of the run gets.
std::vector<std::string> depotd_flags(const options& o) {
  uint64_t largest = std::max(o.size_mib, o.big_mib) * mib;
  std::vector<std::string> f{
      "--chunk-max",     std::to_string(o.chunk_max),
      "--window",        std::to_string(o.window),
      "--memory-budget", std::to_string(o.memory_budget),
      "--max-file-size", std::to_string(std::max(largest, uint64_t{4} << 30)),
      "--log-level",     o.log_level};
  if (o.rados)
    f.insert(f.end(), {"--store", "rados", "--rados-pool", o.rados_pool,
                       "--ceph-conf", o.ceph_conf, "--ceph-id", o.ceph_id,
                       "--rados-namespace", o.rados_ns});
  if (o.keys) {
    auto curve = o.keys->flags();
    f.insert(f.end(), curve.begin(), curve.end());
  }
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
  if (o.keys) d.client_setup = o.keys->as("bench");
  return d;
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

// The CPU of the processes a figure is about (the depotd processes, or
// this one under a RADOS ceiling) and of the OSD (--osd-pid), from
// construction on.
struct meters {
  meters(std::vector<pid_t> pids, const options& o) : own(std::move(pids)) {
    if (o.osd_pid > 0)
      osd = std::make_unique<cpu_meter>(static_cast<pid_t>(o.osd_pid));
  }
  cpu_meter own;
  // Not std::optional: GCC 12 under ASan takes its vector for uninitialized
  // (-Wmaybe-uninitialized).
  std::unique_ptr<cpu_meter> osd;
};

// `m` with what the metered processes and the hypervisor did meanwhile.
measure metered(measure m, const meters& cpu) {
  auto r = cpu.own.finish();
  m.server_cpu_seconds = r.process_seconds;
  m.steal_fraction = r.steal_fraction;
  if (cpu.osd) m.osd_cpu_seconds = cpu.osd->finish().process_seconds;
  return m;
}

}  // namespace

// The 1, 5 and 15 minute load averages: other work on the machine skews
// every figure, so the table says how busy it was.
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

void progress(const std::string& text) {
  std::cerr << "[bench] " << text << std::endl;
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
            << (o.rados ? "store        RADOS pool " + o.rados_pool +
                              " namespace " + o.rados_ns + " (" + o.ceph_conf +
                              ")\n"
                        : "")
            << (o.curve ? "transport    CURVE (every client with an "
                          "admitted key; ceilings without)\n"
                        : "")
            << (o.servers > 1 ? "servers      " + std::to_string(o.servers) +
                                    " depotd on the one store\n"
                              : "")
            << "sizes        large " << o.size_mib << " MiB, RSS test "
            << o.big_mib << " MiB, " << o.small_count
            << " x 4 KiB per small test, " << o.clients << " clients, cap "
            << o.cap_s << " s per small test\n"
            << "depot        chunk_max " << o.chunk_max << ", window "
            << o.window << ", memory budget "
            << mib_text(static_cast<double>(o.memory_budget)) << "\n"
            << "load average " << load_average() << " (at the start)\n";
}

namespace {

// The RADOS ceilings, in the run's namespace before any depotd uses it;
// their objects are removed again before depot is measured.
void measure_rados_ceilings(const options& o,
                            const std::vector<std::byte>& block, figures& f) {
  const uint64_t bytes = o.size_mib * mib;
  constexpr size_t stripe = 4 * mib;  // depotd's --rados-stripe default
  constexpr unsigned writes = 2;      // its writes in flight per upload
  rados_target rados(o.ceph_conf, o.ceph_id, o.rados_pool, o.rados_ns);
  progress("RADOS ceiling: " + mib_text(bytes) + " as 4 MiB objects, " +
           std::to_string(writes) + " writes in flight...");
  const std::vector<pid_t> self{::getpid()};
  {
    meters cpu(self, o);
    f.rados_write =
        metered(rados.write_bulk(block, bytes, stripe, writes), cpu);
  }
  progress("RADOS ceiling: reading it back, " +
           mib_text(static_cast<double>(o.chunk_max)) + " reads, " +
           std::to_string(o.window) + " in flight, " +
           std::to_string(short_runs) + " times...");
  f.rados_read = median_run([&] {
    meters cpu(self, o);
    return metered(rados.read_bulk(bytes, stripe, o.chunk_max,
                                   static_cast<unsigned>(o.window)),
                   cpu);
  });
  const auto clients = static_cast<unsigned>(o.clients);
  progress("RADOS ceiling: 4 KiB write_full, " + std::to_string(clients) +
           " in flight...");
  {
    meters cpu(self, o);
    f.rados_small_write =
        metered(rados.write_small(clients, o.small_count, o.cap_s), cpu);
  }
  progress("RADOS ceiling: 4 KiB reads, " + std::to_string(clients) +
           " in flight...");
  {
    meters cpu(self, o);
    f.rados_small_read =
        metered(rados.read_small(clients, o.small_count, o.cap_s), cpu);
  }
  progress("RADOS ceilings: removed " + grouped(rados.remove_all()) +
           " objects");
}

}  // namespace

void clean_rados(const options& o) {
  if (!o.rados) return;
  try {
    rados_target rados(o.ceph_conf, o.ceph_id, o.rados_pool, o.rados_ns);
    progress("removed " + grouped(rados.remove_all()) +
             " objects from namespace " + o.rados_ns);
  } catch (const std::exception& e) {
    progress("cleaning namespace " + o.rados_ns + " failed: " + e.what());
  }
}

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
  if (o.rados) {
    measure_rados_ceilings(o, block, f);
    return;
  }
  progress("sequential write + fsync of " + mib_text(bytes) + "...");
  f.write = write_fsync(dir, block, bytes, o.chunk_max);
  progress("4 KiB files with fsync, 1 thread...");
  f.fsync1 = small_file_fsync(dir, 1, fsync_count, 10);
  progress("4 KiB files with fsync, " + std::to_string(o.clients) +
           " threads...");
  f.fsync16 = small_file_fsync(dir, o.clients, fsync_count * 4, 10);
}

void measure_depot(const options& o, const std::string& dir, figures& f,
                   std::vector<std::string>& logs) {
  const std::string root = dir + "/root";
  {
    // --servers: every depotd on the one store; the large tests use the
    // first, the small tests' clients go to each in turn.
    std::vector<std::unique_ptr<test::depotd_process>> servers;
    std::vector<std::string> endpoints;
    std::vector<pid_t> pids;
    for (int i = 0; i < o.servers; ++i) {
      logs.push_back(dir + "/depotd" +
                     (i == 0 ? "" : "-" + std::to_string(i + 1)) + ".log");
      servers.push_back(std::make_unique<test::depotd_process>(
          depotd_setup(o, root, logs.back())));
      endpoints.push_back(servers.back()->endpoint());
      pids.push_back(servers.back()->pid());
      progress("depotd pid " + std::to_string(pids.back()) + " on " +
               endpoints.back());
    }
    test::depotd_process& depotd = *servers.front();
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
        meters cpu(pids, o);
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
            meters cpu(pids, o);
            return metered(download_big({depotd.endpoint()}, up.id, bytes,
                                        o.chunk_max, o.window),
                           cpu);
          });
          if (perf) perf->stop();
        });
        if (servers.size() > 1)
          attempt(f, "download_spread", [&] {
            progress("depot download of " +
                     mib_text(static_cast<double>(bytes)) + " from " +
                     std::to_string(servers.size()) + " depotd, " +
                     std::to_string(short_runs) + " times...");
            f.download_spread = median_run([&] {
              meters cpu(pids, o);
              return metered(
                  download_big(endpoints, up.id, bytes, o.chunk_max, o.window),
                  cpu);
            });
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
        meters cpu(pids, o);
        small = upload_small(endpoints, o.clients, o.small_count, o.cap_s,
                             "application/octet-stream");
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
        meters cpu(pids, o);
        auto detect =
            upload_small(endpoints, o.clients, n, o.cap_s, std::nullopt);
        f.small_up_detect = metered(detect.time, cpu);
      });
      // Every upload of the last 60 s still answers retries (docs/protocol.md).
      uint64_t rss = 0;
      for (pid_t pid : pids) rss += proc_status_bytes(pid, "VmRSS:");
      f.small_rss = rss;
      attempt(f, "small_down", [&] {
        progress("depot 4 KiB downloads, " + std::to_string(o.clients) +
                 " clients...");
        meters cpu(pids, o);
        f.small_down = metered(download_small(endpoints, o.clients, small.ids,
                                              o.small_count, o.cap_s),
                               cpu);
      });
    }
    for (auto& server : servers) {
      std::string stop = test::exit_text(server->stop());
      if (stop != "exit 0") {
        f.upload_stop = stop;
        f.warnings.push_back("depotd's log (end):\n" + server->log_tail(1500));
      } else if (f.upload_stop.empty()) {
        f.upload_stop = stop;
      }
      progress("depotd stopped: " + stop);
    }
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

}  // namespace depot::bench
