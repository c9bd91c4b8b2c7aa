// docs/protocol.md `upload`, `chunk`, `upload_status` and `abort` over real
// sockets: completions, the chunk rules, size and digest checks, memory
// budget, idle expiry and reconnecting clients.

#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace depot::test {
namespace {

uint64_t now_ms() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

schema::upload_request declared(const std::string& name,
                                std::optional<uint64_t> size,
                                std::optional<std::string> sha = std::nullopt) {
  schema::upload_request req;
  req.name = name;
  req.size = size;
  req.sha256 = std::move(sha);
  return req;
}

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

TEST(UploadStatus, ReportsNextAndReceivedThenTheFileAfterCompletion) {
  test_depotd d({"--chunk-max", "1000"});
  wire_client c(d.endpoint());
  std::string content = random_bytes(3500, 3);
  auto token = begin_upload(c);
  auto st = as<schema::upload_status_reply>(
      c.call(schema::upload_status_request{token}));
  EXPECT_EQ(st.upload, token);
  EXPECT_EQ(st.next, 0u);
  EXPECT_EQ(st.received, 0u);
  EXPECT_FALSE(st.file.has_value());
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, content.substr(0, 1000)))),
            "ok");
  ASSERT_EQ(
      code(c.call(make_chunk(token, 1, false, content.substr(1000, 1000)))),
      "ok");
  st = as<schema::upload_status_reply>(
      c.call(schema::upload_status_request{token}));
  EXPECT_EQ(st.next, 2u);
  EXPECT_EQ(st.received, 2000u);
  EXPECT_FALSE(st.file.has_value());
  ASSERT_EQ(
      code(c.call(make_chunk(token, 2, false, content.substr(2000, 1000)))),
      "ok");
  auto done = as<schema::chunk_done_reply>(
      c.call(make_chunk(token, 3, true, content.substr(3000))));
  st = as<schema::upload_status_reply>(
      c.call(schema::upload_status_request{token}));
  EXPECT_EQ(st.next, 4u);
  EXPECT_EQ(st.received, 3500u);
  ASSERT_TRUE(st.file.has_value());
  EXPECT_EQ(*st.file, done.file);
}

TEST(UploadStatus, NeverIssuedTokenIsUnknownUpload) {
  test_depotd d;
  wire_client c(d.endpoint());
  for (std::string token : {std::string("nope"), std::string(64, 'z')}) {
    EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
              "unknown_upload")
        << token;
    EXPECT_EQ(code(c.call(make_chunk(token, 0, true, "x"))), "unknown_upload")
        << token;
    EXPECT_EQ(code(c.call(schema::abort_request{token})), "unknown_upload")
        << token;
  }
  // A token of another server run is just as unknown (the format is opaque,
  // so this only takes a real one from this server and changes a character).
  auto real = begin_upload(c);
  std::string forged = real;
  forged.back() = forged.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(code(c.call(schema::upload_status_request{forged})),
            "unknown_upload");
}

TEST(Abort, FreesTheUploadAndItsTokenBecomesUnknown) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, "first part"))), "ok");
  EXPECT_EQ(code(c.call(schema::abort_request{token})), "ok");
  EXPECT_EQ(code(c.call(make_chunk(token, 1, true, "second part"))),
            "unknown_upload");
  EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
            "unknown_upload");
  EXPECT_EQ(code(c.call(schema::abort_request{token})), "unknown_upload");
  EXPECT_TRUE(list_all(c).empty());
}

TEST(Abort, AfterCompletionChangesNothingAndAnswersOk) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  auto done = as<schema::chunk_done_reply>(
      c.call(make_chunk(token, 0, true, "keep me")));
  EXPECT_EQ(code(c.call(schema::abort_request{token})), "ok");
  auto st = as<schema::stat_reply>(stat_of(c, done.file.id));
  EXPECT_EQ(st.file, done.file);
  EXPECT_EQ(download_all(c, done.file.id), "keep me");
  // The completion is still answered after the abort.
  auto again = as<schema::chunk_done_reply>(
      c.call(make_chunk(token, 0, true, "keep me")));
  EXPECT_EQ(again.file, done.file);
}

TEST(Chunk, ClientWithinItsWindowNeverSeesBusyAcrossTheRamThreshold) {
  // The upload switches from RAM to a staging file after ram_threshold
  // bytes, with a full window of chunks in flight. The client never has
  // more than `window` chunks unacknowledged, so every chunk must be taken
  // (no busy, and hence no out_of_order for the chunks behind it).
  test_depotd d(
      {"--chunk-max", "65536", "--window", "8", "--ram-threshold", "262144"});
  wire_client c(d.endpoint());
  for (int i = 0; i < 8; ++i) {
    std::string content = random_bytes(1 << 20, 200 + i);
    auto r = upload_content(c, content);
    ASSERT_EQ(code(r), "ok") << "upload " << i << ": " << describe(r);
    EXPECT_EQ(as<schema::chunk_done_reply>(r).file.sha256, sha256_hex(content));
  }
}

TEST(Chunk, ShortLastChunkIsTakenAfterTheSwitchToStreaming) {
  // Chunk 0 is held in RAM and still unacknowledged when chunk 1 pushes the
  // upload past ram_threshold. Every full chunk is then acknowledged, and
  // the short last chunk, with nothing else in flight, must complete the
  // upload (it must not be refused as busy, now or on a retry).
  test_depotd d(
      {"--chunk-max", "65536", "--window", "4", "--ram-threshold", "65536"});
  wire_client c(d.endpoint());
  for (int round = 0; round < 6; ++round) {
    std::string content = random_bytes(10 * 65536 + 1000, 300 + round);
    auto token = begin_upload(c);
    std::vector<uint64_t> rids;
    for (uint64_t seq = 0; seq < 10; ++seq) {
      rids.push_back(c.send(
          make_chunk(token, seq, false,
                     std::string_view(content).substr(seq * 65536, 65536))));
      if (rids.size() == 4) {
        ASSERT_EQ(code(c.receive(rids.front())), "ok");
        rids.erase(rids.begin());
      }
    }
    for (auto rid : rids) ASSERT_EQ(code(c.receive(rid)), "ok");
    auto tail = std::string_view(content).substr(10 * 65536);
    auto r = c.call(make_chunk(token, 10, true, tail));
    if (code(r) == "busy") {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      auto retry = c.call(make_chunk(token, 10, true, tail));
      ADD_FAILURE() << "round " << round
                    << ": last chunk refused with nothing in flight: "
                    << describe(r)
                    << "; retried 300 ms later: " << describe(retry);
      continue;
    }
    ASSERT_EQ(code(r), "ok") << "round " << round << ": " << describe(r);
    EXPECT_EQ(as<schema::chunk_done_reply>(r).file.sha256, sha256_hex(content));
  }
}

TEST(Chunk, LowerSeqRetryIsReackedAndNotAppliedTwice) {
  test_depotd d({"--chunk-max", "1000"});
  wire_client c(d.endpoint());
  std::string content = random_bytes(2600, 4);
  auto token = begin_upload(c);
  auto a0 = as<schema::chunk_reply>(
      c.call(make_chunk(token, 0, false, content.substr(0, 1000))));
  EXPECT_EQ(a0.received, 1000u);
  auto a1 = as<schema::chunk_reply>(
      c.call(make_chunk(token, 1, false, content.substr(1000, 1000))));
  EXPECT_EQ(a1.received, 2000u);
  // Retries of 0 and 1, with the same payloads: acknowledged again as before.
  auto r0 = as<schema::chunk_reply>(
      c.call(make_chunk(token, 0, false, content.substr(0, 1000))));
  EXPECT_EQ(r0.seq, 0u);
  EXPECT_EQ(r0.received, a0.received);
  auto r1 = as<schema::chunk_reply>(
      c.call(make_chunk(token, 1, false, content.substr(1000, 1000))));
  EXPECT_EQ(r1.seq, 1u);
  EXPECT_EQ(r1.received, a1.received);
  auto st = as<schema::upload_status_reply>(
      c.call(schema::upload_status_request{token}));
  EXPECT_EQ(st.next, 2u);
  EXPECT_EQ(st.received, 2000u);
  auto done = as<schema::chunk_done_reply>(
      c.call(make_chunk(token, 2, true, content.substr(2000))));
  EXPECT_EQ(done.file.size, 2600u);
  EXPECT_EQ(done.file.sha256, sha256_hex(content));
  EXPECT_EQ(download_all(c, done.file.id), content);
}

TEST(Chunk, HigherSeqIsOutOfOrderWithNextAndTheUploadStaysAlive) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, "aaa"))), "ok");
  auto r = c.call(make_chunk(token, 2, false, "ccc"));
  EXPECT_EQ(code(r), "out_of_order") << describe(r);
  EXPECT_EQ(error_next(r), 1u);
  r = c.call(make_chunk(token, 7, true, "zzz"));
  EXPECT_EQ(code(r), "out_of_order");
  EXPECT_EQ(error_next(r), 1u);
  ASSERT_EQ(code(c.call(make_chunk(token, 1, false, "bbb"))), "ok");
  auto done =
      as<schema::chunk_done_reply>(c.call(make_chunk(token, 2, true, "ccc")));
  EXPECT_EQ(done.file.size, 9u);
  EXPECT_EQ(download_all(c, done.file.id), "aaabbbccc");
}

TEST(Chunk, FirstChunkWithSeqOneIsOutOfOrderWithNextZero) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  auto r = c.call(make_chunk(token, 1, true, "x"));
  EXPECT_EQ(code(r), "out_of_order");
  EXPECT_EQ(error_next(r), 0u);
}

TEST(Chunk, PayloadOverChunkMaxIsTooLargeAndTheUploadStaysAlive) {
  // The transport drops frames over chunk_max + ~9 KiB (ZMQ_MAXMSGSIZE), so
  // the oversized payload stays below that.
  test_depotd d({"--chunk-max", "65536"});
  wire_client c(d.endpoint());
  std::string content = random_bytes(65536 + 10, 5);
  auto token = begin_upload(c);
  auto r = c.call(make_chunk(token, 0, false, std::string(65536 + 1, 'x')));
  EXPECT_EQ(code(r), "too_large") << describe(r);
  r = c.call(make_chunk(token, 0, true, std::string(65536 + 4096, 'x')));
  EXPECT_EQ(code(r), "too_large") << describe(r);
  auto st = as<schema::upload_status_reply>(
      c.call(schema::upload_status_request{token}));
  EXPECT_EQ(st.next, 0u);
  EXPECT_EQ(st.received, 0u);
  // Exactly chunk_max is fine.
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, content.substr(0, 65536)))),
            "ok");
  auto done = as<schema::chunk_done_reply>(
      c.call(make_chunk(token, 1, true, content.substr(65536))));
  EXPECT_EQ(done.file.sha256, sha256_hex(content));
}

TEST(Chunk, RunningTotalOverTheDeclaredSizeIsTooLargeAndDiscardsTheUpload) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c, declared("a", 100));
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, std::string(80, 'a')))),
            "ok");
  auto r = c.call(make_chunk(token, 1, false, std::string(40, 'b')));
  EXPECT_EQ(code(r), "too_large") << describe(r);
  EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
            "unknown_upload");
  EXPECT_EQ(code(c.call(make_chunk(token, 1, true, std::string(20, 'b')))),
            "unknown_upload");

  // Also when the very first (and last) chunk is too long.
  token = begin_upload(c, declared("b", 10));
  r = c.call(make_chunk(token, 0, true, std::string(12, 'c')));
  EXPECT_EQ(code(r), "too_large") << describe(r);
  EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
            "unknown_upload");
  EXPECT_TRUE(list_all(c).empty());
}

TEST(Chunk, RunningTotalOverTheMaxFileSizeIsTooLargeAndDiscardsTheUpload) {
  test_depotd d({"--chunk-max", "65536", "--max-file-size", "100000"});
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, std::string(65536, 'a')))),
            "ok");
  auto r = c.call(make_chunk(token, 1, false, std::string(65536, 'b')));
  EXPECT_EQ(code(r), "too_large") << describe(r);
  EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
            "unknown_upload");
  EXPECT_TRUE(list_all(c).empty());
  // Exactly the limit is stored.
  std::string exact = random_bytes(100000, 6);
  auto f = store_content(c, exact);
  EXPECT_EQ(f.size, 100000u);
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

TEST(Upload, SizeMismatchStoresNothingAndTheRetryGetsTheSameError) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c, declared("short", 10));
  auto r = c.call(make_chunk(token, 0, true, "12345"));
  EXPECT_EQ(code(r), "size_mismatch") << describe(r);
  EXPECT_TRUE(list_all(c).empty());
  EXPECT_EQ(code(stat_of(c, candidate_id("12345", 0))), "not_found");
  auto again = c.call(make_chunk(token, 0, true, "12345"));
  EXPECT_EQ(code(again), "size_mismatch")
      << "a retried last chunk gets the same reply";
}

TEST(Upload, ChecksumMismatchStoresNothingAndTheRetryGetsTheSameError) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(
      c, declared("wrong", std::nullopt, sha256_hex("other content")));
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, "this "))), "ok");
  auto r = c.call(make_chunk(token, 1, true, "content"));
  EXPECT_EQ(code(r), "checksum_mismatch") << describe(r);
  EXPECT_TRUE(list_all(c).empty());
  EXPECT_EQ(code(stat_of(c, candidate_id("this content", 0))), "not_found");
  auto again = c.call(make_chunk(token, 1, true, "content"));
  EXPECT_EQ(code(again), "checksum_mismatch")
      << "a retried last chunk gets the same reply";
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

TEST(Busy, SecondUnknownSizeUploadOverTheMemoryBudgetIsBusy) {
  // Reservation of an unknown-size upload:
  //   ram_threshold + window * chunk_max + chunk_max
  //   = 131072 + 2 * 65536 + 65536 = 327680.
  // A budget of 400000 holds one, not two.
  test_depotd d({"--chunk-max", "65536", "--window", "2", "--ram-threshold",
                 "131072", "--memory-budget", "400000"});
  wire_client c(d.endpoint());
  auto first = begin_upload(c);
  auto r = c.call(declared("second", std::nullopt));
  EXPECT_EQ(code(r), "busy") << describe(r);
  // A small declared size reserves only that much and still fits.
  auto small = c.call(declared("small", 1000));
  EXPECT_EQ(code(small), "ok") << describe(small);
  // The first one is not disturbed.
  ASSERT_EQ(code(c.call(make_chunk(first, 0, false, std::string(65536, 'q')))),
            "ok");
  // Once it ends, its reservation is given back.
  EXPECT_EQ(code(c.call(schema::abort_request{first})), "ok");
  r = c.call(declared("third", std::nullopt));
  EXPECT_EQ(code(r), "ok") << describe(r);
}

TEST(Busy, CompletedUploadGivesItsReservationBackBeforeTheNextBegins) {
  // Room for one unknown-size upload (see above). Each upload (RAM-held,
  // under ram_threshold) completes before the next begins, so none of them
  // may be refused as busy.
  test_depotd d({"--chunk-max", "65536", "--window", "2", "--ram-threshold",
                 "131072", "--memory-budget", "400000"});
  wire_client c(d.endpoint());
  for (int i = 0; i < 10; ++i) {
    auto r = upload_content(c, random_bytes(100000, 100 + i));
    ASSERT_EQ(code(r), "ok") << "upload " << i << ": " << describe(r);
  }
}

TEST(Busy, FinishedUploadsStillAnsweringRetriesAreCappedByMaxFinished) {
  test_depotd d({"--max-finished", "2"});
  wire_client c(d.endpoint());
  std::vector<std::string> tokens;
  for (int i = 0; i < 2; ++i) {
    tokens.push_back(begin_upload(c));
    auto r =
        c.call(make_chunk(tokens.back(), 0, true, "file " + std::to_string(i)));
    ASSERT_EQ(code(r), "ok") << describe(r);
  }
  // Both tokens still answer; a third upload would be a promise too many.
  auto r = c.call(declared("third", std::nullopt));
  EXPECT_EQ(code(r), "busy") << describe(r);
  for (auto& t : tokens) {
    auto st = c.call(schema::upload_status_request{t});
    ASSERT_EQ(code(st), "ok") << describe(st);
    EXPECT_TRUE(as<schema::upload_status_reply>(st).file.has_value());
  }
}

TEST(IdleTimeout, UploadWithoutRequestsExpiresAndItsTokenIsUnknown) {
  test_depotd d({"--idle-timeout", "1"});
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, "partial"))), "ok");
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
            "unknown_upload");
  EXPECT_EQ(code(c.call(make_chunk(token, 1, true, "rest"))), "unknown_upload");
  EXPECT_TRUE(list_all(c).empty());
}

TEST(IdleTimeout, RequestsNamingTheTokenKeepTheUploadAlive) {
  test_depotd d({"--idle-timeout", "1"});
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_EQ(code(c.call(schema::upload_status_request{token})), "ok")
        << "after " << (i + 1) * 300 << " ms";
  }
  auto done = c.call(make_chunk(token, 0, true, "alive"));
  EXPECT_EQ(code(done), "ok") << describe(done);
}

TEST(Reconnect, NewSocketContinuesTheSameTokenFromNext) {
  test_depotd d({"--chunk-max", "65536", "--window", "4"});
  std::string content = random_bytes(6 * 65536 + 77, 8);
  std::string token;
  {
    wire_client first(d.endpoint());
    token = begin_upload(first);
    for (uint64_t seq = 0; seq < 3; ++seq)
      ASSERT_EQ(code(first.call(make_chunk(
                    token, seq, false,
                    std::string_view(content).substr(seq * 65536, 65536)))),
                "ok");
    // Two more sent, their replies never read: the socket goes away.
    first.send(make_chunk(token, 3, false,
                          std::string_view(content).substr(3 * 65536, 65536)));
    first.send(make_chunk(token, 4, false,
                          std::string_view(content).substr(4 * 65536, 65536)));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  wire_client second(d.endpoint());
  auto st = as<schema::upload_status_reply>(
      second.call(schema::upload_status_request{token}));
  ASSERT_GE(st.next, 3u);
  ASSERT_LE(st.next, 5u);
  EXPECT_EQ(st.received, st.next * 65536);
  uint64_t chunks = 7;
  schema::reply last;
  for (uint64_t seq = st.next; seq < chunks; ++seq) {
    uint64_t off = seq * 65536;
    last = second.call(
        make_chunk(token, seq, seq + 1 == chunks,
                   std::string_view(content).substr(
                       off, std::min<uint64_t>(65536, content.size() - off))));
    ASSERT_EQ(code(last), "ok") << describe(last);
  }
  auto done = as<schema::chunk_done_reply>(last);
  EXPECT_EQ(done.file.sha256, sha256_hex(content));
  EXPECT_EQ(download_all(second, done.file.id), content);
}

// Every commit lane count serves both kinds of upload: held in RAM (the
// first committer) and streamed to disk (the others, or the first when
// alone). The flag keeps its name, --namers.
TEST(Lanes, AnyNumberOfCommittersCommitsSmallAndStreamedUploads) {
  for (const char* lanes : {"1", "3"}) {
    test_depotd d({"--namers", lanes, "--threads", "2", "--chunk-max", "65536",
                   "--ram-threshold", "131072"});
    EXPECT_NE(d.log().find(std::string("threads 2 committers ") + lanes),
              std::string::npos)
        << d.log();
    wire_client c(d.endpoint());
    for (size_t size :
         {size_t{1000}, size_t{500000}, size_t{2000}, size_t{300000}}) {
      auto content = random_bytes(size, size);
      auto r = upload_content(c, content);
      ASSERT_EQ(code(r), "ok")
          << lanes << " committers, " << size << " bytes: " << describe(r);
      EXPECT_EQ(download_all(c, as<schema::chunk_done_reply>(r).file.id),
                content);
    }
  }
}

}  // namespace
}  // namespace depot::test
