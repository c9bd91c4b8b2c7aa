// The POSIX store: layout, reads, references, listing, naming.

#include "storage/fault_fs.hpp"
#include "storage/naming.hpp"
#include "testkit/content.hpp"
#include "testkit/temp_dir.hpp"
#include "tests/storage/store_test_support.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <sys/stat.h>
#include <unistd.h>

namespace depot::storage {
namespace {

TEST(PosixStore, StoresContentAtItsIdPathWithMetadata) {
  test::temp_dir dir;
  auto s = open_store(dir.path());
  auto r = put(*s, "hello depot\n", "greeting.txt");
  ASSERT_OK(r);
  EXPECT_EQ(r->file.id, "rbWeBrTIp1Js");
  EXPECT_FALSE(r->dedup);
  EXPECT_EQ(r->file.name, "greeting.txt");
  EXPECT_EQ(r->file.size, 12u);
  EXPECT_EQ(r->file.mime, "text/plain");
  EXPECT_EQ(r->file.created, 1700000000000u);
  EXPECT_EQ(r->file.refs, 1u);
  EXPECT_EQ(r->file.sha256, to_hex(sha256::of("hello depot\n", 12)));
  EXPECT_TRUE(fs::is_regular_file(dir.path() + "/rb/We/BrTIp1Js"));
  EXPECT_EQ(get(*s, r->file.id), "hello depot\n");
  auto st = s->stat(r->file.id);
  ASSERT_OK(st);
  EXPECT_EQ(*st, r->file);
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

TEST(PosixStore, StoresTheEmptyFile) {
  test::temp_dir dir;
  auto s = open_store(dir.path());
  auto r = put(*s, "");
  ASSERT_OK(r);
  EXPECT_EQ(r->file.id, "nciB6WIL2fIa");
  EXPECT_EQ(r->file.size, 0u);
  std::byte b[1];
  auto rd = s->read(r->file.id, 0, 1, b);
  ASSERT_OK(rd);
  EXPECT_EQ(rd->bytes, 0u);
  EXPECT_EQ(rd->file_size, 0u);
}

TEST(PosixStore, IdenticalContentIsStoredOnceWithReferencesCounted) {
  test::temp_dir dir;
  auto s = open_store(dir.path());
  auto a = put(*s, "same bytes", "first.txt");
  auto b = put(*s, "same bytes", "second.txt");
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(a->file.id, b->file.id);
  EXPECT_TRUE(b->dedup);
  EXPECT_EQ(b->file.refs, 2u);
  EXPECT_EQ(b->file.name, "first.txt");  // the first upload's name
  size_t contents = 0;
  for (auto& f : shard_files(dir.path()))
    if (f.find('.') == std::string::npos) ++contents;
  EXPECT_EQ(contents, 1u);
}

TEST(PosixStore, DeleteTakesReferencesAwayAndFreesTheLastOne) {
  test::temp_dir dir;
  auto s = open_store(dir.path());
  auto a = put(*s, "twice");
  ASSERT_OK(a);
  ASSERT_OK(put(*s, "twice"));
  auto left = s->remove(a->file.id);
  ASSERT_OK(left);
  EXPECT_EQ(*left, 1u);
  EXPECT_EQ(get(*s, a->file.id), "twice");
  left = s->remove(a->file.id);
  ASSERT_OK(left);
  EXPECT_EQ(*left, 0u);
  EXPECT_EQ(schema::code_of(s->stat(a->file.id).error()), errc::not_found);
  std::byte b[4];
  EXPECT_EQ(schema::code_of(s->read(a->file.id, 0, 4, b).error()),
            errc::not_found);
  EXPECT_EQ(schema::code_of(s->remove(a->file.id).error()), errc::not_found);
  EXPECT_TRUE(shard_files(dir.path()).empty());
  // Stored again after its deletion, it is new content again.
  auto again = put(*s, "twice");
  ASSERT_OK(again);
  EXPECT_FALSE(again->dedup);
  EXPECT_EQ(again->file.refs, 1u);
}

TEST(PosixStore, ReadsRangesAndRejectsOffsetsPastTheEnd) {
  test::temp_dir dir;
  auto s = open_store(dir.path());
  auto a = put(*s, "0123456789");
  ASSERT_OK(a);
  std::byte b[4];
  auto r = s->read(a->file.id, 8, 4, b);
  ASSERT_OK(r);
  EXPECT_EQ(r->bytes, 2u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(b), 2), "89");
  r = s->read(a->file.id, 10, 4, b);
  ASSERT_OK(r);
  EXPECT_EQ(r->bytes, 0u);
  EXPECT_EQ(schema::code_of(s->read(a->file.id, 11, 4, b).error()),
            errc::out_of_range);
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

TEST(PosixStore, MalformedIdsAreRejectedBeforeTouchingTheDisk) {
  test::temp_dir dir;
  auto s = open_store(dir.path());
  std::byte b[1];
  for (std::string id :
       {"../../etc/pa", "short", "abcdEFGH12345", "abcd/FGH1234"}) {
    EXPECT_EQ(schema::code_of(s->stat(id).error()), errc::bad_request) << id;
    EXPECT_EQ(schema::code_of(s->read(id, 0, 1, b).error()), errc::bad_request);
    EXPECT_EQ(schema::code_of(s->remove(id).error()), errc::bad_request);
  }
  EXPECT_EQ(schema::code_of(s->stat("abcdEFGH1234").error()), errc::not_found);
}

TEST(PosixStore, RefusesARootThatIsASymlink) {
  test::temp_dir dir;
  fs::create_directory(dir / "real");
  fs::create_directory_symlink(dir / "real", dir / "link");
  auto s = open_posix_store({dir / "link", std::nullopt, 16, nullptr});
  ASSERT_FALSE(s);
  EXPECT_NE(schema::message_of(s.error()).find("symlink"), std::string::npos);
}

TEST(PosixStore, FilesAndMetadataSurviveReopening) {
  test::temp_dir dir;
  schema::file_meta before;
  {
    auto s = open_store(dir.path());
    auto a = put(*s, "persistent", "p.bin");
    ASSERT_OK(a);
    ASSERT_OK(put(*s, "persistent", "p2.bin"));
    before = a->file;
    before.refs = 2;
  }
  auto s = open_store(dir.path());
  auto st = s->stat(before.id);
  ASSERT_OK(st);
  EXPECT_EQ(*st, before);
  EXPECT_EQ(get(*s, before.id), "persistent");
}

TEST(PosixStore, ListsPagesInAscendingIdOrder) {
  test::temp_dir dir;
  auto s = open_store(dir.path());
  std::set<std::string> ids;
  for (int i = 0; i < 57; ++i) {
    auto r = put(*s, "file number " + std::to_string(i));
    ASSERT_OK(r);
    ids.insert(r->file.id);
  }
  std::vector<std::string> seen;
  std::optional<std::string> after;
  int pages = 0;
  for (;;) {
    auto page = s->list(after, 10);
    ASSERT_OK(page);
    ++pages;
    for (auto& f : page->files) {
      seen.push_back(f.id);
      EXPECT_EQ(f.refs, 1u);
      EXPECT_EQ(f.size, get(*s, f.id).size());
    }
    if (!page->next) break;
    EXPECT_EQ(*page->next, page->files.back().id);
    after = page->next;
  }
  EXPECT_EQ(pages, 6);
  EXPECT_EQ(seen, std::vector<std::string>(ids.begin(), ids.end()));
  auto empty = s->list(std::string("zzzzzzzzzzzz"), 10);
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->files.empty());
  EXPECT_FALSE(empty->next);
  // A page that ends exactly at the last file says there is no more.
  auto all = s->list(std::nullopt, 57);
  ASSERT_OK(all);
  EXPECT_EQ(all->files.size(), 57u);
  EXPECT_FALSE(all->next);
}

TEST(PosixStore, CollidingContentsUnderNarrowedIdsTakeDistinctCandidates) {
  test::temp_dir dir;
  auto s = open_store(dir.path(), nullptr, 4u);  // 16 possible ids
  std::map<std::string, std::string> stored;
  for (int i = 0; i < 10; ++i) {
    std::string content = "colliding content " + std::to_string(i);
    auto r = put(*s, content);
    ASSERT_OK(r);
    EXPECT_FALSE(r->dedup);
    EXPECT_EQ(stored.count(r->file.id), 0u) << "overwrote " << r->file.id;
    stored[r->file.id] = content;
  }
  for (auto& [id, content] : stored) EXPECT_EQ(get(*s, id), content);
}

TEST(PosixStore, FailsWithNameExhaustedWhenEveryCandidateHoldsOtherContent) {
  test::temp_dir dir;
  auto s = open_store(dir.path(), nullptr, 1u);  // ids 0 and 1 only
  ASSERT_OK(put(*s, "one"));
  ASSERT_OK(put(*s, "two"));
  auto third = put(*s, "three");
  ASSERT_FALSE(third);
  EXPECT_EQ(schema::code_of(third.error()), errc::name_exhausted);
  EXPECT_EQ(staging_files(dir.path()), 0u);
  auto again = put(*s, "two");  // dedup still finds its candidate
  ASSERT_OK(again);
  EXPECT_TRUE(again->dedup);
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
