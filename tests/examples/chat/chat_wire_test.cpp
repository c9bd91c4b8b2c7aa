// The helpers of examples/chat/chat_wire.hpp: event lines, numbers, names
// and receiving a message from a peer that sends too many frames.

#include "examples/chat/chat_wire.hpp"

#include <gtest/gtest.h>
#include <zmq.hpp>

#include <string>
#include <vector>

namespace depot::test {
namespace {

TEST(ChatEventLine, EscapedFieldsSplitBackIntoThemselves) {
  const std::vector<std::string> fields{
      "msg", "alice", "#team", "a\ttab, a\nnewline, a \\ and \\t", "", "\r"};
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i)
    line += (i ? "\t" : "") + chat::escape(fields[i]);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(chat::split_event(line), fields);
}

TEST(ChatNumber, TakesPlainDecimalsOnly) {
  EXPECT_EQ(chat::parse_number("0"), 0u);
  EXPECT_EQ(chat::parse_number("20971520"), 20971520u);
  EXPECT_EQ(chat::parse_number("9999999999999999999"), 9999999999999999999u);
  for (const char* bad :
       {"", "-1", "+1", "1 ", " 1", "0x10", "1e3", "12345678901234567890"})
    EXPECT_FALSE(chat::parse_number(bad).has_value()) << bad;
}

TEST(ChatName, IsPrintableAsciiWithoutSpacesOrHash) {
  EXPECT_TRUE(chat::valid_name("alice"));
  EXPECT_TRUE(chat::valid_name(std::string(64, 'a')));
  for (const std::string& bad :
       {std::string(), std::string(65, 'a'), std::string("a b"),
        std::string("a#b"), std::string("a\tb"), std::string("\xc3\xa9")})
    EXPECT_FALSE(chat::valid_name(bad)) << bad;
  EXPECT_TRUE(chat::valid_target("#team"));
  EXPECT_TRUE(chat::valid_target("bob"));
  EXPECT_FALSE(chat::valid_target("#"));
  EXPECT_FALSE(chat::valid_target("##team"));
}

TEST(ChatReceive, KeepsAtMostOneFrameBeyondTheLimitAndTheWholeMessageGoes) {
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  router.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::linger, 0);
  router.bind("inproc://chat-wire-test");
  dealer.connect("inproc://chat-wire-test");
  for (int i = 0; i < 100; ++i)
    dealer.send(zmq::buffer(std::to_string(i)), zmq::send_flags::sndmore);
  dealer.send(zmq::str_buffer("last"), zmq::send_flags::none);
  dealer.send(zmq::str_buffer("next"), zmq::send_flags::none);

  chat::frames m;
  zmq::message_t identity;
  zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
  ASSERT_EQ(zmq::poll(&item, 1, std::chrono::milliseconds(5000)), 1);
  ASSERT_TRUE(chat::receive(router, m, &identity));
  EXPECT_GT(identity.size(), 0u);
  ASSERT_EQ(m.size(), chat::max_frames + 1);
  EXPECT_EQ(chat::field(m, 0), "0");
  EXPECT_EQ(chat::field(m, chat::max_frames), "8");
  EXPECT_EQ(chat::field(m, 99), "");  // past the end: empty
  // The rest of that message was read and dropped: the next one is whole.
  ASSERT_TRUE(chat::receive(router, m, &identity));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(chat::field(m, 0), "next");
  EXPECT_FALSE(chat::receive(router, m, &identity));
}

}  // namespace
}  // namespace depot::test
