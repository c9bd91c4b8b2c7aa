// depotd --metrics: /metrics after known operations (exact counts, and the
// whole text through Prometheus' own parser), /healthz, /readyz during
// recovery, while serving and during shutdown, and bad --metrics values.

#include "testkit/child_process.hpp"
#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/temp_dir.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <httplib.h>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <vector>

namespace depot::test {
namespace {

namespace fs = std::filesystem;

// The port of "metrics on http://127.0.0.1:PORT" in a depotd log, or 0.
int metrics_port(const std::string& log) {
  const std::string line = "metrics on http://127.0.0.1:";
  size_t at = log.find(line);
  if (at == std::string::npos) return 0;
  return std::atoi(log.c_str() + at + line.size());
}

// GET `path`: status and body; status 0 when nothing answered.
std::pair<int, std::string> get(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2, 0);
  c.set_read_timeout(5, 0);
  auto r = c.Get(path.c_str());
  if (!r) return {0, ""};
  return {r->status, r->body};
}

// Every sample of a scrape: "name{labels}" as written → value.
using samples = std::map<std::string, double>;

samples parse(const std::string& text) {
  samples out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
  }
  return out;
}

// The difference of one sample between two scrapes (absent counts as 0).
double delta(const samples& before, const samples& after,
             const std::string& key) {
  auto at = [&key](const samples& s) {
    auto i = s.find(key);
    return i == s.end() ? 0.0 : i->second;
  };
  return at(after) - at(before);
}

std::string requests(const std::string& op, const std::string& code) {
  return "depot_requests_total{op=\"" + op + "\",code=\"" + code + "\"}";
}

// Runs Debian's prometheus_client parser (strict about the format) over
// `text`; its output, and whether it accepted everything.
std::pair<bool, std::string> python_parse(const temp_dir& dir,
                                          const std::string& text) {
  std::string in = dir / "scrape.txt", out = dir / "parsed.txt";
  std::ofstream(in) << text;
  std::string cmd =
      "/usr/bin/python3 -c 'import sys\n"
      "from prometheus_client.parser import text_string_to_metric_families\n"
      "n = 0\n"
      "for f in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
      "    n += len(f.samples)\n"
      "print(\"samples\", n)' " +
      in + " > " + out + " 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream o(out);
  std::string got((std::istreambuf_iterator<char>(o)), {});
  return {rc == 0, got};
}

TEST(Metrics, CountsKnownOperationsExactlyAndParsesAsPrometheusText) {
  test_depotd d({"--metrics", "127.0.0.1:0", "--max-uploads-per-client", "1"});
  int port = metrics_port(d.log());
  ASSERT_NE(port, 0) << d.log();
  EXPECT_EQ(get(port, "/healthz"), std::make_pair(200, std::string{"ok\n"}));
  EXPECT_EQ(get(port, "/readyz"), std::make_pair(200, std::string{"ok\n"}));

  auto [status0, text0] = get(port, "/metrics");
  ASSERT_EQ(status0, 200);
  samples before = parse(text0);

  wire_client c(d.endpoint());
  std::string a = random_bytes(5000, 1), b = random_bytes(7000, 2);
  auto fa = store_content(c, a);
  auto fb = store_content(c, b);
  auto fa2 = store_content(c, a);  // the same content: a dedup
  EXPECT_EQ(fa2.id, fa.id);
  auto dl = c.call(schema::download_request{fb.id, 100, 1000});
  ASSERT_EQ(code(dl), "ok") << describe(dl);
  EXPECT_EQ(code(stat_of(c, "AAAAAAAAAAAA")), "not_found");
  EXPECT_EQ(code(c.call(schema::delete_request{fb.id})), "ok");
  // One upload in progress; a second from the same client is refused busy
  // (--max-uploads-per-client 1).
  schema::upload_request open;
  open.name = "held.bin";
  auto held = c.call(open);
  ASSERT_EQ(code(held), "ok") << describe(held);
  EXPECT_EQ(code(c.call(open)), "busy");
  auto [status1, text1] = get(port, "/metrics");
  ASSERT_EQ(status1, 200);
  samples mid = parse(text1);
  EXPECT_EQ(mid["depot_uploads_in_progress"], 1);
  EXPECT_GT(mid["depot_upload_memory_reserved_bytes"], 0);
  EXPECT_GE(mid["depot_upload_memory_budget_bytes"],
            mid["depot_upload_memory_reserved_bytes"]);
  EXPECT_GE(mid["depot_connections"], 1);
  auto token = std::get<schema::upload_reply>(held.body).upload;
  EXPECT_EQ(code(c.call(schema::abort_request{token})), "ok");
  // Undecodable: answered by the transport, op "invalid".
  c.send_frames({std::string{"\xc1"}});
  auto bad = c.receive_frames();
  ASSERT_FALSE(bad.empty());

  // The assembler gives the reservation back as it goes: wait for it.
  samples after;
  for (int i = 0; i < 100; ++i) {
    auto [st, text] = get(port, "/metrics");
    ASSERT_EQ(st, 200);
    after = parse(text);
    if (after["depot_upload_memory_reserved_bytes"] == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(delta(before, after, requests("upload", "ok")), 4);
  EXPECT_EQ(delta(before, after, requests("upload", "busy")), 1);
  EXPECT_EQ(delta(before, after, requests("chunk", "ok")), 3);
  EXPECT_EQ(delta(before, after, requests("download", "ok")), 1);
  EXPECT_EQ(delta(before, after, requests("stat", "not_found")), 1);
  EXPECT_EQ(delta(before, after, requests("delete", "ok")), 1);
  EXPECT_EQ(delta(before, after, requests("abort", "ok")), 1);
  EXPECT_EQ(delta(before, after, requests("invalid", "bad_request")), 1);
  EXPECT_EQ(delta(before, after, requests("ping", "ok")), 0);
  EXPECT_EQ(delta(before, after,
                  "depot_request_duration_seconds_count{op=\"upload\"}"),
            5);
  EXPECT_EQ(delta(before, after,
                  "depot_request_duration_seconds_bucket{op=\"upload\","
                  "le=\"+Inf\"}"),
            5);
  EXPECT_EQ(delta(before, after, "depot_dedup_hits_total"), 1);
  EXPECT_EQ(delta(before, after, "depot_naming_collisions_total"), 0);
  EXPECT_EQ(delta(before, after, "depot_busy_total{cause=\"client_uploads\"}"),
            1);
  EXPECT_EQ(delta(before, after, "depot_busy_total{cause=\"memory_budget\"}"),
            0);
  EXPECT_EQ(delta(before, after, "depot_commit_batch_files_sum"), 3);
  EXPECT_GE(delta(before, after, "depot_commit_batch_files_count"), 1);
  EXPECT_LE(delta(before, after, "depot_commit_batch_files_count"), 3);
  EXPECT_EQ(delta(before, after, "depot_storage_errors_total{op=\"commit\"}"),
            0);
  // Chunks carry 12,000 + 5,000 payload bytes; the range 1,000 back.
  EXPECT_GT(delta(before, after, "depot_received_bytes_total"), 17000);
  EXPECT_GT(delta(before, after, "depot_sent_bytes_total"), 1000);
  EXPECT_EQ(after["depot_uploads_in_progress"], 0);
  EXPECT_EQ(after["depot_upload_memory_reserved_bytes"], 0);
  EXPECT_EQ(after["depot_downloads_in_flight"], 0);
  EXPECT_EQ(after["depot_upload_records"], 3) << "three finished uploads";
  EXPECT_GT(after["process_resident_memory_bytes"], 1e6);
  EXPECT_GT(after["process_open_fds"], 3);
  double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(after["process_start_time_seconds"], now + 1);
  EXPECT_GT(after["process_start_time_seconds"], now - 120);

  temp_dir dir;
  auto [status2, text2] = get(port, "/metrics");
  auto [ok, out] = python_parse(dir, text2);
  EXPECT_TRUE(ok) << out;
  EXPECT_EQ(out, "samples " + std::to_string(parse(text2).size()) + "\n");
}

TEST(Metrics, AreOffByDefault) {
  test_depotd d;
  EXPECT_EQ(metrics_port(d.log()), 0);
  EXPECT_EQ(d.log().find("metrics on"), std::string::npos);
}

// Runs depotd with `flags` to its exit (it must not start): exit code, log.
std::pair<int, std::string> run_to_exit(const std::vector<std::string>& flags) {
  temp_dir dir;
  std::vector<std::string> argv = {depotd_binary(), "--root", dir / "root",
                                   "--listen", "tcp://127.0.0.1:0"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  spawn_options so;
  so.log = dir / "log";
  so.in = "/dev/null";
  pid_t pid = spawn_child(argv, so);
  if (pid < 0) return {-1, "cannot start depotd"};
  auto rc = wait_for_exit(pid, std::chrono::seconds(20));
  if (!rc) {
    kill_child(pid);
    return {-2, "still running"};
  }
  std::ifstream in(dir / "log");
  return {*rc, std::string((std::istreambuf_iterator<char>(in)), {})};
}

TEST(Metrics, BadAddressesAreRefusedAtStartWithAMessage) {
  for (const char* bad : {"9570", "127.0.0.1", "127.0.0.1:99999",
                          "300.0.0.1:9570", "metrics.example:9570"}) {
    auto [rc, log] = run_to_exit({"--metrics", bad});
    EXPECT_EQ(rc, 2) << bad << "\n" << log;
    EXPECT_NE(log.find("--metrics"), std::string::npos) << log;
  }
}

TEST(Metrics, APortInUseFailsTheStart) {
  test_depotd first({"--metrics", "127.0.0.1:0"});
  int port = metrics_port(first.log());
  ASSERT_NE(port, 0);
  auto [rc, log] =
      run_to_exit({"--metrics", "127.0.0.1:" + std::to_string(port)});
  EXPECT_EQ(rc, 1) << log;
  EXPECT_NE(log.find("--metrics: cannot bind 127.0.0.1:" +
                     std::to_string(port) + ": Address already in use"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("serving on"), std::string::npos) << log;
}

bool have_strace() {
  return std::system(
             "strace -V >/dev/null 2>&1 && setpriv --help "
             ">/dev/null 2>&1") == 0;
}

// A script that runs depotd under strace with every call of `syscall`
// (on `path` only, if given: a directory matches *at calls made in it)
// delayed by `delay_us`. depotd gets SIGKILL when strace ends (setpriv's
// parent-death signal: this strace has no --kill-on-exit), so that killing
// the process the kit started leaves no depotd behind.
std::string delayed(const temp_dir& dir, const std::string& syscall,
                    const std::string& path, int delay_us) {
  std::string script = dir / ("delay-" + syscall);
  std::ofstream out{script};
  out << "#!/bin/sh\nexec strace -f -qq -o /dev/null";
  if (!path.empty()) out << " -P '" << path << "'";
  out << " -e trace=" << syscall << " -e inject=" << syscall
      << ":delay_enter=" << delay_us << " setpriv --pdeathsig KILL '"
      << depotd_binary() << "' \"$@\"\n";
  out.close();
  fs::permissions(script, fs::perms::owner_all);
  return script;
}

// Recovery is real work here (a killed depotd left an upload in
// progress); strace makes it slow to watch: each flock, which recovery
// takes on every instance directory it finds, waits 0.4 s.
TEST(Readyz, SaysRecoveringUntilTheStoreIsOpenThenOk) {
  DEPOT_POSIX_STORE_ONLY();
  if (!have_strace()) GTEST_SKIP() << "no strace";
  temp_dir root, scripts;
  {
    depotd_options o;
    o.root = root.path();
    test_depotd crashed(o);
    wire_client c(crashed.endpoint());
    schema::upload_request u;
    u.name = "left.bin";
    auto r = c.call(u);
    ASSERT_EQ(code(r), "ok");
    schema::chunk_request ch;
    ch.upload = std::get<schema::upload_reply>(r.body).upload;
    ch.seq = 0;
    std::string bytes = random_bytes(100000, 3);
    ch.data = schema::buffer::copy_of(bytes);
    ASSERT_EQ(code(c.call(ch)), "ok");
  }  // SIGKILL: its instance directory stays for the next start to recover
  depotd_options o;
  o.root = root.path();
  o.log = scripts / "depotd.log";
  o.flags = {"--metrics", "127.0.0.1:0"};
  o.binary = delayed(scripts, "flock", "", 400000);
  o.ready_limit = std::chrono::seconds(30);
  std::vector<std::pair<int, std::string>> seen;
  o.interrupted = [&] {
    std::ifstream in(scripts / "depotd.log");
    std::string log((std::istreambuf_iterator<char>(in)), {});
    if (int port = metrics_port(log)) {
      auto r = get(port, "/readyz");
      if (seen.empty() || seen.back() != r) seen.push_back(r);
    }
    return false;
  };
  test_depotd d(o);
  ASSERT_FALSE(seen.empty());
  EXPECT_NE(std::find(seen.begin(), seen.end(),
                      std::make_pair(503, std::string{"recovering\n"})),
            seen.end());
  EXPECT_NE(seen.front().first, 200);
  int port = metrics_port(d.log());
  EXPECT_EQ(get(port, "/readyz"), std::make_pair(200, std::string{"ok\n"}));
  EXPECT_NE(d.log().find("recovered dead instance"), std::string::npos)
      << d.log();
}

// The clean stop's last step (removing its instance directory from
// ROOT/.staging) is slowed down: between SIGTERM and the exit /readyz says
// so while /healthz still answers.
TEST(Readyz, SaysShuttingDownFromSigtermToTheExit) {
  DEPOT_POSIX_STORE_ONLY();
  if (!have_strace()) GTEST_SKIP() << "no strace";
  temp_dir root, scripts;
  fs::create_directories(root / ".staging");
  depotd_options o;
  o.root = root.path();
  o.flags = {"--metrics", "127.0.0.1:0"};
  o.binary = delayed(scripts, "unlinkat", root / ".staging", 1500000);
  test_depotd d(o);
  int port = metrics_port(d.log());
  ASSERT_NE(port, 0);
  ASSERT_EQ(get(port, "/readyz").first, 200);
  // d.pid() is strace's; depotd is its child.
  std::ifstream children("/proc/" + std::to_string(d.pid()) + "/task/" +
                         std::to_string(d.pid()) + "/children");
  pid_t depotd = 0;
  ASSERT_TRUE(children >> depotd);
  ASSERT_EQ(::kill(depotd, SIGTERM), 0);
  std::pair<int, std::string> r;
  for (int i = 0; i < 200; ++i) {
    r = get(port, "/readyz");
    if (r.first != 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(r, std::make_pair(503, std::string{"shutting down\n"}));
  EXPECT_EQ(get(port, "/healthz").first, 200);
  for (int i = 0; i < 1000 && get(port, "/healthz").first == 200; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_NE(d.log().find("depotd stopped"), std::string::npos) << d.log();
}

}  // namespace
}  // namespace depot::test
