// docs/protocol.md "Framing" over real sockets: the check order of a request
// (header decoding, frame count and keys) and the server's resilience to
// garbage.
//
// Not covered over the wire: `internal` ("a bug; the server goes on
// serving") cannot be provoked by a client of a correct server; the codec
// and actor tests cover how it is produced.

#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/raw_msgpack.hpp"
#include "testkit/wire_client.hpp"
#include "tests/integration/framing_test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace depot::test {
namespace {

using namespace test_support;

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
