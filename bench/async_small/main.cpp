// depot_async_bench: 4 KiB uploads and downloads through the asynchronous
// client library (client/async.hpp) beside the same workloads spoken over
// raw ZeroMQ by depot_bench's wire client (bench/depot_load.hpp), against
// one depotd it starts, in rounds that alternate which goes first. Prints
// each round's rates, the medians and library/raw ratios. A benchmark, not
// a test. See bench/README.md.

#include "bench/depot_load.hpp"
#include "bench/process_stats.hpp"
#include "bench/wire.hpp"
#include "client/async.hpp"
#include "testkit/content.hpp"
#include "testkit/depotd_process.hpp"
#include "testkit/temp_dir.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <malloc.h>
#include <memory>
#include <signal.h>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

namespace depot::bench {
namespace {

namespace dc = depot::client;

constexpr size_t small_bytes = 4096;

void on_signal(int) { stop_requested = true; }

// `count` 4 KiB uploads (size and mime declared, no sha256, as the raw
// client does) with `in_flight` at a time spread over `conns`; each gets
// distinct content, handed over as shared_bytes (one 4 KiB allocation per
// upload, as a caller that received the bytes from elsewhere has).
struct library_uploads {
  small_outcome out;
  std::vector<dc::file_meta> files;  // the stored files' metadata
};

library_uploads library_upload(
    std::vector<std::unique_ptr<dc::async_connection>>& conns, int in_flight,
    uint64_t count) {
  library_uploads all;
  small_outcome& out = all.out;
  test::rng r;
  const uint64_t nonce = r.next();
  const std::vector<std::byte> base = test::random_block(small_bytes, r);
  out.ids.reserve(count);
  uint64_t started = 0, finished = 0;
  std::string failure;
  std::vector<std::shared_ptr<dc::upload_stream>> live(
      static_cast<size_t>(in_flight));
  std::function<void(size_t)> start = [&](size_t slot) {
    if (started >= count || !failure.empty()) return;
    const uint64_t n = started++;
    dc::upload_spec spec{"small-" + std::to_string(n) + ".bin", small_bytes,
                         std::nullopt, "application/octet-stream"};
    dc::upload_handlers h;
    auto* up_slot = &live[slot];
    h.on_writable = [up_slot, &base, nonce, n] {
      auto& up = **up_slot;
      if (up.held_bytes() > 0 || up.acknowledged() > 0) return;
      std::vector<std::byte> bytes(base);
      test::stamp(bytes.data(), nonce, n);
      up.write(dc::shared_bytes::from(std::move(bytes)));
      up.finish();
    };
    h.on_done = [&, slot](dc::result<dc::upload_result> res) {
      ++finished;
      if (!res) {
        if (failure.empty()) failure = dc::to_string(res.error());
        return;
      }
      out.ids.push_back(res->file.id);
      all.files.push_back(res->file);
      if (res->dedup) ++out.dedups;
      start(slot);
    };
    auto& conn = *conns[slot % conns.size()];
    live[slot] = conn.begin_upload(std::move(spec), std::move(h));
  };
  auto t0 = steady::now();
  for (size_t i = 0; i < live.size(); ++i) start(i);
  while (finished < started) {
    check_stop();
    for (auto& c : conns)
      c->run_once(std::chrono::milliseconds{conns.size() > 1 ? 0 : 100});
  }
  out.time = measure{static_cast<double>(finished), seconds_since(t0)};
  if (!failure.empty())
    throw std::runtime_error("library upload failed: " + failure);
  return all;
}

// `count` downloads of `files` in turn (whole files, verified by the
// library), `in_flight` at a time: by id (the range asked with `meta`) or,
// if `known`, from the metadata (the range alone).
measure library_download(
    std::vector<std::unique_ptr<dc::async_connection>>& conns, int in_flight,
    const std::vector<dc::file_meta>& files, bool known, uint64_t count) {
  uint64_t started = 0, finished = 0, bytes = 0;
  std::string failure;
  std::function<void(size_t)> start = [&](size_t slot) {
    if (started >= count || !failure.empty()) return;
    const dc::file_meta& f = files[started++ % files.size()];
    dc::download_handlers h;
    h.on_data = [&](uint64_t, dc::shared_bytes b) { bytes += b.size(); };
    h.on_done = [&, slot](dc::result<dc::file_meta> res) {
      ++finished;
      if (!res) {
        if (failure.empty()) failure = dc::to_string(res.error());
        return;
      }
      start(slot);
    };
    auto& conn = *conns[slot % conns.size()];
    if (known)
      (void)conn.download(f, std::move(h));
    else
      (void)conn.download(f.id, std::move(h));
  };
  auto t0 = steady::now();
  for (int i = 0; i < in_flight; ++i) start(static_cast<size_t>(i));
  while (finished < started) {
    check_stop();
    for (auto& c : conns)
      c->run_once(std::chrono::milliseconds{conns.size() > 1 ? 0 : 100});
  }
  measure m{static_cast<double>(finished), seconds_since(t0)};
  if (!failure.empty())
    throw std::runtime_error("library download failed: " + failure);
  if (bytes != finished * small_bytes)
    throw std::runtime_error("library download delivered " +
                             std::to_string(bytes) + " bytes");
  return m;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string rates(const std::vector<double>& v) {
  std::string s;
  for (double x : v) {
    char b[32];
    std::snprintf(b, sizeof b, "%s%.0f", s.empty() ? "" : " ", x);
    s += b;
  }
  return s;
}

int run(int argc, char** argv) {
  uint64_t count = 5000;
  int clients = 16, connections = 1, rounds = 5;
  std::string dir = "/tmp", depotd;
  CLI::App app{
      "depot_async_bench: 4 KiB uploads and downloads, async library vs raw "
      "wire"};
  app.add_option("--count", count, "files per test and round")
      ->capture_default_str();
  app.add_option("--clients", clients,
                 "transfers in flight (raw: DEALER sockets, one each)")
      ->capture_default_str();
  app.add_option("--connections", connections,
                 "async_connections the library's transfers are spread over")
      ->capture_default_str();
  app.add_option("--rounds", rounds, "rounds, alternating which goes first")
      ->capture_default_str();
  app.add_option("--dir", dir, "where depotd's temp root goes")
      ->capture_default_str();
  app.add_option("--depotd", depotd, "depotd binary (default: the one built)");
  CLI11_PARSE(app, argc, argv);
  if (count == 0 || clients < 1 || connections < 1 || rounds < 1) {
    std::cerr
        << "--count, --clients, --connections and --rounds must be positive\n";
    return 2;
  }

  // As the CLI and depot_bench do (STACK-NOTES.md: freed blocks faulting in
  // again cost ~13 us a page here).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  test::temp_dir tmp(dir, "depot-async-bench", false);
  test::depotd_options d;
  d.binary = depotd;
  d.root = tmp.path() + "/root";
  d.log = tmp.path() + "/depotd.log";
  d.death_signal = SIGTERM;
  test::depotd_process server(d);
  const std::vector<std::string> endpoints{server.endpoint()};

  std::vector<std::unique_ptr<dc::async_connection>> conns;
  for (int i = 0; i < connections; ++i) {
    dc::options o;
    o.endpoint = server.endpoint();
    o.timeout = std::chrono::seconds(30);
    auto c = dc::async_connection::open(o);
    if (!c) throw std::runtime_error(dc::to_string(c.error()));
    conns.push_back(std::move(*c));
  }

  std::cout << "depot_async_bench: " << count << " x 4 KiB per test and round, "
            << clients << " in flight (library: over " << connections
            << " async_connection" << (connections > 1 ? "s" : "")
            << "; raw: " << clients << " DEALER sockets), " << rounds
            << " rounds, depotd pid " << server.pid() << "\n";
  std::vector<double> raw_up, lib_up, raw_down, raw_meta_down, lib_down,
      known_down;
  // CPU microseconds per operation, of depotd and of this process (the
  // clients): steadier than the rates on a shared machine.
  struct cpu_costs {
    std::vector<double> server, client;
  };
  cpu_costs c_raw_up, c_lib_up, c_raw_down, c_raw_meta_down, c_lib_down,
      c_known_down;
  auto metered = [&](cpu_costs& into, auto&& work) {
    cpu_meter srv(server.pid()), self(::getpid());
    work();
    into.server.push_back(srv.finish().process_seconds * 1e6 /
                          static_cast<double>(count));
    into.client.push_back(self.finish().process_seconds * 1e6 /
                          static_cast<double>(count));
  };
  for (int r = 1; r <= rounds; ++r) {
    const bool raw_first = r % 2 == 1;
    library_uploads lu;
    auto raw_upload = [&] {
      metered(c_raw_up, [&] {
        raw_up.push_back(upload_small(endpoints, clients, count, 600,
                                      "application/octet-stream")
                             .time.rate());
      });
    };
    auto lib_upload = [&] {
      metered(c_lib_up, [&] {
        lu = library_upload(conns, clients, count);
        lib_up.push_back(lu.out.time.rate());
      });
    };
    if (raw_first)
      raw_upload(), lib_upload();
    else
      lib_upload(), raw_upload();
    // All four download the files the library just stored (in the page
    // cache for each alike). A download by id asks for the metadata with
    // its range, through either client; one whose metadata is known does
    // not.
    auto raw_download = [&] {
      metered(c_raw_down, [&] {
        raw_down.push_back(
            download_small(endpoints, clients, lu.out.ids, count, 600).rate());
      });
      metered(c_raw_meta_down, [&] {
        raw_meta_down.push_back(
            download_small(endpoints, clients, lu.out.ids, count, 600, true)
                .rate());
      });
    };
    auto lib_download = [&] {
      metered(c_lib_down, [&] {
        lib_down.push_back(
            library_download(conns, clients, lu.files, false, count).rate());
      });
      metered(c_known_down, [&] {
        known_down.push_back(
            library_download(conns, clients, lu.files, true, count).rate());
      });
    };
    if (raw_first)
      raw_download(), lib_download();
    else
      lib_download(), raw_download();
    std::cout << "round " << r << " (" << (raw_first ? "raw" : "library")
              << " first): uploads/s raw " << rates({raw_up.back()})
              << " library " << rates({lib_up.back()}) << "; downloads/s raw "
              << rates({raw_meta_down.back()}) << " library "
              << rates({lib_down.back()}) << " by id; raw "
              << rates({raw_down.back()}) << " library "
              << rates({known_down.back()}) << " metadata known\n"
              << std::flush;
  }
  auto row = [](const char* what, const std::vector<double>& raw,
                const std::vector<double>& lib) {
    std::printf("%-44s %-9.0f %-10.0f %.2f\n", what, median(raw), median(lib),
                median(lib) / median(raw));
  };
  std::printf("\n%-44s %-9s %-10s %s\n", "medians", "raw /s", "library /s",
              "library/raw");
  row("4 KiB uploads", raw_up, lib_up);
  row("4 KiB downloads by id (range + meta)", raw_meta_down, lib_down);
  row("4 KiB downloads, metadata known", raw_down, known_down);
  std::printf("rounds: uploads raw %s | library %s\n", rates(raw_up).c_str(),
              rates(lib_up).c_str());
  std::printf("        downloads by id raw %s | library %s\n",
              rates(raw_meta_down).c_str(), rates(lib_down).c_str());
  std::printf("        downloads, metadata known raw %s | library %s\n",
              rates(raw_down).c_str(), rates(known_down).c_str());
  auto cpu_row = [](const char* what, const cpu_costs& raw,
                    const cpu_costs& lib) {
    std::printf("%-44s %-9.1f %-10.1f %-9.1f %.1f\n", what, median(raw.server),
                median(lib.server), median(raw.client), median(lib.client));
  };
  std::printf("\n%-44s %-9s %-10s %-9s %s\n", "CPU us per operation, medians",
              "depotd", "depotd", "client", "client");
  std::printf("%-44s %-9s %-10s %-9s %s\n", "", "(raw)", "(library)", "(raw)",
              "(library)");
  cpu_row("4 KiB uploads", c_raw_up, c_lib_up);
  cpu_row("4 KiB downloads by id (range + meta)", c_raw_meta_down, c_lib_down);
  cpu_row("4 KiB downloads, metadata known", c_raw_down, c_known_down);
  std::printf(
      "raw: bench's wire client (no verification); library: "
      "client/async.hpp, SHA-256 verified\n"
      "by id: the range asked with meta (both clients); metadata known: the "
      "range alone\n");
  std::fflush(stdout);  // removing the store's files takes a while
  server.stop();
  return 0;
}

}  // namespace
}  // namespace depot::bench

int main(int argc, char** argv) {
  try {
    return depot::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "depot_async_bench: " << e.what() << "\n";
    return 1;
  }
}
