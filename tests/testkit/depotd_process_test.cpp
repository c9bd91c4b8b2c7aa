// The test kit's own contracts: the depotd launcher reads back the port
// depotd picked and keeps it across a restart, and says why a start failed;
// pause_process() stops a server before it returns; the content oracle
// agrees with FIPS 180-4's examples.

#include "testkit/child_process.hpp"
#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>
#include <zmq.hpp>

#include <signal.h>
#include <stdexcept>
#include <string>

namespace depot::test {
namespace {

TEST(DepotdProcess, ListensOnThePortDepotdPickedAndAnswersPing) {
  test_depotd d;
  const std::string prefix = "tcp://127.0.0.1:";
  ASSERT_EQ(d.endpoint().rfind(prefix, 0), 0u) << d.endpoint();
  EXPECT_NE(d.endpoint(), prefix + "0");
  EXPECT_NE(d.log().find("serving on " + d.endpoint()), std::string::npos);
  wire_client c(d.endpoint());
  EXPECT_EQ(code(c.call(schema::ping_request{})), "ok");
}

TEST(DepotdProcess, RestartKeepsTheRootAndTheEndpoint) {
  test_depotd d;
  const std::string endpoint = d.endpoint();
  schema::file_meta stored;
  {
    wire_client c(endpoint);
    stored = store_content(c, "kept across a restart");
  }
  EXPECT_EQ(d.stop(), 0);
  EXPECT_FALSE(d.running());
  d.restart();
  EXPECT_EQ(d.endpoint(), endpoint);
  wire_client c(endpoint);
  EXPECT_EQ(as<schema::stat_reply>(stat_of(c, stored.id)).file, stored);
}

TEST(DepotdProcess, AStartThatFailsThrowsWithTheEndOfTheLog) {
  try {
    depotd_process d({"--no-such-flag"});
    FAIL() << "depotd started with an unknown flag";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-flag"), std::string::npos)
        << e.what();
  }
}

TEST(DepotdProcess, RefusesALogLevelThatHidesTheStartUpLine) {
  EXPECT_THROW(depotd_process({"--log-level", "warn"}), std::invalid_argument);
}

TEST(DepotdProcess, AnInterruptAbandonsTheStart) {
  depotd_options options;
  options.interrupted = [] { return true; };
  EXPECT_THROW(depotd_process{std::move(options)}, std::runtime_error);
}

// Once pause_process() returns, no thread of depotd runs: a request sent
// then is answered only after SIGCONT. And a process that is gone is
// reported, not waited for.
TEST(DepotdProcess, APausedServerAnswersNothingUntilItContinues) {
  test_depotd d;
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(pause_process(d.pid()));
    wire_client c(d.endpoint());
    uint64_t rid = c.send(schema::ping_request{});
    zmq::pollitem_t item{c.socket().handle(), 0, ZMQ_POLLIN, 0};
    ASSERT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(round ? 20 : 300)),
              0)
        << "a paused depotd answered (round " << round << ")";
    ASSERT_EQ(::kill(d.pid(), SIGCONT), 0);
    EXPECT_EQ(code(c.receive(rid)), "ok");
  }
  const pid_t gone = d.pid();
  d.stop();
  EXPECT_FALSE(pause_process(gone, std::chrono::milliseconds(100)));
}

TEST(Content, Sha256MatchesTheFipsExamples) {
  EXPECT_EQ(sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(
      sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Content, RandomBytesAreTheSameForTheSameSeedOnly) {
  EXPECT_EQ(random_bytes(1001, 7), random_bytes(1001, 7));
  EXPECT_NE(random_bytes(1001, 7), random_bytes(1001, 8));
  EXPECT_EQ(random_bytes(13, 7), random_bytes(1001, 7).substr(0, 13));
}

}  // namespace
}  // namespace depot::test
