// docs/protocol.md "Transport" over real sockets: ping, tcp and ipc
// endpoints, rid echo and REQ clients.

#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/raw_msgpack.hpp"
#include "testkit/wire_client.hpp"
#include "tests/integration/framing_test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace depot::test {
namespace {

using namespace test_support;

TEST(Ping, AnswersWithVersionServerAndChunkMax) {
  test_depotd d({"--chunk-max", "65536"});
  wire_client c(d.endpoint());
  auto p = as<schema::ping_reply>(c.call(schema::ping_request{}));
  EXPECT_EQ(p.version, 1u);
  EXPECT_FALSE(p.server.empty());
  EXPECT_EQ(p.chunk_max, 65536u);
}

TEST(Ping, DefaultChunkMaxIsOneMebibyte) {
  test_depotd d;
  wire_client c(d.endpoint());
  EXPECT_EQ(as<schema::ping_reply>(c.call(schema::ping_request{})).chunk_max,
            uint64_t{1} << 20);
}

TEST(Transport, IpcEndpointServesLikeTcp) {
  depotd_options options;
  options.ipc = true;
  test_depotd d(std::move(options));
  ASSERT_EQ(d.endpoint().rfind("ipc://", 0), 0u);
  wire_client c(d.endpoint());
  EXPECT_EQ(code(c.call(schema::ping_request{})), "ok");
  auto f = store_content(c, "over ipc");
  EXPECT_EQ(download_all(c, f.id), "over ipc");
}

TEST(Transport, RepeatedListenServesOnEveryEndpoint) {
  temp_dir extra;
  std::string ipc = "ipc://" + (extra / "second.sock");
  test_depotd d({"--listen", ipc});
  wire_client tcp_client(d.endpoint());
  wire_client ipc_client(ipc);
  auto f = store_content(tcp_client, "seen on both");
  EXPECT_EQ(as<schema::stat_reply>(stat_of(ipc_client, f.id)).file, f);
}

TEST(Rid, IsEchoedUnchangedIncludingTheLargestUint) {
  test_depotd d;
  wire_client c(d.endpoint());
  for (uint64_t rid :
       {uint64_t{0}, uint64_t{1}, uint64_t{4294967296}, ~uint64_t{0}}) {
    c.send_with_rid(rid, schema::ping_request{});
    auto r = c.receive(rid);
    EXPECT_EQ(r.rid, rid);
    EXPECT_EQ(code(r), "ok");
  }
  // Error replies echo it too.
  c.send_with_rid(77, schema::stat_request{"000000000000"});
  auto r = c.receive(77);
  EXPECT_EQ(r.rid, 77u);
  EXPECT_EQ(code(r), "not_found");
}

TEST(Rid, IsAbsentFromTheReplyWhenTheRequestHadNone) {
  test_depotd d;
  wire_client c(d.endpoint());
  c.send_with_rid(std::nullopt, schema::ping_request{});
  auto r = decode_frames(c.receive_frames(), "ping");
  EXPECT_FALSE(r.rid.has_value());
  EXPECT_EQ(code(r), "ok");
  c.send_with_rid(std::nullopt, schema::stat_request{"000000000000"});
  r = decode_frames(c.receive_frames(), "stat");
  EXPECT_FALSE(r.rid.has_value());
  EXPECT_EQ(code(r), "not_found");
}

TEST(Rid, RepliesToPipelinedRequestsAreMatchedByRid) {
  test_depotd d;
  wire_client c(d.endpoint());
  std::vector<uint64_t> rids;
  for (int i = 0; i < 200; ++i)
    rids.push_back(i % 2 ? c.send(schema::ping_request{})
                         : c.send(schema::stat_request{"000000000000"}));
  for (size_t i = 0; i < rids.size(); ++i) {
    auto r = c.receive(rids[i]);
    EXPECT_EQ(code(r), i % 2 ? "ok" : "not_found");
  }
}

TEST(ReqSocket, PingWorksAndTheDelimiterIsEchoed) {
  test_depotd d;
  // A REQ socket drops any reply without the empty delimiter frame, so an
  // answer at all proves the delimiter came back.
  wire_client c(d.endpoint(), zmq::socket_type::req);
  for (int i = 0; i < 3; ++i) {
    auto r = c.call(schema::ping_request{});
    EXPECT_EQ(code(r), "ok");
  }
}

TEST(ReqSocket, SmallUploadAndDownloadWork) {
  test_depotd d;
  wire_client c(d.endpoint(), zmq::socket_type::req);
  upload_options o;
  o.window = 1;  // REQ: one request at a time
  o.chunk = 4;
  auto f = store_content(c, "hello over REQ", o);
  EXPECT_EQ(f.size, 14u);
  EXPECT_EQ(f.sha256, sha256_hex("hello over REQ"));
  EXPECT_EQ(download_all(c, f.id, 5, 1), "hello over REQ");
  // An error reply reaches a REQ client too.
  EXPECT_EQ(code(c.call(schema::stat_request{"000000000000"})), "not_found");
}

TEST(ReqSocket, DealerSendingAnEmptyFirstFrameGetsItBack) {
  test_depotd d;
  wire_client c(d.endpoint());
  c.send_frames(
      {"", mp::header({{"op", mp::str("ping")}, {"rid", mp::uint(5)}})});
  auto f = c.receive_frames();
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0], "");
  auto r = decode_frames({f[1]}, "ping");
  EXPECT_EQ(r.rid, 5u);
  EXPECT_EQ(code(r), "ok");
}

}  // namespace
}  // namespace depot::test
