// The POSIX store's staging files past staging_direct_from: direct I/O in
// whole blocks, the unaligned tail through the page cache, and the page
// cache for good where the file system refuses direct I/O.

#include "storage/fault_fs.hpp"
#include "testkit/content.hpp"
#include "tests/storage/store_test_support.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <utility>

namespace depot::storage {
namespace {

constexpr size_t mib = size_t{1} << 20;

// Past the threshold by two blocks and an odd tail, so that every path
// (cached head, whole blocks, a tail that is no whole unit) is taken.
const std::string& large() {
  static const std::string content = test::random_bytes(
      staging_direct_from + 2 * staging_direct_block + 12345, 7);
  return content;
}

// Stages `content` in pieces of `piece` bytes (as chunks arrive) and
// commits it.
schema::expected<commit_result> put_in_pieces(store& s,
                                              const std::string& content,
                                              size_t piece) {
  auto staged = s.create_staging();
  if (!staged) return staged.error();
  for (size_t i = 0; i < content.size(); i += piece) {
    size_t n = std::min(piece, content.size() - i);
    if (auto err = (*staged)->append(
            reinterpret_cast<const std::byte*>(content.data() + i), n))
      return err;
  }
  return s.commit(std::move(*staged),
                  {"big.bin", "application/octet-stream",
                   sha256::of(content.data(), content.size()), 1700000000000});
}

struct direct_store {
  explicit direct_store(uint64_t group_bytes, bool direct_io = true) {
    auto opened = open_posix_store(
        {dir.path(), std::nullopt, 16, fsys, group_bytes, direct_io});
    if (!opened) ADD_FAILURE() << schema::message_of(opened.error());
    if (opened) s = *opened;
  }
  test::temp_dir dir;
  std::shared_ptr<fault_fs> fsys =
      std::make_shared<fault_fs>(posix_file_system());
  std::shared_ptr<store> s;
};

TEST(PosixStaging, ALargeFileIsWrittenPastThePageCacheAndReadsBackExactly) {
  for (uint64_t group_bytes : {per_file, whole_fs}) {
    // Odd pieces: neither the head nor the blocks end where a piece does.
    for (size_t piece : {mib, size_t{1000003}}) {
      direct_store f{group_bytes};
      auto r = put_in_pieces(*f.s, large(), piece);
      ASSERT_OK(r);
      EXPECT_EQ(r->file.size, large().size());
      // On for the blocks, off for the tail.
      EXPECT_EQ(f.fsys->calls(fs_op::direct), 2);
      EXPECT_TRUE(get(*f.s, r->file.id) == large());
      EXPECT_EQ(staging_files(f.dir.path()), 0u);
    }
  }
}

TEST(PosixStaging, AFileOfWholeBlocksEndsWithoutATail) {
  direct_store f{per_file};
  std::string content = large().substr(0, staging_direct_from + mib * 8);
  auto r = put_in_pieces(*f.s, content, mib);
  ASSERT_OK(r);
  EXPECT_TRUE(get(*f.s, r->file.id) == content);
}

TEST(PosixStaging, FilesUpToTheThresholdStayInThePageCache) {
  direct_store f{per_file};
  std::string content = large().substr(0, staging_direct_from);
  auto r = put_in_pieces(*f.s, content, mib);
  ASSERT_OK(r);
  EXPECT_EQ(f.fsys->calls(fs_op::direct), 0);
  EXPECT_TRUE(get(*f.s, r->file.id) == content);
}

TEST(PosixStaging, WithoutDirectIoEverythingGoesThroughThePageCache) {
  direct_store f{per_file, false};
  auto r = put_in_pieces(*f.s, large(), mib);
  ASSERT_OK(r);
  EXPECT_EQ(f.fsys->calls(fs_op::direct), 0);
  EXPECT_TRUE(get(*f.s, r->file.id) == large());
}

TEST(PosixStaging, AFileSystemWithoutDirectIoGetsEveryByteThroughThePageCache) {
  direct_store f{per_file};
  f.fsys->inject({fs_op::direct, EINVAL, "/d.", 0, 1});
  auto r = put_in_pieces(*f.s, large(), mib);
  ASSERT_OK(r);
  EXPECT_EQ(f.fsys->calls(fs_op::direct), 1);  // asked once, never again
  EXPECT_TRUE(get(*f.s, r->file.id) == large());
}

TEST(PosixStaging,
     DirectWritesRefusedAfterTheFlagWasTakenGoThroughThePageCache) {
  // The first direct write, after 8 cached appends of 1 MiB (or 9 of
  // 1000003 bytes, the block then filled in the middle of a piece), gets
  // EINVAL: that block and the rest go through the page cache.
  for (auto [piece, cached] :
       {std::pair{mib, 8}, std::pair{size_t{1000003}, 9}}) {
    direct_store f{per_file};
    f.fsys->inject({fs_op::append, EINVAL, "/d.", cached, 1});
    auto r = put_in_pieces(*f.s, large(), piece);
    ASSERT_OK(r);
    EXPECT_EQ(f.fsys->calls(fs_op::direct), 2);  // on, then off for good
    EXPECT_TRUE(get(*f.s, r->file.id) == large());
  }
}

TEST(PosixStaging, AFailedDirectWriteFailsTheUploadAndLeavesNothing) {
  direct_store f{per_file};
  f.fsys->inject({fs_op::append, EIO, "/d.", 8, 1});
  auto r = put_in_pieces(*f.s, large(), mib);
  ASSERT_FALSE(r);
  EXPECT_EQ(schema::code_of(r.error()), errc::io_error);
  EXPECT_TRUE(shard_files(f.dir.path()).empty());
  EXPECT_EQ(staging_files(f.dir.path()), 0u);
  auto again = put_in_pieces(*f.s, large(), mib);  // the store goes on
  ASSERT_OK(again);
  EXPECT_TRUE(get(*f.s, again->file.id) == large());
}

TEST(PosixStaging, AFailedTailWriteFailsTheUpload) {
  direct_store f{per_file};
  // 8 cached appends, 2 whole blocks and the whole units of the last one
  // past the page cache; the tail's append (the 12th) fails.
  f.fsys->inject({fs_op::append, ENOSPC, "/d.", 11, 1});
  auto r = put_in_pieces(*f.s, large(), mib);
  ASSERT_FALSE(r);
  EXPECT_EQ(schema::code_of(r.error()), errc::io_error);
  EXPECT_TRUE(shard_files(f.dir.path()).empty());
  EXPECT_EQ(staging_files(f.dir.path()), 0u);
}

}  // namespace
}  // namespace depot::storage
