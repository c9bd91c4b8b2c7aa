// docs/protocol.md `chunk` over real sockets: the window, the switch to
// streaming, retries, out-of-order and oversized chunks.

#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/wire_client.hpp"
#include "tests/integration/upload_test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace depot::test {
namespace {

using namespace test_support;

TEST(Chunk, ClientWithinItsWindowNeverSeesBusyAcrossTheRamThreshold) {
  // The upload switches from RAM to a staging file after ram_threshold
  // bytes, with a full window of chunks in flight. The client never has
  // more than `window` chunks unacknowledged, so every chunk must be taken
  // (no busy, and hence no out_of_order for the chunks behind it).
  test_depotd d(
      {"--chunk-max", "65536", "--window", "8", "--ram-threshold", "262144"});
  wire_client c(d.endpoint());
  for (int i = 0; i < 8; ++i) {
    std::string content = random_bytes(1 << 20, 200 + i);
    auto r = upload_content(c, content);
    ASSERT_EQ(code(r), "ok") << "upload " << i << ": " << describe(r);
    EXPECT_EQ(as<schema::chunk_done_reply>(r).file.sha256, sha256_hex(content));
  }
}

TEST(Chunk, ShortLastChunkIsTakenAfterTheSwitchToStreaming) {
  // Chunk 0 is held in RAM and still unacknowledged when chunk 1 pushes the
  // upload past ram_threshold. Every full chunk is then acknowledged, and
  // the short last chunk, with nothing else in flight, must complete the
  // upload (it must not be refused as busy, now or on a retry).
  test_depotd d(
      {"--chunk-max", "65536", "--window", "4", "--ram-threshold", "65536"});
  wire_client c(d.endpoint());
  for (int round = 0; round < 6; ++round) {
    std::string content = random_bytes(10 * 65536 + 1000, 300 + round);
    auto token = begin_upload(c);
    std::vector<uint64_t> rids;
    for (uint64_t seq = 0; seq < 10; ++seq) {
      rids.push_back(c.send(
          make_chunk(token, seq, false,
                     std::string_view(content).substr(seq * 65536, 65536))));
      if (rids.size() == 4) {
        ASSERT_EQ(code(c.receive(rids.front())), "ok");
        rids.erase(rids.begin());
      }
    }
    for (auto rid : rids) ASSERT_EQ(code(c.receive(rid)), "ok");
    auto tail = std::string_view(content).substr(10 * 65536);
    auto r = c.call(make_chunk(token, 10, true, tail));
    if (code(r) == "busy") {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      auto retry = c.call(make_chunk(token, 10, true, tail));
      ADD_FAILURE() << "round " << round
                    << ": last chunk refused with nothing in flight: "
                    << describe(r)
                    << "; retried 300 ms later: " << describe(retry);
      continue;
    }
    ASSERT_EQ(code(r), "ok") << "round " << round << ": " << describe(r);
    EXPECT_EQ(as<schema::chunk_done_reply>(r).file.sha256, sha256_hex(content));
  }
}

TEST(Chunk, LowerSeqRetryIsReackedAndNotAppliedTwice) {
  test_depotd d({"--chunk-max", "1000"});
  wire_client c(d.endpoint());
  std::string content = random_bytes(2600, 4);
  auto token = begin_upload(c);
  auto a0 = as<schema::chunk_reply>(
      c.call(make_chunk(token, 0, false, content.substr(0, 1000))));
  EXPECT_EQ(a0.received, 1000u);
  auto a1 = as<schema::chunk_reply>(
      c.call(make_chunk(token, 1, false, content.substr(1000, 1000))));
  EXPECT_EQ(a1.received, 2000u);
  // Retries of 0 and 1, with the same payloads: acknowledged again as before.
  auto r0 = as<schema::chunk_reply>(
      c.call(make_chunk(token, 0, false, content.substr(0, 1000))));
  EXPECT_EQ(r0.seq, 0u);
  EXPECT_EQ(r0.received, a0.received);
  auto r1 = as<schema::chunk_reply>(
      c.call(make_chunk(token, 1, false, content.substr(1000, 1000))));
  EXPECT_EQ(r1.seq, 1u);
  EXPECT_EQ(r1.received, a1.received);
  auto st = as<schema::upload_status_reply>(
      c.call(schema::upload_status_request{token}));
  EXPECT_EQ(st.next, 2u);
  EXPECT_EQ(st.received, 2000u);
  auto done = as<schema::chunk_done_reply>(
      c.call(make_chunk(token, 2, true, content.substr(2000))));
  EXPECT_EQ(done.file.size, 2600u);
  EXPECT_EQ(done.file.sha256, sha256_hex(content));
  EXPECT_EQ(download_all(c, done.file.id), content);
}

TEST(Chunk, HigherSeqIsOutOfOrderWithNextAndTheUploadStaysAlive) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, "aaa"))), "ok");
  auto r = c.call(make_chunk(token, 2, false, "ccc"));
  EXPECT_EQ(code(r), "out_of_order") << describe(r);
  EXPECT_EQ(error_next(r), 1u);
  r = c.call(make_chunk(token, 7, true, "zzz"));
  EXPECT_EQ(code(r), "out_of_order");
  EXPECT_EQ(error_next(r), 1u);
  ASSERT_EQ(code(c.call(make_chunk(token, 1, false, "bbb"))), "ok");
  auto done =
      as<schema::chunk_done_reply>(c.call(make_chunk(token, 2, true, "ccc")));
  EXPECT_EQ(done.file.size, 9u);
  EXPECT_EQ(download_all(c, done.file.id), "aaabbbccc");
}

TEST(Chunk, FirstChunkWithSeqOneIsOutOfOrderWithNextZero) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  auto r = c.call(make_chunk(token, 1, true, "x"));
  EXPECT_EQ(code(r), "out_of_order");
  EXPECT_EQ(error_next(r), 0u);
}

TEST(Chunk, PayloadOverChunkMaxIsTooLargeAndTheUploadStaysAlive) {
  // The transport drops frames over chunk_max + ~9 KiB (ZMQ_MAXMSGSIZE), so
  // the oversized payload stays below that.
  test_depotd d({"--chunk-max", "65536"});
  wire_client c(d.endpoint());
  std::string content = random_bytes(65536 + 10, 5);
  auto token = begin_upload(c);
  auto r = c.call(make_chunk(token, 0, false, std::string(65536 + 1, 'x')));
  EXPECT_EQ(code(r), "too_large") << describe(r);
  r = c.call(make_chunk(token, 0, true, std::string(65536 + 4096, 'x')));
  EXPECT_EQ(code(r), "too_large") << describe(r);
  auto st = as<schema::upload_status_reply>(
      c.call(schema::upload_status_request{token}));
  EXPECT_EQ(st.next, 0u);
  EXPECT_EQ(st.received, 0u);
  // Exactly chunk_max is fine.
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, content.substr(0, 65536)))),
            "ok");
  auto done = as<schema::chunk_done_reply>(
      c.call(make_chunk(token, 1, true, content.substr(65536))));
  EXPECT_EQ(done.file.sha256, sha256_hex(content));
}

TEST(Chunk, RunningTotalOverTheDeclaredSizeIsTooLargeAndDiscardsTheUpload) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c, declared("a", 100));
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, std::string(80, 'a')))),
            "ok");
  auto r = c.call(make_chunk(token, 1, false, std::string(40, 'b')));
  EXPECT_EQ(code(r), "too_large") << describe(r);
  EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
            "unknown_upload");
  EXPECT_EQ(code(c.call(make_chunk(token, 1, true, std::string(20, 'b')))),
            "unknown_upload");

  // Also when the very first (and last) chunk is too long.
  token = begin_upload(c, declared("b", 10));
  r = c.call(make_chunk(token, 0, true, std::string(12, 'c')));
  EXPECT_EQ(code(r), "too_large") << describe(r);
  EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
            "unknown_upload");
  EXPECT_TRUE(list_all(c).empty());
}

TEST(Chunk, RunningTotalOverTheMaxFileSizeIsTooLargeAndDiscardsTheUpload) {
  test_depotd d({"--chunk-max", "65536", "--max-file-size", "100000"});
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, std::string(65536, 'a')))),
            "ok");
  auto r = c.call(make_chunk(token, 1, false, std::string(65536, 'b')));
  EXPECT_EQ(code(r), "too_large") << describe(r);
  EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
            "unknown_upload");
  EXPECT_TRUE(list_all(c).empty());
  // Exactly the limit is stored.
  std::string exact = random_bytes(100000, 6);
  auto f = store_content(c, exact);
  EXPECT_EQ(f.size, 100000u);
}

}  // namespace
}  // namespace depot::test
