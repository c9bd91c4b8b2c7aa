// Recovery of what dead instances left, including recoveries that were
// themselves cut short, and clean stops that leave nothing to recover.

#include "storage/fault_fs.hpp"
#include "testkit/temp_dir.hpp"
#include "tests/storage/store_test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>

namespace depot::storage {
namespace {

std::shared_ptr<fault_fs> crashing_fs(const std::string& root) {
  return std::make_shared<fault_fs>(posix_file_system_beneath(root));
}

bool has_dead_marker(const std::string& root) {
  for (auto& f : shard_files(root))
    if (f.size() > 5 && f.compare(f.size() - 5, 5, ".dead") == 0) return true;
  return false;
}

// A crash at every step of the delete of a file's last reference, then a
// crash at every step of the recovery of that (the opening of the next
// instance), then a normal start: the file either fully exists with its one
// reference or is fully gone, bytes and markers too, and storing the same
// content again succeeds at once.
TEST(PosixStoreRecovery,
     ACrashDuringTheRecoveryOfACrashedDeleteIsRecoveredToo) {
  const std::string content = "deleted, crashed, recovered, crashed";
  int combinations = 0;
  for (int del_step = 0;; ++del_step) {
    bool delete_crashed = false;
    for (int rec_step = 0;; ++rec_step) {
      SCOPED_TRACE("delete step " + std::to_string(del_step) +
                   ", recovery step " + std::to_string(rec_step));
      test::temp_dir dir;
      std::string id;
      {
        auto s = open_store(dir.path());
        auto r = put(*s, content);
        ASSERT_OK(r);
        id = r->file.id;
      }
      {
        auto fsys = crashing_fs(dir.path());
        auto s = open_store(dir.path(), fsys);
        ASSERT_TRUE(s);
        fsys->crash_after(del_step);
        (void)s->remove(id);
        delete_crashed = fsys->crashed();
      }
      if (!delete_crashed) break;
      bool recovery_crashed;
      {
        auto fsys = crashing_fs(dir.path());
        fsys->crash_after(rec_step);
        auto s = open_posix_store({dir.path(), std::nullopt, 16, fsys});
        recovery_crashed = fsys->crashed();
      }
      ++combinations;
      auto s = open_store(dir.path());
      ASSERT_TRUE(s);
      auto files = shard_files(dir.path());
      EXPECT_FALSE(has_dead_marker(dir.path())) << "a delete left stuck";
      EXPECT_EQ(staging_files(dir.path()), 0u);
      auto st = s->stat(id);
      if (st) {
        EXPECT_EQ(st->refs, 1u);
        EXPECT_EQ(get(*s, id), content);
      } else {
        EXPECT_EQ(schema::code_of(st.error()), errc::not_found);
        EXPECT_TRUE(files.empty()) << *files.begin() << " left";
      }
      if (has_dead_marker(dir.path())) break;  // put would wait 30 s
      auto start = std::chrono::steady_clock::now();
      auto again = put(*s, content);
      ASSERT_OK(again);
      EXPECT_LT(std::chrono::steady_clock::now() - start,
                std::chrono::seconds(1));
      EXPECT_EQ(again->file.refs, st ? 2u : 1u);
      EXPECT_EQ(get(*s, id), content);
      if (!recovery_crashed) break;
    }
    if (!delete_crashed) break;
  }
  EXPECT_GT(combinations, 20);
}

std::vector<std::string> staging_entries(const std::string& root) {
  std::vector<std::string> out;
  for (auto& e : fs::directory_iterator(root + "/.staging"))
    out.push_back(e.path().filename().string());
  return out;
}

// A kill -9 while an instance directory is forming (after its mkdir, before
// or after its lock, before its rename) leaves ID.tmp: recovered like any
// dead instance's, unless its lock is held (it is forming now).
TEST(PosixStoreRecovery, HalfFormedInstanceDirectoriesAreRemoved) {
  test::temp_dir dir;
  { open_store(dir.path()); }
  std::string staging = dir.path() + "/.staging/";
  fs::create_directory(staging + "0123456789abcdef.tmp");  // no lock yet
  fs::create_directory(staging + "fedcba9876543210.tmp");
  {
    std::ofstream{staging + "fedcba9876543210.tmp/lock"} << "fedcba9876543210";
  }
  fs::create_directory(staging + "00000000000live.tmp");  // forming now
  std::unique_ptr<file_lock> held;
  ASSERT_EQ(posix_file_system()->try_lock(staging + "00000000000live.tmp/lock",
                                          true, &held),
            0);
  auto s = open_store(dir.path());
  auto left = staging_entries(dir.path());
  std::sort(left.begin(), left.end());
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0], "00000000000live.tmp");
}

// A crash at every step of opening a store: the next opening leaves only
// its own instance directory.
TEST(PosixStoreRecovery, ACrashWhileOpeningLeavesNothingBehind) {
  for (int step = 0; step < 12; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    test::temp_dir dir;
    { open_store(dir.path()); }
    {
      auto fsys = crashing_fs(dir.path());
      fsys->crash_after(step);
      auto s = open_posix_store({dir.path(), std::nullopt, 16, fsys});
    }
    auto s = open_store(dir.path());
    EXPECT_EQ(staging_entries(dir.path()).size(), 1u)
        << staging_entries(dir.path())[0] << ", "
        << staging_entries(dir.path()).back();
  }
}

// A store closed cleanly leaves nothing for the next one to recover.
TEST(PosixStoreRecovery, ACleanCloseLeavesNothingToRecover) {
  test::temp_dir dir;
  std::string id;
  {
    auto s = open_store(dir.path());
    auto r = put(*s, "kept");
    ASSERT_OK(r);
    id = r->file.id;
    auto d = put(*s, "deleted");
    ASSERT_OK(d);
    ASSERT_OK(s->remove(d->file.id));
    ASSERT_OK(put(*s, "kept"));
  }
  EXPECT_TRUE(staging_entries(dir.path()).empty())
      << staging_entries(dir.path())[0];
  auto s = open_store(dir.path());
  EXPECT_EQ(staging_entries(dir.path()).size(), 1u);
  EXPECT_EQ(get(*s, id), "kept");
}

}  // namespace
}  // namespace depot::storage
