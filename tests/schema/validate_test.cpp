#include "schema/validate.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace depot::schema {
namespace {

// --- file ids
// -----------------------------------------------------------------

TEST(FileId, AcceptsTwelveAlphanumerics) {
  EXPECT_TRUE(is_file_id("AbCdEf012345"));
  EXPECT_TRUE(is_file_id("000000000000"));
  EXPECT_TRUE(is_file_id("zzzzzzzzzzzz"));
  EXPECT_TRUE(is_file_id("nciB6WIL2fIa"));
}

TEST(FileId, RejectsElevenOrThirteenCharacters) {
  EXPECT_FALSE(is_file_id("AbCdEf01234"));
  EXPECT_FALSE(is_file_id("AbCdEf0123456"));
  EXPECT_FALSE(is_file_id(""));
}

TEST(FileId, RejectsCharactersOutsideBase62) {
  EXPECT_FALSE(is_file_id("AbCdEf01234-"));
  EXPECT_FALSE(is_file_id("AbCdEf01234_"));
  EXPECT_FALSE(is_file_id("AbCdEf01234 "));
  EXPECT_FALSE(is_file_id("AbCdEf01234/"));
  EXPECT_FALSE(is_file_id(std::string("AbCdEf01234\0", 12)));
  EXPECT_FALSE(is_file_id("AbCdEf0123\xc3\xa9"));  // 12 bytes, one is 'é'
}

// --- upload names
// -------------------------------------------------------------

TEST(UploadName, AcceptsPlainAsciiName) {
  EXPECT_EQ(check_name("report.pdf"), std::nullopt);
  EXPECT_EQ(check_name("a"), std::nullopt);
  EXPECT_EQ(check_name(" spaces and ~!@#$%^&*()\\ are fine "), std::nullopt);
}

TEST(UploadName, AcceptsMultiByteUtf8) {
  EXPECT_EQ(check_name("r\xc3\xa9sum\xc3\xa9.pdf"), std::nullopt);  // résumé
  EXPECT_EQ(check_name("\xe6\x97\xa5\xe6\x9c\xac.txt"), std::nullopt);  // 日本
  EXPECT_EQ(check_name("\xf0\x9f\x98\x80"), std::nullopt);  // U+1F600
}

TEST(UploadName, AcceptsBoundaryCodePoints) {
  EXPECT_EQ(check_name("\xc2\xa0"), std::nullopt);          // U+00A0
  EXPECT_EQ(check_name("\xed\x9f\xbf"), std::nullopt);      // U+D7FF
  EXPECT_EQ(check_name("\xee\x80\x80"), std::nullopt);      // U+E000
  EXPECT_EQ(check_name("\xef\xbf\xbf"), std::nullopt);      // U+FFFF
  EXPECT_EQ(check_name("\xf0\x90\x80\x80"), std::nullopt);  // U+10000
  EXPECT_EQ(check_name("\xf4\x8f\xbf\xbf"), std::nullopt);  // U+10FFFF
  EXPECT_EQ(check_name("\x7e"), std::nullopt);              // '~'
}

TEST(UploadName, AcceptsExactly255Bytes) {
  EXPECT_EQ(check_name(std::string(255, 'x')), std::nullopt);
  // 85 three-byte characters: 255 bytes.
  std::string wide;
  for (int i = 0; i < 85; ++i) wide += "\xe2\x82\xac";  // '€'
  EXPECT_EQ(check_name(wide), std::nullopt);
}

TEST(UploadName, RejectsEmptyName) {
  auto problem = check_name("");
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("empty"), std::string::npos) << *problem;
}

TEST(UploadName, Rejects256Bytes) {
  auto problem = check_name(std::string(256, 'x'));
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("255"), std::string::npos) << *problem;
  std::string wide;
  for (int i = 0; i < 64; ++i) wide += "\xf0\x9f\x98\x80";  // 256 bytes
  EXPECT_TRUE(check_name(wide));
}

TEST(UploadName, RejectsSlash) {
  auto problem = check_name("dir/file");
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("'/'"), std::string::npos) << *problem;
  EXPECT_TRUE(check_name("/"));
  EXPECT_TRUE(check_name("file/"));
}

TEST(UploadName, RejectsC0ControlsAndDelete) {
  EXPECT_TRUE(check_name(std::string("a\0b", 3)));
  EXPECT_TRUE(check_name("a\nb"));
  EXPECT_TRUE(check_name("a\tb"));
  EXPECT_TRUE(check_name("a\rb"));
  EXPECT_TRUE(check_name("a\x1f"));
  EXPECT_TRUE(check_name("\x01"));
  auto problem = check_name("a\x7f");
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("U+007F"), std::string::npos) << *problem;
}

TEST(UploadName, RejectsC1ControlsSuchAsNextLine) {
  auto problem = check_name("a\xc2\x85z");  // U+0085 NEXT LINE
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("U+0085"), std::string::npos) << *problem;
  EXPECT_TRUE(check_name("\xc2\x80"));  // U+0080
  EXPECT_TRUE(check_name("\xc2\x9f"));  // U+009F
}

TEST(UploadName, RejectsInvalidUtf8) {
  const char* cases[] = {
      "\xff",                  // never valid
      "\xfe",                  // never valid
      "a\x80",                 // stray continuation byte
      "\xbf",                  // stray continuation byte
      "\xc3",                  // truncated 2-byte sequence
      "\xe2\x82",              // truncated 3-byte sequence
      "\xf0\x9f\x98",          // truncated 4-byte sequence
      "\xc3(",                 // lead byte followed by ASCII
      "\xf5\x80\x80\x80",      // lead byte of a code point > U+10FFFF
      "\xf4\x90\x80\x80",      // U+110000
      "\xf8\x88\x80\x80\x80",  // 5-byte form
  };
  for (const char* c : cases) {
    auto problem = check_name(c);
    ASSERT_TRUE(problem) << c;
    EXPECT_NE(problem->find("UTF-8"), std::string::npos) << *problem;
  }
}

TEST(UploadName, RejectsOverlongEncodings) {
  EXPECT_TRUE(check_name("\xc0\xaf"));          // '/' in 2 bytes
  EXPECT_TRUE(check_name("\xc1\xbf"));          // U+007F in 2 bytes
  EXPECT_TRUE(check_name("\xc0\x80"));          // U+0000 in 2 bytes
  EXPECT_TRUE(check_name("\xe0\x80\xaf"));      // '/' in 3 bytes
  EXPECT_TRUE(check_name("\xe0\x9f\xbf"));      // U+07FF in 3 bytes
  EXPECT_TRUE(check_name("\xf0\x80\x80\xaf"));  // '/' in 4 bytes
  EXPECT_TRUE(check_name("\xf0\x8f\xbf\xbf"));  // U+FFFF in 4 bytes
}

TEST(UploadName, RejectsSurrogates) {
  EXPECT_TRUE(check_name("\xed\xa0\x80"));  // U+D800
  EXPECT_TRUE(check_name("\xed\xbf\xbf"));  // U+DFFF
  // A CESU-8 style pair for U+1F600.
  EXPECT_TRUE(check_name("\xed\xa0\xbd\xed\xb8\x80"));
}

TEST(UploadName, ReportsTheByteOffsetOfInvalidUtf8) {
  auto problem = check_name("abc\xff");
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("byte 3"), std::string::npos) << *problem;
}

// --- sha256
// -------------------------------------------------------------------

TEST(Sha256Hex, KeepsLowercaseDigits) {
  std::string hex =
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  EXPECT_EQ(normalize_sha256_hex(hex), hex);
}

TEST(Sha256Hex, NormalizesUppercaseToLowercase) {
  EXPECT_EQ(
      normalize_sha256_hex(
          "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(normalize_sha256_hex(std::string(32, 'A') + std::string(32, 'f')),
            std::string(32, 'a') + std::string(32, 'f'));
}

TEST(Sha256Hex, Rejects63Or65Digits) {
  EXPECT_EQ(normalize_sha256_hex(std::string(63, 'a')), std::nullopt);
  EXPECT_EQ(normalize_sha256_hex(std::string(65, 'a')), std::nullopt);
  EXPECT_EQ(normalize_sha256_hex(""), std::nullopt);
}

TEST(Sha256Hex, RejectsNonHexCharacters) {
  EXPECT_EQ(normalize_sha256_hex(std::string(63, 'a') + "g"), std::nullopt);
  EXPECT_EQ(normalize_sha256_hex(std::string(63, 'a') + " "), std::nullopt);
  EXPECT_EQ(normalize_sha256_hex("0x" + std::string(62, 'a')), std::nullopt);
}

// --- to_hex
// -------------------------------------------------------------------

TEST(ToHex, WritesLowercasePairs) {
  const uint8_t bytes[] = {0x00, 0x01, 0xab, 0xcd, 0xef, 0xff, 0x10};
  EXPECT_EQ(to_hex(bytes, sizeof bytes), "0001abcdefff10");
}

TEST(ToHex, WritesNothingForNoBytes) { EXPECT_EQ(to_hex(nullptr, 0), ""); }

}  // namespace
}  // namespace depot::schema
