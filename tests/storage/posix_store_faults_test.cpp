// The POSIX store under injected faults, crashes, concurrent processes and
// recovery of dead instances.

#include "storage/fault_fs.hpp"
#include "storage/naming.hpp"
#include "testkit/content.hpp"
#include "testkit/temp_dir.hpp"
#include "tests/storage/store_test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace depot::storage {
namespace {

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
  EXPECT_EQ(schema::code_of(f.s->stat("K4K5Oeyq7Cqq").error()),
            errc::not_found);
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
      if (scenario % 3 == 2 && !acknowledged && !st)
        expected_refs = 0;  // done, not answered
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

// --- several processes and threads on one store
// -------------------------------

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

TEST(PosixStoreConcurrency,
     ProcessesCommittingCollidingContentsOverwriteNothing) {
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
        auto r = put(
            **s, "proc " + std::to_string(i) + " file " + std::to_string(j));
        if (!r) {
          fprintf(stderr, "child %d: %s\n", i,
                  schema::message_of(r.error()).c_str());
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
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "status " << status;
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
    ASSERT_FALSE((*staged)->append(
        reinterpret_cast<const std::byte*>(data.data()), data.size()));
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
