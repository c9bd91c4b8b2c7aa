#include "bench/ceilings.hpp"
#include "bench/depot_load.hpp"
#include "bench/phases.hpp"
#include "bench/process_stats.hpp"
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

std::string met(bool ok) { return ok ? "yes" : "NO"; }

// A row's ceiling cell, `text`, and its ratio cell, `rate` / `ceiling`:
// empty when the ceiling was not measured (skipped or failed).
std::string ceiling_cell(double ceiling, const std::string& text) {
  return ceiling > 0 ? text : "";
}
std::string ratio_cell(double rate, double ceiling) {
  return ceiling > 0 ? ratio_text(rate / ceiling) : "";
}

// The ceiling a figure `key` was held against, and which one it was, for
// scripts (bench/rados_compare.sh) that print ratios of several runs.
void ceiling_keys(summary& sum, const std::string& key, double ceiling,
                  const std::string& which) {
  if (ceiling <= 0) return;
  sum[key + "_ceiling"] = std::to_string(ceiling);
  std::string name = which;
  std::replace(name.begin(), name.end(), ' ', '_');
  sum[key + "_ceiling_is"] = name;
}

}  // namespace

void print_table(const options& o, const figures& f, summary& sum) {
  table t;
  auto bps = [](const std::optional<measure>& m) {
    return m ? m->rate() : 0.0;
  };

  // What the operation cost depotd (or, under a ceiling, this process:
  // the librados client) in CPU, with the OSD's (--osd-pid), and how much
  // the host took.
  auto cost_row = [&](const measure& m, const std::string& key, double units,
                      const char* per, double scale, const char* unit,
                      const char* who = "depotd") {
    if (m.server_cpu_seconds <= 0 || units <= 0) return;
    double cost = m.server_cpu_seconds / units * scale;
    char text[96];
    std::snprintf(text, sizeof text, "%.*f %s per %s", cost < 10 ? 2 : 0, cost,
                  unit, per);
    std::string figure = text;
    if (m.osd_cpu_seconds > 0) {
      double osd = m.osd_cpu_seconds / units * scale;
      std::snprintf(text, sizeof text, ", OSD %.*f", osd < 10 ? 2 : 0, osd);
      figure += text;
      sum[key + "_osd_cpu_per_unit"] = std::to_string(osd);
    }
    char steal[96];
    std::snprintf(
        steal, sizeof steal, "  %s CPU%s (host steal meanwhile %.0f%%)", who,
        m.osd_cpu_seconds > 0 ? ", OSD's" : "", 100 * m.steal_fraction);
    t.add({steal, figure, "", "", "", ""});
    sum[key + "_server_cpu_seconds"] = std::to_string(m.server_cpu_seconds);
    sum[key + "_steal_fraction"] = std::to_string(m.steal_fraction);
    sum[key + "_cpu_per_unit"] = std::to_string(cost);  // s/GB or us/file
  };

  t.section(o.rados ? "ceilings (this machine and the RADOS cluster, without "
                      "depot)"
                    : "ceilings (this machine, without depot)");
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

  if (f.rados_write) {
    t.add({"RADOS write_full, " + mib_text(f.rados_write->count) +
               " as 4 MiB objects, 2 in flight",
           gb_per_s(f.rados_write->rate()), "", "", "", ""});
    sum["rados_write_bytes_per_s"] = std::to_string(f.rados_write->rate());
    cost_row(*f.rados_write, "rados_write", f.rados_write->count / 1e9, "GB", 1,
             "s", "librados client");
  }
  if (f.rados_read) {
    t.add({"RADOS read of it, " + mib_text(static_cast<double>(o.chunk_max)) +
               " reads, " + std::to_string(o.window) +
               " in flight, median of " + std::to_string(short_runs),
           gb_per_s(f.rados_read->rate()), "", "", "", ""});
    sum["rados_read_bytes_per_s"] = std::to_string(f.rados_read->rate());
    cost_row(*f.rados_read, "rados_read", f.rados_read->count / 1e9, "GB", 1,
             "s", "librados client");
  }
  if (f.rados_small_write) {
    t.add({"RADOS write_full 4 KiB objects, " + std::to_string(o.clients) +
               " in flight (" + grouped(f.rados_small_write->count) + ")",
           per_s(f.rados_small_write->rate()), "", "", "", ""});
    sum["rados_small_write_per_s"] =
        std::to_string(f.rados_small_write->rate());
    cost_row(*f.rados_small_write, "rados_small_write",
             f.rados_small_write->count, "object", 1e6, "us",
             "librados client");
  }
  if (f.rados_small_read) {
    t.add({"RADOS read 4 KiB objects, " + std::to_string(o.clients) +
               " in flight (" + grouped(f.rados_small_read->count) + ")",
           per_s(f.rados_small_read->rate()), "", "", "", ""});
    sum["rados_small_read_per_s"] = std::to_string(f.rados_small_read->rate());
    cost_row(*f.rados_small_read, "rados_small_read", f.rados_small_read->count,
             "object", 1e6, "us", "librados client");
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
    consider(f.rados_write, "rados write");
    double rate = f.upload->rate();
    t.add({"upload " + mib_text(f.upload->count) + ", durable", gb_per_s(rate),
           ceiling_cell(ceiling, gb_per_s(ceiling) + " (" + which + ")"),
           ratio_cell(rate, ceiling), ">= 1.00 GB/s", met(rate >= 1e9)});
    sum["upload_bytes_per_s"] = std::to_string(rate);
    ceiling_keys(sum, "upload_bytes_per_s", ceiling, which);
    sum["upload_seconds"] = std::to_string(f.upload->seconds);
    cost_row(*f.upload, "upload", f.upload->count / 1e9, "GB", 1, "s");
  }
  // Downloads: the transport, or RADOS's reads if slower.
  double down_ceiling = bps(f.transport);
  std::string down_which = "transport";
  if (f.rados_read && (down_ceiling == 0 || bps(f.rados_read) < down_ceiling)) {
    down_ceiling = bps(f.rados_read);
    down_which = "rados read";
  }
  if (f.download) {
    double rate = f.download->rate();
    double ceiling = down_ceiling;
    t.add({"download " + mib_text(f.download->count) + ", " +
               std::to_string(o.window) + " in flight, median of " +
               std::to_string(short_runs),
           gb_per_s(rate),
           ceiling_cell(ceiling, gb_per_s(ceiling) + " (" + down_which + ")"),
           ratio_cell(rate, ceiling), ">= 2.00 GB/s", met(rate >= 2e9)});
    sum["download_bytes_per_s"] = std::to_string(rate);
    ceiling_keys(sum, "download_bytes_per_s", ceiling, down_which);
    sum["download_seconds"] = std::to_string(f.download->seconds);
    cost_row(*f.download, "download", f.download->count / 1e9, "GB", 1, "s");
  }
  if (f.download_spread) {
    const auto& m = *f.download_spread;
    t.add({"  same, requests spread over " + std::to_string(o.servers) +
               " depotd",
           gb_per_s(m.rate()),
           ceiling_cell(down_ceiling,
                        gb_per_s(down_ceiling) + " (" + down_which + ")"),
           ratio_cell(m.rate(), down_ceiling), "", ""});
    sum["download_spread_bytes_per_s"] = std::to_string(m.rate());
    cost_row(m, "download_spread", m.count / 1e9, "GB", 1, "s");
  }
  if (f.small_up) {
    double rate = f.small_up->rate();
    double ceiling = bps(f.fsync1);
    std::string which = "fsync/file";
    if (f.rados_small_write) {
      ceiling = bps(f.rados_small_write);
      which = "rados 4 KiB write";
    }
    t.add({"4 KiB uploads, " + std::to_string(o.clients) + " clients (" +
               grouped(f.small_up->count) + " files)",
           per_s(rate),
           ceiling_cell(ceiling, per_s(ceiling) + " (" + which + ")"),
           ratio_cell(rate, ceiling), ">= 5,000/s", met(rate >= 5000)});
    sum["small_upload_per_s"] = std::to_string(rate);
    ceiling_keys(sum, "small_upload_per_s", ceiling, which);
    cost_row(*f.small_up, "small_upload", f.small_up->count, "file", 1e6, "us");
    if (f.small_up_before_busy) {
      const auto& b = *f.small_up_before_busy;
      t.add({"  until the first busy (" + grouped(b.count) + " files)",
             per_s(b.rate()), "", ratio_cell(b.rate(), ceiling), "", ""});
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
    t.add({std::string("  depotd VmRSS") +
               (o.servers > 1 ? " (sum of " + std::to_string(o.servers) + ")"
                              : "") +
               " right after them (each finished upload answers retries for 60 "
               "s)",
           mib_text(static_cast<double>(*f.small_rss)), "", "", "", ""});
    sum["small_upload_rss_bytes"] = std::to_string(*f.small_rss);
  }
  if (f.small_down) {
    double rate = f.small_down->rate();
    double ceiling = bps(f.tiny);
    std::string which = "tiny req/rep";
    if (f.rados_small_read &&
        (ceiling == 0 || bps(f.rados_small_read) < ceiling)) {
      ceiling = bps(f.rados_small_read);
      which = "rados 4 KiB read";
    }
    t.add({"4 KiB downloads, " + std::to_string(o.clients) + " clients (" +
               grouped(f.small_down->count) + ")",
           per_s(rate),
           ceiling_cell(ceiling, per_s(ceiling) + " (" + which + ")"),
           ratio_cell(rate, ceiling), ">= 25,000/s", met(rate >= 25000)});
    sum["small_download_per_s"] = std::to_string(rate);
    ceiling_keys(sum, "small_download_per_s", ceiling, which);
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

}  // namespace depot::bench
