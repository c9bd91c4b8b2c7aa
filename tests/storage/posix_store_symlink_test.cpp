// The POSIX store never creates, reads, lists or deletes anything outside
// its root, whatever symlinks are planted inside it.

#include "storage/fault_fs.hpp"
#include "testkit/temp_dir.hpp"
#include "tests/storage/store_test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

namespace depot::storage {
namespace {

// Every entry under `dir`, recursively (symlinks not followed).
std::set<std::string> everything_in(const std::string& dir) {
  std::set<std::string> out;
  for (auto& e : fs::recursive_directory_iterator(dir))
    out.insert(fs::relative(e.path(), dir).string());
  return out;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream{path} << bytes;
}

// The id `content` gets in an empty store.
std::string id_of(const std::string& content) {
  test::temp_dir scratch;
  auto s = open_store(scratch.path());
  auto r = put(*s, content);
  EXPECT_TRUE(r);
  return r ? r->file.id : std::string{};
}

struct planted {
  test::temp_dir root;
  test::temp_dir outside;
  std::string content = "planted links lead nowhere";
  std::string id = id_of(content);
  std::string shard1() const { return id.substr(0, 2); }
  std::string shard() const { return shard1() + "/" + id.substr(2, 2); }
  std::string rest() const { return id.substr(4); }
};

TEST(PosixStoreSymlinks, AnUploadUnderAPlantedShardLinkWritesNothingOutside) {
  planted p;
  fs::create_directory_symlink(p.outside.path(), p.root / p.shard1());
  auto s = open_store(p.root.path());
  auto r = put(*s, p.content);
  ASSERT_FALSE(r);
  EXPECT_EQ(schema::code_of(r.error()), errc::io_error);
  EXPECT_TRUE(everything_in(p.outside.path()).empty())
      << *everything_in(p.outside.path()).begin();
}

TEST(PosixStoreSymlinks, StatReadAndDeleteThroughAPlantedLinkAreRefused) {
  for (bool second_level : {false, true}) {
    SCOPED_TRACE(second_level ? "ROOT/ab/cd is a link" : "ROOT/ab is a link");
    planted p;
    {
      auto s = open_store(p.root.path());
      ASSERT_OK(put(*s, p.content));
    }
    // The shard moves out and a link to it takes its place.
    std::string moved = second_level ? p.shard() : p.shard1();
    fs::rename(p.root / moved, p.outside / "moved");
    fs::create_directory_symlink(p.outside / "moved", p.root / moved);
    auto before = everything_in(p.outside.path());
    auto s = open_store(p.root.path());
    auto st = s->stat(p.id);
    ASSERT_FALSE(st);
    EXPECT_EQ(schema::code_of(st.error()), errc::io_error);
    EXPECT_EQ(get(*s, p.id).rfind("<", 0), 0u) << "served from outside";
    auto rm = s->remove(p.id);
    ASSERT_FALSE(rm);
    EXPECT_EQ(schema::code_of(rm.error()), errc::io_error);
    auto page = s->list(std::nullopt, 10);
    ASSERT_OK(page);
    EXPECT_TRUE(page->files.empty());
    EXPECT_EQ(everything_in(p.outside.path()), before);
  }
}

TEST(PosixStoreSymlinks, AFileLinkIsNeitherServedNorListed) {
  planted p;
  {
    auto s = open_store(p.root.path());
    ASSERT_OK(put(*s, p.content));
  }
  write_file(p.outside / "secret", "outside bytes");
  // The bytes of a stored file replaced by a link, and a link with no
  // metadata beside a real shard.
  fs::remove(p.root / (p.shard() + "/" + p.rest()));
  fs::create_symlink(p.outside / "secret",
                     p.root / (p.shard() + "/" + p.rest()));
  fs::create_symlink(p.outside / "secret", p.root / (p.shard() + "/Symlink1"));
  auto s = open_store(p.root.path());
  EXPECT_EQ(get(*s, p.id).rfind("<", 0), 0u) << "served from outside";
  EXPECT_EQ(get(*s, p.shard1() + p.id.substr(2, 2) + "Symlink1").rfind("<", 0),
            0u);
  auto page = s->list(std::nullopt, 10);
  ASSERT_OK(page);
  EXPECT_TRUE(page->files.empty());
}

TEST(PosixStoreSymlinks, AMetadataLinkIsRefused) {
  planted p;
  {
    auto s = open_store(p.root.path());
    ASSERT_OK(put(*s, p.content));
  }
  std::string meta = p.root / (p.shard() + "/" + p.rest() + ".meta");
  fs::rename(meta, p.outside / "meta");
  fs::create_symlink(p.outside / "meta", meta);
  auto s = open_store(p.root.path());
  auto st = s->stat(p.id);
  ASSERT_FALSE(st);
  EXPECT_EQ(schema::code_of(st.error()), errc::io_error);
  auto page = s->list(std::nullopt, 10);
  ASSERT_OK(page);  // skipped, logged
  EXPECT_TRUE(page->files.empty());
}

TEST(PosixStoreSymlinks, RefusesAStagingDirectoryThatIsALink) {
  planted p;
  fs::create_directory_symlink(p.outside.path(), p.root / ".staging");
  auto s = open_posix_store({p.root.path(), std::nullopt, 16, nullptr});
  ASSERT_FALSE(s);
  EXPECT_NE(schema::message_of(s.error()).find("symlink"), std::string::npos);
  EXPECT_TRUE(everything_in(p.outside.path()).empty());
}

TEST(PosixStoreSymlinks, TheConfinedFileSystemRefusesLinksAndPathsOutside) {
  planted p;
  auto fsys =
      std::make_shared<fault_fs>(posix_file_system_beneath(p.root.path()));
  fs::create_directory(p.root / "d");
  fs::create_directory_symlink(p.outside.path(), p.root / "l");
  write_file(p.outside / "f", "x");
  fs::create_symlink(p.outside / "f", p.root / "d/f");
  std::string text;
  EXPECT_EQ(fsys->read_small(p.root / "d/f", 100, &text), ELOOP);
  EXPECT_EQ(fsys->read_small(p.root / "l/f", 100, &text), ELOOP);
  EXPECT_EQ(fsys->read_small(p.outside / "f", 100, &text), EXDEV);
  EXPECT_EQ(fsys->read_small(p.root / "d/../../f", 100, &text), EXDEV);
  EXPECT_EQ(fsys->mkdir(p.root / "l/new"), ELOOP);
  std::vector<std::string> names;
  EXPECT_EQ(fsys->list_dir(p.root / "l", &names), ELOOP);
  EXPECT_EQ(fsys->unlink(p.root / "l/f"), ELOOP);
  file_status st;
  ASSERT_EQ(fsys->stat(p.root / "d/f", &st), 0);
  EXPECT_TRUE(st.is_symlink);
  EXPECT_EQ(fsys->unlink(p.root / "d/f"), 0);  // the link, not its target
  EXPECT_TRUE(fs::exists(p.outside / "f"));
  EXPECT_EQ(fsys->mkdir(p.root / "d/sub"), 0);
  EXPECT_EQ(fsys->read_small(p.root / "d/f", 100, &text), ENOENT);
}

TEST(PosixStoreSymlinks, AListingNamesTheSymlinksAmongItsEntries) {
  planted p;
  auto fsys = posix_file_system_beneath(p.root.path());
  fs::create_directory(p.root / "d");
  fs::create_directory(p.root / "d/sub");
  write_file(p.root / "d/file", "x");
  write_file(p.outside / "f", "x");
  fs::create_symlink(p.outside / "f", p.root / "d/link");
  fs::create_directory_symlink(p.outside.path(), p.root / "d/dirlink");
  std::vector<std::string> names, links;
  ASSERT_EQ(fsys->list_dir(p.root / "d", &names, &links), 0);
  std::sort(names.begin(), names.end());
  std::sort(links.begin(), links.end());
  EXPECT_EQ(names,
            (std::vector<std::string>{"dirlink", "file", "link", "sub"}));
  EXPECT_EQ(links, (std::vector<std::string>{"dirlink", "link"}));
  ASSERT_EQ(fsys->list_dir(p.root / "d/sub", &names, &links), 0);
  EXPECT_TRUE(names.empty());
  EXPECT_TRUE(links.empty());
}

// Far more entries than one read of the directory returns (the listing
// reads 16 KiB of entries at a time): every one comes back, once.
TEST(PosixStoreSymlinks, AListingLongerThanOneReadHasEveryEntryOnce) {
  planted p;
  auto fsys = posix_file_system_beneath(p.root.path());
  fs::create_directory(p.root / "d");
  write_file(p.outside / "f", "x");
  std::vector<std::string> want, want_links;
  for (int i = 0; i < 3000; ++i) {
    std::string name = "entry-with-a-long-name-" + std::to_string(i);
    if (i % 100 == 7) {
      fs::create_symlink(p.outside / "f", p.root / ("d/" + name));
      want_links.push_back(name);
    } else {
      write_file(p.root / ("d/" + name), "");
    }
    want.push_back(name);
  }
  std::vector<std::string> names, links;
  ASSERT_EQ(fsys->list_dir(p.root / "d", &names, &links), 0);
  std::sort(names.begin(), names.end());
  std::sort(links.begin(), links.end());
  std::sort(want.begin(), want.end());
  std::sort(want_links.begin(), want_links.end());
  EXPECT_EQ(names, want);
  EXPECT_EQ(links, want_links);
}

}  // namespace
}  // namespace depot::storage
