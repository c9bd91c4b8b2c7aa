// The POSIX store: its layout, mapped views, hard-linked references. What
// every backend does: store_contract_test.cpp.

#include "storage/fault_fs.hpp"
#include "storage/naming.hpp"
#include "testkit/content.hpp"
#include "testkit/temp_dir.hpp"
#include "tests/storage/store_test_support.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace depot::storage {
namespace {

TEST(PosixStore, StoresContentAtItsIdPathWithMetadata) {
  test::temp_dir dir;
  auto s = open_store(dir.path());
  auto r = put(*s, "hello depot\n", "greeting.txt");
  ASSERT_OK(r);  // what it answers: StoreContract.StoresAndReadsBack
  EXPECT_TRUE(fs::is_regular_file(dir.path() + "/rb/We/BrTIp1Js"));
  EXPECT_TRUE(fs::is_regular_file(dir.path() + "/rb/We/BrTIp1Js.meta"));
  EXPECT_EQ(staging_files(dir.path()), 0u);
}

// Bytes without metadata at an id (damage, or a tool's half-done work)
// are never served as the content of the upload that claims the id.
TEST(PosixStore, AClaimReplacesBytesLeftWithoutMetadata) {
  test::temp_dir dir;
  fs::create_directories(dir.path() + "/rb/We");
  { std::ofstream{dir.path() + "/rb/We/BrTIp1Js"} << "stale bytes\n"; }
  auto s = open_store(dir.path());
  auto r = put(*s, "hello depot\n", "greeting.txt");
  ASSERT_OK(r);
  EXPECT_EQ(r->file.id, "rbWeBrTIp1Js");
  EXPECT_EQ(get(*s, "rbWeBrTIp1Js"), "hello depot\n");
  EXPECT_EQ(staging_files(dir.path()), 0u);
}

TEST(PosixStore, AReferenceIsAHardLinkNotAnInode) {
  test::temp_dir dir;
  auto s = open_store(dir.path());
  ASSERT_OK(put(*s, "hello depot\n"));
  ASSERT_OK(put(*s, "hello depot\n"));  // a dedup: a second reference
  std::vector<std::string> refs;
  for (auto& f : shard_files(dir.path()))
    if (f.find(".r.") != std::string::npos)
      refs.push_back(dir.path() + "/" + f);
  ASSERT_EQ(refs.size(), 2u);
  struct stat meta {
  }, ref{};
  ASSERT_EQ(::stat((dir.path() + "/rb/We/BrTIp1Js.meta").c_str(), &meta), 0);
  ASSERT_EQ(::stat(refs[0].c_str(), &ref), 0);
  struct stat other {};
  ASSERT_EQ(::stat(refs[1].c_str(), &other), 0);
  // The claimer's reference shares the metadata's inode; the joiner's
  // shares its own (never visible) metadata's.
  EXPECT_TRUE(ref.st_ino == meta.st_ino || other.st_ino == meta.st_ino);
  EXPECT_EQ(meta.st_nlink, 2u);
}

// view() gives a range as the file's own bytes, mapped: any offset (pages
// are 4 KiB, ranges need not be), fewer at the end, empty at the size.
TEST(PosixStore, ViewsRangesAsMappedBytesAtAnyOffset) {
  test::temp_dir dir;
  auto s = open_store(dir.path());
  auto content = test::random_bytes(3 * 4096 + 123, 7);
  auto a = put(*s, content);
  ASSERT_OK(a);
  auto f = s->open(a->file.id);
  ASSERT_OK(f);
  for (auto [offset, length] :
       std::vector<std::pair<uint64_t, size_t>>{{0, 4096},
                                                {1, 5000},
                                                {4095, 2},
                                                {8192, 100000},
                                                {12000, 1},
                                                {0, 1 << 20}}) {
    auto v = (*f)->view(offset, length);
    ASSERT_OK(v);
    EXPECT_EQ(std::string(v->view()), content.substr(offset, length))
        << offset << "+" << length;
  }
  auto at_end = (*f)->view(content.size(), 10);
  ASSERT_OK(at_end);
  EXPECT_TRUE(at_end->empty());
  auto past = (*f)->view(content.size() + 1, 10);
  ASSERT_FALSE(past);
  EXPECT_EQ(schema::code_of(past.error()), errc::out_of_range);
}

// A download in flight holds a view; the file's last reference going
// meanwhile changes nothing for it.
TEST(PosixStore, AViewOutlivesTheDeletionOfItsFile) {
  test::temp_dir dir;
  auto s = open_store(dir.path());
  auto content = test::random_bytes(200000, 8);
  auto a = put(*s, content);
  ASSERT_OK(a);
  auto f = s->open(a->file.id);
  ASSERT_OK(f);
  auto v = (*f)->view(70000, 100000);
  ASSERT_OK(v);
  f->reset();
  ASSERT_OK(s->remove(a->file.id));
  EXPECT_EQ(schema::code_of(s->stat(a->file.id).error()), errc::not_found);
  EXPECT_EQ(std::string(v->view()), content.substr(70000, 100000));
}

TEST(PosixStore, RefusesARootThatIsASymlink) {
  test::temp_dir dir;
  fs::create_directory(dir / "real");
  fs::create_directory_symlink(dir / "real", dir / "link");
  auto s = open_posix_store({dir / "link", std::nullopt, 16, nullptr});
  ASSERT_FALSE(s);
  EXPECT_NE(schema::message_of(s.error()).find("symlink"), std::string::npos);
}

// --- injected faults
// --------------------------------------------------------------

TEST(PosixStore, AFreshFileIsRenamedIntoPlaceNotLinkedAndUnlinked) {
  faulty_store f{whole_fs};
  int links = f.fsys->calls(fs_op::link),
      unlinks = f.fsys->calls(fs_op::unlink);
  int renames = f.fsys->calls(fs_op::rename);
  auto r = put(*f.s, "moved, not copied");
  ASSERT_OK(r);
  // Its reference is the one link; bytes and metadata are renamed.
  EXPECT_EQ(f.fsys->calls(fs_op::link) - links, 1);
  EXPECT_EQ(f.fsys->calls(fs_op::rename) - renames, 2);
  EXPECT_EQ(f.fsys->calls(fs_op::unlink) - unlinks, 0);
  EXPECT_EQ(staging_files(f.dir.path()), 0u);
  EXPECT_EQ(get(*f.s, r->file.id), "moved, not copied");
  // A dedup renames nothing: its staged copies go, with the reference its
  // lost claim had taken.
  unlinks = f.fsys->calls(fs_op::unlink);
  auto again = put(*f.s, "moved, not copied", "b.txt");
  ASSERT_OK(again);
  EXPECT_TRUE(again->dedup);
  EXPECT_EQ(f.fsys->calls(fs_op::unlink) - unlinks, 3);
  EXPECT_EQ(staging_files(f.dir.path()), 0u);
}

TEST(PosixFileSystem, RenameExclusiveRefusesAnExistingName) {
  test::temp_dir dir;
  auto fsys = posix_file_system();
  std::string a = dir.path() + "/a", b = dir.path() + "/b",
              c = dir.path() + "/c";
  for (auto* p : {&a, &b}) {
    std::unique_ptr<writable_file> f;
    ASSERT_EQ(fsys->create_exclusive(*p, false, &f), 0);
    ASSERT_EQ(f->append(p->data(), p->size()), 0);
    ASSERT_EQ(f->close(), 0);
  }
  EXPECT_EQ(fsys->rename_exclusive(a, b), EEXIST);
  std::string bytes;
  ASSERT_EQ(fsys->read_small(b, 100, &bytes), 0);
  EXPECT_EQ(bytes, b);                             // untouched
  ASSERT_EQ(fsys->read_small(a, 100, &bytes), 0);  // still there
  EXPECT_EQ(fsys->rename_exclusive(a, c), 0);
  ASSERT_EQ(fsys->read_small(c, 100, &bytes), 0);
  EXPECT_EQ(bytes, a);
  file_status st;
  EXPECT_EQ(fsys->stat(a, &st), ENOENT);
}

TEST(PosixStore, AShardDirectoryKnownDurableIsNotMadeAgain) {
  faulty_store f{whole_fs};
  ASSERT_OK(put(*f.s, "same bytes"));
  int mkdirs = f.fsys->calls(fs_op::mkdir);
  auto again = put(*f.s, "same bytes", "b.txt");  // same id, same shard
  ASSERT_OK(again);
  EXPECT_EQ(f.fsys->calls(fs_op::mkdir), mkdirs);
  EXPECT_EQ(again->file.refs, 2u);
  // A reopened store knows nothing yet and makes sure of them again.
  f.s.reset();
  f.s = open_store(f.dir.path(), f.fsys);
  mkdirs = f.fsys->calls(fs_op::mkdir);
  ASSERT_OK(put(*f.s, "same bytes", "c.txt"));
  EXPECT_GT(f.fsys->calls(fs_op::mkdir), mkdirs);
}

}  // namespace
}  // namespace depot::storage
