// Content-type detection: the signature table must name exactly what
// libmagic names for the same bytes, whatever follows the signature.

#include "server/content_type.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <thread>

namespace depot::server {
namespace {

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s.push_back(static_cast<char>(b));
  return s;
}

std::string le32(uint32_t v) {
  return bytes({int(v & 0xff), int((v >> 8) & 0xff), int((v >> 16) & 0xff),
                int((v >> 24) & 0xff)});
}

// Headers as real files of each format start.
std::vector<std::pair<std::string, std::string>> samples() {
  std::string png =
      bytes({0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13}) +
      "IHDR" + bytes({0, 0, 1, 0, 0, 0, 0, 0x80, 8, 6, 0, 0, 0});
  std::string jfif = bytes({0xff, 0xd8, 0xff, 0xe0, 0, 16}) +
                     std::string("JFIF\0", 5) +
                     bytes({1, 1, 0, 0, 72, 0, 72, 0, 0});
  std::string exif = bytes({0xff, 0xd8, 0xff, 0xe1, 0x12, 0x34}) +
                     std::string("Exif\0\0", 6) + "MM" +
                     bytes({0, 42, 0, 0, 0, 8});
  std::string webp = "RIFF" + le32(4096) + "WEBPVP8 " + le32(4000);
  std::string webpl = "RIFF" + le32(4096) + "WEBPVP8L" + le32(4000);
  std::string wav =
      "RIFF" + le32(4096) + "WAVEfmt " + le32(16) +
      bytes({1, 0, 1, 0, 0x44, 0xac, 0, 0, 0x88, 0x58, 1, 0, 2, 0, 16, 0}) +
      "data" + le32(4000);
  std::string gz = bytes({0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3});
  return {{"png", png},
          {"jpeg (JFIF)", jfif},
          {"jpeg (Exif)", exif},
          {"gif87", "GIF87a" + bytes({10, 0, 10, 0, 0x80, 0, 0})},
          {"gif89", "GIF89a" + bytes({10, 0, 10, 0, 0x80, 0, 0})},
          {"pdf", "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"},
          {"webp", webp},
          {"webp lossless", webpl},
          {"wav", wav},
          {"gzip", gz}};
}

// What may follow a header: nothing, zeros, noise, text.
std::vector<std::pair<std::string, std::string>> tails() {
  std::mt19937 rng(7);
  std::string noise(4000, '\0');
  for (auto& c : noise) c = static_cast<char>(rng());
  std::string text;
  while (text.size() < 4000)
    text += "the quick brown fox jumps over the lazy dog\n";
  return {{"nothing", ""},
          {"zeros", std::string(4000, '\0')},
          {"noise", noise},
          {"text", text}};
}

TEST(ContentType, SignaturesNameWhatLibmagicNames) {
  for (auto& [format, head] : samples()) {
    for (auto& [tail_name, tail] : tails()) {
      std::string content = head + tail;
      auto fast = content_type_by_signature(content);
      EXPECT_FALSE(fast.empty()) << format;
      EXPECT_EQ(fast, content_type_by_libmagic(content))
          << format << " followed by " << tail_name;
      EXPECT_EQ(detect_content_type(content), fast) << format;
    }
  }
}

TEST(ContentType, UnknownContentGoesToLibmagic) {
  std::string text;
  while (text.size() < 2000) text += "plain words in a note\n";
  EXPECT_EQ(content_type_by_signature(text), "");
  EXPECT_EQ(detect_content_type(text), "text/plain");
  EXPECT_EQ(detect_content_type("{\"a\": [1, 2, 3]}"), "application/json");
  std::string zip = std::string("PK\x03\x04", 4) + std::string(60, '\0');
  EXPECT_EQ(content_type_by_signature(zip), "")
      << "ZIP's subtype needs libmagic";
  // An ID3 tag says nothing of what follows it: libmagic looks further.
  std::string id3 =
      std::string("ID3\x04\0\0\0\0\x10\0", 10) + std::string(100, '\0');
  EXPECT_EQ(content_type_by_signature(id3), "");
  EXPECT_EQ(detect_content_type(""), content_type_by_libmagic(""));
}

TEST(ContentType, TruncatedSignaturesDoNotMatch) {
  for (auto& [format, head] : samples()) {
    // Shorter than the signature (the RIFF pair needs 15 bytes, the others
    // at most 8): nothing matches and nothing reads past the end.
    for (size_t n = 0; n < 3; ++n)
      EXPECT_EQ(content_type_by_signature(head.substr(0, n)), "")
          << format << " " << n;
  }
  EXPECT_EQ(content_type_by_signature("RIFF" + le32(8) + "WEBP"), "");
}

TEST(ContentType, UsableFromManyThreadsAtOnce) {
  std::vector<std::thread> threads;
  std::vector<std::string> seen(4);
  for (size_t i = 0; i < seen.size(); ++i)
    threads.emplace_back([&seen, i] {
      std::string text;
      while (text.size() < 1000) text += "hello from a thread\n";
      for (int k = 0; k < 20; ++k) seen[i] = detect_content_type(text);
    });
  for (auto& t : threads) t.join();
  for (auto& s : seen) EXPECT_EQ(s, "text/plain");
}

}  // namespace
}  // namespace depot::server
