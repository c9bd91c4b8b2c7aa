#include "storage/naming.hpp"

#include <gtest/gtest.h>

#include <string>

namespace depot::storage {
namespace {

digest digest_of(const std::string& s) {
  return sha256::of(s.data(), s.size());
}

struct vector_case {
  std::string content;
  uint32_t k;
  std::optional<unsigned> bits;
  std::string id;
};

TEST(Naming, MatchesEveryTestVectorOfTheProtocol) {
  const std::string hello = "hello depot\n";
  const vector_case cases[] = {
      {"", 0, std::nullopt, "nciB6WIL2fIa"},
      {"", 1, std::nullopt, "IT8pUXFYzNmV"},
      {"", 2, std::nullopt, "CGmJTE4WndsA"},
      {"", 0, 5u, "000000000004"},
      {hello, 0, std::nullopt, "rbWeBrTIp1Js"},
      {hello, 1, std::nullopt, "XrjTm2wUB8Qg"},
      {hello, 2, std::nullopt, "JEBlcgFFBsVy"},
      {hello, 0, 5u, "00000000000S"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(candidate_id(digest_of(c.content), c.k, c.bits), c.id)
        << "content of " << c.content.size() << " bytes, k=" << c.k;
}

TEST(Naming, IdsAreTwelveBase62Digits) {
  for (uint32_t k = 0; k < 50; ++k) {
    auto id = candidate_id(digest_of("x"), k);
    EXPECT_TRUE(schema::is_file_id(id)) << id;
  }
}

TEST(Naming, NarrowedIdsStayBelowTwoToTheBits) {
  // With 1 bit every candidate is one of two ids.
  for (uint32_t k = 0; k < 20; ++k) {
    auto id = candidate_id(digest_of("y"), k, 1u);
    EXPECT_TRUE(id == "000000000000" || id == "000000000001") << id;
  }
}

TEST(Naming, ValidatesIdsBeforeAnyPathIsBuilt) {
  EXPECT_TRUE(schema::is_file_id("abcdEFGH1234"));
  EXPECT_FALSE(schema::is_file_id("abcdEFGH123"));
  EXPECT_FALSE(schema::is_file_id("abcdEFGH12345"));
  EXPECT_FALSE(schema::is_file_id("ab/dEFGH1234"));
  EXPECT_FALSE(schema::is_file_id("..cdEFGH1234"));
  EXPECT_FALSE(
      schema::is_file_id(std::string("abcdEFGH12\0"
                                     "4",
                                     12)));
  EXPECT_FALSE(schema::is_file_id(""));
}

TEST(Naming, Base62ValueIsTheInverseOfTheAlphabet) {
  for (int v = 0; v < 62; ++v) EXPECT_EQ(base62_value(base62_alphabet[v]), v);
  int digits = 0;
  for (int c = 0; c < 256; ++c) {
    int v = base62_value(static_cast<char>(c));
    if (v < 0) {
      EXPECT_FALSE(schema::is_file_id_char(static_cast<char>(c))) << c;
      continue;
    }
    ++digits;
    EXPECT_EQ(base62_alphabet[v], static_cast<char>(c));
    EXPECT_TRUE(schema::is_file_id_char(static_cast<char>(c))) << c;
  }
  EXPECT_EQ(digits, 62);
}

TEST(Sha256, MatchesTheKnownDigestOfAbc) {
  EXPECT_EQ(to_hex(digest_of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, IncrementalEqualsOneShot) {
  std::string data(100000, 'q');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  sha256 h;
  for (size_t i = 0; i < data.size(); i += 999)
    h.update(data.data() + i, std::min<size_t>(999, data.size() - i));
  EXPECT_EQ(h.finish(), digest_of(data));
}

}  // namespace
}  // namespace depot::storage
