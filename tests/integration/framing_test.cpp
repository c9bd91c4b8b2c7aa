// docs/protocol.md "Transport" and "Framing" over real sockets: ping, rid echo,
// REQ clients, the check order of a request (header decoding, v, op, frame
// count and keys) and the server's resilience to garbage.
//
// Not covered over the wire: `internal` ("a bug; the server goes on
// serving") cannot be provoked by a client of a correct server; the codec
// and actor tests cover how it is produced.

#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/raw_msgpack.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace depot::test {
namespace {

using schema::errc;

// The op a raw request names, if its header decodes and names a known one.
std::string op_of(const frames& f) {
  if (f.empty()) return "ping";
  std::vector<schema::buffer> bufs;
  for (const auto& s : f) bufs.push_back(schema::buffer::copy_of(s));
  auto decoded = schema::decode_request(bufs);
  if (auto* r = std::get_if<schema::request>(&decoded))
    return std::string(schema::op_name(r->body));
  return "ping";  // an error reply decodes the same for every op
}

// Sends raw frames and decodes the next unmatched reply (as a reply to `op`,
// else to the op the request names).
schema::reply raw_call(wire_client& c, const frames& f, std::string op = "") {
  c.send_frames(f);
  return decode_frames(c.receive_frames(), op.empty() ? op_of(f) : op);
}

// Error code, rid and message of a raw call, for table-driven tests.
struct raw_case {
  std::string what;
  frames request;
  std::string expected_code;
};

void expect_all(wire_client& c, const std::vector<raw_case>& cases,
                std::optional<uint64_t> rid) {
  for (const auto& rc : cases) {
    auto r = raw_call(c, rc.request);
    EXPECT_EQ(code(r), rc.expected_code) << rc.what << ": " << describe(r);
    EXPECT_EQ(r.rid, rid) << rc.what;
    if (auto* e = std::get_if<schema::error_reply>(&r.body)) {
      EXPECT_FALSE(e->message.empty())
          << rc.what << ": an error carries a sentence";
    }
  }
}

TEST(Ping, AnswersWithVersionServerAndChunkMax) {
  test_depotd d({"--chunk-max", "65536"});
  wire_client c(d.endpoint());
  auto p = as<schema::ping_reply>(c.call(schema::ping_request{}));
  EXPECT_EQ(p.version, 1u);
  EXPECT_FALSE(p.server.empty());
  EXPECT_EQ(p.chunk_max, 65536u);
}

TEST(Ping, DefaultChunkMaxIsOneMebibyte) {
  test_depotd d;
  wire_client c(d.endpoint());
  EXPECT_EQ(as<schema::ping_reply>(c.call(schema::ping_request{})).chunk_max,
            uint64_t{1} << 20);
}

TEST(Transport, IpcEndpointServesLikeTcp) {
  depotd_options options;
  options.ipc = true;
  test_depotd d(std::move(options));
  ASSERT_EQ(d.endpoint().rfind("ipc://", 0), 0u);
  wire_client c(d.endpoint());
  EXPECT_EQ(code(c.call(schema::ping_request{})), "ok");
  auto f = store_content(c, "over ipc");
  EXPECT_EQ(download_all(c, f.id), "over ipc");
}

TEST(Transport, RepeatedListenServesOnEveryEndpoint) {
  temp_dir extra;
  std::string ipc = "ipc://" + (extra / "second.sock");
  test_depotd d({"--listen", ipc});
  wire_client tcp_client(d.endpoint());
  wire_client ipc_client(ipc);
  auto f = store_content(tcp_client, "seen on both");
  EXPECT_EQ(as<schema::stat_reply>(stat_of(ipc_client, f.id)).file, f);
}

TEST(Rid, IsEchoedUnchangedIncludingTheLargestUint) {
  test_depotd d;
  wire_client c(d.endpoint());
  for (uint64_t rid :
       {uint64_t{0}, uint64_t{1}, uint64_t{4294967296}, ~uint64_t{0}}) {
    c.send_with_rid(rid, schema::ping_request{});
    auto r = c.receive(rid);
    EXPECT_EQ(r.rid, rid);
    EXPECT_EQ(code(r), "ok");
  }
  // Error replies echo it too.
  c.send_with_rid(77, schema::stat_request{"000000000000"});
  auto r = c.receive(77);
  EXPECT_EQ(r.rid, 77u);
  EXPECT_EQ(code(r), "not_found");
}

TEST(Rid, IsAbsentFromTheReplyWhenTheRequestHadNone) {
  test_depotd d;
  wire_client c(d.endpoint());
  c.send_with_rid(std::nullopt, schema::ping_request{});
  auto r = decode_frames(c.receive_frames(), "ping");
  EXPECT_FALSE(r.rid.has_value());
  EXPECT_EQ(code(r), "ok");
  c.send_with_rid(std::nullopt, schema::stat_request{"000000000000"});
  r = decode_frames(c.receive_frames(), "stat");
  EXPECT_FALSE(r.rid.has_value());
  EXPECT_EQ(code(r), "not_found");
}

TEST(Rid, RepliesToPipelinedRequestsAreMatchedByRid) {
  test_depotd d;
  wire_client c(d.endpoint());
  std::vector<uint64_t> rids;
  for (int i = 0; i < 200; ++i)
    rids.push_back(i % 2 ? c.send(schema::ping_request{})
                         : c.send(schema::stat_request{"000000000000"}));
  for (size_t i = 0; i < rids.size(); ++i) {
    auto r = c.receive(rids[i]);
    EXPECT_EQ(code(r), i % 2 ? "ok" : "not_found");
  }
}

TEST(ReqSocket, PingWorksAndTheDelimiterIsEchoed) {
  test_depotd d;
  // A REQ socket drops any reply without the empty delimiter frame, so an
  // answer at all proves the delimiter came back.
  wire_client c(d.endpoint(), zmq::socket_type::req);
  for (int i = 0; i < 3; ++i) {
    auto r = c.call(schema::ping_request{});
    EXPECT_EQ(code(r), "ok");
  }
}

TEST(ReqSocket, SmallUploadAndDownloadWork) {
  test_depotd d;
  wire_client c(d.endpoint(), zmq::socket_type::req);
  upload_options o;
  o.window = 1;  // REQ: one request at a time
  o.chunk = 4;
  auto f = store_content(c, "hello over REQ", o);
  EXPECT_EQ(f.size, 14u);
  EXPECT_EQ(f.sha256, sha256_hex("hello over REQ"));
  EXPECT_EQ(download_all(c, f.id, 5, 1), "hello over REQ");
  // An error reply reaches a REQ client too.
  EXPECT_EQ(code(c.call(schema::stat_request{"000000000000"})), "not_found");
}

TEST(ReqSocket, DealerSendingAnEmptyFirstFrameGetsItBack) {
  test_depotd d;
  wire_client c(d.endpoint());
  c.send_frames(
      {"", mp::header({{"op", mp::str("ping")}, {"rid", mp::uint(5)}})});
  auto f = c.receive_frames();
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0], "");
  auto r = decode_frames({f[1]}, "ping");
  EXPECT_EQ(r.rid, 5u);
  EXPECT_EQ(code(r), "ok");
}

TEST(Framing, UndecodableHeadersAreBadRequests) {
  test_depotd d;
  wire_client c(d.endpoint());
  std::string ping = mp::header({{"op", mp::str("ping")}});
  expect_all(
      c,
      {
          {"reserved byte 0xc1", {"\xc1"}, "bad_request"},
          {"plain text", {"not msgpack at all"}, "bad_request"},
          {"truncated map", {ping.substr(0, ping.size() - 2)}, "bad_request"},
          {"trailing bytes", {ping + "x"}, "bad_request"},
          {"an array",
           {mp::array({mp::str("op"), mp::str("ping")}).bytes},
           "bad_request"},
          {"a string", {mp::str("ping").bytes}, "bad_request"},
          {"an integer key",
           {mp::map_of({{mp::uint(1), mp::str("ping")}}).bytes},
           "bad_request"},
          {"a key twice",
           {mp::header({{"op", mp::str("ping")}, {"op", mp::str("ping")}})},
           "bad_request"},
          {"header over 8 KiB",
           {mp::header({{"op", mp::str("ping")},
                        {"pad", mp::str(std::string(9000, 'x'))}})},
           "bad_request"},
      },
      std::nullopt);
  EXPECT_EQ(code(c.call(schema::ping_request{})), "ok");
}

TEST(Framing, MsgpackBombIsBadRequestAndTheServerStaysUp) {
  test_depotd d;
  wire_client c(d.endpoint());
  // dd: array32 of 4 billion elements; df: map32 of as many pairs.
  for (std::string bomb : {std::string("\xdd\xff\xff\xff\xff", 5),
                           std::string("\xdf\xff\xff\xff\xff", 5),
                           std::string("\xdb\xff\xff\xff\xff", 5),
                           std::string("\xc6\xff\xff\xff\xff", 5)}) {
    auto r = raw_call(c, {bomb});
    EXPECT_EQ(code(r), "bad_request") << describe(r);
  }
  EXPECT_EQ(code(c.call(schema::ping_request{})), "ok");
  EXPECT_TRUE(d.running());
}

TEST(Framing, MissingAndExtraFramesAreBadRequestsWithTheRidEchoed) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  std::string ping =
      mp::header({{"op", mp::str("ping")}, {"rid", mp::uint(9)}});
  std::string chunk = mp::header({{"op", mp::str("chunk")},
                                  {"rid", mp::uint(9)},
                                  {"upload", mp::str(token)},
                                  {"seq", mp::uint(0)},
                                  {"last", mp::boolean(true)}});
  std::string stat = mp::header({{"op", mp::str("stat")},
                                 {"rid", mp::uint(9)},
                                 {"file", mp::str("000000000000")}});
  expect_all(
      c,
      {
          {"ping with a payload", {ping, "extra"}, "bad_request"},
          {"ping with an empty extra frame", {ping, ""}, "bad_request"},
          {"stat with two extra frames", {stat, "a", "b"}, "bad_request"},
          {"chunk without its payload", {chunk}, "bad_request"},
          {"chunk with a third frame", {chunk, "data", "more"}, "bad_request"},
      },
      9);
  // The malformed chunks did not touch the upload.
  auto st = as<schema::upload_status_reply>(
      c.call(schema::upload_status_request{token}));
  EXPECT_EQ(st.next, 0u);
  EXPECT_EQ(st.received, 0u);
}

TEST(Framing, AnEmptyMessageStillGetsAReply) {
  test_depotd d;
  wire_client c(d.endpoint());
  // One empty frame: taken as a REQ delimiter followed by nothing.
  c.send_frames({""});
  auto f = c.receive_frames();
  ASSERT_FALSE(f.empty());
  auto r = decode_frames({f.back()}, "ping");
  EXPECT_EQ(code(r), "bad_request");
  EXPECT_EQ(code(c.call(schema::ping_request{})), "ok");
}

TEST(Framing, KnownKeysWithTheWrongTypeAreBadRequests) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  auto rid = mp::uint(3);
  auto chunk = [&](std::string key, mp::value v) {
    std::vector<std::pair<std::string, mp::value>> kv = {
        {"op", mp::str("chunk")},
        {"rid", rid},
        {"upload", mp::str(token)},
        {"seq", mp::uint(0)},
        {"last", mp::boolean(false)}};
    for (auto& [k, val] : kv)
      if (k == key) val = v;
    std::string h = mp::header({kv[0], kv[1], kv[2], kv[3], kv[4]});
    return frames{h, "payload"};
  };
  expect_all(
      c,
      {
          {"op as int",
           {mp::header({{"op", mp::uint(1)}, {"rid", rid}})},
           "bad_request"},
          {"op as bin",
           {mp::header({{"op", mp::bin("ping")}, {"rid", rid}})},
           "bad_request"},
          {"v as string",
           {mp::header(
               {{"op", mp::str("ping")}, {"rid", rid}, {"v", mp::str("1")}})},
           "bad_request"},
          {"v negative",
           {mp::header(
               {{"op", mp::str("ping")}, {"rid", rid}, {"v", mp::sint(-1)}})},
           "bad_request"},
          {"upload as int", chunk("upload", mp::uint(5)), "bad_request"},
          {"seq as string", chunk("seq", mp::str("0")), "bad_request"},
          {"seq negative", chunk("seq", mp::sint(-1)), "bad_request"},
          {"seq as float", chunk("seq", mp::real(0.0)), "bad_request"},
          {"last as int", chunk("last", mp::uint(1)), "bad_request"},
          {"last as string", chunk("last", mp::str("true")), "bad_request"},
          {"upload name as int",
           {mp::header({{"op", mp::str("upload")},
                        {"rid", rid},
                        {"name", mp::uint(7)}})},
           "bad_request"},
          {"upload size as string",
           {mp::header({{"op", mp::str("upload")},
                        {"rid", rid},
                        {"name", mp::str("a")},
                        {"size", mp::str("10")}})},
           "bad_request"},
          {"upload size negative",
           {mp::header({{"op", mp::str("upload")},
                        {"rid", rid},
                        {"name", mp::str("a")},
                        {"size", mp::sint(-10)}})},
           "bad_request"},
          {"upload sha256 as bin",
           {mp::header({{"op", mp::str("upload")},
                        {"rid", rid},
                        {"name", mp::str("a")},
                        {"sha256", mp::bin(std::string(32, 'x'))}})},
           "bad_request"},
          {"upload mime as bool",
           {mp::header({{"op", mp::str("upload")},
                        {"rid", rid},
                        {"name", mp::str("a")},
                        {"mime", mp::boolean(true)}})},
           "bad_request"},
          {"download offset as string",
           {mp::header({{"op", mp::str("download")},
                        {"rid", rid},
                        {"file", mp::str("000000000000")},
                        {"offset", mp::str("0")}})},
           "bad_request"},
          {"download length negative",
           {mp::header({{"op", mp::str("download")},
                        {"rid", rid},
                        {"file", mp::str("000000000000")},
                        {"length", mp::sint(-1)}})},
           "bad_request"},
          {"stat file as int",
           {mp::header({{"op", mp::str("stat")},
                        {"rid", rid},
                        {"file", mp::uint(12)}})},
           "bad_request"},
          {"list limit as string",
           {mp::header({{"op", mp::str("list")},
                        {"rid", rid},
                        {"limit", mp::str("5")}})},
           "bad_request"},
          {"list after as int",
           {mp::header({{"op", mp::str("list")},
                        {"rid", rid},
                        {"after", mp::uint(5)}})},
           "bad_request"},
          {"abort upload as array",
           {mp::header({{"op", mp::str("abort")},
                        {"rid", rid},
                        {"upload", mp::array({mp::str(token)})}})},
           "bad_request"},
      },
      3);
  // A wrongly typed rid cannot be echoed, but still gets a bad_request.
  auto r = raw_call(
      c, {mp::header({{"op", mp::str("ping")}, {"rid", mp::str("3")}})});
  EXPECT_EQ(code(r), "bad_request");
  EXPECT_FALSE(r.rid.has_value());
  r = raw_call(c,
               {mp::header({{"op", mp::str("ping")}, {"rid", mp::sint(-3)}})});
  EXPECT_EQ(code(r), "bad_request");
  // None of it touched the upload.
  auto st = as<schema::upload_status_reply>(
      c.call(schema::upload_status_request{token}));
  EXPECT_EQ(st.next, 0u);
}

TEST(Framing, MissingRequiredKeysAreBadRequests) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  auto rid = mp::uint(4);
  expect_all(
      c,
      {
          {"upload without name",
           {mp::header({{"op", mp::str("upload")}, {"rid", rid}})},
           "bad_request"},
          {"chunk without upload",
           {mp::header({{"op", mp::str("chunk")},
                        {"rid", rid},
                        {"seq", mp::uint(0)},
                        {"last", mp::boolean(true)}}),
            "x"},
           "bad_request"},
          {"chunk without seq",
           {mp::header({{"op", mp::str("chunk")},
                        {"rid", rid},
                        {"upload", mp::str(token)},
                        {"last", mp::boolean(true)}}),
            "x"},
           "bad_request"},
          {"chunk without last",
           {mp::header({{"op", mp::str("chunk")},
                        {"rid", rid},
                        {"upload", mp::str(token)},
                        {"seq", mp::uint(0)}}),
            "x"},
           "bad_request"},
          {"upload_status without upload",
           {mp::header({{"op", mp::str("upload_status")}, {"rid", rid}})},
           "bad_request"},
          {"abort without upload",
           {mp::header({{"op", mp::str("abort")}, {"rid", rid}})},
           "bad_request"},
          {"download without file",
           {mp::header({{"op", mp::str("download")}, {"rid", rid}})},
           "bad_request"},
          {"stat without file",
           {mp::header({{"op", mp::str("stat")}, {"rid", rid}})},
           "bad_request"},
          {"delete without file",
           {mp::header({{"op", mp::str("delete")}, {"rid", rid}})},
           "bad_request"},
          {"stat with nil file",
           {mp::header(
               {{"op", mp::str("stat")}, {"rid", rid}, {"file", mp::nil()}})},
           "bad_request"},
      },
      4);
}

TEST(Framing, UnknownKeysAreIgnoredAndNilCountsAsAbsent) {
  test_depotd d({"--chunk-max", "1000"});
  wire_client c(d.endpoint());
  auto r = raw_call(
      c, {mp::header({{"op", mp::str("ping")},
                      {"rid", mp::uint(1)},
                      {"future_key", mp::array({mp::uint(1), mp::nil()})},
                      {"v", mp::nil()}})});
  EXPECT_EQ(code(r), "ok") << describe(r);
  EXPECT_EQ(r.rid, 1u);

  // upload with every optional key nil, then a chunk with an unknown key.
  r = raw_call(c,
               {mp::header({{"op", mp::str("upload")},
                            {"rid", mp::uint(2)},
                            {"name", mp::str("nil.txt")},
                            {"size", mp::nil()},
                            {"sha256", mp::nil()},
                            {"mime", mp::nil()},
                            {"colour", mp::str("blue")}})},
               "upload");
  auto token = as<schema::upload_reply>(r).upload;
  std::string content(2500, 'n');
  r = raw_call(c,
               {mp::header({{"op", mp::str("chunk")},
                            {"rid", mp::uint(3)},
                            {"upload", mp::str(token)},
                            {"seq", mp::uint(0)},
                            {"last", mp::boolean(false)},
                            {"extra", mp::uint(1)}}),
                content.substr(0, 1000)},
               "chunk");
  EXPECT_EQ(code(r), "ok") << describe(r);
  // (that was not the last chunk of the content: finish it properly)
  c.call(make_chunk(token, 1, false, content.substr(1000, 1000)));
  auto done = as<schema::chunk_done_reply>(
      c.call(make_chunk(token, 2, true, content.substr(2000))));
  EXPECT_EQ(done.file.size, 2500u);

  // download with length nil: the default length, chunk_max.
  r = raw_call(c,
               {mp::header({{"op", mp::str("download")},
                            {"rid", mp::uint(4)},
                            {"file", mp::str(done.file.id)},
                            {"offset", mp::nil()},
                            {"length", mp::nil()}})},
               "download");
  auto dl = as<schema::download_reply>(r);
  EXPECT_EQ(dl.offset, 0u);
  EXPECT_EQ(dl.data.size(), 1000u);

  // list with after and limit nil: from the start, the default page.
  r = raw_call(c,
               {mp::header({{"op", mp::str("list")},
                            {"rid", mp::uint(5)},
                            {"after", mp::nil()},
                            {"limit", mp::nil()}})},
               "list");
  EXPECT_EQ(as<schema::list_reply>(r).files.size(), 1u);
}

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

TEST(Resilience, GarbageSenderKeepsGettingRepliesAndOthersAreServed) {
  test_depotd d({"--chunk-max", "65536", "--window", "4"});
  std::string content = random_bytes(3 << 20, 11);
  std::string error;
  std::thread good([&] {
    try {
      wire_client c(d.endpoint());
      auto f = store_content(c, content);
      if (download_all(c, f.id) != content) error = "download differs";
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  wire_client bad(d.endpoint());
  const frames garbage[] = {
      {"\xc1"},
      {std::string("\xdd\xff\xff\xff\xff", 5)},
      {mp::header({{"op", mp::str("ping")}}), "x", "y"},
      {mp::header({{"op", mp::str("nope")}})},
      {mp::header({{"op", mp::str("chunk")},
                   {"upload", mp::str("zz")},
                   {"seq", mp::uint(0)},
                   {"last", mp::boolean(true)}}),
       "p"},
      {random_bytes(100, 5)},
      {mp::header({{"op", mp::str("ping")}, {"v", mp::uint(9)}})},
  };
  const int rounds = 60;
  for (int i = 0; i < rounds; ++i)
    for (const auto& g : garbage) bad.send_frames(g);
  int replies = 0;
  for (int i = 0; i < rounds * static_cast<int>(std::size(garbage)); ++i) {
    auto f = bad.receive_frames();
    auto r = decode_frames({f.front()}, "ping");
    EXPECT_NE(code(r), "ok");
    ++replies;
  }
  good.join();
  EXPECT_EQ(error, "");
  EXPECT_EQ(replies, rounds * static_cast<int>(std::size(garbage)));
  EXPECT_EQ(code(bad.call(schema::ping_request{})), "ok");
}

}  // namespace
}  // namespace depot::test
