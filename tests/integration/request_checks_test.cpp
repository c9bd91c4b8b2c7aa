// docs/protocol.md's checks of a request after its framing, over real
// sockets: the version, the op, the upload name and the declared sha256
// and mime.

#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/raw_msgpack.hpp"
#include "testkit/wire_client.hpp"
#include "tests/integration/framing_test_support.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

namespace depot::test {
namespace {

using namespace test_support;

TEST(Version, OtherThanOneIsUnsupportedVersion) {
  test_depotd d;
  wire_client c(d.endpoint());
  expect_all(c,
             {
                 {"v=2",
                  {mp::header({{"op", mp::str("ping")},
                               {"rid", mp::uint(8)},
                               {"v", mp::uint(2)}})},
                  "unsupported_version"},
                 {"v=0",
                  {mp::header({{"op", mp::str("ping")},
                               {"rid", mp::uint(8)},
                               {"v", mp::uint(0)}})},
                  "unsupported_version"},
                 // v is checked before op and before the op's keys and frames.
                 {"v=2 with an unknown op",
                  {mp::header({{"op", mp::str("frobnicate")},
                               {"rid", mp::uint(8)},
                               {"v", mp::uint(2)}})},
                  "unsupported_version"},
                 {"v=2 on a chunk without payload",
                  {mp::header({{"op", mp::str("chunk")},
                               {"rid", mp::uint(8)},
                               {"v", mp::uint(2)}})},
                  "unsupported_version"},
             },
             8);
  auto r = raw_call(c, {mp::header({{"op", mp::str("ping")},
                                    {"rid", mp::uint(8)},
                                    {"v", mp::uint(1)}})});
  EXPECT_EQ(code(r), "ok");
}

TEST(Op, NotOnThePageIsUnknownOp) {
  test_depotd d;
  wire_client c(d.endpoint());
  expect_all(
      c,
      {
          {"frobnicate",
           {mp::header({{"op", mp::str("frobnicate")}, {"rid", mp::uint(6)}})},
           "unknown_op"},
          {"PING in capitals",
           {mp::header({{"op", mp::str("PING")}, {"rid", mp::uint(6)}})},
           "unknown_op"},
          {"empty op",
           {mp::header({{"op", mp::str("")}, {"rid", mp::uint(6)}})},
           "unknown_op"},
          // op is checked before the frame count.
          {"unknown op with a payload",
           {mp::header({{"op", mp::str("put")}, {"rid", mp::uint(6)}}),
            "payload"},
           "unknown_op"},
      },
      6);
}

TEST(UploadName, BrokenNamesAreBadRequests) {
  test_depotd d;
  wire_client c(d.endpoint());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"256 bytes", std::string(256, 'a')},
      {"slash", "dir/file.txt"},
      {"only a slash", "/"},
      {"NUL", std::string("a\0b", 3)},
      {"newline", "a\nb"},
      {"U+001F", "a\x1f"},
      {"DEL U+007F", "a\x7f"},
      {"U+0080", "a\xc2\x80"},
      {"U+009F", "a\xc2\x9f"},
      {"invalid byte 0xff", "a\xff"},
      {"lone continuation byte", "a\x80"},
      {"truncated sequence", "a\xe6\x96"},
      {"overlong slash", "a\xc0\xaf"},
      {"surrogate", "a\xed\xa0\x80"},
      {"above U+10FFFF", "a\xf4\x90\x80\x80"},
  };
  for (const auto& [what, name] : bad) {
    schema::upload_request req;
    req.name = name;
    auto r = c.call(req);
    EXPECT_EQ(code(r), "bad_request") << what << ": " << describe(r);
  }
  const std::vector<std::pair<std::string, std::string>> good = {
      {"255 bytes", std::string(255, 'a')},
      {"unicode", "h\xc3\xa9llo \xe6\x96\x87\xe4\xbb\xb6.txt"},
      {"U+00A0 after the C1 range", "a\xc2\xa0"},
      {"emoji", "\xf0\x9f\x93\x81 folder"},
      {"spaces and dots", ".. hidden .file"},
  };
  for (const auto& [what, name] : good) {
    schema::upload_request req;
    req.name = name;
    auto r = c.call(req);
    EXPECT_EQ(code(r), "ok") << what << ": " << describe(r);
  }
}

TEST(UploadName, TheFirstUploadsNameIsStoredAsGiven) {
  test_depotd d;
  wire_client c(d.endpoint());
  upload_options o;
  o.name = "h\xc3\xa9llo \xe6\x96\x87\xe4\xbb\xb6.txt";
  auto f = store_content(c, "named", o);
  EXPECT_EQ(f.name, o.name);
  EXPECT_EQ(as<schema::stat_reply>(stat_of(c, f.id)).file.name, o.name);
}

TEST(UploadDeclarations, BrokenSha256OrMimeAreBadRequests) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto with = [](std::optional<std::string> sha,
                 std::optional<std::string> mime) {
    schema::upload_request req;
    req.name = "x";
    req.sha256 = sha;
    req.mime = mime;
    return req;
  };
  std::string hex64 = sha256_hex("x");
  EXPECT_EQ(code(c.call(with(hex64.substr(1), std::nullopt))), "bad_request")
      << "63 digits";
  EXPECT_EQ(code(c.call(with(hex64 + "0", std::nullopt))), "bad_request")
      << "65 digits";
  EXPECT_EQ(code(c.call(with("g" + hex64.substr(1), std::nullopt))),
            "bad_request")
      << "not hex";
  EXPECT_EQ(code(c.call(with("", std::nullopt))), "bad_request") << "empty";
  std::string longest_mime = "text/plain; p=" + std::string(241, 'm');
  EXPECT_EQ(code(c.call(with(std::nullopt, longest_mime + "m"))), "bad_request")
      << "mime of 256 bytes";
  EXPECT_EQ(code(c.call(with(std::nullopt, longest_mime))), "ok");
  std::string upper = hex64;
  for (auto& ch : upper)
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_EQ(code(c.call(with(upper, std::nullopt))), "ok") << "either case";
}

}  // namespace
}  // namespace depot::test
