// The ROUTER server against malformed requests and frames at its size limits:
// each gets an error reply and the server goes on serving.

#include "tests/transport/server_test_support.hpp"

#include <gtest/gtest.h>
#include <zmq.hpp>

#include <string>
#include <vector>

namespace depot::transport {
namespace {

using namespace test_support;

TEST_F(RouterServer, AnswersAGarbageHeaderWithBadRequestAndKeepsServing) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send_raw({"this is not msgpack"});
  expect_error(c.receive("ping"), errc::bad_request, std::nullopt);
  expect_ping(c, 5);
  EXPECT_EQ(handled(), 1u);
}

TEST_F(RouterServer, AnswersAMsgpackBombWithBadRequest) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send_raw({"\xdd\xff\xff\xff\xff"s});
  expect_error(c.receive("ping"), errc::bad_request, std::nullopt);
  c.send_raw({"\xdd\xff\x00\x00\x00"s});
  expect_error(c.receive("ping"), errc::bad_request, std::nullopt);
  expect_ping(c, 1);
}

TEST_F(RouterServer, AnswersAnEmptyMessageWithBadRequest) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send_raw({""});
  auto frames = c.receive_raw();
  ASSERT_EQ(frames.size(), 1u);  // a lone empty frame is no REQ delimiter
  expect_error(client::decode(frames, "ping"), errc::bad_request, std::nullopt);
  EXPECT_EQ(handled(), 0u);
}

TEST_F(RouterServer, AnswersAnEmptyHeaderAfterTheDelimiterWithBadRequest) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send_raw({"", ""});
  auto frames = c.receive_raw();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].size(), 0u);
  frames.erase(frames.begin());
  expect_error(client::decode(frames, "ping"), errc::bad_request, std::nullopt);
}

TEST_F(RouterServer, AnswersAnEmptyReqMessageWithBadRequest) {
  start();
  client c(ctx_, zmq::socket_type::req, endpoint_);
  c.send_raw({""});
  expect_error(c.receive("ping"), errc::bad_request, std::nullopt);
  expect_ping(c, 2);  // the REQ state machine got its reply
}

TEST_F(RouterServer, AnswersExtraFramesWithBadRequestEchoingTheRid) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send_raw({header_of(ping(3)), "unexpected"});
  expect_error(c.receive("ping"), errc::bad_request, 3);
  std::vector<std::string> many(100, "x");
  many[0] = header_of(ping(4));
  c.send_raw(many);
  auto r = c.receive("ping");
  expect_error(r, errc::bad_request, 4);
  if (r) {
    EXPECT_NE(std::get<schema::error_reply>(r->body).message.find("100"),
              std::string::npos);
  }
  c.send_raw({header_of(chunk(5, pattern(0, 4)))});  // no payload
  expect_error(c.receive("chunk"), errc::bad_request, 5);
  EXPECT_EQ(handled(), 0u);
  EXPECT_EQ(stats().malformed.load(), 3u);
}

TEST_F(RouterServer, AnswersUnknownOpsAndVersionsEchoingTheRid) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  // {"op": "nope", "rid": 7}
  c.send_raw({"\x82\xa2op\xa4nope\xa3rid\x07"s});
  expect_error(c.receive("ping"), errc::unknown_op, 7);
  // {"op": "ping", "rid": 8, "v": 2}
  c.send_raw({"\x83\xa2op\xa4ping\xa3rid\x08\xa1v\x02"s});
  expect_error(c.receive("ping"), errc::unsupported_version, 8);
}

TEST_F(RouterServer, AnswersInternalWhenTheHandlerThrows) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send({11, schema::stat_request{"AAAAAAAAAAAA"}});
  expect_error(c.receive("stat"), errc::internal, 11);
  c.send({12, schema::delete_request{"AAAAAAAAAAAA"}});
  expect_error(c.receive("delete"), errc::internal, 12);
  expect_ping(c, 13);
}

TEST_F(RouterServer, CountsRequestsMalformedAndReplies) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(c, 1);
  c.send_raw({"?"});
  ASSERT_TRUE(c.receive("ping"));
  EXPECT_EQ(stats().requests.load(), 2u);
  EXPECT_EQ(stats().malformed.load(), 1u);
  EXPECT_TRUE(eventually([&] { return stats().replies.load() == 2; }));
  EXPECT_EQ(stats().unroutable.load(), 0u);
  EXPECT_EQ(stats().dropped.load(), 0u);
}

// --- limits ------------------------------------------------------------------

TEST_F(RouterServer, TakesAChunkOfExactlyMaxPayload) {
  constexpr size_t max_payload = 64 * 1024;
  start(options_for({"tcp://127.0.0.1:0"}, max_payload));
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send(chunk(1, pattern(0, max_payload)));
  auto r = c.receive("chunk");
  if (auto* a = body_as<schema::chunk_reply>(r)) {
    EXPECT_EQ(a->received, max_payload);
  }
}

TEST_F(RouterServer, NeverHandsAFrameOverMaxMsgSizeToTheHandler) {
  constexpr size_t max_payload = 64 * 1024;
  start(options_for({"tcp://127.0.0.1:0"}, max_payload));
  client big(ctx_, zmq::socket_type::dealer, endpoint_);
  client other(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(other, 1);
  // Over max_payload + header limit + 1 KiB: libzmq drops the connection.
  big.send(chunk(2, pattern(0, max_payload + 16 * 1024)));
  expect_ping(other, 3);
  // `big` reconnects by itself (with a new routing id); a ping written on
  // the dropped connection is lost with it, so retry.
  bool answered = false;
  big.socket().set(zmq::sockopt::rcvtimeo, 300);
  for (uint64_t rid = 10; rid < 40 && !answered; ++rid) {
    big.send(ping(rid));
    std::vector<zmq::message_t> frames;
    while (!(frames = big.receive_raw()).empty()) {
      auto r = client::decode(frames, "ping");
      ASSERT_TRUE(r);
      body_as<schema::ping_reply>(r);
      answered = true;
    }
  }
  EXPECT_TRUE(answered);
  EXPECT_TRUE(chunks().empty());
}

}  // namespace
}  // namespace depot::transport
