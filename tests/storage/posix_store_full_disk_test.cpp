// Deleting on a full file system: how an operator frees space. The reply
// says what happened, and the space comes back without a restart.

#include "storage/fault_fs.hpp"
#include "testkit/temp_dir.hpp"
#include "tests/storage/store_test_support.hpp"

#include <gtest/gtest.h>

namespace depot::storage {
namespace {

constexpr int forever = 1 << 30;

std::string object_path(const std::string& root, const std::string& id) {
  return root + "/" + id.substr(0, 2) + "/" + id.substr(2, 2) + "/" +
         id.substr(4);
}

TEST(PosixStoreFullDisk, DeletingTheLastReferenceNeedsNoNewSpace) {
  test::temp_dir dir;
  auto fsys = std::make_shared<fault_fs>(posix_file_system_beneath(dir.path()));
  auto s = open_store(dir.path(), fsys);
  auto a = put(*s, "first, deleted on a full disk");
  auto b = put(*s, "second, twice referenced");
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_OK(put(*s, "second, twice referenced"));
  // The file system is full: nothing can be created or grown.
  fsys->inject({fs_op::create, ENOSPC, "", 0, forever});
  fsys->inject({fs_op::append, ENOSPC, "", 0, forever});
  fsys->inject({fs_op::mkdir, ENOSPC, "", 0, forever});
  auto left = s->remove(a->file.id);
  ASSERT_OK(left);
  EXPECT_EQ(*left, 0u);
  EXPECT_EQ(schema::code_of(s->stat(a->file.id).error()), errc::not_found);
  EXPECT_FALSE(fs::exists(object_path(dir.path(), a->file.id)))
      << "the space is reclaimed at once";
  EXPECT_TRUE(shard_files(dir.path())
                  .count(a->file.id.substr(0, 2) + "/" +
                         a->file.id.substr(2, 2) + "/" + a->file.id.substr(4) +
                         ".meta") == 0);
  left = s->remove(b->file.id);
  ASSERT_OK(left);
  EXPECT_EQ(*left, 1u);
  EXPECT_EQ(s->stat(b->file.id)->refs, 1u);
  EXPECT_EQ(schema::code_of(s->remove(a->file.id).error()), errc::not_found);
}

// Whatever step fails, the reply matches the store: an error leaves the
// file with its references, ok leaves it gone; bytes left behind by an ok
// go with the next operation once there is space, without a restart.
TEST(PosixStoreFullDisk, AReplyToADeleteSaysWhatHappened) {
  for (fs_op op : {fs_op::create, fs_op::append, fs_op::link, fs_op::unlink,
                   fs_op::sync_dir, fs_op::list_dir, fs_op::read}) {
    for (int skip = 0; skip < 4; ++skip) {
      SCOPED_TRACE("op " + std::to_string(static_cast<int>(op)) + " skip " +
                   std::to_string(skip));
      test::temp_dir dir;
      auto fsys =
          std::make_shared<fault_fs>(posix_file_system_beneath(dir.path()));
      auto s = open_store(dir.path(), fsys);
      auto a = put(*s, "to be deleted");
      ASSERT_OK(a);
      const std::string& id = a->file.id;
      fsys->inject({op, ENOSPC, "", skip, 1});
      auto left = s->remove(id);
      fsys->clear_rules();  // the disk has space again
      auto st = s->stat(id);
      if (left) {
        EXPECT_EQ(*left, 0u);
        ASSERT_FALSE(st);
        EXPECT_EQ(schema::code_of(st.error()), errc::not_found);
        EXPECT_EQ(schema::code_of(s->remove(id).error()), errc::not_found);
      } else {
        ASSERT_OK(st) << "answered " << schema::message_of(left.error())
                      << " yet the file is gone";
        EXPECT_EQ(st->refs, 1u);
        EXPECT_EQ(get(*s, id), "to be deleted");
        ASSERT_OK(s->remove(id));  // space is back
      }
      // The next operation, with space, reclaims what is left.
      ASSERT_OK(put(*s, "something else"));
      EXPECT_FALSE(fs::exists(object_path(dir.path(), id)));
      EXPECT_EQ(schema::code_of(s->stat(id).error()), errc::not_found);
    }
  }
}

}  // namespace
}  // namespace depot::storage
