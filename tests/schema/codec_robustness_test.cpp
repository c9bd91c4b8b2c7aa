// Hostile input: truncations, msgpack bombs and random bytes. These tests are
// meant to run under AddressSanitizer too: a decoder that tried to allocate
// what a bomb declares would abort there.

#include "schema/codec.hpp"
#include "tests/schema/codec_test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

namespace depot::schema {
namespace {

using test_support::expect_failure;
using test_support::frames_for;
using test_support::from_hex;
using test_support::map_builder;
using test_support::to_spaced_hex;
using test_support::valid_header;

bool printable_ascii(std::string_view text) {
  for (char c : text)
    if (c < 0x20 || c >= 0x7f) return false;
  return true;
}

// Whatever `frames` hold, decoding ends in a request or in a failure whose
// code is one a request check can give, with a printable message.
void expect_sane_decode(const std::vector<buffer>& frames) {
  auto result = decode_request(frames);
  if (auto* f = std::get_if<decode_failure>(&result)) {
    EXPECT_TRUE(f->code == errc::bad_request ||
                f->code == errc::unsupported_version ||
                f->code == errc::unknown_op)
        << to_string(f->code);
    EXPECT_FALSE(f->message.empty());
    EXPECT_TRUE(printable_ascii(f->message)) << f->message;
  }
}

// --- truncation
// --------------------------------------------------------------------

TEST(RequestDecoder, RejectsEveryStrictPrefixOfEveryOpsHeader) {
  for (const std::string& op : test_support::all_ops) {
    std::string bytes = valid_header(op).bytes();
    ASSERT_TRUE(std::holds_alternative<request>(
        decode_request(frames_for(op, valid_header(op)))));
    for (size_t n = 0; n < bytes.size(); ++n) {
      std::vector<buffer> frames{buffer::copy_of(bytes.substr(0, n))};
      if (op == "chunk") frames.push_back(buffer::copy_of("p"));
      auto f = expect_failure(frames);
      EXPECT_EQ(f.code, errc::bad_request) << op << " prefix " << n;
    }
  }
}

TEST(RequestDecoder, RejectsEveryStrictPrefixOfEncodedRequests) {
  std::vector<request> requests = {
      {1, upload_request{"x\xc3\xa9", 5, std::string(64, 'c'), "a/b"}},
      {UINT64_MAX, chunk_request{"tok", 1u << 30, true, {}}},
      {3, list_request{"zzzzzzzzzzzz", 1000}},
      {4, download_request{"zzzzzzzzzzzz", 7, 65536, true}},
  };
  for (const request& r : requests) {
    std::vector<buffer> frames = encode_request(r);
    std::string bytes{frames[0].view()};
    for (size_t n = 0; n < bytes.size(); ++n) {
      frames[0] = buffer::copy_of(bytes.substr(0, n));
      EXPECT_EQ(expect_failure(frames).code, errc::bad_request)
          << to_spaced_hex(bytes.substr(0, n));
    }
  }
}

// --- bombs
// -------------------------------------------------------------------------

TEST(RequestDecoder, RejectsMsgpackBombsQuickly) {
  std::vector<std::string> bombs = {
      from_hex("dd ff 00 00 00"),     // array32 of 4278190080 entries
      from_hex("dd ff ff ff ff"),     // array32 of 2^32-1 entries
      from_hex("dc ff ff"),           // array16 of 65535 entries
      from_hex("df ff ff ff ff"),     // map32 of 2^32-1 pairs
      from_hex("df 00 01 00 00"),     // map32 of 65536 pairs
      from_hex("de ff ff"),           // map16 of 65535 pairs
      from_hex("db ff ff ff ff"),     // str32 of 4 GiB
      from_hex("da ff ff"),           // str16 of 64 KiB
      from_hex("c6 ff ff ff ff"),     // bin32 of 4 GiB
      from_hex("c9 ff ff ff ff 01"),  // ext32 of 4 GiB
      // The same inside an otherwise good header, as a value and as a key.
      from_hex("82 a2 6f 70 a4 70 69 6e 67 a1 78 dd ff ff ff ff"),
      from_hex("82 a2 6f 70 a4 70 69 6e 67 a1 78 df ff ff ff ff"),
      from_hex("82 a2 6f 70 a4 70 69 6e 67 a1 78 db ff ff ff ff"),
      from_hex("82 a2 6f 70 a4 70 69 6e 67 a1 78 c6 ff ff ff ff"),
      from_hex("82 a2 6f 70 a4 70 69 6e 67 db ff ff ff ff"),
      from_hex("df ff ff ff ff a2 6f 70 a4 70 69 6e 67"),
  };
  std::string deep_arrays(1000, '\x91');
  bombs.push_back(deep_arrays + '\xc0');
  std::string deep_maps;
  for (int i = 0; i < 1000; ++i) deep_maps += from_hex("81 a1 61");
  bombs.push_back(deep_maps + '\xc0');
  // A good header with one unknown key nested 1000 arrays deep.
  bombs.push_back(from_hex("82 a2 6f 70 a4 70 69 6e 67 a1 78") + deep_arrays +
                  '\xc0');
  // 33 keys: more than the map limit.
  map_builder wide = valid_header("ping");
  for (int i = 0; i < 31; ++i) wide.uint("k" + std::to_string(i), 1);
  bombs.push_back(wide.bytes());

  auto start = std::chrono::steady_clock::now();
  for (const std::string& bomb : bombs) {
    auto f = expect_failure({buffer::copy_of(bomb)});
    EXPECT_EQ(f.code, errc::bad_request) << to_spaced_hex(bomb.substr(0, 16));
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST(RequestDecoder, RejectsHeaderOver8KiBBeforeParsing) {
  // A well-formed map of 8193 bytes: only its size is wrong.
  map_builder h = map_builder{}.str("op", "ping");
  h.str("a", std::string(4087, 'a')).str("b", std::string(4087, 'b'));
  std::string bytes = h.bytes();
  ASSERT_EQ(bytes.size(), 8193u);
  auto f = expect_failure({buffer::copy_of(bytes)});
  EXPECT_EQ(f.code, errc::bad_request);
  EXPECT_NE(f.message.find("8192"), std::string::npos) << f.message;
}

TEST(RequestDecoder, AcceptsHeaderOfExactly8KiB) {
  map_builder h = map_builder{}.str("op", "ping");
  h.str("a", std::string(4087, 'a')).str("b", std::string(4086, 'b'));
  std::string bytes = h.bytes();
  ASSERT_EQ(bytes.size(), 8192u);
  EXPECT_TRUE(std::holds_alternative<request>(
      decode_request({buffer::copy_of(bytes)})));
}

TEST(RequestDecoder, RejectsHugeFrameOfZeros) {
  std::string zeros(1 << 20, '\0');
  EXPECT_EQ(expect_failure({buffer::copy_of(zeros)}).code, errc::bad_request);
}

TEST(ReplyDecoder, RejectsMsgpackBombs) {
  for (const char* hex :
       {"dd ff 00 00 00", "dd ff ff ff ff", "df ff ff ff ff", "db ff ff ff ff",
        "c6 ff ff ff ff", "82 a2 6f 6b c3 a5 66 69 6c 65 73 dd 00 00 03 e9"}) {
    for (const std::string& op : test_support::all_ops) {
      auto result = decode_reply({buffer::copy_of(from_hex(hex))}, op);
      auto* f = std::get_if<decode_failure>(&result);
      ASSERT_NE(f, nullptr) << hex;
      EXPECT_EQ(f->code, errc::bad_request) << hex;
    }
  }
  std::string deep(1000, '\x91');
  auto result = decode_reply({buffer::copy_of(deep + '\xc0')}, "list");
  EXPECT_TRUE(std::holds_alternative<decode_failure>(result));
}

// --- random bytes
// --------------------------------------------------------------------

TEST(RequestDecoder, SurvivesRandomBytes) {
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> length(0, 48);
  for (int i = 0; i < 4000; ++i) {
    std::string bytes(length(rng), '\0');
    for (char& c : bytes) c = static_cast<char>(byte(rng));
    // Half of them start like a map, to get past the first byte more often.
    if (i % 2 == 0 && !bytes.empty())
      bytes[0] = static_cast<char>(0x80 | (bytes[0] & 0x0f));
    std::vector<buffer> frames{buffer::copy_of(bytes)};
    if (i % 3 == 0) frames.push_back(buffer::copy_of("payload"));
    expect_sane_decode(frames);
    for (const std::string& op : test_support::all_ops)
      (void)decode_reply(frames, op);
  }
}

TEST(RequestDecoder, SurvivesRandomMutationsOfValidHeaders) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> edits(1, 4);
  std::uniform_int_distribution<int> action(0, 2);
  for (int round = 0; round < 500; ++round) {
    for (const std::string& op : test_support::all_ops) {
      std::string bytes = valid_header(op).bytes();
      for (int e = edits(rng); e > 0 && !bytes.empty(); --e) {
        size_t at =
            std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng);
        switch (action(rng)) {
          case 0:
            bytes[at] = static_cast<char>(byte(rng));
            break;
          case 1:
            bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at),
                         static_cast<char>(byte(rng)));
            break;
          default:
            bytes.erase(at, 1);
        }
      }
      std::vector<buffer> frames{buffer::copy_of(bytes)};
      if (op == "chunk") frames.push_back(buffer::copy_of("p"));
      expect_sane_decode(frames);
    }
  }
}

TEST(ReplyDecoder, SurvivesRandomMutationsOfValidReplies) {
  file_meta m{"AbCdEf012345", "n", 1, std::string(64, 'a'), "m", 2, 3};
  std::vector<std::pair<std::string, reply>> replies = {
      {"upload", {1, upload_reply{"tok", 1024, 4}}},
      {"chunk", {2, chunk_done_reply{"tok", 3, m, false}}},
      {"upload_status", {3, upload_status_reply{"tok", 4, 5, m}}},
      {"list", {4, list_reply{{m, m}, std::string("AbCdEf012346")}}},
      {"ping", {5, ping_reply{1, "depot", 1024}}},
      {"stat", {6, error_reply{errc::out_of_order, "x", 9}}},
  };
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 300; ++round) {
    for (const auto& [op, r] : replies) {
      std::string bytes{encode_reply(r)[0].view()};
      size_t at =
          std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng);
      bytes[at] = static_cast<char>(byte(rng));
      auto result = decode_reply({buffer::copy_of(bytes)}, op);
      if (auto* f = std::get_if<decode_failure>(&result)) {
        EXPECT_TRUE(printable_ascii(f->message)) << f->message;
      }
    }
  }
}

}  // namespace
}  // namespace depot::schema
