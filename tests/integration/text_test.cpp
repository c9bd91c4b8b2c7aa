// docs/protocol.md's UTF-8 rule over real sockets: a request string that is not
// valid UTF-8 (or a `mime` that is no media type) is refused, so one bad
// upload cannot make `list` undecodable for everyone, and no reply carries
// request bytes that are not valid UTF-8. Replies are checked raw, with the
// test's own UTF-8 oracle, as a strict client (msgpack raw=False) sees them.

#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/planted_meta.hpp"
#include "testkit/raw_msgpack.hpp"
#include "testkit/utf8.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>

#include <string>

namespace depot::test {
namespace {

// Sends `body` without a rid and returns the raw header frame of its reply.
std::string raw_reply_header(wire_client& c, schema::request_body body) {
  c.send_with_rid(std::nullopt, std::move(body));
  frames f = c.receive_frames();
  return f.empty() ? std::string{} : f[0];
}

TEST(TextRule, AnUploadWithAMimeThatIsNotUtf8IsRefusedAndListStaysDecodable) {
  test_depotd d;
  wire_client c(d.endpoint());
  store_content(c, "a good file", {});
  for (std::string mime : {"text/\xff\xfe", "text/plain\x1b[31m", "text"}) {
    upload_options o;
    o.mime = mime;
    auto r = upload_content(c, "a bad file " + mime, o);
    EXPECT_EQ(code(r), "bad_request") << describe(r);
  }
  std::string header = raw_reply_header(c, schema::list_request{});
  EXPECT_TRUE(all_strings_utf8(header));
  auto list = as<schema::list_reply>(decode_frames({header}, "list"));
  ASSERT_EQ(list.files.size(), 1u);
  EXPECT_NE(list.files[0].mime.find('/'), std::string::npos);
}

TEST(TextRule, UploadStatusOfATokenThatIsNotUtf8GetsAReplyOfValidUtf8) {
  test_depotd d;
  wire_client c(d.endpoint());
  for (std::string token : {"\xff\xfe", "ok\xc3", "\xed\xa0\x80"}) {
    std::string header =
        raw_reply_header(c, schema::upload_status_request{token});
    EXPECT_TRUE(all_strings_utf8(header)) << "token " << token.size();
    EXPECT_EQ(code(decode_frames({header}, "upload_status")), "bad_request");
  }
  // Still serving, and a valid UTF-8 token that was never issued is unknown.
  EXPECT_EQ(code(c.call(schema::abort_request{"t\xc3\xa9"})), "unknown_upload");
}

TEST(TextRule, AFileStoredWithABadMimeByAnOlderServerIsServedAsOctetStream) {
  DEPOT_POSIX_STORE_ONLY();
  test_depotd d;
  std::string id;
  {
    wire_client c(d.endpoint());
    id = store_content(c, "stored long ago", {}).id;
  }
  d.stop();
  plant_mime(meta_path(d.root(), id), "text/plain\xff\x1b[2J");
  d.restart();
  wire_client c(d.endpoint());
  std::string stat = raw_reply_header(c, schema::stat_request{id});
  EXPECT_TRUE(all_strings_utf8(stat));
  EXPECT_EQ(as<schema::stat_reply>(decode_frames({stat}, "stat")).file.mime,
            "application/octet-stream");
  std::string list = raw_reply_header(c, schema::list_request{});
  EXPECT_TRUE(all_strings_utf8(list));
  auto page = as<schema::list_reply>(decode_frames({list}, "list"));
  ASSERT_EQ(page.files.size(), 1u);
  EXPECT_EQ(page.files[0].mime, "application/octet-stream");
  // A dedup of it answers with the same metadata.
  auto dedup =
      as<schema::chunk_done_reply>(upload_content(c, "stored long ago", {}));
  EXPECT_TRUE(dedup.dedup);
  EXPECT_EQ(dedup.file.mime, "application/octet-stream");
}

TEST(TextRule, EveryReplyToRequestsWithRandomStringsIsValidUtf8) {
  test_depotd d;
  wire_client c(d.endpoint());
  int checked = 0;
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    std::string text = random_bytes(1 + seed % 16, seed);
    schema::upload_request named{text, {}, {}, {}};
    schema::upload_request typed{"x", {}, {}, text};
    schema::chunk_request chunk{text, 0, true, schema::buffer::copy_of("p")};
    const schema::request_body bodies[] = {
        named,
        typed,
        chunk,
        schema::upload_status_request{text},
        schema::abort_request{text},
        schema::download_request{text, 0, {}},
        schema::stat_request{text},
        schema::delete_request{text},
        schema::list_request{text, 10},
    };
    for (const auto& body : bodies) {
      std::string header = raw_reply_header(c, body);
      EXPECT_TRUE(all_strings_utf8(header))
          << schema::op_name(body) << " with seed " << seed;
      ++checked;
    }
    c.send_frames({mp::header({{"op", mp::str(text)}})});
    EXPECT_TRUE(all_strings_utf8(c.receive_frames().at(0)))
        << "op with seed " << seed;
  }
  EXPECT_EQ(checked, 150 * 9);
}

}  // namespace
}  // namespace depot::test
