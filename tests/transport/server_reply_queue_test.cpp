// The ROUTER server's reply queue: replies queued from several threads, to
// unknown or disconnected peers and to clients that do not read.

#include "tests/transport/server_test_support.hpp"

#include <gtest/gtest.h>
#include <zmq.hpp>

#include <set>
#include <thread>
#include <vector>

namespace depot::transport {
namespace {

using namespace test_support;

TEST_F(RouterServer, DeliversRepliesQueuedConcurrentlyFromSeveralThreads) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  const peer to = pinged_peer(c, 0);
  constexpr uint64_t threads = 4;
  constexpr uint64_t per_thread = 2000;
  std::vector<std::thread> senders;
  for (uint64_t t = 0; t < threads; ++t)
    senders.emplace_back([&, t] {
      for (uint64_t i = 0; i < per_thread; ++i)
        srv_->send(to,
                   {1 + t * per_thread + i, schema::ping_reply{1, "test", 0}});
    });
  std::set<uint64_t> seen;
  for (uint64_t i = 0; i < threads * per_thread; ++i) {
    auto r = c.receive("ping");
    ASSERT_TRUE(r) << "after " << i << " replies";
    ASSERT_TRUE(r->rid);
    seen.insert(*r->rid);
  }
  for (auto& s : senders) s.join();
  EXPECT_EQ(seen.size(), threads * per_thread);
  EXPECT_EQ(*seen.begin(), 1u);
  EXPECT_EQ(*seen.rbegin(), threads * per_thread);
  EXPECT_EQ(stats().unroutable.load(), 0u);
}

TEST_F(RouterServer, CountsAReplyToAnUnknownPeerAsUnroutable) {
  start();
  srv_->send(peer{"nobody", false}, {1, schema::ping_reply{}});
  EXPECT_TRUE(eventually([&] { return stats().unroutable.load() == 1; }));
  srv_->send(peer{"", true}, {2, schema::ping_reply{}});
  EXPECT_TRUE(eventually([&] { return stats().unroutable.load() == 2; }));
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(c, 3);
}

TEST_F(RouterServer, CountsRepliesToADisconnectedPeerAsUnroutable) {
  start();
  peer gone;
  {
    client c(ctx_, zmq::socket_type::dealer, endpoint_);
    gone = pinged_peer(c, 1);
  }
  // The ROUTER learns of the disconnect asynchronously: until then a reply
  // still enters the dead pipe and vanishes. Keep replying until one is
  // refused.
  uint64_t rid = 100;
  EXPECT_TRUE(eventually([&] {
    srv_->send(gone, {rid++, schema::ping_reply{}});
    std::this_thread::sleep_for(5ms);
    return stats().unroutable.load() > 0;
  }));
  client d(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(d, 2);
}

TEST_F(RouterServer, DropsRepliesToAClientThatDoesNotReadAndServesOthers) {
  start();
  client slow(ctx_, zmq::socket_type::dealer, endpoint_);
  const peer to = pinged_peer(slow, 0);
  // More replies than the send HWM (10000) plus what the sockets buffer; one
  // shared 64 KiB payload, so memory stays small.
  constexpr uint64_t total = 25000;
  const schema::buffer payload = pattern(0, 64 * 1024);
  // The ping's reply is counted just after it is sent: wait for it.
  ASSERT_TRUE(eventually([&] { return stats().replies.load() == 1; }));
  for (uint64_t i = 0; i < total; ++i)
    srv_->send(to, {i, schema::download_reply{"AAAAAAAAAAAA", 0, payload.size(),
                                              true, payload}});
  EXPECT_TRUE(eventually([&] {
    return stats().replies.load() - 1 + stats().unroutable.load() == total;
  }));
  EXPECT_GT(stats().unroutable.load(), 0u);
  client other(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(other, 1);
}

}  // namespace
}  // namespace depot::transport
