// decode_reply: what a client makes of a server's reply.

#include "schema/codec.hpp"
#include "tests/schema/codec_test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace depot::schema {
namespace {

using test_support::expect_reply;
using test_support::file_id;
using test_support::map_builder;
namespace mp = ::depot::test::mp;

decode_failure expect_reply_failure(const std::vector<buffer>& frames,
                                    std::string_view op) {
  auto result = decode_reply(frames, op);
  if (auto* f = std::get_if<decode_failure>(&result)) return *f;
  ADD_FAILURE() << "decoded although a failure was expected";
  return {std::nullopt, errc::internal, "<decoded>"};
}

TEST(ReplyDecoder, MapsUnknownErrorCodeToInternalKeepingTheMessage) {
  auto header = map_builder{}
                    .uint("rid", 3)
                    .boolean("ok", false)
                    .str("error", "disk_on_fire")
                    .str("message", "the disk is on fire");
  std::optional<uint64_t> rid;
  auto e = expect_reply<error_reply>({header.frame()}, "stat", &rid);
  EXPECT_EQ(rid, 3u);
  EXPECT_EQ(e.code, errc::internal);
  EXPECT_EQ(e.message, "the disk is on fire");
}

TEST(ReplyDecoder, TakesErrorReplyWithoutMessage) {
  auto header = map_builder{}.boolean("ok", false).str("error", "busy");
  auto e = expect_reply<error_reply>({header.frame()}, "upload");
  EXPECT_EQ(e.code, errc::busy);
  EXPECT_EQ(e.message, "");
}

TEST(ReplyDecoder, TakesErrorReplyToDownloadWithoutPayloadFrame) {
  auto frames = encode_reply({1, error_reply{errc::not_found, "gone", {}}});
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(expect_reply<error_reply>(frames, "download").code,
            errc::not_found);
}

TEST(ReplyDecoder, RejectsErrorReplyWithoutErrorCode) {
  auto f = expect_reply_failure(
      {map_builder{}.uint("rid", 2).boolean("ok", false).frame()}, "ping");
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_EQ(f.rid, 2u);
  EXPECT_NE(f.message.find("'error'"), std::string::npos) << f.message;
}

TEST(ReplyDecoder, RejectsReplyWithoutOk) {
  auto f = expect_reply_failure({map_builder{}.uint("rid", 2).frame()}, "ping");
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_NE(f.message.find("'ok'"), std::string::npos) << f.message;
}

TEST(ReplyDecoder, RejectsDownloadReplyWithoutPayloadFrame) {
  auto frames = encode_reply(
      {1, download_reply{file_id, 0, 3, true, buffer::copy_of("abc")}});
  frames.pop_back();
  EXPECT_EQ(expect_reply_failure(frames, "download").code, errc::bad_request);
}

TEST(ReplyDecoder, RejectsPayloadFrameOnOtherReplies) {
  auto frames = encode_reply({1, delete_reply{0}});
  frames.push_back(buffer::copy_of("x"));
  EXPECT_EQ(expect_reply_failure(frames, "delete").code, errc::bad_request);
}

TEST(ReplyDecoder, RejectsUnknownOpAsInternal) {
  auto frames = encode_reply({1, delete_reply{0}});
  EXPECT_EQ(expect_reply_failure(frames, "remove").code, errc::internal);
}

TEST(ReplyDecoder, RejectsMistypedMetadataKeyNamingIt) {
  auto header = map_builder{}
                    .boolean("ok", true)
                    .set("file", mp::raw(map_builder{}
                                             .str("id", file_id)
                                             .str("name", "n")
                                             .str("size", "12")
                                             .str("sha256", "x")
                                             .str("mime", "m")
                                             .uint("created", 1)
                                             .uint("refs", 1)
                                             .bytes()));
  auto f = expect_reply_failure({header.frame()}, "stat");
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_NE(f.message.find("'file.size'"), std::string::npos) << f.message;
}

TEST(ReplyDecoder, RejectsDownloadReplyWithMistypedMetaNamingIt) {
  auto header = map_builder{}
                    .boolean("ok", true)
                    .str("file", file_id)
                    .uint("offset", 0)
                    .uint("size", 1)
                    .boolean("eof", true)
                    .boolean("meta", true);
  auto f =
      expect_reply_failure({header.frame(), buffer::copy_of("x")}, "download");
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_NE(f.message.find("'meta'"), std::string::npos) << f.message;
}

TEST(ReplyDecoder, RejectsListEntryThatIsNotAMap) {
  auto header = map_builder{}
                    .boolean("ok", true)
                    .set("files", mp::raw("\x91\x01"))
                    .nil("next");
  auto f = expect_reply_failure({header.frame()}, "list");
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_NE(f.message.find("files[0]"), std::string::npos) << f.message;
}

TEST(ReplyDecoder, TakesListReplyWithoutNextKey) {
  auto header = map_builder{}.boolean("ok", true).set("files", mp::array({}));
  auto ls = expect_reply<list_reply>({header.frame()}, "list");
  EXPECT_EQ(ls.next, std::nullopt);
}

TEST(ReplyDecoder, TakesChunkReplyWithNilFileAsNotDone) {
  auto header = map_builder{}
                    .boolean("ok", true)
                    .str("upload", "t")
                    .uint("seq", 1)
                    .uint("received", 10)
                    .nil("file");
  auto c = expect_reply<chunk_reply>({header.frame()}, "chunk");
  EXPECT_EQ(c.received, 10u);
}

TEST(ReplyDecoder, IgnoresUnknownKeys) {
  auto header = map_builder{}
                    .boolean("ok", true)
                    .uint("refs", 4)
                    .set("extra", mp::raw("\x92\xc0\xc3"));
  EXPECT_EQ(expect_reply<delete_reply>({header.frame()}, "delete").refs, 4u);
}

TEST(ReplyDecoder, RejectsEveryTruncationOfAListReply) {
  list_reply in;
  for (int i = 0; i < 3; ++i) {
    file_meta m;
    m.id = std::to_string(100000000000 + i);
    m.name = "name";
    m.sha256 = std::string(64, 'b');
    in.files.push_back(m);
  }
  in.next = in.files.back().id;
  std::string bytes{encode_reply({77, in})[0].view()};
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto f =
        expect_reply_failure({buffer::copy_of(bytes.substr(0, n))}, "list");
    EXPECT_EQ(f.code, errc::bad_request) << n;
  }
}

TEST(ReplyDecoder, RejectsEveryTruncationOfADownloadReplyWithMeta) {
  file_meta m;
  m.id = file_id;
  m.name = "name";
  m.size = 1;
  m.sha256 = std::string(64, 'b');
  std::string bytes{
      encode_reply(
          {77, download_reply{file_id, 0, 1, true, buffer::copy_of("x"), m}})[0]
          .view()};
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto f = expect_reply_failure(
        {buffer::copy_of(bytes.substr(0, n)), buffer::copy_of("x")},
        "download");
    EXPECT_EQ(f.code, errc::bad_request) << n;
  }
}

}  // namespace
}  // namespace depot::schema
