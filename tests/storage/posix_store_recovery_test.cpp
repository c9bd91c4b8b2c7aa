// Recovery of what dead instances left, including recoveries that were
// themselves cut short, and clean stops that leave nothing to recover.

#include "storage/fault_fs.hpp"
#include "testkit/temp_dir.hpp"
#include "tests/storage/store_test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>

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

}  // namespace
}  // namespace depot::storage
