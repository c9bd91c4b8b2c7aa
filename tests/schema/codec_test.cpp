// Round trips of every request and reply, and golden bytes that pin the
// encoding (key order as documented in schema/codec.hpp).

#include "schema/codec.hpp"

#include "tests/schema/codec_test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace depot::schema {
namespace {

using test_support::expect_reply;
using test_support::expect_request;
using test_support::file_id;
using test_support::from_hex;
using test_support::sha_lower;
using test_support::to_spaced_hex;

file_meta sample_meta(std::string id = file_id) {
  file_meta m;
  m.id = std::move(id);
  m.name = "r\xc3\xa9sum\xc3\xa9.pdf";
  m.size = 123456789012;
  m.sha256 = sha_lower;
  m.mime = "application/pdf";
  m.created = 1700000000123;
  m.refs = 3;
  return m;
}

template <class T>
T request_round_trip(request in, size_t expected_frames = 1) {
  std::vector<buffer> frames = encode_request(in);
  EXPECT_EQ(frames.size(), expected_frames);
  std::optional<uint64_t> rid;
  T out = expect_request<T>(frames, &rid);
  EXPECT_EQ(rid, in.rid);
  return out;
}

template <class T>
T reply_round_trip(reply in, std::string_view op, size_t expected_frames = 1) {
  std::vector<buffer> frames = encode_reply(in);
  EXPECT_EQ(frames.size(), expected_frames);
  std::optional<uint64_t> rid;
  T out = expect_reply<T>(frames, op, &rid);
  EXPECT_EQ(rid, in.rid);
  return out;
}

std::string header_bytes(const std::vector<buffer>& frames) {
  return frames.empty() ? std::string{} : std::string{frames[0].view()};
}

// --- request round trips
// --------------------------------------------------------

TEST(RequestCodec, RoundTripsUploadWithEveryKey) {
  upload_request in{"r\xc3\xa9sum\xc3\xa9.pdf", 42, sha_lower, "text/plain"};
  auto out = request_round_trip<upload_request>({7, in});
  EXPECT_EQ(out.name, in.name);
  EXPECT_EQ(out.size, in.size);
  EXPECT_EQ(out.sha256, in.sha256);
  EXPECT_EQ(out.mime, in.mime);
}

TEST(RequestCodec, RoundTripsUploadWithOnlyAName) {
  auto out = request_round_trip<upload_request>(
      {std::nullopt,
       upload_request{"a", std::nullopt, std::nullopt, std::nullopt}});
  EXPECT_EQ(out.name, "a");
  EXPECT_EQ(out.size, std::nullopt);
  EXPECT_EQ(out.sha256, std::nullopt);
  EXPECT_EQ(out.mime, std::nullopt);
}

TEST(RequestCodec, RoundTripsChunkWithItsPayloadUncopied) {
  buffer payload = buffer::copy_of("some bytes");
  request in{UINT64_MAX, chunk_request{"token-1", 17, true, payload}};
  std::vector<buffer> frames = encode_request(in);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[1].data(), payload.data());
  std::optional<uint64_t> rid;
  auto out = expect_request<chunk_request>(frames, &rid);
  EXPECT_EQ(rid, UINT64_MAX);
  EXPECT_EQ(out.upload, "token-1");
  EXPECT_EQ(out.seq, 17u);
  EXPECT_TRUE(out.last);
  EXPECT_EQ(out.data.view(), "some bytes");
  EXPECT_EQ(out.data.data(), payload.data());
}

TEST(RequestCodec, RoundTripsChunkWithEmptyPayload) {
  auto out = request_round_trip<chunk_request>(
      {1, chunk_request{"t", 0, false, buffer{}}}, 2);
  EXPECT_EQ(out.upload, "t");
  EXPECT_EQ(out.seq, 0u);
  EXPECT_FALSE(out.last);
  EXPECT_TRUE(out.data.empty());
}

TEST(RequestCodec, RoundTripsUploadStatus) {
  auto out = request_round_trip<upload_status_request>(
      {3, upload_status_request{std::string(64, 'T')}});
  EXPECT_EQ(out.upload, std::string(64, 'T'));
}

TEST(RequestCodec, RoundTripsAbort) {
  auto out = request_round_trip<abort_request>({3, abort_request{"tok"}});
  EXPECT_EQ(out.upload, "tok");
}

TEST(RequestCodec, RoundTripsDownloadWithAndWithoutLength) {
  auto out = request_round_trip<download_request>(
      {4, download_request{file_id, 1u << 20, 65536}});
  EXPECT_EQ(out.file, file_id);
  EXPECT_EQ(out.offset, 1u << 20);
  EXPECT_EQ(out.length, 65536u);
  out = request_round_trip<download_request>(
      {4, download_request{file_id, 0, std::nullopt}});
  EXPECT_EQ(out.offset, 0u);
  EXPECT_EQ(out.length, std::nullopt);
  EXPECT_FALSE(out.meta);
}

TEST(RequestCodec, RoundTripsDownloadAskingForMeta) {
  auto out = request_round_trip<download_request>(
      {4, download_request{file_id, 0, 65536, true}});
  EXPECT_EQ(out.file, file_id);
  EXPECT_EQ(out.length, 65536u);
  EXPECT_TRUE(out.meta);
}

TEST(RequestCodec, RoundTripsStat) {
  EXPECT_EQ(request_round_trip<stat_request>({5, stat_request{file_id}}).file,
            file_id);
}

TEST(RequestCodec, RoundTripsDelete) {
  EXPECT_EQ(
      request_round_trip<delete_request>({6, delete_request{file_id}}).file,
      file_id);
}

TEST(RequestCodec, RoundTripsListWithAndWithoutAfter) {
  auto out = request_round_trip<list_request>({8, list_request{file_id, 7}});
  EXPECT_EQ(out.after, file_id);
  EXPECT_EQ(out.limit, 7u);
  out = request_round_trip<list_request>({8, list_request{std::nullopt, 1000}});
  EXPECT_EQ(out.after, std::nullopt);
  EXPECT_EQ(out.limit, 1000u);
}

TEST(RequestCodec, RoundTripsPingWithAndWithoutRid) {
  request_round_trip<ping_request>({9, ping_request{}});
  request_round_trip<ping_request>({std::nullopt, ping_request{}});
}

TEST(RequestCodec, NamesEveryOp) {
  EXPECT_EQ(op_name(upload_request{}), "upload");
  EXPECT_EQ(op_name(chunk_request{}), "chunk");
  EXPECT_EQ(op_name(upload_status_request{}), "upload_status");
  EXPECT_EQ(op_name(abort_request{}), "abort");
  EXPECT_EQ(op_name(download_request{}), "download");
  EXPECT_EQ(op_name(stat_request{}), "stat");
  EXPECT_EQ(op_name(delete_request{}), "delete");
  EXPECT_EQ(op_name(list_request{}), "list");
  EXPECT_EQ(op_name(ping_request{}), "ping");
}

// --- reply round trips
// ----------------------------------------------------------

TEST(ReplyCodec, RoundTripsUploadReply) {
  auto out = reply_round_trip<upload_reply>(
      {1, upload_reply{"tok", 1u << 20, 8}}, "upload");
  EXPECT_EQ(out.upload, "tok");
  EXPECT_EQ(out.chunk_max, 1u << 20);
  EXPECT_EQ(out.window, 8u);
}

TEST(ReplyCodec, RoundTripsChunkReply) {
  auto out =
      reply_round_trip<chunk_reply>({2, chunk_reply{"tok", 3, 4096}}, "chunk");
  EXPECT_EQ(out.upload, "tok");
  EXPECT_EQ(out.seq, 3u);
  EXPECT_EQ(out.received, 4096u);
}

TEST(ReplyCodec, RoundTripsChunkDoneReplyByItsFileKey) {
  auto out = reply_round_trip<chunk_done_reply>(
      {2, chunk_done_reply{"tok", 9, sample_meta(), true}}, "chunk");
  EXPECT_EQ(out.upload, "tok");
  EXPECT_EQ(out.seq, 9u);
  EXPECT_EQ(out.file, sample_meta());
  EXPECT_TRUE(out.dedup);
}

TEST(ReplyCodec, RoundTripsUploadStatusReplyWithAndWithoutFile) {
  auto out = reply_round_trip<upload_status_reply>(
      {3, upload_status_reply{"tok", 5, 500, std::nullopt}}, "upload_status");
  EXPECT_EQ(out.upload, "tok");
  EXPECT_EQ(out.next, 5u);
  EXPECT_EQ(out.received, 500u);
  EXPECT_EQ(out.file, std::nullopt);
  out = reply_round_trip<upload_status_reply>(
      {3, upload_status_reply{"tok", 6, 600, sample_meta()}}, "upload_status");
  EXPECT_EQ(out.file, sample_meta());
}

TEST(ReplyCodec, RoundTripsAbortReply) {
  reply_round_trip<abort_reply>({4, abort_reply{}}, "abort");
}

TEST(ReplyCodec, RoundTripsDownloadReplyWithItsPayloadUncopied) {
  buffer payload = buffer::copy_of("file contents");
  reply in{5, download_reply{file_id, 100, 113, true, payload}};
  std::vector<buffer> frames = encode_reply(in);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[1].data(), payload.data());
  auto out = expect_reply<download_reply>(frames, "download");
  EXPECT_EQ(out.file, file_id);
  EXPECT_EQ(out.offset, 100u);
  EXPECT_EQ(out.size, 113u);
  EXPECT_TRUE(out.eof);
  EXPECT_EQ(out.data.data(), payload.data());
  EXPECT_EQ(out.data.view(), "file contents");
  EXPECT_EQ(out.meta, std::nullopt);
}

TEST(ReplyCodec, RoundTripsDownloadReplyWithMeta) {
  buffer payload = buffer::copy_of("file contents");
  auto out = reply_round_trip<download_reply>(
      {5, download_reply{file_id, 0, 13, true, payload, sample_meta()}},
      "download", 2);
  EXPECT_EQ(out.size, 13u);
  EXPECT_EQ(out.data.view(), "file contents");
  EXPECT_EQ(out.meta, sample_meta());
}

TEST(ReplyCodec, RoundTripsStatReply) {
  auto out =
      reply_round_trip<stat_reply>({6, stat_reply{sample_meta()}}, "stat");
  EXPECT_EQ(out.file, sample_meta());
}

TEST(ReplyCodec, RoundTripsDeleteReply) {
  EXPECT_EQ(reply_round_trip<delete_reply>({7, delete_reply{2}}, "delete").refs,
            2u);
}

TEST(ReplyCodec, RoundTripsListReplyOfAThousandFiles) {
  list_reply in;
  for (int i = 0; i < 1000; ++i) {
    std::string id = std::to_string(100000000000 + i);
    in.files.push_back(sample_meta(id));
  }
  in.next = in.files.back().id;
  auto out = reply_round_trip<list_reply>({8, in}, "list");
  ASSERT_EQ(out.files.size(), 1000u);
  EXPECT_EQ(out.files, in.files);
  EXPECT_EQ(out.next, in.next);
}

TEST(ReplyCodec, RoundTripsEmptyListReplyWithNilNext) {
  auto out = reply_round_trip<list_reply>({8, list_reply{}}, "list");
  EXPECT_TRUE(out.files.empty());
  EXPECT_EQ(out.next, std::nullopt);
}

TEST(ReplyCodec, RoundTripsPingReply) {
  auto out = reply_round_trip<ping_reply>(
      {std::nullopt, ping_reply{1, "depot 0.1.0", 1u << 20}}, "ping");
  EXPECT_EQ(out.version, 1u);
  EXPECT_EQ(out.server, "depot 0.1.0");
  EXPECT_EQ(out.chunk_max, 1u << 20);
}

TEST(ReplyCodec, RoundTripsEveryErrorCodeForEveryOp) {
  for (uint8_t c = 1; c <= errc_count; ++c) {
    auto code = static_cast<errc>(c);
    for (const std::string& op : test_support::all_ops) {
      std::optional<uint64_t> next;
      if (code == errc::out_of_order) next = 12;
      auto out = reply_round_trip<error_reply>(
          {11, error_reply{code, "it went wrong", next}}, op);
      EXPECT_EQ(out.code, code) << op;
      EXPECT_EQ(out.message, "it went wrong");
      EXPECT_EQ(out.next, next);
    }
  }
}

TEST(ReplyCodec, DropsNextFromErrorsOtherThanOutOfOrder) {
  auto frames =
      encode_reply({1, error_reply{errc::too_large, "too big", uint64_t{3}}});
  auto out = expect_reply<error_reply>(frames, "chunk");
  EXPECT_EQ(out.next, std::nullopt);
}

TEST(ReplyCodec, BuildsTheErrorReplyOfADecodeFailure) {
  reply r = failure_reply({5, errc::unknown_op, "unknown op 'x'"});
  EXPECT_EQ(r.rid, 5u);
  auto* e = std::get_if<error_reply>(&r.body);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code, errc::unknown_op);
  EXPECT_EQ(e->message, "unknown op 'x'");
  EXPECT_EQ(e->next, std::nullopt);
}

// --- golden bytes
// ---------------------------------------------------------------

// {"op": "ping", "rid": 7}
const std::string ping_rid7 =
    from_hex("82 a2 6f 70 a4 70 69 6e 67 a3 72 69 64 07");

TEST(RequestCodec, DecodesGoldenPingBytes) {
  std::optional<uint64_t> rid;
  expect_request<ping_request>({buffer::copy_of(ping_rid7)}, &rid);
  EXPECT_EQ(rid, 7u);
}

TEST(RequestCodec, EncodesPingAsGoldenBytes) {
  EXPECT_EQ(to_spaced_hex(header_bytes(encode_request({7, ping_request{}}))),
            to_spaced_hex(ping_rid7));
}

TEST(RequestCodec, EncodesChunkAsGoldenBytes) {
  // {"op": "chunk", "rid": 300, "upload": "t1", "seq": 2, "last": false}
  auto frames = encode_request({300, chunk_request{"t1", 2, false, {}}});
  EXPECT_EQ(to_spaced_hex(header_bytes(frames)),
            to_spaced_hex(from_hex("85 a2 6f 70 a5 63 68 75 6e 6b"
                                   " a3 72 69 64 cd 01 2c"
                                   " a6 75 70 6c 6f 61 64 a2 74 31"
                                   " a3 73 65 71 02"
                                   " a4 6c 61 73 74 c2")));
}

TEST(RequestCodec, EncodesDownloadWithMetaAsGoldenBytes) {
  // {"op": "download", "rid": 7, "file": "000000000004", "offset": 0,
  //  "length": 65536, "meta": true}
  auto frames =
      encode_request({7, download_request{"000000000004", 0, 65536, true}});
  EXPECT_EQ(to_spaced_hex(header_bytes(frames)),
            to_spaced_hex(from_hex(
                "86 a2 6f 70 a8 64 6f 77 6e 6c 6f 61 64 a3 72 69 64 07"
                " a4 66 69 6c 65 ac 30 30 30 30 30 30 30 30 30 30 30 34"
                " a6 6f 66 66 73 65 74 00"
                " a6 6c 65 6e 67 74 68 ce 00 01 00 00"
                " a4 6d 65 74 61 c3")));
  // Without `meta`, the key is not sent at all.
  frames =
      encode_request({7, download_request{"000000000004", 0, 65536, false}});
  EXPECT_EQ(header_bytes(frames).find("\xa4meta"), std::string::npos);
}

TEST(ReplyCodec, EncodesPingReplyAsGoldenBytes) {
  // {"rid": 7, "ok": true, "version": 1, "server": "depot",
  //  "chunk_max": 1048576}
  auto frames = encode_reply({7, ping_reply{1, "depot", 1048576}});
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(to_spaced_hex(header_bytes(frames)),
            to_spaced_hex(from_hex("85 a3 72 69 64 07 a2 6f 6b c3"
                                   " a7 76 65 72 73 69 6f 6e 01"
                                   " a6 73 65 72 76 65 72 a5 64 65 70 6f 74"
                                   " a9 63 68 75 6e 6b 5f 6d 61 78"
                                   " ce 00 10 00 00")));
}

TEST(ReplyCodec, EncodesErrorReplyAsGoldenBytes) {
  // {"rid": 7, "ok": false, "error": "not_found", "message": "no such file"}
  auto frames =
      encode_reply({7, error_reply{errc::not_found, "no such file", {}}});
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(
      to_spaced_hex(header_bytes(frames)),
      to_spaced_hex(from_hex("84 a3 72 69 64 07 a2 6f 6b c2"
                             " a5 65 72 72 6f 72 a9 6e 6f 74 5f 66 6f 75 6e 64"
                             " a7 6d 65 73 73 61 67 65"
                             " ac 6e 6f 20 73 75 63 68 20 66 69 6c 65")));
}

TEST(ReplyCodec, EncodesOutOfOrderReplyWithNextAsGoldenBytes) {
  // {"ok": false, "error": "out_of_order", "message": "", "next": 4}
  auto frames =
      encode_reply({std::nullopt, error_reply{errc::out_of_order, "", 4}});
  EXPECT_EQ(to_spaced_hex(header_bytes(frames)),
            to_spaced_hex(from_hex(
                "84 a2 6f 6b c2"
                " a5 65 72 72 6f 72 ac 6f 75 74 5f 6f 66 5f 6f 72 64 65 72"
                " a7 6d 65 73 73 61 67 65 a0"
                " a4 6e 65 78 74 04")));
}

TEST(ReplyCodec, EncodesEmptyListReplyWithNilNextAsGoldenBytes) {
  // {"rid": 1, "ok": true, "files": [], "next": nil}
  auto frames = encode_reply({1, list_reply{}});
  EXPECT_EQ(to_spaced_hex(header_bytes(frames)),
            to_spaced_hex(from_hex("84 a3 72 69 64 01 a2 6f 6b c3"
                                   " a5 66 69 6c 65 73 90"
                                   " a4 6e 65 78 74 c0")));
}

// The metadata map of file_meta{"000000000004", "n", 1, "ab", "m", 2, 3}:
// its seven keys in protocol order.
const std::string golden_meta =
    "87 a2 69 64 ac 30 30 30 30 30 30 30 30 30 30 30 34"
    " a4 6e 61 6d 65 a1 6e"
    " a4 73 69 7a 65 01"
    " a6 73 68 61 32 35 36 a2 61 62"
    " a4 6d 69 6d 65 a1 6d"
    " a7 63 72 65 61 74 65 64 02"
    " a4 72 65 66 73 03";

TEST(ReplyCodec, EncodesDownloadReplyWithMetaAsGoldenBytes) {
  // {"rid": 7, "ok": true, "file": "000000000004", "offset": 0, "size": 1,
  //  "eof": true, "meta": {"id", "name", "size", "sha256", "mime",
  //  "created", "refs"}} and the payload frame
  file_meta m{"000000000004", "n", 1, "ab", "m", 2, 3};
  auto frames = encode_reply(
      {7, download_reply{"000000000004", 0, 1, true, buffer::copy_of("x"), m}});
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(
      to_spaced_hex(header_bytes(frames)),
      to_spaced_hex(from_hex("87 a3 72 69 64 07 a2 6f 6b c3"
                             " a4 66 69 6c 65 ac 30 30 30 30 30 30 30 30 30 30"
                             " 30 34"
                             " a6 6f 66 66 73 65 74 00"
                             " a4 73 69 7a 65 01"
                             " a3 65 6f 66 c3"
                             " a4 6d 65 74 61 " +
                             golden_meta)));
  EXPECT_EQ(frames[1].view(), "x");
}

TEST(ReplyCodec, EncodesMetadataKeysInProtocolOrder) {
  // {"ok": true, "file": {"id", "name", "size", "sha256", "mime", "created",
  //  "refs"}}
  file_meta m{"000000000004", "n", 1, "ab", "m", 2, 3};
  auto frames = encode_reply({std::nullopt, stat_reply{m}});
  EXPECT_EQ(
      to_spaced_hex(header_bytes(frames)),
      to_spaced_hex(from_hex("82 a2 6f 6b c3 a4 66 69 6c 65 " + golden_meta)));
}

}  // namespace
}  // namespace depot::schema
