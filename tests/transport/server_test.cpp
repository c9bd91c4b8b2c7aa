// The ROUTER server against real ZeroMQ DEALER and REQ clients over tcp and
// ipc: round trips and payloads. Every receive has a timeout, so a missing
// reply fails a test instead of hanging it.

#include "tests/transport/server_test_support.hpp"

#include <gtest/gtest.h>
#include <zmq.hpp>

#include <set>
#include <thread>
#include <vector>

// Under ThreadSanitizer: libzmq is not instrumented, so frames handed over
// through its lock-free pipes (to its I/O thread and back) look like races.
// Ignoring what its calls to intercepted functions (recv, memcpy) touch, and
// suppressing reports with libzmq on a stack, keeps every race between two
// frames of our own code reported. (Unused in other builds; one definition
// for the whole test program.)
extern "C" const char* __tsan_default_options() {
  return "ignore_noninstrumented_modules=1";
}
extern "C" const char* __tsan_default_suppressions() {
  return "race:libzmq.so\n";
}

namespace depot::transport {
namespace {

using namespace test_support;

TEST_F(RouterServer, AnswersADealerPingWithItsRidEchoed) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(c, 42);
  expect_ping(c, 0);
  EXPECT_FALSE(last_peer().req);
}

TEST_F(RouterServer, AnswersARequestWithoutRid) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send({std::nullopt, schema::ping_request{}});
  auto r = c.receive("ping");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->rid);
  body_as<schema::ping_reply>(r);
}

TEST_F(RouterServer, GivesTheHandlerTheClientsRoutingId) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_, "alice");
  expect_ping(c, 1);
  EXPECT_EQ(last_peer().routing_id, "alice");
}

TEST_F(RouterServer, DeliversRepliesQueuedByTheHandlerOnTheIoThread) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  for (uint64_t rid = 1; rid <= 3; ++rid) {
    c.send({rid, schema::upload_request{"a.txt", {}, {}, {}}});
    auto r = c.receive("upload");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->rid, rid);
    if (auto* u = body_as<schema::upload_reply>(r)) {
      EXPECT_EQ(u->upload, "token");
    }
  }
}

TEST_F(RouterServer, EchoesTheReqDelimiterToReqClients) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send_raw({"", header_of(ping(7))});
  auto frames = c.receive_raw();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].size(), 0u);
  frames.erase(frames.begin());
  auto r = client::decode(frames, "ping");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rid, 7u);
  body_as<schema::ping_reply>(r);
  EXPECT_TRUE(last_peer().req);
}

TEST_F(RouterServer, AnswersARealReqSocket) {
  start();
  client c(ctx_, zmq::socket_type::req, endpoint_);
  for (uint64_t rid = 1; rid <= 3; ++rid) expect_ping(c, rid);
  EXPECT_TRUE(last_peer().req);
}

TEST_F(RouterServer, AnswersRequestsPipelinedWithinAWindow) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  constexpr uint64_t total = 20000;
  constexpr uint64_t window = 500;
  std::set<uint64_t> seen;
  uint64_t sent = 0;
  while (seen.size() < total) {
    while (sent < total && sent - seen.size() < window) c.send(ping(sent++));
    auto r = c.receive("ping");
    ASSERT_TRUE(r);
    ASSERT_TRUE(r->rid);
    EXPECT_TRUE(seen.insert(*r->rid).second) << "rid twice: " << *r->rid;
  }
  EXPECT_EQ(*seen.rbegin(), total - 1);
  EXPECT_TRUE(eventually([&] { return stats().replies.load() == total; }));
  EXPECT_EQ(stats().requests.load(), total);
}

// --- payloads ----------------------------------------------------------------

TEST_F(RouterServer, HandsAChunkPayloadToTheHandlerIntact) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  constexpr size_t size = 5 * MiB + 3;
  c.send(chunk(9, pattern(0, size)));
  auto r = c.receive("chunk");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rid, 9u);
  if (auto* a = body_as<schema::chunk_reply>(r)) {
    EXPECT_EQ(a->received, size);
  }
  // More traffic in between: the kept buffer owns its frame.
  expect_ping(c, 10);
  c.send(chunk(11, pattern(0, 16)));
  ASSERT_TRUE(c.receive("chunk"));
  auto got = chunks();
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0].size(), size);
  EXPECT_EQ(first_mismatch(got[0], 0), size);
  ASSERT_EQ(got[1].size(), 16u);
  EXPECT_EQ(first_mismatch(got[1], 0), 16u);
}

TEST_F(RouterServer, HandsAnEmptyChunkPayloadToTheHandler) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send(chunk(1, schema::buffer{}));
  auto r = c.receive("chunk");
  if (auto* a = body_as<schema::chunk_reply>(r)) {
    EXPECT_EQ(a->received, 0u);
  }
  auto got = chunks();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].empty());
}

TEST_F(RouterServer, SendsDownloadPayloadsIntactAtEverySize) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  // Around ZeroMQ's inline limit (33), our copy threshold (1024), and large.
  const std::vector<size_t> sizes = {
      0, 1, 32, 33, 34, 1023, 1024, 1025, 64 * 1024, MiB, MiB + 1, 4 * MiB};
  uint64_t rid = 0;
  for (size_t size : sizes) {
    SCOPED_TRACE("payload of " + std::to_string(size) + " bytes");
    c.send(download(++rid, size));
    auto r = c.receive("download");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->rid, rid);
    auto* d = body_as<schema::download_reply>(r);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->size, size);
    ASSERT_EQ(d->data.size(), size);
    EXPECT_EQ(first_mismatch(d->data, 0), size);
  }
}

TEST_F(RouterServer, SendsManyLargePayloadsInFlightIntact) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  constexpr uint64_t count = 32;
  for (uint64_t rid = 0; rid < count; ++rid) c.send(download(rid, MiB));
  std::set<uint64_t> seen;
  for (uint64_t i = 0; i < count; ++i) {
    auto r = c.receive("download");
    ASSERT_TRUE(r);
    auto* d = body_as<schema::download_reply>(r);
    ASSERT_NE(d, nullptr);
    ASSERT_EQ(d->data.size(), MiB);
    EXPECT_EQ(first_mismatch(d->data, 0), MiB);
    seen.insert(r->rid.value_or(count));
  }
  EXPECT_EQ(seen.size(), count);
}

}  // namespace
}  // namespace depot::transport
