// The ROUTER server's endpoints (wildcard ports and hosts, ipc, IPv6), its
// bind errors and its life cycle (run, stop, destruction).

#include "testkit/temp_dir.hpp"
#include "tests/transport/server_test_support.hpp"

#include <gtest/gtest.h>
#include <zmq.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace depot::transport {
namespace {

using namespace test_support;

TEST_F(RouterServer, ResolvesAWildcardPortInItsEndpoints) {
  start(options_for({"tcp://127.0.0.1:0", "tcp://127.0.0.1:*"}));
  auto eps = srv_->endpoints();
  ASSERT_EQ(eps.size(), 2u);
  uint64_t rid = 0;
  for (const std::string& ep : eps) {
    SCOPED_TRACE(ep);
    EXPECT_EQ(ep.rfind("tcp://127.0.0.1:", 0), 0u);
    std::string port = ep.substr(std::string("tcp://127.0.0.1:").size());
    EXPECT_FALSE(port.empty());
    EXPECT_NE(port, "0");
    EXPECT_NE(port, "*");
    client c(ctx_, zmq::socket_type::dealer, ep);
    expect_ping(c, ++rid);
  }
  EXPECT_NE(eps[0], eps[1]);
}

TEST_F(RouterServer, ResolvesTheWildcardHostAndServesIpv4ClientsOnIt) {
  start(options_for({"tcp://*:0"}));
  std::string port = endpoint_.substr(endpoint_.rfind(':') + 1);
  EXPECT_NE(port, "0") << endpoint_;
  client c(ctx_, zmq::socket_type::dealer, "tcp://127.0.0.1:" + port);
  expect_ping(c, 1);
}

TEST_F(RouterServer, ServesAnIpcEndpointInATempDir) {
  test::temp_dir dir;
  start(options_for({"ipc://" + (dir / "depot.sock")}));
  EXPECT_EQ(srv_->endpoints().at(0), "ipc://" + (dir / "depot.sock"));
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(c, 1);
  c.send(download(2, MiB));
  auto r = c.receive("download");
  if (auto* d = body_as<schema::download_reply>(r)) {
    EXPECT_EQ(first_mismatch(d->data, 0), MiB);
  }
}

TEST_F(RouterServer, ServesIpv6Loopback) {
  server probe({{"tcp://[::1]:0"}, MiB, 10s, 1000}, [](const peer&, auto) {});
  if (probe.bind()) GTEST_SKIP() << "no IPv6 loopback here";
  start(options_for({"tcp://[::1]:0"}));
  EXPECT_EQ(endpoint_.rfind("tcp://[::1]:", 0), 0u) << endpoint_;
  client c(ctx_, zmq::socket_type::dealer, endpoint_, {}, /*ipv6=*/true);
  expect_ping(c, 1);
}

TEST(RouterServerBind, ReturnsIoErrorForAnInvalidEndpoint) {
  for (std::string ep : {"bogus://nowhere", "tcp://127.0.0.1:notaport",
                         "tcp://no-such-interface-xyz:5555",
                         "ipc:///nonexistent-dir/depot/x.sock"}) {
    SCOPED_TRACE(ep);
    server s({{ep}, MiB, 10s, 1000}, [](const peer&, auto) {});
    caf::error err = s.bind();
    ASSERT_TRUE(err);
    EXPECT_EQ(schema::code_of(err), errc::io_error);
    EXPECT_NE(schema::message_of(err).find(ep), std::string::npos)
        << schema::message_of(err);
    EXPECT_TRUE(s.endpoints().empty());
  }
}

TEST(RouterServerBind, ReturnsIoErrorForAPortInUseAndReleasesWhatItBound) {
  auto quiet = [](const peer&, auto) {};
  server first({{"tcp://127.0.0.1:0"}, MiB, 10s, 1000}, quiet);
  ASSERT_FALSE(first.bind());
  std::string taken = first.endpoints().at(0);
  std::string free_port;
  {
    server probe({{"tcp://127.0.0.1:0"}, MiB, 10s, 1000}, quiet);
    ASSERT_FALSE(probe.bind());
    free_port = probe.endpoints().at(0);
  }
  server second({{free_port, taken}, MiB, 10s, 1000}, quiet);
  caf::error err = second.bind();
  ASSERT_TRUE(err);
  EXPECT_EQ(schema::code_of(err), errc::io_error);
  EXPECT_NE(schema::message_of(err).find(taken), std::string::npos)
      << schema::message_of(err);
  EXPECT_TRUE(second.endpoints().empty());
  // The endpoint bound before the failure was let go at once.
  server third({{free_port}, MiB, 10s, 1000}, quiet);
  EXPECT_FALSE(third.bind());
  // run() after a failed bind() returns at once.
  second.run();
}

TEST(RouterServerBind, ReturnsIoErrorWhenGivenNoEndpoint) {
  server s({{}, MiB, 10s, 1000}, [](const peer&, auto) {});
  caf::error err = s.bind();
  ASSERT_TRUE(err);
  EXPECT_EQ(schema::code_of(err), errc::io_error);
}

TEST(RouterServerBind, ReturnsIoErrorWhenBoundTwice) {
  server s({{"tcp://127.0.0.1:0"}, MiB, 10s, 1000}, [](const peer&, auto) {});
  ASSERT_FALSE(s.bind());
  caf::error err = s.bind();
  ASSERT_TRUE(err);
  EXPECT_EQ(schema::code_of(err), errc::io_error);
}

// --- life cycle --------------------------------------------------------------

TEST_F(RouterServer, ReturnsFromRunWithinASecondOfStopFromAnotherThread) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(c, 1);
  auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] { srv_->stop(); });
  io_.join();
  auto elapsed = std::chrono::steady_clock::now() - t0;
  stopper.join();
  EXPECT_LT(elapsed, 1s);
}

TEST_F(RouterServer, CountsRepliesSentAfterRunReturnedAsUnroutable) {
  start();
  stop_server();
  srv_->send(peer{"x", false}, {1, schema::ping_reply{}});
  EXPECT_EQ(stats().unroutable.load(), 1u);
}

TEST(RouterServerLifeCycle, ReturnsFromRunAtOnceWhenStoppedBeforeRun) {
  server s({{"tcp://127.0.0.1:0"}, MiB, 10s, 1000}, [](const peer&, auto) {});
  ASSERT_FALSE(s.bind());
  s.send(peer{"x", false}, {1, schema::ping_reply{}});  // queued, unroutable
  s.stop();
  s.run();
  EXPECT_EQ(s.stats().unroutable.load(), 1u);
}

TEST(RouterServerLifeCycle, IsDestroyedSafelyWithoutRun) {
  {
    server s({{"tcp://127.0.0.1:0"}, MiB, 10s, 1000}, [](const peer&, auto) {});
    ASSERT_FALSE(s.bind());
    s.send(peer{"x", false}, {1, schema::ping_reply{}});
    s.stop();
  }
  {
    server s({{"tcp://127.0.0.1:0"}, MiB, 10s, 1000}, [](const peer&, auto) {});
  }
}

TEST(RouterServerLifeCycle, ReturnsFromRunWithoutBind) {
  server s({{"tcp://127.0.0.1:0"}, MiB, 10s, 1000}, [](const peer&, auto) {});
  s.run();
  EXPECT_TRUE(s.endpoints().empty());
}

TEST(LoopbackEndpoints, AreIpcInprocAndTcpOnLoopbackOnly) {
  for (const char* e :
       {"ipc:///tmp/x.sock", "inproc://x", "tcp://127.0.0.1:5570",
        "tcp://127.1.2.3:0", "tcp://[::1]:5570", "tcp://[::ffff:127.0.0.1]:1",
        "tcp://localhost:5570", "tcp://lo:5570"})
    EXPECT_TRUE(is_loopback_endpoint(e)) << e;
  for (const char* e :
       {"tcp://0.0.0.0:5570", "tcp://*:5570", "tcp://[::]:5570",
        "tcp://10.0.0.1:5570", "tcp://eth0:5570", "tcp://example.com:5570",
        "tcp://128.0.0.1:1", "tcp://[::2]:1", "tcp://127.0.0.1", "pgm://x",
        "tcp://[::1:1"})
    EXPECT_FALSE(is_loopback_endpoint(e)) << e;
}

}  // namespace
}  // namespace depot::transport
