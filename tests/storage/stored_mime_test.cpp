// Metadata written by older versions may hold a `mime` that docs/protocol.md no
// longer allows (not UTF-8, control characters, no type/subtype). The store
// keeps such files but serves them as application/octet-stream wherever it
// reads metadata back for a reply: stat, list, and a dedup commit.

#include "storage/posix_store.hpp"
#include "testkit/planted_meta.hpp"
#include "testkit/temp_dir.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace depot::storage {
namespace {

#define ASSERT_OK(x)                                                        \
  ASSERT_TRUE(x) << schema::to_string(schema::code_of((x).error())) << ": " \
                 << schema::message_of((x).error())

std::shared_ptr<store> open_store(const std::string& root) {
  auto s = open_posix_store({root, std::nullopt, 16, nullptr, 0});
  if (!s) ADD_FAILURE() << schema::message_of(s.error());
  return s ? *s : nullptr;
}

// Commits `content` with `mime` as it is: the store itself does not check
// the mime, so this writes what an older depotd would have written.
schema::expected<commit_result> put(store& s, const std::string& content,
                                    const std::string& mime) {
  auto staged = s.create_staging();
  if (!staged) return staged.error();
  if (auto err = (*staged)->append(
          reinterpret_cast<const std::byte*>(content.data()), content.size()))
    return err;
  return s.commit(std::move(*staged),
                  {"old.txt", mime, sha256::of(content.data(), content.size()),
                   1700000000000});
}

const std::vector<std::string> bad_mimes = {
    "\xff\xfe",
    "text/\xff",
    "text/plain\x1b[2J",
    "text/plain\nX-Evil: 1",
    std::string("text/pl\0ain", 11),
    "text",
    "a/b/c",
};

TEST(StoredMime, AMimeFromAnOlderVersionIsServedAsOctetStreamByStatAndList) {
  test::temp_dir dir;
  std::vector<std::string> ids;
  {
    auto s = open_store(dir.path());
    for (size_t i = 0; i < bad_mimes.size(); ++i) {
      auto r = put(*s, "old content " + std::to_string(i), bad_mimes[i]);
      ASSERT_OK(r);
      ids.push_back(r->file.id);
    }
  }
  // The metadata file still holds the old bytes: replaced when read, only.
  EXPECT_NE(
      test::file_bytes(test::meta_path(dir.path(), ids[0])).find("\xff\xfe"),
      std::string::npos);

  auto s = open_store(dir.path());
  for (size_t i = 0; i < ids.size(); ++i) {
    auto st = s->stat(ids[i]);
    ASSERT_OK(st);
    EXPECT_EQ(st->mime, "application/octet-stream") << i;
    EXPECT_EQ(st->name, "old.txt");
  }
  auto page = s->list(std::nullopt, 100);
  ASSERT_OK(page);
  ASSERT_EQ(page->files.size(), ids.size());
  for (const auto& f : page->files)
    EXPECT_EQ(f.mime, "application/octet-stream") << f.id;
}

TEST(StoredMime, AMetadataFilePlantedWithABadMimeIsServedSanitised) {
  test::temp_dir dir;
  auto s = open_store(dir.path());
  auto r = put(*s, "planted", "text/plain");
  ASSERT_OK(r);
  std::string path = test::meta_path(dir.path(), r->file.id);
  for (const std::string& mime : bad_mimes) {
    test::plant_mime(path, mime);
    auto st = s->stat(r->file.id);
    ASSERT_OK(st);
    EXPECT_EQ(st->mime, "application/octet-stream");
    EXPECT_EQ(st->refs, 1u);
    auto page = s->list(std::nullopt, 10);
    ASSERT_OK(page);
    ASSERT_EQ(page->files.size(), 1u);
    EXPECT_EQ(page->files[0].mime, "application/octet-stream");
  }
  test::plant_mime(path, "text/csv; header=present");
  auto st = s->stat(r->file.id);
  ASSERT_OK(st);
  EXPECT_EQ(st->mime, "text/csv; header=present");
}

TEST(StoredMime, ADedupOfAFileWithAnOldMimeRepliesWithOctetStream) {
  test::temp_dir dir;
  auto s = open_store(dir.path());
  ASSERT_OK(put(*s, "same bytes", "text/plain\x1b[31m"));
  auto again = put(*s, "same bytes", "text/plain");
  ASSERT_OK(again);
  EXPECT_TRUE(again->dedup);
  EXPECT_EQ(again->file.mime, "application/octet-stream");
  EXPECT_EQ(again->file.refs, 2u);
}

TEST(StoredMime, AWellFormedMimeIsServedAsStored) {
  test::temp_dir dir;
  auto s = open_store(dir.path());
  for (std::string mime :
       {"text/plain; charset=utf-8", "image/svg+xml", "application/x-test"}) {
    auto r = put(*s, "content of " + mime, mime);
    ASSERT_OK(r);
    EXPECT_EQ(r->file.mime, mime);
    auto st = s->stat(r->file.id);
    ASSERT_OK(st);
    EXPECT_EQ(st->mime, mime);
  }
}

}  // namespace
}  // namespace depot::storage
