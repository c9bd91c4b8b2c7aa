// docs/protocol.md's rule that every string depot stores or echoes is valid
// UTF-8: request strings that are not are bad requests, a `mime` must be a
// well-formed media type, and an error reply's message never carries bytes
// that are not valid UTF-8 or control characters.

#include "schema/codec.hpp"
#include "testkit/utf8.hpp"
#include "tests/schema/codec_test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace depot::schema {
namespace {

using test_support::expect_failure;
using test_support::expect_request;
using test_support::frames_for;
using test_support::from_hex;
using test_support::to_spaced_hex;
using test_support::valid_header;

decode_failure upload_with_mime(const std::string& mime) {
  return expect_failure({valid_header("upload").str("mime", mime).frame()});
}

std::string header_of(const reply& r) {
  auto frames = encode_reply(r);
  return {reinterpret_cast<const char*>(frames[0].data()), frames[0].size()};
}

// --- strings that are not UTF-8 ------------------------------------------

TEST(RequestDecoderText, RejectsAMimeThatIsNotUtf8) {
  for (std::string mime : {"text/\xff", "\xff\xfe/plain", "text/plain\xc3",
                           "text/plain; charset=\xed\xa0\x80"}) {
    auto f = upload_with_mime(mime);
    EXPECT_EQ(f.code, errc::bad_request) << to_spaced_hex(mime);
    EXPECT_EQ(f.rid, 42u);
    EXPECT_NE(f.message.find("'mime'"), std::string::npos) << f.message;
    EXPECT_TRUE(test::is_valid_utf8(f.message)) << to_spaced_hex(f.message);
  }
}

TEST(RequestDecoderText, RejectsANameThatIsNotUtf8) {
  auto f =
      expect_failure({valid_header("upload").str("name", "\xff\xfe").frame()});
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_TRUE(test::is_valid_utf8(f.message));
}

TEST(RequestDecoderText, RejectsATokenThatIsNotUtf8) {
  for (std::string op : {"chunk", "upload_status", "abort"}) {
    for (std::string token : {"\xff\xfe", "tok\x80", "\xc0\xaf"}) {
      auto f =
          expect_failure(frames_for(op, valid_header(op).str("upload", token)));
      EXPECT_EQ(f.code, errc::bad_request) << op << " " << to_spaced_hex(token);
      EXPECT_EQ(f.rid, 42u);
      EXPECT_NE(f.message.find("'upload'"), std::string::npos) << f.message;
      EXPECT_TRUE(test::is_valid_utf8(f.message)) << to_spaced_hex(f.message);
    }
  }
}

TEST(RequestDecoderText, RejectsAFileIdOrAfterThatIsNotUtf8) {
  std::string id = "AbCdEf01234\xff";
  for (std::string op : {"download", "stat", "delete"}) {
    auto f = expect_failure(frames_for(op, valid_header(op).str("file", id)));
    EXPECT_EQ(f.code, errc::bad_request) << op;
    EXPECT_TRUE(test::is_valid_utf8(f.message));
  }
  auto f =
      expect_failure(frames_for("list", valid_header("list").str("after", id)));
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_TRUE(test::is_valid_utf8(f.message));
}

TEST(RequestDecoderText, AcceptsAUtf8TokenAndEchoesItUnchanged) {
  std::string token = "t\xc3\xa9-\xf0\x9f\x98\x80";
  auto r = expect_request<upload_status_request>(frames_for(
      "upload_status", valid_header("upload_status").str("upload", token)));
  EXPECT_EQ(r.upload, token);
}

// --- the mime grammar
// ----------------------------------------------------------

TEST(RequestDecoderText, RejectsControlCharactersInAMime) {
  for (const std::string& mime : std::vector<std::string>{
           "text/plain\x1b[31m", std::string("text/pl\0ain", 11),
           "text/plain\n", "text/plain\r\nX-Evil: 1", "text/plain\x7f",
           "text/plain\t", "text/plain; a=\"\x1b\"", "text/plain\xc2\x85"}) {
    auto f = upload_with_mime(mime);
    EXPECT_EQ(f.code, errc::bad_request) << to_spaced_hex(mime);
    EXPECT_TRUE(test::is_valid_utf8(f.message));
    for (char c : f.message)
      EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          << "a raw control character in: " << to_spaced_hex(f.message);
  }
}

TEST(RequestDecoderText, RejectsMalformedMimes) {
  const std::vector<std::string> bad = {
      "text",
      "a/b/c",
      "text/",
      "/plain",
      "/",
      "text /plain",
      "text/ plain",
      " text/plain",
      "text/plain ",
      "-text/plain",        // a name starts with a letter or digit
      "text/.plain",        // the subtype too
      "te(xt/plain",        // not a restricted-name character
      "t\xc3\xa9xt/plain",  // UTF-8, but not a restricted-name character
      std::string(128, 'a') + "/b",  // type longer than 127
      "a/" + std::string(128, 'b'),  // subtype longer than 127
      "text/plain;",
      "text/plain; ",
      "text/plain; charset",
      "text/plain; charset=",
      "text/plain; =utf-8",
      "text/plain; charset=utf 8",
      "text/plain; charset=\"utf-8",  // unterminated quoted string
      "text/plain; charset=\"a\\",    // quoted-pair at the end
      "text/plain;; charset=utf-8",
      "text/plain; charset=utf-8; ",
      "text/plain; p=" + std::string(242, 'x'),  // 256 bytes
  };
  for (const std::string& mime : bad) {
    auto f = upload_with_mime(mime);
    EXPECT_EQ(f.code, errc::bad_request) << "'" << mime << "'";
    EXPECT_NE(f.message.find("'mime'"), std::string::npos) << f.message;
  }
}

TEST(RequestDecoderText, AcceptsWellFormedMimesAsTheyAre) {
  const std::vector<std::string> good = {
      "text/plain",
      "TEXT/Plain",
      "image/svg+xml",
      "application/octet-stream",
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      "application/x-test",
      "audio/x-wav",
      "application/x-c++src",
      "a/b",
      "1/2",
      "text/plain; charset=utf-8",
      "text/plain;charset=UTF-8",
      "text/plain  ;  charset=utf-8",
      "multipart/form-data; boundary=\"a b;c=d\\\"e\"",
      "text/plain; a=1; b=\"\"; c=!#$%&'*+-.^_`|~",
      std::string(127, 'a') + "/" + std::string(127, 'b'),  // 255 bytes
      "text/plain; p=" + std::string(241, 'x'),             // 255 bytes
  };
  for (const std::string& mime : good) {
    auto up = expect_request<upload_request>(
        {valid_header("upload").str("mime", mime).frame()});
    EXPECT_EQ(up.mime, mime);
  }
}

// --- replies
// -------------------------------------------------------------------

TEST(ReplyEncoderText, EscapesBytesThatAreNotUtf8InAnErrorMessage) {
  // {"rid": 7, "ok": false, "error": "unknown_upload",
  //  "message": "no upload \\xff\\xfe"}: the two bytes as 8 ASCII characters.
  std::string header = header_of(
      {7, error_reply{errc::unknown_upload, "no upload \xff\xfe", {}}});
  EXPECT_EQ(
      to_spaced_hex(header),
      to_spaced_hex(from_hex(
          "84 a3 72 69 64 07 a2 6f 6b c2"
          " a5 65 72 72 6f 72 ae 75 6e 6b 6e 6f 77 6e 5f 75 70 6c 6f 61 64"
          " a7 6d 65 73 73 61 67 65"
          " b2 6e 6f 20 75 70 6c 6f 61 64 20 5c 78 66 66 5c 78 66 65")));
}

TEST(ReplyEncoderText, EscapesControlCharactersInAnErrorMessage) {
  auto decoded = test_support::expect_reply<error_reply>(
      encode_reply({1, error_reply{errc::bad_request,
                                   "a\x1b[2J\nb\x7f\xc2\x85 c\xc3\xa9",
                                   {}}}),
      "ping");
  EXPECT_EQ(decoded.message, "a\\x1b[2J\\x0ab\\x7f\\u0085 c\xc3\xa9");
}

TEST(ReplyEncoderText, NeverWritesAMessageThatIsNotUtf8) {
  // Every single byte, every pair of a lead byte and a following byte, and
  // truncated sequences.
  std::vector<std::string> messages;
  for (int a = 0; a < 256; ++a) {
    messages.push_back(std::string(1, static_cast<char>(a)));
    for (int b : {0x00, 0x41, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff})
      messages.push_back(
          std::string{static_cast<char>(a), static_cast<char>(b)} + "\x80\x80");
  }
  for (const std::string& m : messages) {
    std::string header = header_of({1, error_reply{errc::internal, m, {}}});
    EXPECT_TRUE(test::all_strings_utf8(header)) << to_spaced_hex(m);
  }
}

TEST(ReplyEncoderText, KeepsAValidMessageUnchanged) {
  std::string text =
      "name is 300 bytes long; r\xc3\xa9sum\xc3\xa9 \xf0\x9f\x98\x80";
  auto decoded = test_support::expect_reply<error_reply>(
      encode_reply({1, error_reply{errc::bad_request, text, {}}}), "ping");
  EXPECT_EQ(decoded.message, text);
}

}  // namespace
}  // namespace depot::schema
