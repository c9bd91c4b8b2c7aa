#include "storage/posix_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <set>
#include <thread>

#include "storage/fault_fs.hpp"
#include "storage/naming.hpp"
#include "testkit/content.hpp"
#include "testkit/gtest_status.hpp"
#include "testkit/temp_dir.hpp"

namespace depot::storage {
namespace {

namespace fs = std::filesystem;
using schema::errc;

// The two ways a commit is made durable: one syncfs per barrier (small
// batches), or file by file (large ones).
constexpr uint64_t per_file = 0;
constexpr uint64_t whole_fs = uint64_t{64} << 20;

std::shared_ptr<store> open_store(const std::string& root,
                                  std::shared_ptr<file_system> fsys = nullptr,
                                  std::optional<unsigned> bits = std::nullopt,
                                  uint64_t group_bytes = whole_fs) {
  auto s = open_posix_store({root, bits, 16, std::move(fsys), group_bytes});
  if (!s) ADD_FAILURE() << schema::message_of(s.error());
  return s ? *s : nullptr;
}

schema::expected<commit_result> put(store& s, const std::string& content,
                                    const std::string& name = "a.txt") {
  auto staged = s.create_staging();
  if (!staged) return staged.error();
  for (size_t i = 0; i < content.size(); i += 1000) {
    size_t n = std::min<size_t>(1000, content.size() - i);
    if (auto err = (*staged)->append(
            reinterpret_cast<const std::byte*>(content.data() + i), n))
      return err;
  }
  return s.commit(std::move(*staged),
                  {name, "text/plain", sha256::of(content.data(), content.size()),
                   1700000000000});
}

std::string get(store& s, const std::string& id) {
  std::string out;
  std::vector<std::byte> buf(777);
  for (uint64_t off = 0;;) {
    auto r = s.read(id, off, buf.size(), buf.data());
    if (!r) return "<" + schema::message_of(r.error()) + ">";
    out.append(reinterpret_cast<const char*>(buf.data()), r->bytes);
    off += r->bytes;
    if (off >= r->file_size) return out;
  }
}

// Every file under the store's shards (not its staging area).
std::set<std::string> shard_files(const std::string& root) {
  std::set<std::string> out;
  for (auto& e : fs::recursive_directory_iterator(root)) {
    auto rel = fs::relative(e.path(), root).string();
    if (rel.rfind(".staging", 0) == 0 || e.is_directory()) continue;
    out.insert(rel);
  }
  return out;
}

size_t staging_files(const std::string& root) {
  size_t n = 0;
  for (auto& e : fs::recursive_directory_iterator(root + "/.staging"))
    if (e.is_regular_file() && e.path().filename().string().rfind("journal", 0) &&
        e.path().filename() != "lock")
      ++n;
  return n;
}

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
    if (f.find(".r.") != std::string::npos) refs.push_back(dir.path() + "/" + f);
  ASSERT_EQ(refs.size(), 2u);
  struct stat meta {}, ref {};
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
  EXPECT_EQ(schema::code_of(s->read(a->file.id, 0, 4, b).error()), errc::not_found);
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
  for (auto [offset, length] : std::vector<std::pair<uint64_t, size_t>>{
           {0, 4096}, {1, 5000}, {4095, 2}, {8192, 100000}, {12000, 1}, {0, 1 << 20}}) {
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
  for (std::string id : {"../../etc/pa", "short", "abcdEFGH12345", "abcd/FGH1234"}) {
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

// --- injected faults --------------------------------------------------------------

// Fault tests flush file by file unless they say otherwise.
struct faulty_store {
  explicit faulty_store(uint64_t group_bytes = per_file)
      : s(open_store(dir.path(), fsys, std::nullopt, group_bytes)) {}
  test::temp_dir dir;
  std::shared_ptr<fault_fs> fsys = std::make_shared<fault_fs>(posix_file_system());
  std::shared_ptr<store> s;
};

TEST(PosixStoreFaults, AFailedSyncfsBeforeLinkingStoresNothingAndIsNotRetried) {
  faulty_store f{whole_fs};
  f.fsys->inject({fs_op::sync_fs, EIO, "", 0, 1});
  auto r = put(*f.s, "group flush");
  ASSERT_FALSE(r);
  EXPECT_EQ(schema::code_of(r.error()), errc::io_error);
  EXPECT_EQ(f.fsys->calls(fs_op::sync_fs), 1);
  EXPECT_TRUE(shard_files(f.dir.path()).empty());
  EXPECT_EQ(staging_files(f.dir.path()), 0u);
}

TEST(PosixStoreFaults, AFailedSyncfsAfterLinkingRollsTheCommitBack) {
  faulty_store f{whole_fs};
  f.fsys->inject({fs_op::sync_fs, EIO, "", 1, 1});
  auto r = put(*f.s, "group flush");
  ASSERT_FALSE(r);
  EXPECT_EQ(schema::code_of(r.error()), errc::io_error);
  EXPECT_TRUE(shard_files(f.dir.path()).empty());
  ASSERT_OK(put(*f.s, "group flush"));
}

TEST(PosixStoreFaults, NoSpaceWhileStagingFailsTheCommitAndLeavesNothing) {
  faulty_store f;
  f.fsys->inject({fs_op::append, ENOSPC, "/d.", 1, 1});
  auto r = put(*f.s, std::string(5000, 'x'));
  ASSERT_FALSE(r);
  EXPECT_EQ(schema::code_of(r.error()), errc::io_error);
  EXPECT_NE(schema::message_of(r.error()).find("No space"), std::string::npos);
  EXPECT_TRUE(shard_files(f.dir.path()).empty());
  EXPECT_EQ(staging_files(f.dir.path()), 0u);
}

TEST(PosixStoreFaults, AFailedFlushIsNeverRetriedNorReportedAsSuccess) {
  faulty_store f;
  f.fsys->inject({fs_op::sync, EIO, "/d.", 0, 1});
  auto r = put(*f.s, "flush me");
  ASSERT_FALSE(r);
  EXPECT_EQ(schema::code_of(r.error()), errc::io_error);
  EXPECT_EQ(f.fsys->calls(fs_op::sync), 1);  // not retried
  EXPECT_TRUE(shard_files(f.dir.path()).empty());
  EXPECT_EQ(staging_files(f.dir.path()), 0u);
  ASSERT_OK(put(*f.s, "flush me"));  // the store itself goes on
}

TEST(PosixStoreFaults, AFailedDirectoryFlushRollsTheCommitBack) {
  faulty_store f;
  f.fsys->inject({fs_op::sync_dir, EIO, "", 0, 1});
  auto r = put(*f.s, "dir flush");
  ASSERT_FALSE(r);
  EXPECT_EQ(schema::code_of(r.error()), errc::io_error);
  EXPECT_TRUE(shard_files(f.dir.path()).empty());
  EXPECT_EQ(schema::code_of(f.s->stat("K4K5Oeyq7Cqq").error()), errc::not_found);
}

TEST(PosixStoreFaults, AFailedMetadataFlushStoresNothing) {
  faulty_store f;
  f.fsys->inject({fs_op::sync, EIO, "/m.", 0, 1});
  ASSERT_FALSE(put(*f.s, "meta flush"));
  EXPECT_TRUE(shard_files(f.dir.path()).empty());
  EXPECT_EQ(staging_files(f.dir.path()), 0u);
}

TEST(PosixStoreFaults, AFailedDedupLeavesTheExistingFileIntact) {
  faulty_store f;
  auto a = put(*f.s, "shared");
  ASSERT_OK(a);
  f.fsys->inject({fs_op::sync_dir, EIO, "", 0, 1});
  ASSERT_FALSE(put(*f.s, "shared"));
  auto st = f.s->stat(a->file.id);
  ASSERT_OK(st);
  EXPECT_EQ(st->refs, 1u);
  EXPECT_EQ(get(*f.s, a->file.id), "shared");
}

TEST(PosixStoreFaults, ReadErrorsBecomeIoErrors) {
  faulty_store f;
  auto a = put(*f.s, "unreadable");
  ASSERT_OK(a);
  f.fsys->inject({fs_op::read, EIO, "", 0, 2});
  std::byte b[4];
  auto r = f.s->read(a->file.id, 0, 4, b);
  ASSERT_FALSE(r);
  EXPECT_EQ(schema::code_of(r.error()), errc::io_error);
  auto file = f.s->open(a->file.id);
  ASSERT_OK(file);
  auto v = (*file)->view(0, 4);
  ASSERT_FALSE(v);
  EXPECT_EQ(schema::code_of(v.error()), errc::io_error);
}

// Where the file system cannot map (ENOTSUP), a view is read instead.
TEST(PosixStoreFaults, AViewIsReadWhereMappingIsNotSupported) {
  faulty_store f;
  auto content = test::random_bytes(100000, 9);
  auto a = put(*f.s, content);
  ASSERT_OK(a);
  auto file = f.s->open(a->file.id);
  ASSERT_OK(file);
  int reads = f.fsys->calls(fs_op::read);
  f.fsys->inject({fs_op::read, ENOTSUP, "", 0, 1});  // the map only
  auto v = (*file)->view(10, 90000);
  ASSERT_OK(v);
  EXPECT_EQ(std::string(v->view()), content.substr(10, 90000));
  EXPECT_EQ(f.fsys->calls(fs_op::read) - reads, 2);  // map, then read
}

// A crash at every step of a commit, a dedup and a delete, in both flush
// modes: after recovery each is either wholly done or wholly undone, and
// what was acknowledged is there. (A commit that returned success
// acknowledged it.)
TEST(PosixStoreCrash, ACrashAtAnyStepLeavesAllOrNothingAfterRecovery) {
  const std::string content = "crash consistency";
  for (int step = 0; step < 60; ++step) {
    for (int scenario = 0; scenario < 6; ++scenario) {
      uint64_t mode = scenario >= 3 ? whole_fs : per_file;
      SCOPED_TRACE("scenario " + std::to_string(scenario) + " step " +
                   std::to_string(step));
      test::temp_dir dir;
      std::string id;
      if (scenario % 3 > 0) {  // the content is stored once before the crash
        auto s = open_store(dir.path());
        auto r = put(*s, content);
        ASSERT_OK(r);
        id = r->file.id;
      }
      bool acknowledged = false;
      {
        auto fsys = std::make_shared<fault_fs>(posix_file_system());
        auto s = open_store(dir.path(), fsys, std::nullopt, mode);
        fsys->crash_after(step);
        if (scenario % 3 < 2) {
          auto r = put(*s, content);
          acknowledged = bool(r);
          if (r) id = r->file.id;
        } else {
          acknowledged = bool(s->remove(id));
        }
      }  // the crashed instance is gone; its lock with it
      auto s = open_store(dir.path());
      ASSERT_EQ(staging_files(dir.path()), 0u);
      auto files = shard_files(dir.path());
      if (id.empty()) {  // a first commit crashed before naming anything
        EXPECT_TRUE(files.empty()) << *files.begin() << " of " << files.size();
        continue;
      }
      auto st = s->stat(id);
      size_t expected_refs = scenario % 3 == 0   ? (acknowledged ? 1 : 0)
                             : scenario % 3 == 1 ? (acknowledged ? 2 : 1)
                                                 : (acknowledged ? 0 : 1);
      if (scenario % 3 == 2 && !acknowledged && !st) expected_refs = 0;  // done, not answered
      if (expected_refs == 0) {
        ASSERT_FALSE(st);
        EXPECT_EQ(schema::code_of(st.error()), errc::not_found);
        EXPECT_TRUE(files.empty()) << *files.begin();
      } else {
        ASSERT_OK(st);
        EXPECT_EQ(st->refs, expected_refs);
        EXPECT_EQ(get(*s, id), content);
        EXPECT_EQ(files.count(id.substr(0, 2) + "/" + id.substr(2, 2) + "/" +
                              id.substr(4) + ".dead"),
                  0u);
      }
    }
  }
}

// --- several processes and threads on one store -------------------------------

TEST(PosixStoreConcurrency, ProcessesCommittingTheSameContentShareOneObject) {
  test::temp_dir dir;
  { open_store(dir.path()); }
  constexpr int n = 8;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  std::vector<pid_t> kids;
  for (int i = 0; i < n; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(ready[1]);
      char c;
      (void)!::read(ready[0], &c, 1);  // start together
      auto s = open_posix_store({dir.path(), std::nullopt, 16, nullptr});
      if (!s) ::_exit(2);
      auto r = put(**s, std::string(300000, 'z'));
      ::_exit(r ? 0 : 1);
    }
    kids.push_back(pid);
  }
  ::close(ready[0]);
  ::close(ready[1]);  // EOF releases every child at once
  int dedups = 0;
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    ++dedups;
  }
  auto s = open_store(dir.path());
  auto page = s->list(std::nullopt, 100);
  ASSERT_OK(page);
  ASSERT_EQ(page->files.size(), 1u);
  EXPECT_EQ(page->files[0].refs, static_cast<uint64_t>(n));
  EXPECT_EQ(get(*s, page->files[0].id), std::string(300000, 'z'));
}

TEST(PosixStoreConcurrency, ProcessesCommittingCollidingContentsOverwriteNothing) {
  test::temp_dir dir;
  { open_store(dir.path(), nullptr, 5u); }
  constexpr int n = 6;
  std::vector<pid_t> kids;
  for (int i = 0; i < n; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = open_posix_store({dir.path(), 5u, 16, nullptr});
      if (!s) ::_exit(2);
      for (int j = 0; j < 3; ++j) {
        auto r = put(**s, "proc " + std::to_string(i) + " file " + std::to_string(j));
        if (!r) {
          fprintf(stderr, "child %d: %s\n", i, schema::message_of(r.error()).c_str());
          ::_exit(1);
        }
      }
      ::_exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  auto s = open_store(dir.path(), nullptr, 5u);
  auto page = s->list(std::nullopt, 1000);
  ASSERT_OK(page);
  ASSERT_EQ(page->files.size(), static_cast<size_t>(n * 3));
  std::set<std::string> contents;
  for (auto& f : page->files) {
    EXPECT_EQ(f.refs, 1u);
    auto c = get(*s, f.id);
    EXPECT_EQ(f.sha256, to_hex(sha256::of(c.data(), c.size())));
    contents.insert(c);
  }
  EXPECT_EQ(contents.size(), static_cast<size_t>(n * 3));
}

TEST(PosixStoreConcurrency, DeletingTheLastReferenceRacesSafelyWithNewUploads) {
  for (int round = 0; round < 30; ++round) {
    test::temp_dir dir;
    auto a = open_store(dir.path());
    auto b = open_store(dir.path());  // a second instance, as another process
    auto first = put(*a, "contended");
    ASSERT_OK(first);
    std::atomic<int> stored{0};
    std::thread deleter([&] { ASSERT_TRUE(a->remove(first->file.id)); });
    std::thread uploader([&] {
      for (int i = 0; i < 3; ++i)
        if (put(*b, "contended")) ++stored;
    });
    deleter.join();
    uploader.join();
    auto page = a->list(std::nullopt, 10);
    ASSERT_OK(page);
    uint64_t refs = 0;
    for (auto& f : page->files) {
      refs += f.refs;
      EXPECT_EQ(get(*a, f.id), "contended");
    }
    EXPECT_EQ(refs, static_cast<uint64_t>(stored.load()));
    EXPECT_EQ(stored.load(), 3);
  }
}

TEST(PosixStoreRecovery, RemovesWhatADeadInstanceLeftInStaging) {
  test::temp_dir dir;
  {
    auto fsys = std::make_shared<fault_fs>(posix_file_system());
    auto s = open_store(dir.path(), fsys);
    auto staged = s->create_staging();
    ASSERT_OK(staged);
    std::string data(10000, 'q');
    ASSERT_FALSE((*staged)->append(reinterpret_cast<const std::byte*>(data.data()),
                                   data.size()));
    fsys->crash();  // its clean-up on destruction fails, as in a real crash
  }
  EXPECT_EQ(staging_files(dir.path()), 1u);
  auto live = open_store(dir.path());
  EXPECT_EQ(staging_files(dir.path()), 0u);
  auto held = live->create_staging();  // a live instance's work...
  ASSERT_OK(held);
  auto s = open_store(dir.path());
  EXPECT_EQ(staging_files(dir.path()), 1u);  // ...is left alone
  EXPECT_TRUE(fs::exists(dir.path() + "/.staging"));
}

}  // namespace
}  // namespace depot::storage

namespace depot::storage {
namespace {

commit_request staged(store& s, const std::string& content, const std::string& name) {
  auto st = s.create_staging();
  EXPECT_TRUE(st);
  EXPECT_FALSE((*st)->append(reinterpret_cast<const std::byte*>(content.data()),
                             content.size()));
  return {std::move(*st),
          {name, "text/plain", sha256::of(content.data(), content.size()), 1}};
}

TEST(PosixStoreGroupCommit, ABatchSharesTwoFlushesAndAnswersEachUpload) {
  test::temp_dir dir;
  auto fsys = std::make_shared<fault_fs>(posix_file_system());
  auto s = open_store(dir.path(), fsys, 4u);  // 16 ids: some collide
  std::vector<commit_request> batch;
  for (int i = 0; i < 8; ++i)
    batch.push_back(staged(*s, "batched " + std::to_string(i), "b" + std::to_string(i)));
  batch.push_back(staged(*s, "batched 3", "again"));  // dedup inside the batch
  int syncs_before = fsys->calls(fs_op::sync) + fsys->calls(fs_op::sync_dir);
  auto results = s->commit_batch(std::move(batch));
  ASSERT_EQ(results.size(), 9u);
  EXPECT_EQ(fsys->calls(fs_op::sync_fs), 2);
  EXPECT_EQ(fsys->calls(fs_op::sync) + fsys->calls(fs_op::sync_dir), syncs_before);
  std::set<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    ASSERT_OK(results[i]);
    EXPECT_FALSE(results[i]->dedup);
    ids.insert(results[i]->file.id);
    EXPECT_EQ(get(*s, results[i]->file.id), "batched " + std::to_string(i));
  }
  EXPECT_EQ(ids.size(), 8u);
  ASSERT_OK(results[8]);
  EXPECT_TRUE(results[8]->dedup);
  EXPECT_EQ(results[8]->file.id, results[3]->file.id);
  EXPECT_EQ(results[8]->file.refs, 2u);
}

TEST(PosixStoreGroupCommit, AFreshFileIsCountedWithoutListingItsDirectory) {
  faulty_store f{whole_fs};
  std::vector<commit_request> batch;
  batch.push_back(staged(*f.s, "shared", "first"));
  batch.push_back(staged(*f.s, "alone one", "a"));
  batch.push_back(staged(*f.s, "alone two", "b"));
  batch.push_back(staged(*f.s, "shared", "second"));  // joins the first
  int lists_before = f.fsys->calls(fs_op::list_dir);
  auto results = f.s->commit_batch(std::move(batch));
  for (auto& r : results) ASSERT_OK(r);
  // Only the shared id's directory is listed, once for each of its uploads.
  EXPECT_EQ(f.fsys->calls(fs_op::list_dir) - lists_before, 2);
  EXPECT_EQ(results[0]->file.refs, 2u);
  EXPECT_EQ(results[3]->file.refs, 2u);
  EXPECT_TRUE(results[3]->dedup);
  EXPECT_EQ(results[1]->file.refs, 1u);
  EXPECT_EQ(results[2]->file.refs, 1u);
  auto st = f.s->stat(results[1]->file.id);
  ASSERT_OK(st);
  EXPECT_EQ(st->refs, 1u);
}

// Two commit lanes share the store: a batch of one may join a fresh claim
// of another batch before that one is settled. The claim then has two
// references and says so (it used to count only its own batch: 1).
TEST(PosixStoreGroupCommit, AFreshClaimJoinedFromAnotherBatchCountsBothReferences) {
  faulty_store f{whole_fs};
  std::vector<commit_request> one, other;
  one.push_back(staged(*f.s, "same content", "first"));
  other.push_back(staged(*f.s, "same content", "second"));
  auto g1 = f.s->stage(std::move(one));
  auto g2 = f.s->stage(std::move(other));
  f.s->place(*g1, f.s->barrier());
  f.s->place(*g2, caf::error{});
  auto barrier = f.s->barrier();
  auto first = f.s->settle(*g1, barrier);
  auto second = f.s->settle(*g2, barrier);
  ASSERT_OK(first[0]);
  ASSERT_OK(second[0]);
  EXPECT_FALSE(first[0]->dedup);
  EXPECT_TRUE(second[0]->dedup);
  EXPECT_EQ(first[0]->file.id, second[0]->file.id);
  EXPECT_EQ(first[0]->file.refs, 2u);
  EXPECT_EQ(second[0]->file.refs, 2u);
  // Settled, the claim is forgotten: a later upload of it is a plain dedup.
  auto third = put(*f.s, "same content");
  ASSERT_OK(third);
  EXPECT_EQ(third->file.refs, 3u);
}

TEST(PosixStore, AFreshFileIsRenamedIntoPlaceNotLinkedAndUnlinked) {
  faulty_store f{whole_fs};
  int links = f.fsys->calls(fs_op::link), unlinks = f.fsys->calls(fs_op::unlink);
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
  std::string a = dir.path() + "/a", b = dir.path() + "/b", c = dir.path() + "/c";
  for (auto* p : {&a, &b}) {
    std::unique_ptr<writable_file> f;
    ASSERT_EQ(fsys->create_exclusive(*p, false, &f), 0);
    ASSERT_EQ(f->append(p->data(), p->size()), 0);
    ASSERT_EQ(f->close(), 0);
  }
  EXPECT_EQ(fsys->rename_exclusive(a, b), EEXIST);
  std::string bytes;
  ASSERT_EQ(fsys->read_small(b, 100, &bytes), 0);
  EXPECT_EQ(bytes, b);  // untouched
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

TEST(PosixStoreGroupCommit, OneFailedUploadDoesNotFailTheOthers) {
  test::temp_dir dir;
  auto fsys = std::make_shared<fault_fs>(posix_file_system());
  auto s = open_store(dir.path(), fsys);
  std::vector<commit_request> batch;
  batch.push_back(staged(*s, "fine one", "a"));
  batch.push_back(staged(*s, "broken", "b"));
  batch.push_back(staged(*s, "fine two", "c"));
  // The second upload's metadata cannot be written.
  fsys->inject({fs_op::append, ENOSPC, "/m.", 1, 1});
  auto results = s->commit_batch(std::move(batch));
  ASSERT_OK(results[0]);
  ASSERT_FALSE(results[1]);
  EXPECT_EQ(schema::code_of(results[1].error()), errc::io_error);
  ASSERT_OK(results[2]);
  auto page = s->list(std::nullopt, 10);
  ASSERT_OK(page);
  EXPECT_EQ(page->files.size(), 2u);
  EXPECT_EQ(staging_files(dir.path()), 0u);
}

// Two batches sharing one barrier, as the namer pipelines them.
std::vector<commit_request> two(store& s, const std::string& tag) {
  std::vector<commit_request> b;
  b.push_back(staged(s, tag + " one", tag + "1"));
  b.push_back(staged(s, tag + " two", tag + "2"));
  return b;
}

TEST(PosixStoreGroupCommit, PipelinedBatchesShareABarrier) {
  faulty_store f{whole_fs};
  auto& s = *f.s;
  auto first = s.stage(two(s, "first"));
  s.place(*first, s.barrier());
  auto second = s.stage(two(s, "second"));
  auto shared = s.barrier();  // first's links, second's bytes
  auto first_results = s.settle(*first, shared);
  s.place(*second, shared);
  auto second_results = s.settle(*second, s.barrier());
  EXPECT_EQ(f.fsys->calls(fs_op::sync_fs), 3) << "three barriers for two batches";
  for (auto* results : {&first_results, &second_results}) {
    ASSERT_EQ(results->size(), 2u);
    for (auto& r : *results) ASSERT_OK(r);
  }
  EXPECT_EQ(get(s, first_results[1]->file.id), "first two");
  EXPECT_EQ(get(s, second_results[0]->file.id), "second one");
}

TEST(PosixStoreGroupCommit, AFailedSharedBarrierFailsBothBatchesAndLeavesNothing) {
  faulty_store f{whole_fs};
  auto& s = *f.s;
  auto first = s.stage(two(s, "first"));
  s.place(*first, s.barrier());
  auto second = s.stage(two(s, "second"));
  f.fsys->inject({fs_op::sync_fs, EIO, "", 0, 1});
  auto shared = s.barrier();
  ASSERT_TRUE(shared);
  for (auto& r : s.settle(*first, shared)) {
    ASSERT_FALSE(r);  // linked, but never durable: rolled back
    EXPECT_EQ(schema::code_of(r.error()), errc::io_error);
  }
  s.place(*second, shared);  // its bytes never became durable: not linked
  for (auto& r : s.settle(*second, caf::error{})) {
    ASSERT_FALSE(r);
    EXPECT_EQ(schema::code_of(r.error()), errc::io_error);
  }
  EXPECT_TRUE(shard_files(f.dir.path()).empty());
  first.reset();  // a group owns its staging files until it goes
  second.reset();
  EXPECT_EQ(staging_files(f.dir.path()), 0u);
}

}  // namespace
}  // namespace depot::storage
