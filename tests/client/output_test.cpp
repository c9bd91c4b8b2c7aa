// The CLI's text helpers.

#include "client/cli/output.hpp"

#include "testkit/utf8.hpp"
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

TEST(JsonString, WritesBytesThatAreNotUtf8AsTextSoTheJsonStaysValid) {
  EXPECT_EQ(json_string("a\xff\xfe"), "\"a\\\\xff\\\\xfe\"");
  EXPECT_EQ(json_string("tr\xc3"), "\"tr\\\\xc3\"");
  std::string text =
      json_meta({"rbWeBrTIp1Js", "n\xff", 1, "", "text/\xfe", 0, 1});
  EXPECT_TRUE(test::is_valid_utf8(text)) << text;
  auto v = test::json::parse(text);
  EXPECT_EQ(v["mime"].str(), "text/\\xfe");
}

TEST(DisplayText, EscapesControlCharactersAndBytesThatAreNotUtf8) {
  EXPECT_EQ(display_text("plain r\xc3\xa9sum\xc3\xa9 \xf0\x9f\x98\x80"),
            "plain r\xc3\xa9sum\xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(display_text("a\x1b[2Jb"), "a\\x1b[2Jb");
  EXPECT_EQ(display_text(std::string("x\0y\nz\r\t\x7f", 8)),
            "x\\x00y\\x0az\\x0d\\x09\\x7f");
  EXPECT_EQ(display_text("c1\xc2\x9b"), "c1\\u009b");
  EXPECT_EQ(display_text("\xff\xfe"), "\\xff\\xfe");
}

TEST(ListRow, NeverHoldsARawControlCharacterWhateverTheServerSent) {
  client::file_meta m{"rbWeBrTIp1Js",
                      "evil\x1b]0;owned\x07\n.txt",
                      12,
                      std::string(64, 'a'),
                      "text/plain\x1b[2J\r\x1b[0m",
                      1700000000000,
                      1};
  std::string row = list_row(m);
  for (char c : row)
    EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
        << "raw control character " << int(c) << " in: " << row;
  EXPECT_EQ(row, std::string("rbWeBrTIp1Js") + "  " + "      12 B" + "  " +
                     "2023-11-14 22:13:20" + "  " +
                     "text/plain\\x1b[2J\\x0d\\x1b[0m" + "  " +
                     "evil\\x1b]0;owned\\x07\\x0a.txt");
}

TEST(ListRow, PadsColumnsLikeTheTableHeader) {
  client::file_meta m{"rbWeBrTIp1Js", "a.txt", 1536, "", "text/plain", 0, 1};
  EXPECT_EQ(list_row(m),
            "rbWeBrTIp1Js    1.50 KiB  1970-01-01 00:00:00  text/plain        "
            "        a.txt");
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
