// What an upload holds over real sockets: the memory budget (busy), the cap
// on finished uploads, idle expiry, reconnecting clients and commit lanes.

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

TEST(Busy, SecondUnknownSizeUploadOverTheMemoryBudgetIsBusy) {
  // Its sizes follow the POSIX store's reservation; the RADOS store adds
  // what it holds of a streaming upload (README, Sizing).
  DEPOT_POSIX_STORE_ONLY();
  // Reservation of an unknown-size upload:
  //   ram_threshold + window * chunk_max + chunk_max
  //   = 131072 + 2 * 65536 + 65536 = 327680.
  // A budget of 400000 holds one, not two.
  test_depotd d({"--chunk-max", "65536", "--window", "2", "--ram-threshold",
                 "131072", "--memory-budget", "400000"});
  wire_client c(d.endpoint());
  auto first = begin_upload(c);
  auto r = c.call(declared("second", std::nullopt));
  EXPECT_EQ(code(r), "busy") << describe(r);
  // A small declared size reserves only that much and still fits.
  auto small = c.call(declared("small", 1000));
  EXPECT_EQ(code(small), "ok") << describe(small);
  // The first one is not disturbed.
  ASSERT_EQ(code(c.call(make_chunk(first, 0, false, std::string(65536, 'q')))),
            "ok");
  // Once it ends, its reservation is given back.
  EXPECT_EQ(code(c.call(schema::abort_request{first})), "ok");
  r = c.call(declared("third", std::nullopt));
  EXPECT_EQ(code(r), "ok") << describe(r);
}

TEST(Busy, CompletedUploadGivesItsReservationBackBeforeTheNextBegins) {
  // Its sizes follow the POSIX store's reservation; the RADOS store adds
  // what it holds of a streaming upload (README, Sizing).
  DEPOT_POSIX_STORE_ONLY();
  // Room for one unknown-size upload (see above). Each upload (RAM-held,
  // under ram_threshold) completes before the next begins, so none of them
  // may be refused as busy.
  test_depotd d({"--chunk-max", "65536", "--window", "2", "--ram-threshold",
                 "131072", "--memory-budget", "400000"});
  wire_client c(d.endpoint());
  for (int i = 0; i < 10; ++i) {
    auto r = upload_content(c, random_bytes(100000, 100 + i));
    ASSERT_EQ(code(r), "ok") << "upload " << i << ": " << describe(r);
  }
}

TEST(Busy, FinishedUploadsStillAnsweringRetriesAreCappedByMaxFinished) {
  test_depotd d({"--max-finished", "2"});
  wire_client c(d.endpoint());
  std::vector<std::string> tokens;
  for (int i = 0; i < 2; ++i) {
    tokens.push_back(begin_upload(c));
    auto r =
        c.call(make_chunk(tokens.back(), 0, true, "file " + std::to_string(i)));
    ASSERT_EQ(code(r), "ok") << describe(r);
  }
  // Both tokens still answer; a third upload would be a promise too many.
  auto r = c.call(declared("third", std::nullopt));
  EXPECT_EQ(code(r), "busy") << describe(r);
  for (auto& t : tokens) {
    auto st = c.call(schema::upload_status_request{t});
    ASSERT_EQ(code(st), "ok") << describe(st);
    EXPECT_TRUE(as<schema::upload_status_reply>(st).file.has_value());
  }
}

TEST(IdleTimeout, UploadWithoutRequestsExpiresAndItsTokenIsUnknown) {
  test_depotd d({"--idle-timeout", "1"});
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, "partial"))), "ok");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
            "unknown_upload");
  EXPECT_EQ(code(c.call(make_chunk(token, 1, true, "rest"))), "unknown_upload");
  EXPECT_TRUE(list_all(c).empty());
}

TEST(IdleTimeout, RequestsNamingTheTokenKeepTheUploadAlive) {
  test_depotd d({"--idle-timeout", "1"});
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_EQ(code(c.call(schema::upload_status_request{token})), "ok")
        << "after " << (i + 1) * 300 << " ms";
  }
  auto done = c.call(make_chunk(token, 0, true, "alive"));
  EXPECT_EQ(code(done), "ok") << describe(done);
}

TEST(Reconnect, NewSocketContinuesTheSameTokenFromNext) {
  test_depotd d({"--chunk-max", "65536", "--window", "4"});
  std::string content = random_bytes(6 * 65536 + 77, 8);
  std::string token;
  {
    wire_client first(d.endpoint());
    token = begin_upload(first);
    for (uint64_t seq = 0; seq < 3; ++seq)
      ASSERT_EQ(code(first.call(make_chunk(
                    token, seq, false,
                    std::string_view(content).substr(seq * 65536, 65536)))),
                "ok");
    // Two more sent, their replies never read: the socket goes away.
    first.send(make_chunk(token, 3, false,
                          std::string_view(content).substr(3 * 65536, 65536)));
    first.send(make_chunk(token, 4, false,
                          std::string_view(content).substr(4 * 65536, 65536)));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  wire_client second(d.endpoint());
  auto st = as<schema::upload_status_reply>(
      second.call(schema::upload_status_request{token}));
  ASSERT_GE(st.next, 3u);
  ASSERT_LE(st.next, 5u);
  EXPECT_EQ(st.received, st.next * 65536);
  uint64_t chunks = 7;
  schema::reply last;
  for (uint64_t seq = st.next; seq < chunks; ++seq) {
    uint64_t off = seq * 65536;
    last = second.call(
        make_chunk(token, seq, seq + 1 == chunks,
                   std::string_view(content).substr(
                       off, std::min<uint64_t>(65536, content.size() - off))));
    ASSERT_EQ(code(last), "ok") << describe(last);
  }
  auto done = as<schema::chunk_done_reply>(last);
  EXPECT_EQ(done.file.sha256, sha256_hex(content));
  EXPECT_EQ(download_all(second, done.file.id), content);
}

// Every commit lane count serves both kinds of upload: held in RAM (the
// first committer) and streamed to disk (the others, or the first when
// alone). The flag keeps its name, --namers.
TEST(Lanes, AnyNumberOfCommittersCommitsSmallAndStreamedUploads) {
  for (const char* lanes : {"1", "3"}) {
    test_depotd d({"--namers", lanes, "--threads", "2", "--chunk-max", "65536",
                   "--ram-threshold", "131072"});
    EXPECT_NE(d.log().find(std::string("threads=2 committers=") + lanes),
              std::string::npos)
        << d.log();
    wire_client c(d.endpoint());
    for (size_t size :
         {size_t{1000}, size_t{500000}, size_t{2000}, size_t{300000}}) {
      auto content = random_bytes(size, size);
      auto r = upload_content(c, content);
      ASSERT_EQ(code(r), "ok")
          << lanes << " committers, " << size << " bytes: " << describe(r);
      EXPECT_EQ(download_all(c, as<schema::chunk_done_reply>(r).file.id),
                content);
    }
  }
}

}  // namespace
}  // namespace depot::test
