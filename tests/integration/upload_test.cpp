// docs/protocol.md `upload` over real sockets: completions with their
// metadata, pipelined chunks, the size limit and size and digest checks.

#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/wire_client.hpp"
#include "tests/integration/upload_test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace depot::test {
namespace {

using namespace test_support;

TEST(Upload, ReplyCarriesTokenChunkMaxAndWindow) {
  test_depotd d({"--chunk-max", "70000", "--window", "5"});
  wire_client c(d.endpoint());
  auto up = as<schema::upload_reply>(c.call(declared("a.txt", std::nullopt)));
  EXPECT_FALSE(up.upload.empty());
  EXPECT_LE(up.upload.size(), 64u);
  EXPECT_EQ(up.chunk_max, 70000u);
  EXPECT_EQ(up.window, 5u);
  auto other =
      as<schema::upload_reply>(c.call(declared("a.txt", std::nullopt)));
  EXPECT_NE(other.upload, up.upload) << "each upload gets its own token";
}

TEST(Upload, EmptyFileIsOneEmptyLastChunk) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c, declared("empty.txt", 0, sha256_hex("")));
  auto r = c.call(make_chunk(token, 0, true, ""));
  auto done = as<schema::chunk_done_reply>(r);
  EXPECT_EQ(done.upload, token);
  EXPECT_EQ(done.seq, 0u);
  EXPECT_FALSE(done.dedup);
  EXPECT_EQ(done.file.id, "nciB6WIL2fIa");
  EXPECT_EQ(done.file.size, 0u);
  EXPECT_EQ(done.file.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(done.file.refs, 1u);
  EXPECT_EQ(done.file.name, "empty.txt");
  auto dl = as<schema::download_reply>(
      c.call(schema::download_request{"nciB6WIL2fIa", 0, std::nullopt}));
  EXPECT_EQ(dl.size, 0u);
  EXPECT_TRUE(dl.eof);
  EXPECT_TRUE(dl.data.empty());
}

TEST(Upload, SmallFileRoundTripsWithItsMetadata) {
  test_depotd d;
  wire_client c(d.endpoint());
  uint64_t before = now_ms();
  upload_options o;
  o.name = "greeting.txt";
  o.mime = "text/x-greeting";
  o.declare = true;
  auto r = upload_content(c, "hello depot\n", o);
  uint64_t after = now_ms();
  auto done = as<schema::chunk_done_reply>(r);
  EXPECT_FALSE(done.dedup);
  const auto& f = done.file;
  EXPECT_EQ(f.id, "rbWeBrTIp1Js");
  EXPECT_EQ(f.name, "greeting.txt");
  EXPECT_EQ(f.size, 12u);
  EXPECT_EQ(f.sha256, sha256_hex("hello depot\n"));
  EXPECT_EQ(f.mime, "text/x-greeting") << "the uploader's mime wins";
  EXPECT_GE(f.created, before - 1000);
  EXPECT_LE(f.created, after + 1000);
  EXPECT_EQ(f.refs, 1u);
  EXPECT_EQ(as<schema::stat_reply>(stat_of(c, f.id)).file, f);
  EXPECT_EQ(download_all(c, f.id), "hello depot\n");
}

TEST(Upload, MimeIsDetectedFromTheContentWhenNotGiven) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto text = store_content(c, "just some plain words\nand another line\n");
  EXPECT_EQ(text.mime.rfind("text/plain", 0), 0u) << text.mime;
  // A PNG: signature and an IHDR chunk.
  std::string png(
      "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90"
      "\x77\x53\xde",
      33);
  png += random_bytes(100, 3);
  upload_options o;
  o.name = "pixel.bin";
  auto image = store_content(c, png, o);
  EXPECT_EQ(image.mime, "image/png");
}

TEST(Upload, MultiMebibyteFileWithPipelinedChunksInTheWindow) {
  test_depotd d({"--chunk-max", "262144", "--window", "4"});
  wire_client c(d.endpoint());
  std::string content = random_bytes((5 << 20) + 12345, 1);
  upload_options o;
  o.declare = true;
  auto done = as<schema::chunk_done_reply>(upload_content(c, content, o));
  EXPECT_EQ(done.seq, content.size() / 262144);
  EXPECT_EQ(done.file.size, content.size());
  EXPECT_EQ(done.file.sha256, sha256_hex(content));
  EXPECT_EQ(done.file.id, candidate_id(content, 0));
  EXPECT_EQ(download_all(c, done.file.id), content);
}

TEST(Upload, WholeWindowSentAtOnceNeverSeesOutOfOrder) {
  test_depotd d({"--chunk-max", "65536", "--window", "16"});
  wire_client c(d.endpoint());
  std::string content = random_bytes(16 * 65536, 2);
  auto token = begin_upload(c);
  std::vector<uint64_t> rids;
  for (uint64_t seq = 0; seq < 16; ++seq)
    rids.push_back(c.send(
        make_chunk(token, seq, seq == 15,
                   std::string_view(content).substr(seq * 65536, 65536))));
  for (uint64_t seq = 0; seq < 15; ++seq) {
    auto r = c.receive(rids[seq]);
    ASSERT_EQ(code(r), "ok") << "seq " << seq << ": " << describe(r);
    EXPECT_EQ(as<schema::chunk_reply>(r).received, (seq + 1) * 65536);
  }
  auto done = as<schema::chunk_done_reply>(c.receive(rids[15]));
  EXPECT_EQ(done.file.sha256, sha256_hex(content));
}

TEST(Upload, DeclaredSizeOverTheMaxFileSizeFailsAtOnce) {
  test_depotd d({"--max-file-size", "100000"});
  wire_client c(d.endpoint());
  EXPECT_EQ(code(c.call(declared("big", 100001))), "too_large");
  EXPECT_EQ(code(c.call(declared("huge", ~uint64_t{0}))), "too_large");
  EXPECT_EQ(code(c.call(declared("fits", 100000))), "ok");
}

TEST(Upload, DefaultMaxFileSizeIsFourGibibytes) {
  test_depotd d;
  wire_client c(d.endpoint());
  EXPECT_EQ(code(c.call(declared("over", (uint64_t{4} << 30) + 1))),
            "too_large");
  auto r = c.call(declared("at", uint64_t{4} << 30));
  EXPECT_EQ(code(r), "ok") << describe(r);
}

// Sends the last chunk `bytes` (seq `seq`) of an upload of `content` and
// expects it refused with `expected_code`, nothing stored, and a retry of the
// chunk refused the same way.
void expect_last_chunk_refused(wire_client& c, const std::string& token,
                               uint64_t seq, const std::string& bytes,
                               const std::string& content,
                               const std::string& expected_code) {
  auto r = c.call(make_chunk(token, seq, true, bytes));
  EXPECT_EQ(code(r), expected_code) << describe(r);
  EXPECT_TRUE(list_all(c).empty());
  EXPECT_EQ(code(stat_of(c, candidate_id(content, 0))), "not_found");
  auto again = c.call(make_chunk(token, seq, true, bytes));
  EXPECT_EQ(code(again), expected_code)
      << "a retried last chunk gets the same reply";
}

TEST(Upload, SizeMismatchStoresNothingAndTheRetryGetsTheSameError) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c, declared("short", 10));
  expect_last_chunk_refused(c, token, 0, "12345", "12345", "size_mismatch");
}

TEST(Upload, ChecksumMismatchStoresNothingAndTheRetryGetsTheSameError) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(
      c, declared("wrong", std::nullopt, sha256_hex("other content")));
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, "this "))), "ok");
  expect_last_chunk_refused(c, token, 1, "content", "this content",
                            "checksum_mismatch");
}

TEST(Upload, MatchingDeclarationsInUppercaseHexAreAccepted) {
  test_depotd d;
  wire_client c(d.endpoint());
  std::string sha = sha256_hex("declared");
  std::string upper = sha;
  for (auto& ch : upper)
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  auto token = begin_upload(c, declared("d", 8, upper));
  auto done = as<schema::chunk_done_reply>(
      c.call(make_chunk(token, 0, true, "declared")));
  EXPECT_EQ(done.file.sha256, sha) << "stored in lowercase";
}

TEST(Upload, RetriedLastChunkGetsTheSameCompletion) {
  test_depotd d({"--chunk-max", "1000"});
  wire_client c(d.endpoint());
  std::string content = random_bytes(1500, 7);
  auto token = begin_upload(c);
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, content.substr(0, 1000)))),
            "ok");
  auto done = as<schema::chunk_done_reply>(
      c.call(make_chunk(token, 1, true, content.substr(1000))));
  for (int i = 0; i < 3; ++i) {
    auto again = as<schema::chunk_done_reply>(
        c.call(make_chunk(token, 1, true, content.substr(1000))));
    EXPECT_EQ(again.upload, done.upload);
    EXPECT_EQ(again.seq, done.seq);
    EXPECT_EQ(again.file, done.file);
    EXPECT_EQ(again.dedup, done.dedup);
  }
  // Not applied twice: still one reference.
  EXPECT_EQ(as<schema::stat_reply>(stat_of(c, done.file.id)).file.refs, 1u);
  // An earlier chunk after completion is a retry too.
  auto early = as<schema::chunk_reply>(
      c.call(make_chunk(token, 0, false, content.substr(0, 1000))));
  EXPECT_EQ(early.received, 1000u);
  EXPECT_EQ(as<schema::stat_reply>(stat_of(c, done.file.id)).file.refs, 1u);
}

TEST(Upload, RequestsRightAfterAnUploadEndsAreAnsweredNotDropped) {
  // Whenever an upload ends (discarded, aborted), a request naming its token
  // must still be answered (unknown_upload), never met with silence: also
  // one pipelined right behind the request that ended it, and one sent as
  // soon as that request's reply arrived.
  test_depotd d;
  wire_client c(d.endpoint());
  for (int i = 0; i < 10; ++i) {
    auto token = begin_upload(c, declared("d", 10));
    ASSERT_EQ(code(c.call(make_chunk(token, 0, false, std::string(8, 'a')))),
              "ok");
    auto over = c.send(make_chunk(token, 1, true, std::string(4, 'b')));
    auto status = c.send(schema::upload_status_request{token});
    EXPECT_EQ(code(c.receive(over)), "too_large");
    EXPECT_EQ(code(c.receive(status)), "unknown_upload")
        << "pipelined after too_large, round " << i;

    token = begin_upload(c);
    ASSERT_EQ(code(c.call(make_chunk(token, 0, false, "x"))), "ok");
    auto abort = c.send(schema::abort_request{token});
    auto chunk = c.send(make_chunk(token, 1, true, "y"));
    EXPECT_EQ(code(c.receive(abort)), "ok");
    EXPECT_EQ(code(c.receive(chunk)), "unknown_upload")
        << "pipelined after abort, round " << i;

    token = begin_upload(c, declared("d", 10));
    ASSERT_EQ(code(c.call(make_chunk(token, 0, false, std::string(8, 'a')))),
              "ok");
    ASSERT_EQ(code(c.call(make_chunk(token, 1, true, std::string(4, 'b')))),
              "too_large");
    EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
              "unknown_upload")
        << "right after too_large, round " << i;
  }
}

}  // namespace
}  // namespace depot::test
