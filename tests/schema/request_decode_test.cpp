// decode_request's checks, in docs/protocol.md's order, key by key.

#include "schema/codec.hpp"
#include "tests/schema/codec_test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace depot::schema {
namespace {

using test_support::expect_failure;
using test_support::expect_request;
using test_support::file_id;
using test_support::frames_for;
using test_support::from_hex;
using test_support::map_builder;
using test_support::sha_lower;
using test_support::valid_header;
namespace mp = ::depot::test::mp;

bool mentions(const decode_failure& f, std::string_view text) {
  return f.message.find(text) != std::string::npos;
}

// --- every op's valid header
// --------------------------------------------------

TEST(RequestDecoder, AcceptsTheValidHeaderOfEveryOp) {
  for (const std::string& op : test_support::all_ops) {
    auto result = decode_request(frames_for(op, valid_header(op)));
    auto* r = std::get_if<request>(&result);
    ASSERT_NE(r, nullptr) << op << ": "
                          << std::get<decode_failure>(result).message;
    EXPECT_EQ(r->rid, 42u);
    EXPECT_EQ(op_name(r->body), op);
  }
}

// --- frame counts
// ---------------------------------------------------------------

TEST(RequestDecoder, RejectsNoFramesAtAll) {
  auto f = expect_failure({});
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_EQ(f.rid, std::nullopt);
}

TEST(RequestDecoder, RejectsChunkWithoutPayloadFrame) {
  auto f = expect_failure({valid_header("chunk").frame()});
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_EQ(f.rid, 42u);
  EXPECT_TRUE(mentions(f, "frame")) << f.message;
}

TEST(RequestDecoder, RejectsChunkWithExtraFrame) {
  auto header = valid_header("chunk").frame();
  auto f = expect_failure({header, buffer::copy_of("a"), buffer::copy_of("b")});
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_EQ(f.rid, 42u);
}

TEST(RequestDecoder, AcceptsChunkWithEmptyPayloadFrame) {
  auto chunk =
      expect_request<chunk_request>({valid_header("chunk").frame(), buffer{}});
  EXPECT_TRUE(chunk.data.empty());
  EXPECT_TRUE(chunk.last);
}

TEST(RequestDecoder, RejectsExtraFrameOnEveryOtherOp) {
  for (const std::string& op : test_support::all_ops) {
    if (op == "chunk") continue;
    auto f = expect_failure({valid_header(op).frame(), buffer::copy_of("x")});
    EXPECT_EQ(f.code, errc::bad_request) << op;
    EXPECT_EQ(f.rid, 42u) << op;
    EXPECT_TRUE(mentions(f, "frame")) << f.message;
  }
}

// --- header shape
// ---------------------------------------------------------------

TEST(RequestDecoder, RejectsHeaderThatIsNotAMap) {
  for (const char* hex : {"c0", "07", "a4 70 69 6e 67", "92 01 02", "c3"}) {
    auto f = expect_failure({buffer::copy_of(from_hex(hex))});
    EXPECT_EQ(f.code, errc::bad_request) << hex;
    EXPECT_TRUE(mentions(f, "map")) << f.message;
  }
}

TEST(RequestDecoder, RejectsEmptyHeaderFrame) {
  EXPECT_EQ(expect_failure({buffer{}}).code, errc::bad_request);
}

TEST(RequestDecoder, RejectsTrailingBytesButEchoesRid) {
  std::string bytes = valid_header("ping").bytes() + "\xc0";
  auto f = expect_failure({buffer::copy_of(bytes)});
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_EQ(f.rid, 42u);
  EXPECT_TRUE(mentions(f, "after")) << f.message;
}

TEST(RequestDecoder, RejectsTwoMapsInOneFrame) {
  std::string one = valid_header("ping").bytes();
  EXPECT_EQ(expect_failure({buffer::copy_of(one + one)}).code,
            errc::bad_request);
}

TEST(RequestDecoder, RejectsNonStringKeyButEchoesRid) {
  // {"op": "ping", "rid": 9, 1: 2}
  auto f = expect_failure({buffer::copy_of(
      from_hex("83 a2 6f 70 a4 70 69 6e 67 a3 72 69 64 09 01 02"))});
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_EQ(f.rid, 9u);
  EXPECT_TRUE(mentions(f, "key")) << f.message;
}

TEST(RequestDecoder, RejectsBinaryKey) {
  // {"op": "ping", bin "x": 1}
  auto f = expect_failure(
      {buffer::copy_of(from_hex("82 a2 6f 70 a4 70 69 6e 67 c4 01 78 01"))});
  EXPECT_EQ(f.code, errc::bad_request);
}

TEST(RequestDecoder, RejectsDuplicateKeys) {
  // {"op": "ping", "op": "stat"}
  auto f = expect_failure({buffer::copy_of(
      from_hex("82 a2 6f 70 a4 70 69 6e 67 a2 6f 70 a4 73 74 61 74"))});
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_TRUE(mentions(f, "twice")) << f.message;
}

TEST(RequestDecoder, DoesNotEchoAnAmbiguousRid) {
  // {"op": "ping", "rid": 1, "rid": 2}
  auto f = expect_failure({buffer::copy_of(
      from_hex("83 a2 6f 70 a4 70 69 6e 67 a3 72 69 64 01 a3 72 69 64 02"))});
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_EQ(f.rid, std::nullopt);
}

TEST(RequestDecoder, RejectsReservedByte) {
  EXPECT_EQ(expect_failure({buffer::copy_of("\xc1")}).code, errc::bad_request);
  EXPECT_EQ(expect_failure({buffer::copy_of(from_hex("81 a2 6f 70 c1"))}).code,
            errc::bad_request);
}

// --- check order: decoding, v, op, then frames and keys
// --------------------------

TEST(RequestDecoder, AcceptsExplicitVersionOne) {
  expect_request<ping_request>({valid_header("ping").uint("v", 1).frame()});
}

TEST(RequestDecoder, RejectsVersionTwoAsUnsupported) {
  auto f = expect_failure({valid_header("ping").uint("v", 2).frame()});
  EXPECT_EQ(f.code, errc::unsupported_version);
  EXPECT_EQ(f.rid, 42u);
  EXPECT_TRUE(mentions(f, "2")) << f.message;
}

TEST(RequestDecoder, RejectsVersionZeroAsUnsupported) {
  EXPECT_EQ(expect_failure({valid_header("ping").uint("v", 0).frame()}).code,
            errc::unsupported_version);
}

TEST(RequestDecoder, RejectsMistypedVersionAsBadRequest) {
  for (const mp::value& v :
       {mp::str("1"), mp::sint(-1), mp::real(1.0), mp::boolean(true)}) {
    auto f = expect_failure({valid_header("ping").set("v", v).frame()});
    EXPECT_EQ(f.code, errc::bad_request);
    EXPECT_TRUE(mentions(f, "'v'")) << f.message;
  }
}

TEST(RequestDecoder, ChecksVersionBeforeOp) {
  auto f = expect_failure(
      {map_builder{}.str("op", "frobnicate").uint("v", 2).frame()});
  EXPECT_EQ(f.code, errc::unsupported_version);
  f = expect_failure({map_builder{}.uint("v", 2).frame()});
  EXPECT_EQ(f.code, errc::unsupported_version);
}

TEST(RequestDecoder, ChecksVersionBeforeFramesAndKeys) {
  auto f = expect_failure(
      {map_builder{}.str("op", "chunk").uint("v", 2).uint("rid", 3).frame()});
  EXPECT_EQ(f.code, errc::unsupported_version);
  EXPECT_EQ(f.rid, 3u);
}

TEST(RequestDecoder, RejectsUnknownOp) {
  auto f = expect_failure({valid_header("frobnicate").frame()});
  EXPECT_EQ(f.code, errc::unknown_op);
  EXPECT_EQ(f.rid, 42u);
  EXPECT_TRUE(mentions(f, "frobnicate")) << f.message;
}

TEST(RequestDecoder, RejectsOpNamesThatDifferOnlyInCase) {
  EXPECT_EQ(expect_failure({valid_header("PING").frame()}).code,
            errc::unknown_op);
  EXPECT_EQ(expect_failure({valid_header("").frame()}).code, errc::unknown_op);
}

TEST(RequestDecoder, KeepsUnknownOpMessagePrintable) {
  auto f =
      expect_failure({map_builder{}
                          .str("op", "\xff\x01\xc3\xa9" + std::string(100, 'x'))
                          .frame()});
  EXPECT_EQ(f.code, errc::unknown_op);
  for (char c : f.message) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << f.message;
}

TEST(RequestDecoder, ChecksOpBeforeFramesAndKeys) {
  // An unknown op with two frames and none of any op's keys.
  auto f = expect_failure({map_builder{}.str("op", "nope").frame(),
                           buffer::copy_of("x"), buffer::copy_of("y")});
  EXPECT_EQ(f.code, errc::unknown_op);
}

TEST(RequestDecoder, RejectsMissingOp) {
  auto f = expect_failure({map_builder{}.uint("rid", 5).frame()});
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_EQ(f.rid, 5u);
  EXPECT_TRUE(mentions(f, "missing key 'op'")) << f.message;
}

TEST(RequestDecoder, RejectsNilOpAsMissing) {
  auto f = expect_failure({map_builder{}.nil("op").frame()});
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_TRUE(mentions(f, "missing key 'op'")) << f.message;
}

TEST(RequestDecoder, RejectsMistypedOp) {
  for (const mp::value& v :
       {mp::uint(1), mp::bin("ping"), mp::array({}), mp::map_of({})}) {
    auto f = expect_failure({map_builder{}.set("op", v).frame()});
    EXPECT_EQ(f.code, errc::bad_request);
    EXPECT_TRUE(mentions(f, "'op'")) << f.message;
  }
}

TEST(RequestDecoder, ChecksFramesBeforeKeys) {
  // A chunk without its keys and without its payload: the frame count wins.
  auto f = expect_failure({map_builder{}.str("op", "chunk").frame()});
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_TRUE(mentions(f, "frame")) << f.message;
}

// --- rid
// ---------------------------------------------------------------------------

TEST(RequestDecoder, TakesRequestWithoutRid) {
  std::optional<uint64_t> rid = 1;
  expect_request<ping_request>({map_builder{}.str("op", "ping").frame()}, &rid);
  EXPECT_EQ(rid, std::nullopt);
}

TEST(RequestDecoder, TakesLargestRid) {
  std::optional<uint64_t> rid;
  expect_request<ping_request>(
      {valid_header("ping").uint("rid", UINT64_MAX).frame()}, &rid);
  EXPECT_EQ(rid, UINT64_MAX);
}

TEST(RequestDecoder, TreatsNilRidAsAbsent) {
  std::optional<uint64_t> rid = 1;
  expect_request<ping_request>({valid_header("ping").nil("rid").frame()}, &rid);
  EXPECT_EQ(rid, std::nullopt);
}

TEST(RequestDecoder, RejectsMistypedRid) {
  for (const mp::value& v : {mp::str("7"), mp::sint(-7), mp::real(7.0)}) {
    auto f = expect_failure({valid_header("ping").set("rid", v).frame()});
    EXPECT_EQ(f.code, errc::bad_request);
    EXPECT_EQ(f.rid, std::nullopt);
    EXPECT_TRUE(mentions(f, "'rid'")) << f.message;
  }
}

TEST(RequestDecoder, TakesUintEncodedAsSignedType) {
  // {"op": "ping", "rid": int8 5}: a non-negative value is a uint whatever
  // its encoding.
  std::optional<uint64_t> rid;
  expect_request<ping_request>(
      {buffer::copy_of(
          from_hex("82 a2 6f 70 a4 70 69 6e 67 a3 72 69 64 d0 05"))},
      &rid);
  EXPECT_EQ(rid, 5u);
}

// --- wrong types, key by key
// -----------------------------------------------------

enum class kind { str, uint, boolean };

struct typed_key {
  std::string op;
  std::string key;
  kind type;
};

std::vector<mp::value> wrong_values(kind type) {
  switch (type) {
    case kind::str:
      return {mp::uint(5),   mp::boolean(true), mp::bin("x"),
              mp::array({}), mp::map_of({}),    mp::real(1)};
    case kind::uint:
      return {mp::str("5"),       mp::sint(-1),    mp::real(1.5),
              mp::boolean(false), mp::bin("\x05"), mp::map_of({})};
    case kind::boolean:
      return {mp::uint(1), mp::str("true"), mp::sint(-1), mp::array({})};
  }
  return {};
}

TEST(RequestDecoder, RejectsEveryKnownKeyWithTheWrongTypeNamingTheKey) {
  const std::vector<typed_key> keys = {
      {"upload", "name", kind::str},
      {"upload", "size", kind::uint},
      {"upload", "sha256", kind::str},
      {"upload", "mime", kind::str},
      {"chunk", "upload", kind::str},
      {"chunk", "seq", kind::uint},
      {"chunk", "last", kind::boolean},
      {"upload_status", "upload", kind::str},
      {"abort", "upload", kind::str},
      {"download", "file", kind::str},
      {"download", "offset", kind::uint},
      {"download", "length", kind::uint},
      {"download", "meta", kind::boolean},
      {"stat", "file", kind::str},
      {"delete", "file", kind::str},
      {"list", "after", kind::str},
      {"list", "limit", kind::uint},
  };
  for (const typed_key& k : keys) {
    for (const mp::value& v : wrong_values(k.type)) {
      auto header = valid_header(k.op).set(k.key, v);
      auto f = expect_failure(frames_for(k.op, header));
      EXPECT_EQ(f.code, errc::bad_request) << k.op << "." << k.key;
      EXPECT_EQ(f.rid, 42u) << k.op << "." << k.key;
      EXPECT_TRUE(mentions(f, "'" + k.key + "'"))
          << k.op << "." << k.key << ": " << f.message;
    }
  }
}

TEST(RequestDecoder, RejectsEveryMissingRequiredKeyNamingIt) {
  const std::vector<std::pair<std::string, std::string>> required = {
      {"upload", "name"},
      {"chunk", "upload"},
      {"chunk", "seq"},
      {"chunk", "last"},
      {"upload_status", "upload"},
      {"abort", "upload"},
      {"download", "file"},
      {"stat", "file"},
      {"delete", "file"},
  };
  for (const auto& [op, key] : required) {
    for (bool as_nil : {false, true}) {
      auto header = valid_header(op);
      if (as_nil)
        header.nil(key);
      else
        header.erase(key);
      auto f = expect_failure(frames_for(op, header));
      EXPECT_EQ(f.code, errc::bad_request) << op << "." << key;
      EXPECT_TRUE(mentions(f, "missing key '" + key + "'"))
          << op << "." << key << ": " << f.message;
    }
  }
}

TEST(RequestDecoder, TreatsNilOptionalKeysAsAbsent) {
  auto up = expect_request<upload_request>(
      {valid_header("upload").nil("size").nil("sha256").nil("mime").frame()});
  EXPECT_EQ(up.size, std::nullopt);
  EXPECT_EQ(up.sha256, std::nullopt);
  EXPECT_EQ(up.mime, std::nullopt);

  auto dl = expect_request<download_request>({valid_header("download")
                                                  .uint("offset", 9)
                                                  .nil("offset")
                                                  .nil("length")
                                                  .frame()});
  EXPECT_EQ(dl.offset, 0u);
  EXPECT_EQ(dl.length, std::nullopt);

  auto ls = expect_request<list_request>(
      {valid_header("list").nil("after").nil("limit").frame()});
  EXPECT_EQ(ls.after, std::nullopt);
  EXPECT_EQ(ls.limit, 100u);

  expect_request<ping_request>({valid_header("ping").nil("v").frame()});
}

TEST(RequestDecoder, IgnoresUnknownKeysOfAnyType) {
  auto header = valid_header("stat")
                    .set("future", mp::raw(from_hex("82 a1 61 91 01 a1 62 c0")))
                    .set("flag", mp::boolean(true))
                    .set("blob", mp::bin(std::string_view("\x00\x01", 2)))
                    .set("neg", mp::sint(-100))
                    .set("ext", mp::raw(from_hex("d4 01 00")));
  EXPECT_EQ(expect_request<stat_request>({header.frame()}).file, file_id);
}

TEST(RequestDecoder, IgnoresKeysOfOtherOps) {
  auto header = valid_header("ping").str("file", "not an id").uint("seq", 1);
  expect_request<ping_request>({header.frame()});
}

// --- upload
// --------------------------------------------------------------------------

decode_failure upload_with_name(std::string_view name) {
  return expect_failure({valid_header("upload").str("name", name).frame()});
}

TEST(RequestDecoder, RejectsBadUploadNames) {
  const std::vector<std::string> bad = {
      "",
      std::string(256, 'n'),
      "a/b",
      std::string("a\0b", 3),
      "line\nbreak",
      "tab\t",
      "del\x7f",
      "next\xc2\x85line",  // U+0085
      "\xff\xfe",          // not UTF-8
      "trunc\xe2\x82",     // truncated
      "\xc0\xaf",          // overlong '/'
      "\xe0\x80\xaf",      // overlong '/'
      "\xed\xa0\x80",      // surrogate
      "\xf4\x90\x80\x80",  // above U+10FFFF
  };
  for (const std::string& name : bad) {
    auto f = upload_with_name(name);
    EXPECT_EQ(f.code, errc::bad_request) << test_support::to_spaced_hex(name);
    EXPECT_EQ(f.rid, 42u);
    EXPECT_TRUE(mentions(f, "name")) << f.message;
  }
}

TEST(RequestDecoder, AcceptsValidMultiByteUploadNames) {
  for (std::string name :
       {"r\xc3\xa9sum\xc3\xa9.pdf", "\xe6\x97\xa5\xe6\x9c\xac",
        "\xf0\x9f\x98\x80.png", "\xc2\xa0", "\xf4\x8f\xbf\xbf"}) {
    auto up = expect_request<upload_request>(
        {valid_header("upload").str("name", name).frame()});
    EXPECT_EQ(up.name, name);
  }
  std::string longest(255, 'n');
  EXPECT_EQ(expect_request<upload_request>(
                {valid_header("upload").str("name", longest).frame()})
                .name,
            longest);
}

TEST(RequestDecoder, NormalizesUppercaseSha256) {
  std::string upper =
      "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
  auto up = expect_request<upload_request>(
      {valid_header("upload").str("sha256", upper).frame()});
  EXPECT_EQ(up.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(RequestDecoder, RejectsSha256Of63Or65DigitsOrNonHex) {
  for (std::string sha : {std::string(63, 'a'), std::string(65, 'a'),
                          std::string(63, 'a') + "z", std::string{}}) {
    auto f =
        expect_failure({valid_header("upload").str("sha256", sha).frame()});
    EXPECT_EQ(f.code, errc::bad_request) << sha;
    EXPECT_TRUE(mentions(f, "'sha256'")) << f.message;
  }
}

TEST(RequestDecoder, AcceptsMimeOf255BytesAndRejects256) {
  std::string longest = "text/plain; p=" + std::string(241, 'm');
  auto up = expect_request<upload_request>(
      {valid_header("upload").str("mime", longest).frame()});
  EXPECT_EQ(up.mime, longest);
  auto f = expect_failure(
      {valid_header("upload").str("mime", longest + "m").frame()});
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_TRUE(mentions(f, "'mime'")) << f.message;
}

TEST(RequestDecoder, TreatsEmptyMimeAsAbsent) {
  auto up = expect_request<upload_request>(
      {valid_header("upload").str("mime", "").frame()});
  EXPECT_EQ(up.mime, std::nullopt);
}

TEST(RequestDecoder, TakesUploadSizeZeroAndLargest) {
  EXPECT_EQ(expect_request<upload_request>(
                {valid_header("upload").uint("size", 0).frame()})
                .size,
            0u);
  EXPECT_EQ(expect_request<upload_request>(
                {valid_header("upload").uint("size", UINT64_MAX).frame()})
                .size,
            UINT64_MAX);
}

// --- tokens
// ----------------------------------------------------------------------------

TEST(RequestDecoder, RejectsEmptyOrOverlongToken) {
  for (std::string op : {"chunk", "upload_status", "abort"}) {
    for (const std::string& token : {std::string{}, std::string(65, 't')}) {
      auto f =
          expect_failure(frames_for(op, valid_header(op).str("upload", token)));
      EXPECT_EQ(f.code, errc::bad_request) << op << " " << token.size();
      EXPECT_TRUE(mentions(f, "'upload'")) << f.message;
    }
    auto ok = decode_request(
        frames_for(op, valid_header(op).str("upload", std::string(64, 't'))));
    EXPECT_TRUE(std::holds_alternative<request>(ok)) << op;
  }
}

// --- file ids
// --------------------------------------------------------------------------

TEST(RequestDecoder, RejectsMalformedFileIds) {
  for (std::string op : {"download", "stat", "delete"}) {
    for (const std::string& id : {std::string(11, 'a'), std::string(13, 'a'),
                                  std::string("AbCdEf01234-"), std::string{}}) {
      auto f = expect_failure({valid_header(op).str("file", id).frame()});
      EXPECT_EQ(f.code, errc::bad_request) << op << " " << id;
      EXPECT_TRUE(mentions(f, "'file'")) << f.message;
    }
  }
}

TEST(RequestDecoder, RejectsMalformedListAfter) {
  for (const std::string& id : {std::string(11, 'a'), std::string(13, 'a'),
                                std::string("AbCdEf01234-")}) {
    auto f = expect_failure({valid_header("list").str("after", id).frame()});
    EXPECT_EQ(f.code, errc::bad_request) << id;
    EXPECT_TRUE(mentions(f, "'after'")) << f.message;
  }
}

// --- download and list defaults
// ---------------------------------------------------------

TEST(RequestDecoder, DefaultsDownloadOffsetToZeroAndLengthToAbsent) {
  auto dl = expect_request<download_request>(
      {valid_header("download").erase("offset").erase("length").frame()});
  EXPECT_EQ(dl.offset, 0u);
  EXPECT_EQ(dl.length, std::nullopt);
  EXPECT_FALSE(dl.meta);
}

TEST(RequestDecoder, TakesDownloadMetaTrueFalseAndNil) {
  for (bool want : {false, true}) {
    auto dl = expect_request<download_request>(
        {valid_header("download").boolean("meta", want).frame()});
    EXPECT_EQ(dl.meta, want);
  }
  auto dl = expect_request<download_request>(
      {valid_header("download").nil("meta").frame()});
  EXPECT_FALSE(dl.meta);
}

TEST(RequestDecoder, DefaultsListLimitTo100) {
  auto ls =
      expect_request<list_request>({map_builder{}.str("op", "list").frame()});
  EXPECT_EQ(ls.limit, 100u);
  EXPECT_EQ(ls.after, std::nullopt);
}

TEST(RequestDecoder, RejectsListLimitZero) {
  auto f = expect_failure({valid_header("list").uint("limit", 0).frame()});
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_TRUE(mentions(f, "'limit'")) << f.message;
}

TEST(RequestDecoder, CutsListLimitTo1000) {
  EXPECT_EQ(expect_request<list_request>(
                {valid_header("list").uint("limit", 5000).frame()})
                .limit,
            1000u);
  EXPECT_EQ(expect_request<list_request>(
                {valid_header("list").uint("limit", 1000).frame()})
                .limit,
            1000u);
  EXPECT_EQ(expect_request<list_request>(
                {valid_header("list").uint("limit", UINT64_MAX).frame()})
                .limit,
            1000u);
  EXPECT_EQ(expect_request<list_request>(
                {valid_header("list").uint("limit", 1).frame()})
                .limit,
            1u);
}

}  // namespace
}  // namespace depot::schema
