// docs/protocol.md section 3, the limits a hostile peer meets: connections
// past the fd limit, multipart messages that never end, frames that stall
// one byte short, and the warnings operators see. Each test records
// depotd's resident set before, during and after (printed to stdout).

#include "testkit/gtest_depotd.hpp"
#include "testkit/hostile_peer.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace depot::test {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

std::string ping_frame() {
  auto bufs =
      schema::encode_request(schema::request{1, schema::ping_request{}});
  return std::string(bufs.at(0).view());
}

// Sends `ping` and waits up to `limit` for its answer.
bool ping_within(wire_client& c, std::chrono::milliseconds limit) {
  uint64_t rid = c.send(schema::ping_request{});
  zmq::pollitem_t item{c.socket().handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, limit) <= 0) return false;
  as<schema::ping_reply>(c.receive(rid));
  return true;
}

// Another client pinging every 50 ms on its own thread, and a sampler of
// depotd's resident set every 10 ms, while a test attacks.
class observer {
 public:
  observer(const depotd_process& d) : pid_(d.pid()) {
    pinger_ = std::thread([this, ep = d.endpoint()] {
      wire_client c(ep);
      while (!stop_) {
        auto t0 = clock_type::now();
        if (!ping_within(c, 2s)) {
          ++missed_;
          return;
        }
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      clock_type::now() - t0)
                      .count();
        worst_ms_ = std::max<long>(worst_ms_, ms);
        ++answered_;
        std::this_thread::sleep_for(50ms);
      }
    });
    sampler_ = std::thread([this] {
      while (!stop_) {
        max_rss_ = std::max(max_rss_.load(), rss_kib(pid_));
        std::this_thread::sleep_for(10ms);
      }
    });
  }
  ~observer() { finish(); }
  void finish() {
    stop_ = true;
    if (pinger_.joinable()) pinger_.join();
    if (sampler_.joinable()) sampler_.join();
  }
  long max_rss_kib() const { return max_rss_; }
  int missed() const { return missed_; }
  int answered() const { return answered_; }
  long worst_ms() const { return worst_ms_; }

 private:
  pid_t pid_;
  std::atomic<bool> stop_{false};
  std::atomic<long> max_rss_{0};
  std::atomic<int> missed_{0}, answered_{0};
  std::atomic<long> worst_ms_{0};
  std::thread pinger_, sampler_;
};

// Waits up to `limit` for depotd's RSS to fall to `target_kib`; returns it.
long settle_rss(pid_t pid, long target_kib, std::chrono::milliseconds limit) {
  auto deadline = clock_type::now() + limit;
  long rss = rss_kib(pid);
  while (rss > target_kib && clock_type::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    rss = rss_kib(pid);
  }
  return rss;
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1))
    ++n;
  return n;
}

void record(const char* test, long before, long during, long after) {
  std::printf("[rss] %s: before %ld KiB, during max %ld KiB, after %ld KiB\n",
              test, before, during, after);
  std::fflush(stdout);
}

// Up to `count` peers that each send one ping and then stay idle. A peer
// whose handshake fails (depotd no longer accepts) counts in `refused`; with
// `stop_at_refusal` no more are tried after it.
std::vector<std::unique_ptr<hostile_peer>> idle_peers(
    const std::string& endpoint, int count, bool stop_at_refusal,
    int& refused) {
  const std::string ping = ping_frame();
  std::vector<std::unique_ptr<hostile_peer>> idle;
  for (int i = 0; i < count; ++i) {
    try {
      auto p = std::make_unique<hostile_peer>(endpoint, 500);
      p->send_frame(ping, false);
      idle.push_back(std::move(p));
    } catch (const std::exception&) {
      ++refused;
      if (stop_at_refusal) break;
    }
  }
  return idle;
}

TEST(PeerLimits, AnIdleFloodPastTheFdLimitLocksNoNewClientOutAndDoesNotSpin) {
  raise_own_nofile(2048);
  depotd_options cfg;
  cfg.nofile = 256;  // soft = hard: depotd cannot raise it; default cap 192
  test_depotd d(cfg);
  const long before = rss_kib(d.pid());
  int refused = 0;
  // On a refusal, go on at once: waiting for every refusal would outlast the
  // peers' heartbeat timeout (30 s).
  auto idle = idle_peers(d.endpoint(), 400, true, refused);
  // And clients that connect but have not spoken yet: with every fd in use
  // they wait in the listener's backlog, where libzmq's accept() fails with
  // EMFILE again and again.
  std::vector<std::unique_ptr<hostile_peer>> silent;
  for (int i = 0; i < 50; ++i) {
    try {
      silent.push_back(hostile_peer::connect_only(d.endpoint()));
    } catch (const std::exception&) {
      ++refused;  // the backlog is full
    }
  }
  std::this_thread::sleep_for(500ms);
  const long during = rss_kib(d.pid());

  // A new client is answered at once, and depotd idles meanwhile.
  auto c = d.client();
  EXPECT_TRUE(ping_within(*c, 2s)) << "a new client's ping was not answered";
  const long ticks0 = cpu_ticks(d.pid());
  std::this_thread::sleep_for(3s);
  const long ticks = cpu_ticks(d.pid()) - ticks0;
  const long per_second = ::sysconf(_SC_CLK_TCK);
  std::printf("[cpu] depotd over 3 s with %zu idle peers: %.2f s\n",
              idle.size(), static_cast<double>(ticks) / per_second);
  EXPECT_LT(ticks, 3 * per_second / 10) << "depotd spins (over 10% of a core)";
  EXPECT_TRUE(ping_within(*c, 2s))
      << "an existing client is no longer answered";
  EXPECT_EQ(refused, 0);
  int dropped = 0;
  for (auto& p : idle) dropped += p->closed_by_server() ? 1 : 0;
  EXPECT_GE(dropped, 400 - 192);
  EXPECT_EQ(count_of(d.log(), "--max-connections reached"), 1u)
      << "the drops are logged, one line per 10 s";
  idle.clear();
  silent.clear();
  const long after = settle_rss(d.pid(), before + 4096, 3s);
  record("400 idle peers, fd limit 256", before, during, after);
}

TEST(PeerLimits, TwoThousandIdleConnectionsAreServedAfterTheFdLimitIsRaised) {
  raise_own_nofile(4096);
  depotd_options cfg;
  cfg.nofile = 1024;  // the usual soft limit; depotd raises it to the hard one
  cfg.nofile_hard = 4096;
  test_depotd d(cfg);
  const long before = rss_kib(d.pid());
  int refused = 0;
  auto idle = idle_peers(d.endpoint(), 2000, false, refused);
  std::this_thread::sleep_for(1s);
  const long during = rss_kib(d.pid());
  auto c = d.client();
  EXPECT_TRUE(ping_within(*c, 2s)) << "a new client's ping was not answered";
  EXPECT_EQ(refused, 0);
  int dropped = 0;
  for (auto& p : idle) dropped += p->closed_by_server() ? 1 : 0;
  EXPECT_EQ(dropped, 0)
      << "2,000 connections are under the default cap of 3,072";
  EXPECT_NE(d.log().find("soft limit 4096 (was 1024"), std::string::npos);
  idle.clear();
  const long after = settle_rss(d.pid(), before + 4096, 3s);
  record("2000 idle connections", before, during, after);
  EXPECT_RSS_LT(during - before, 2000 * 64)
      << "an idle connection costs under 64 KiB";
}

TEST(PeerLimits, AnEndlessMultipartMessageIsDroppedPastTheBound) {
  test_depotd d;
  const long before = rss_kib(d.pid());
  observer watch(d);
  hostile_peer p(d.endpoint());
  const std::string mib(1 << 20, 'x');
  size_t sent = 0;
  auto deadline = clock_type::now() + 15s;
  while (sent < 512 && clock_type::now() < deadline && p.send_frame(mib, true))
    ++sent;
  const bool dropped = p.closed_by_server(2000);
  const long during = std::max(watch.max_rss_kib(), rss_kib(d.pid()));
  const long after = settle_rss(d.pid(), before + 8192, 5s);
  watch.finish();
  record("one endless multipart message", before, during, after);
  std::printf(
      "[peer] sent %zu MiB before the drop; pings answered %d, worst %ld ms\n",
      sent, watch.answered(), watch.worst_ms());
  EXPECT_TRUE(dropped) << "the connection was not dropped";
  EXPECT_LT(sent, 64u) << "MiB sent before the drop";
  EXPECT_RSS_LT(during - before, 96 * 1024) << "KiB of RSS during";
  EXPECT_RSS_LT(after - before, 8 * 1024) << "KiB of RSS left 5 s after";
  EXPECT_EQ(watch.missed(), 0) << "another client was not served throughout";
  EXPECT_GT(watch.answered(), 0);
  EXPECT_NE(d.log().find("peer memory limit"), std::string::npos);
}

TEST(PeerLimits, PeersStalledOneByteShortOfAFrameStayUnderTheCap) {
  test_depotd d({"--peer-memory-cap", std::to_string(32 << 20)});
  const long before = rss_kib(d.pid());
  observer watch(d);
  const size_t frame = 1 << 20;
  const std::string body(frame - 1, 'y');
  std::vector<std::unique_ptr<hostile_peer>> stalled;
  for (int i = 0; i < 200; ++i) {
    auto p = std::make_unique<hostile_peer>(d.endpoint());
    p->send_raw(hostile_peer::frame_header(frame, false));
    p->send_raw(body);
    stalled.push_back(std::move(p));
  }
  std::this_thread::sleep_for(2500ms);  // a periodic check, and its grace
  int dropped = 0;
  for (auto& p : stalled) dropped += p->closed_by_server() ? 1 : 0;
  const long during = std::max(watch.max_rss_kib(), rss_kib(d.pid()));
  stalled.clear();
  const long after = settle_rss(d.pid(), before + 8192, 5s);
  watch.finish();
  record("200 peers stalled 1 byte short of 1 MiB, cap 32 MiB", before, during,
         after);
  std::printf("[peer] %d of 200 dropped; pings answered %d, worst %ld ms\n",
              dropped, watch.answered(), watch.worst_ms());
  EXPECT_GE(dropped, 200 - 32) << "at most the cap's worth may stay";
  // The cap, what arrives between two checks (~10 ms: tens of MiB over
  // loopback) and what dropped peers held until it is freed: 74-118 MiB
  // measured here; the code before the cap reached +211 MiB.
  EXPECT_RSS_LT(during - before, 160 * 1024) << "KiB of RSS during";
  EXPECT_RSS_LT(after - before, 8 * 1024) << "KiB of RSS left 5 s after";
  EXPECT_EQ(watch.missed(), 0);
  EXPECT_NE(d.log().find("--peer-memory-cap reached"), std::string::npos);
}

TEST(RefusalLog, BusyRepliesAreLoggedOnceAPeriodWithTheirCount) {
  test_depotd d({"--max-uploads", "1"});
  auto c = d.client();
  begin_upload(*c, "held.bin");
  for (int i = 0; i < 5; ++i) {
    schema::upload_request req;
    req.name = "refused-" + std::to_string(i);
    auto r = c->call(req);
    auto* e = std::get_if<schema::error_reply>(&r.body);
    ASSERT_NE(e, nullptr) << describe(r);
    EXPECT_EQ(e->code, schema::errc::busy);
  }
  std::this_thread::sleep_for(200ms);
  const std::string log = d.log();
  EXPECT_EQ(count_of(log, "busy: uploads"), 1u)
      << "one line per cause per 10 s";
  EXPECT_NE(log.find("[warning] busy: uploads"), std::string::npos);
}

}  // namespace
}  // namespace depot::test
