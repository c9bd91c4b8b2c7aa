// Group commit: batches sharing barriers, through the store interface.

#include "storage/fault_fs.hpp"
#include "storage/naming.hpp"
#include "testkit/content.hpp"
#include "testkit/temp_dir.hpp"
#include "tests/storage/store_test_support.hpp"

#include <gtest/gtest.h>

#include <cerrno>

namespace depot::storage {
namespace {

TEST(PosixStoreGroupCommit, ABatchSharesTwoFlushesAndAnswersEachUpload) {
  test::temp_dir dir;
  auto fsys = std::make_shared<fault_fs>(posix_file_system());
  auto s = open_store(dir.path(), fsys, 4u);  // 16 ids: some collide
  std::vector<commit_request> batch;
  for (int i = 0; i < 8; ++i)
    batch.push_back(
        staged(*s, "batched " + std::to_string(i), "b" + std::to_string(i)));
  batch.push_back(staged(*s, "batched 3", "again"));  // dedup inside the batch
  int syncs_before = fsys->calls(fs_op::sync) + fsys->calls(fs_op::sync_dir);
  auto results = s->commit_batch(std::move(batch));
  ASSERT_EQ(results.size(), 9u);
  EXPECT_EQ(fsys->calls(fs_op::sync_fs), 2);
  EXPECT_EQ(fsys->calls(fs_op::sync) + fsys->calls(fs_op::sync_dir),
            syncs_before);
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
// references and says so, not just the one of its own batch.
TEST(PosixStoreGroupCommit,
     AFreshClaimJoinedFromAnotherBatchCountsBothReferences) {
  faulty_store f{whole_fs};
  std::vector<commit_request> one, other;
  one.push_back(staged(*f.s, "same content", "first"));
  other.push_back(staged(*f.s, "same content", "second"));
  auto g1 = f.s->stage(std::move(one));
  auto g2 = f.s->stage(std::move(other));
  g1->place(f.s->barrier());
  g2->place(caf::error{});
  auto barrier = f.s->barrier();
  auto first = g1->settle(barrier);
  auto second = g2->settle(barrier);
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

// Commits two() batches tagged "first" and "second" through `s` as the
// namer pipelines them: three barriers, the middle one shared by the first's
// placements and the second's bytes. Asserts that the batches needed a
// barrier and that all four commits succeeded; their results in `first` and
// `second`.
void commit_pipelined_pair(store& s, commit_results& first_results,
                           commit_results& second_results) {
  auto first = s.stage(two(s, "first"));
  ASSERT_TRUE(first->needs_barrier());  // small: the real syncfs path
  first->place(s.barrier());
  auto second = s.stage(two(s, "second"));
  auto shared = s.barrier();
  first_results = first->settle(shared);
  second->place(shared);
  second_results = second->settle(s.barrier());
  for (auto* results : {&first_results, &second_results}) {
    ASSERT_EQ(results->size(), 2u);
    for (auto& r : *results) ASSERT_OK(r);
  }
}

TEST(PosixStoreGroupCommit, PipelinedBatchesShareABarrier) {
  faulty_store f{whole_fs};
  auto& s = *f.s;
  commit_results first_results, second_results;
  ASSERT_NO_FATAL_FAILURE(
      commit_pipelined_pair(s, first_results, second_results));
  EXPECT_EQ(f.fsys->calls(fs_op::sync_fs), 3)
      << "three barriers for two batches";
  EXPECT_EQ(get(s, first_results[1]->file.id), "first two");
  EXPECT_EQ(get(s, second_results[0]->file.id), "second one");
}

TEST(PosixStoreGroupCommit,
     AFailedSharedBarrierFailsBothBatchesAndLeavesNothing) {
  faulty_store f{whole_fs};
  auto& s = *f.s;
  auto first = s.stage(two(s, "first"));
  first->place(s.barrier());
  auto second = s.stage(two(s, "second"));
  f.fsys->inject({fs_op::sync_fs, EIO, "", 0, 1});
  auto shared = s.barrier();
  ASSERT_TRUE(shared);
  for (auto& r : first->settle(shared)) {
    ASSERT_FALSE(r);  // linked, but never durable: rolled back
    EXPECT_EQ(schema::code_of(r.error()), errc::io_error);
  }
  second->place(shared);  // its bytes never became durable: not linked
  for (auto& r : second->settle(caf::error{})) {
    ASSERT_FALSE(r);
    EXPECT_EQ(schema::code_of(r.error()), errc::io_error);
  }
  EXPECT_TRUE(shard_files(f.dir.path()).empty());
  first.reset();  // a group owns its staging files until it goes
  second.reset();
  EXPECT_EQ(staging_files(f.dir.path()), 0u);
}

// A store that forwards every step to another and counts them: what any
// wrapper (logging, metrics) looks like. Nothing of the staged path may be
// lost through it.
struct forwarding_store final : store {
  struct counting_batch final : staged_batch {
    counting_batch(std::unique_ptr<staged_batch> base, forwarding_store& owner)
        : base(std::move(base)), owner(owner) {}
    bool needs_barrier() const override { return base->needs_barrier(); }
    void place(const caf::error& barrier_failure) override {
      ++owner.places;
      base->place(barrier_failure);
    }
    commit_results settle(const caf::error& barrier_failure) override {
      ++owner.settles;
      return base->settle(barrier_failure);
    }
    std::unique_ptr<staged_batch> base;
    forwarding_store& owner;
  };

  explicit forwarding_store(std::shared_ptr<store> base)
      : base(std::move(base)) {}
  schema::expected<std::unique_ptr<staging_file>> create_staging() override {
    return base->create_staging();
  }
  std::unique_ptr<staged_batch> stage(
      std::vector<commit_request> requests) override {
    ++stages;
    return std::make_unique<counting_batch>(base->stage(std::move(requests)),
                                            *this);
  }
  caf::error barrier() override {
    ++barriers;
    return base->barrier();
  }
  schema::expected<schema::file_meta> stat(const std::string& id) override {
    return base->stat(id);
  }
  schema::expected<std::unique_ptr<object_reader>> open(
      const std::string& id) override {
    return base->open(id);
  }
  schema::expected<uint64_t> remove(const std::string& id) override {
    return base->remove(id);
  }
  schema::expected<list_page> list(const std::optional<std::string>& after,
                                   size_t limit) override {
    return base->list(after, limit);
  }

  std::shared_ptr<store> base;
  int stages = 0, places = 0, settles = 0, barriers = 0;
};

TEST(StoreBatch, PipelinedBatchesThroughAWrapperShareTheRealBarrier) {
  faulty_store f{whole_fs};
  forwarding_store w{f.s};
  commit_results first_results, second_results;
  ASSERT_NO_FATAL_FAILURE(
      commit_pipelined_pair(w, first_results, second_results));
  EXPECT_EQ(w.barriers, 3);
  EXPECT_EQ(f.fsys->calls(fs_op::sync_fs), 3) << "each barrier is one syncfs";
  EXPECT_EQ(w.places, 2);
  EXPECT_EQ(w.settles, 2);
  EXPECT_EQ(get(w, first_results[0]->file.id), "first one");
  EXPECT_EQ(get(w, second_results[1]->file.id), "second two");
  auto st = w.stat(second_results[0]->file.id);
  ASSERT_OK(st);
  EXPECT_EQ(st->refs, 1u);
}

TEST(StoreBatch, CommitThroughAWrapperTakesEveryStepOfTheWrappedStore) {
  faulty_store f{whole_fs};
  forwarding_store w{f.s};
  auto r = put(w, "committed through a wrapper");
  ASSERT_OK(r);
  EXPECT_EQ(w.stages, 1);
  EXPECT_EQ(w.places, 1);
  EXPECT_EQ(w.settles, 1);
  EXPECT_EQ(w.barriers, 2);  // bytes, then placement
  EXPECT_EQ(f.fsys->calls(fs_op::sync_fs), 2);
  EXPECT_EQ(get(w, r->file.id), "committed through a wrapper");
}

TEST(StoreBatch, ALargeBatchFlushesItselfAndNeedsNoBarrier) {
  faulty_store f{per_file};
  forwarding_store w{f.s};
  auto r = put(w, "flushed file by file");
  ASSERT_OK(r);
  EXPECT_EQ(w.barriers, 0);
  EXPECT_EQ(f.fsys->calls(fs_op::sync_fs), 0);
  EXPECT_GT(f.fsys->calls(fs_op::sync), 0);
  EXPECT_EQ(get(w, r->file.id), "flushed file by file");
}

// A staging file the store did not make.
struct foreign_staging final : staging_file {
  caf::error append(const std::byte*, size_t n) override {
    size_ += n;
    return {};
  }
  uint64_t size() const override { return size_; }
  uint64_t size_ = 0;
};

TEST(StoreBatch, AForeignStagingFileFailsAsInternalAndTheOthersGoOn) {
  faulty_store f{whole_fs};
  std::vector<commit_request> batch;
  batch.push_back(staged(*f.s, "mine", "a"));
  batch.push_back({std::make_unique<foreign_staging>(),
                   {"b", "text/plain", sha256::of("x", 1), 1}});
  auto results = f.s->commit_batch(std::move(batch));
  ASSERT_EQ(results.size(), 2u);
  ASSERT_OK(results[0]);
  ASSERT_FALSE(results[1]);
  EXPECT_EQ(schema::code_of(results[1].error()), errc::internal);
}

TEST(StoreBatch, SettlingBeforePlacingFailsInsteadOfAcknowledging) {
  faulty_store f{whole_fs};
  auto b = f.s->stage(two(*f.s, "unplaced"));
  for (auto& r : b->settle(f.s->barrier())) {
    ASSERT_FALSE(r);
    EXPECT_EQ(schema::code_of(r.error()), errc::internal);
  }
  b.reset();
  EXPECT_TRUE(shard_files(f.dir.path()).empty());
  EXPECT_EQ(staging_files(f.dir.path()), 0u);
}

TEST(StoreBatch, AStepWithoutTheBarrierItNeedsFailsInsteadOfLosingDurability) {
  faulty_store f{whole_fs};
  auto b = f.s->stage(two(*f.s, "hasty"));
  ASSERT_TRUE(b->needs_barrier());
  b->place(caf::error{});  // no barrier: the bytes may not be durable
  for (auto& r : b->settle(caf::error{})) {
    ASSERT_FALSE(r);
    EXPECT_EQ(schema::code_of(r.error()), errc::internal);
  }
  EXPECT_TRUE(shard_files(f.dir.path()).empty());
  // Placed after its barrier but settled without the next one: rolled back.
  auto c = f.s->stage(two(*f.s, "half"));
  c->place(f.s->barrier());
  for (auto& r : c->settle(caf::error{})) {
    ASSERT_FALSE(r);
    EXPECT_EQ(schema::code_of(r.error()), errc::internal);
  }
  EXPECT_TRUE(shard_files(f.dir.path()).empty());
  b.reset();
  c.reset();
  EXPECT_EQ(staging_files(f.dir.path()), 0u);
}

}  // namespace
}  // namespace depot::storage
