// docs/protocol.md sections 3 and 11, the limits one client meets so that it
// cannot exhaust them for everyone: uploads in progress and upload memory per
// client, and the overall cap on download replies clients have not read.
// Each test runs real depotd processes over loopback; the download test
// prints depotd's resident set before, during and after.

#include "testkit/gtest_depotd.hpp"
#include "testkit/hostile_peer.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace depot::test {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// Replies to begin requests pipelined by one client: tokens of those that
// began, and the busy messages of those refused.
struct begun {
  std::vector<std::string> tokens;
  std::vector<std::string> busy;
};

// Pipelines `n` begin requests of uploads declared `size` bytes (none:
// unknown size) on `c` and collects the replies.
begun begin_many(wire_client& c, size_t n, std::optional<uint64_t> size) {
  begun out;
  std::map<uint64_t, int> rids;
  size_t sent = 0;
  while (sent < n || !rids.empty()) {
    while (sent < n && rids.size() < 500) {
      rids[c.send(schema::upload_request{"f.bin", size, {}, {}})] = 0;
      ++sent;
    }
    auto [rid, r] = c.receive_any_of(rids);
    rids.erase(rid);
    if (auto* ok = std::get_if<schema::upload_reply>(&r.body)) {
      out.tokens.push_back(ok->upload);
    } else {
      auto& e = as<schema::error_reply>(r, "upload");
      EXPECT_EQ(e.code, schema::errc::busy) << e.message;
      out.busy.push_back(e.message);
    }
  }
  return out;
}

// Sends the one chunk of a declared 1-byte upload; returns its reply.
schema::reply finish_one_byte(wire_client& c, const std::string& token) {
  return c.call(make_chunk(token, 0, true, "x"));
}

TEST(ClientLimits, AClientHoldingItsUploadSlotsLeavesTheOthersServed) {
  // The defaults: 10,000 uploads in all, 1,000 per client.
  test_depotd d{std::vector<std::string>{}};
  wire_client hostile(d.endpoint());
  auto t0 = clock_type::now();
  begun h = begin_many(hostile, 10000, 1);
  std::printf(
      "[limits] hostile client: %zu uploads began, %zu busy (%lld ms)\n",
      h.tokens.size(), h.busy.size(),
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(
              clock_type::now() - t0)
              .count()));
  EXPECT_EQ(h.tokens.size(), 1000u);
  ASSERT_FALSE(h.busy.empty());
  EXPECT_NE(h.busy.front().find("--max-uploads-per-client"), std::string::npos)
      << h.busy.front();

  // Another client begins and finishes uploads meanwhile, of both kinds.
  wire_client other(d.endpoint());
  for (int i = 0; i < 5; ++i) {
    auto meta = store_content(other, "well-behaved " + std::to_string(i));
    EXPECT_FALSE(meta.id.empty());
  }
  auto token =
      begin_upload(other, schema::upload_request{"big.bin", {}, {}, {}});
  as<schema::chunk_done_reply>(other.call(make_chunk(token, 0, true, "data")),
                               "chunk");
  EXPECT_NE(d.log().find("busy: uploads per client"), std::string::npos);
}

TEST(ClientLimits, SlotsComeBackWhenUploadsEndHoweverTheyEnd) {
  test_depotd d{{"--max-uploads-per-client", "4", "--idle-timeout", "1"}};
  wire_client c(d.endpoint());
  begun b = begin_many(c, 6, 1);
  ASSERT_EQ(b.tokens.size(), 4u);
  ASSERT_EQ(b.busy.size(), 2u);

  // Finished: one slot back.
  as<schema::chunk_done_reply>(finish_one_byte(c, b.tokens[0]), "chunk");
  // Aborted: another.
  as<schema::abort_reply>(c.call(schema::abort_request{b.tokens[1]}), "abort");
  begun again = begin_many(c, 3, 1);
  EXPECT_EQ(again.tokens.size(), 2u);
  EXPECT_EQ(again.busy.size(), 1u);

  // Continued from another connection: still charged to the client that
  // began them, and given back to it when they end there.
  wire_client moved(d.endpoint());
  begun m = begin_many(moved, 4, 1);  // its own slots are all free
  EXPECT_EQ(m.tokens.size(), 4u);
  for (auto& t : {b.tokens[2], b.tokens[3], again.tokens[0], again.tokens[1]})
    as<schema::chunk_done_reply>(finish_one_byte(moved, t), "chunk");
  EXPECT_EQ(begin_many(c, 4, 1).tokens.size(), 4u);

  // Expired (idle for --idle-timeout, checked every second): all back.
  std::this_thread::sleep_for(3500ms);
  EXPECT_EQ(begin_many(c, 4, 1).tokens.size(), 4u);
  EXPECT_EQ(begin_many(moved, 4, 1).tokens.size(), 4u);
}

TEST(ClientLimits, AClientReservingItsUploadMemoryLeavesTheOthersServed) {
  // Its sizes follow the POSIX store's reservation; the RADOS store adds
  // what it holds of a streaming upload (README, Sizing).
  DEPOT_POSIX_STORE_ONLY();
  // The defaults: an upload of unknown size reserves 21 MiB (4 MiB + 17 ×
  // 1 MiB) of the 512 MiB budget (24 such uploads), 128 MiB per client (6).
  test_depotd d{std::vector<std::string>{}};
  wire_client hostile(d.endpoint());
  begun h = begin_many(hostile, 30, std::nullopt);
  EXPECT_EQ(h.tokens.size(), 6u);
  ASSERT_FALSE(h.busy.empty());
  EXPECT_NE(h.busy.front().find("--memory-per-client"), std::string::npos)
      << h.busy.front();
  wire_client other(d.endpoint());
  begun o = begin_many(other, 6, std::nullopt);
  EXPECT_EQ(o.tokens.size(), 6u);
  for (size_t i = 0; i < o.tokens.size(); ++i)
    as<schema::chunk_done_reply>(
        other.call(make_chunk(o.tokens[i], 0, true, "y" + std::to_string(i))),
        "chunk");
  // Its memory is back: six more.
  EXPECT_EQ(begin_many(other, 6, std::nullopt).tokens.size(), 6u);
  EXPECT_NE(d.log().find("busy: upload memory per client"), std::string::npos);
}

// A client that sends download requests and never reads a reply: its
// socket takes one message, the kernel a few KiB, and depotd keeps the rest.
class non_reader {
 public:
  non_reader(const std::string& endpoint) {
    socket_.set(zmq::sockopt::rcvhwm, 1);
    socket_.set(zmq::sockopt::rcvbuf, 4096);
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }
  void request(const std::string& file, uint64_t offset, uint64_t length,
               uint64_t rid) {
    auto bufs = schema::encode_request(
        schema::request{rid, schema::download_request{file, offset, length}});
    for (size_t i = 0; i < bufs.size(); ++i)
      socket_.send(zmq::buffer(bufs[i].view().data(), bufs[i].view().size()),
                   i + 1 < bufs.size() ? zmq::send_flags::sndmore
                                       : zmq::send_flags::none);
  }
  void close() { socket_.close(); }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_{context_, zmq::socket_type::dealer};
};

// Samples depotd's RSS every 100 ms for `span` (from `t0`) and prints the
// samples; returns the last one.
long rss_after(pid_t pid, clock_type::time_point t0,
               std::chrono::milliseconds span) {
  long rss = rss_kib(pid);
  std::printf("[rss] after they left (ms: KiB):");
  while (clock_type::now() - t0 < span) {
    std::this_thread::sleep_for(100ms);
    rss = rss_kib(pid);
    std::printf(" %lld: %ld",
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        clock_type::now() - t0)
                        .count()),
                rss);
  }
  std::printf("\n");
  return rss;
}

// Ten clients request `range`-byte ranges of a 4 MiB file and never read
// the replies; `what` names the case in the printed figures.
void non_readers_against_the_cap(uint64_t range, const char* what) {
  // The defaults: 1 MiB chunk_max (64 MiB unread per client), 256 MiB in all.
  test_depotd d{std::vector<std::string>{}};
  const long cap_kib = 256 * 1024;
  // The headroom light clients share past the cap (a quarter of it), and
  // 64 MiB for tcmalloc's free pages it keeps for reuse, caches and code.
  const long margin_kib = 64 * 1024 + 64 * 1024;
  wire_client good(d.endpoint());
  std::string content(4 << 20, '\0');
  for (size_t i = 0; i < content.size(); ++i)
    content[i] = static_cast<char>(i * 7919 >> 5);
  auto meta = store_content(good, content);
  const long before = rss_kib(d.pid());

  constexpr int clients = 10;
  const int per_client = static_cast<int>((90 << 20) / range);  // 90 MiB each
  std::vector<std::unique_ptr<non_reader>> hostile;
  for (int i = 0; i < clients; ++i) {
    hostile.push_back(std::make_unique<non_reader>(d.endpoint()));
    for (int k = 0; k < per_client; ++k)
      hostile.back()->request(meta.id, (k * range) % (content.size() - range),
                              range, k + 1);
  }
  // Until depotd has answered them all (busy or not).
  long during = 0;
  for (auto t = clock_type::now(); clock_type::now() - t < 4s;) {
    during = std::max(during, rss_kib(d.pid()));
    std::this_thread::sleep_for(20ms);
  }
  // A well-behaved client is still served, in full, meanwhile.
  auto t0 = clock_type::now();
  EXPECT_EQ(download_all(good, meta.id, 0, 4), content);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                clock_type::now() - t0)
                .count();
  during = std::max(during, rss_kib(d.pid()));

  auto left = clock_type::now();
  for (auto& h : hostile) h->close();
  hostile.clear();
  // What was queued for them goes back to the system, not only to the heap.
  const long after = rss_after(d.pid(), left, 3s);
  std::printf(
      "[rss] non-reading download clients, %s: before %ld KiB, during max %ld "
      "KiB, after %ld KiB (cap %ld KiB + margin %ld KiB); well-behaved "
      "download of 4 MiB took %lld ms\n",
      what, before, during, after, cap_kib, margin_kib,
      static_cast<long long>(ms));
  std::fflush(stdout);
  EXPECT_RSS_LT(during, before + cap_kib + margin_kib);
  EXPECT_RSS_LT(after, before + 24 * 1024);
  EXPECT_NE(d.log().find("busy: unread downloads overall"), std::string::npos);
}

TEST(ClientLimits, ClientsNotReadingDownloadsStayUnderTheOverallCap) {
  // Ranges under 64 KiB are copied to the heap.
  non_readers_against_the_cap(60000, "60 KB ranges (heap)");
}

TEST(ClientLimits, ClientsNotReadingMappedRangesStayUnderTheOverallCap) {
  // Ranges of 64 KiB and more are mapped from the file.
  non_readers_against_the_cap(1 << 20, "1 MiB ranges (mapped)");
}

}  // namespace
}  // namespace depot::test
