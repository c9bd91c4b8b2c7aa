// The CLI's text helpers.

#include "client/cli/output.hpp"

#include "tests/client/mini_json.hpp"

#include <gtest/gtest.h>

namespace depot::cli {
namespace {

TEST(JsonString, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_string("x\ny\tz\x01"), "\"x\\ny\\tz\\u0001\"");
  EXPECT_EQ(json_string("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

TEST(JsonMeta, WritesProtocolKeysInOrderAndParses) {
  client::file_meta m{
      "rbWeBrTIp1Js", "he said \"hi\".txt", 12, std::string(64, 'a'),
      "text/plain",   1700000000000,        2};
  std::string text = json_meta(m);
  EXPECT_EQ(text.find("{\"id\":\"rbWeBrTIp1Js\",\"name\":"), 0u) << text;
  auto v = test::json::parse(text);
  EXPECT_EQ(v["name"].str(), m.name);
  EXPECT_EQ(v["size"].number(), 12u);
  EXPECT_EQ(v["created"].number(), 1700000000000u);
  EXPECT_EQ(v["refs"].number(), 2u);
}

TEST(JsonError, NamesTimeoutsAsSuch) {
  client::error e{client::errc::io_error, "no reply",
                  client::error_source::timeout};
  EXPECT_EQ(json_error(e), "{\"error\":\"timeout\",\"message\":\"no reply\"}");
  e.source = client::error_source::server;
  e.code = client::errc::not_found;
  EXPECT_EQ(json_error(e),
            "{\"error\":\"not_found\",\"message\":\"no reply\"}");
}

TEST(HumanBytes, UsesBinaryUnits) {
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(1023), "1023 B");
  EXPECT_EQ(human_bytes(1536), "1.50 KiB");
  EXPECT_EQ(human_bytes(uint64_t{5} << 20), "5.00 MiB");
  EXPECT_EQ(human_bytes(uint64_t{300} << 30), "300 GiB");
}

TEST(HumanTime, FormatsUtc) {
  EXPECT_EQ(human_time(0), "1970-01-01 00:00:00");
  EXPECT_EQ(human_time(1700000000123), "2023-11-14 22:13:20");
}

TEST(HumanDuration, PicksUnits) {
  EXPECT_EQ(human_duration(42), "42s");
  EXPECT_EQ(human_duration(185), "3m05s");
  EXPECT_EQ(human_duration(7260), "2h01m");
}

}  // namespace
}  // namespace depot::cli
