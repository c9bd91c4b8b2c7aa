// The store's contract (storage/store.hpp), the same cases against every
// backend: storing, references, reads, naming, listing, batches. Sharing a
// store between processes and threads: store_contract_sharing_test.cpp.

#include "storage/naming.hpp"
#include "testkit/content.hpp"
#include "tests/storage/store_backends.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace depot::storage {
namespace {

using schema::code_of;

TEST_P(StoreContract, StoresAndReadsBack) {
  auto s = open();
  ASSERT_TRUE(s);
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
  EXPECT_EQ(get(*s, r->file.id), "hello depot\n");
  auto st = s->stat(r->file.id);
  ASSERT_OK(st);
  EXPECT_EQ(*st, r->file);
  EXPECT_EQ(uncommitted_leftovers(), 0u);
}

TEST_P(StoreContract, StoresTheEmptyFile) {
  auto s = open();
  ASSERT_TRUE(s);
  auto r = put(*s, "");
  ASSERT_OK(r);
  EXPECT_EQ(r->file.id, "nciB6WIL2fIa");
  EXPECT_EQ(r->file.size, 0u);
  std::byte b[1];
  auto rd = s->read(r->file.id, 0, 1, b);
  ASSERT_OK(rd);
  EXPECT_EQ(rd->bytes, 0u);
  EXPECT_EQ(rd->file_size, 0u);
  auto again = put(*s, "");
  ASSERT_OK(again);
  EXPECT_TRUE(again->dedup);
  EXPECT_EQ(again->file.refs, 2u);
  EXPECT_EQ(uncommitted_leftovers(), 0u);
}

TEST_P(StoreContract, IdenticalContentIsStoredOnceWithReferencesCounted) {
  auto s = open();
  ASSERT_TRUE(s);
  auto a = put(*s, "same bytes", "first.txt");
  auto b = put(*s, "same bytes", "second.txt");
  ASSERT_OK(a);
  ASSERT_OK(b);
  EXPECT_EQ(a->file.id, b->file.id);
  EXPECT_TRUE(b->dedup);
  EXPECT_EQ(b->file.refs, 2u);
  EXPECT_EQ(b->file.name, "first.txt");  // the first upload's name
  if (rados()) {
    EXPECT_EQ(objects_->objects("d.").size(), 1u);
  } else {
    size_t contents = 0;
    for (auto& f : shard_files(dir_.path()))
      if (f.find('.') == std::string::npos) ++contents;
    EXPECT_EQ(contents, 1u);
  }
  EXPECT_EQ(uncommitted_leftovers(), 0u);
}

TEST_P(StoreContract, DeleteTakesReferencesAwayAndFreesTheLastOne) {
  auto s = open();
  ASSERT_TRUE(s);
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
  EXPECT_EQ(code_of(s->stat(a->file.id).error()), errc::not_found);
  std::byte b[4];
  EXPECT_EQ(code_of(s->read(a->file.id, 0, 4, b).error()), errc::not_found);
  EXPECT_EQ(code_of(s->remove(a->file.id).error()), errc::not_found);
  EXPECT_EQ(stored_things(), 0u);
  // Stored again after its deletion, it is new content again.
  auto again = put(*s, "twice");
  ASSERT_OK(again);
  EXPECT_FALSE(again->dedup);
  EXPECT_EQ(again->file.refs, 1u);
}

TEST_P(StoreContract, StatReadAndOpenOfADeletedFileAreNotFound) {
  auto s = open();
  ASSERT_TRUE(s);
  auto a = put(*s, test::random_bytes(3 * test_stripe + 5, 11));
  ASSERT_OK(a);
  ASSERT_OK(s->remove(a->file.id));
  EXPECT_EQ(code_of(s->stat(a->file.id).error()), errc::not_found);
  EXPECT_EQ(code_of(s->open(a->file.id).error()), errc::not_found);
  std::vector<std::byte> b(test_stripe + 10);
  EXPECT_EQ(
      code_of(s->read(a->file.id, test_stripe - 5, b.size(), b.data()).error()),
      errc::not_found);
  EXPECT_EQ(stored_things(), 0u);
  EXPECT_EQ(uncommitted_leftovers(), 0u);
}

TEST_P(StoreContract, ReadsRangesAndRejectsOffsetsPastTheEnd) {
  auto s = open();
  ASSERT_TRUE(s);
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
  EXPECT_EQ(code_of(s->read(a->file.id, 11, 4, b).error()), errc::out_of_range);
}

// RADOS keeps it in six data objects; ranges across their boundaries read
// from each the part they hold.
TEST_P(StoreContract, ReadsAFileOfSeveralStripesWholeAndAcrossBoundaries) {
  auto s = open();
  ASSERT_TRUE(s);
  auto content = test::random_bytes(5 * test_stripe + 123, 5);
  auto a = put(*s, content);
  ASSERT_OK(a);
  EXPECT_EQ(a->file.size, content.size());
  EXPECT_EQ(get(*s, a->file.id), content);
  if (rados()) {
    EXPECT_EQ(objects_->objects("d.").size(), 6u);
  }
  auto f = s->open(a->file.id);
  ASSERT_OK(f);
  EXPECT_EQ((*f)->size(), content.size());
  const uint64_t k = test_stripe;
  for (auto [offset, length] : std::vector<std::pair<uint64_t, size_t>>{
           {0, content.size()},
           {k - 10, 20},
           {2 * k - 1, k + 2},  // three objects
           {k, k},              // exactly one
           {3 * k + 7, 2 * k},  // into the short last one
           {5 * k, 123},
           {5 * k + 100, 1000},  // fewer at the end
           {0, 1}}) {
    std::vector<std::byte> buf(length);
    auto n = (*f)->read(offset, length, buf.data());
    ASSERT_OK(n);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(buf.data()), *n),
              content.substr(offset, length))
        << offset << "+" << length;
    auto v = (*f)->view(offset, length);
    ASSERT_OK(v);
    EXPECT_EQ(std::string(v->view()), content.substr(offset, length));
  }
  std::byte b[1];
  auto at_end = (*f)->read(content.size(), 1, b);
  ASSERT_OK(at_end);
  EXPECT_EQ(*at_end, 0u);
  EXPECT_EQ(code_of((*f)->read(content.size() + 1, 1, b).error()),
            errc::out_of_range);
}

TEST_P(StoreContract, MalformedIdsAreRejectedBeforeTouchingTheStore) {
  auto s = open();
  ASSERT_TRUE(s);
  std::byte b[1];
  for (std::string id : {"../../etc/pa", "short", "abcdEFGH12345",
                         "abcd/FGH1234", "", "abcdEFGH123\n"}) {
    EXPECT_EQ(code_of(s->stat(id).error()), errc::bad_request) << id;
    EXPECT_EQ(code_of(s->open(id).error()), errc::bad_request) << id;
    EXPECT_EQ(code_of(s->read(id, 0, 1, b).error()), errc::bad_request);
    EXPECT_EQ(code_of(s->remove(id).error()), errc::bad_request);
  }
  EXPECT_EQ(code_of(s->list(std::string("../x"), 10).error()),
            errc::bad_request);
  EXPECT_EQ(code_of(s->stat("abcdEFGH1234").error()), errc::not_found);
  EXPECT_EQ(stored_things(), 0u);
}

TEST_P(StoreContract, FilesAndMetadataSurviveReopening) {
  schema::file_meta before;
  std::string big = test::random_bytes(2 * test_stripe + 1, 3);
  std::string big_id;
  {
    auto s = open();
    ASSERT_TRUE(s);
    auto a = put(*s, "persistent", "p.bin");
    ASSERT_OK(a);
    ASSERT_OK(put(*s, "persistent", "p2.bin"));
    before = a->file;
    before.refs = 2;
    auto b = put(*s, big);
    ASSERT_OK(b);
    big_id = b->file.id;
  }
  auto s = open();
  ASSERT_TRUE(s);
  auto st = s->stat(before.id);
  ASSERT_OK(st);
  EXPECT_EQ(*st, before);
  EXPECT_EQ(get(*s, before.id), "persistent");
  EXPECT_EQ(get(*s, big_id), big);
  EXPECT_EQ(uncommitted_leftovers(), 0u);
}

// Collects every page of `s`'s list with pages of `limit`, checking that
// each page's `next` is its last id.
std::vector<std::string> list_all(store& s, size_t limit, int* pages) {
  std::vector<std::string> seen;
  std::optional<std::string> after;
  *pages = 0;
  for (;;) {
    auto page = s.list(after, limit);
    EXPECT_OK(page);
    if (!page) return seen;
    ++*pages;
    EXPECT_LE(page->files.size(), limit);
    for (auto& f : page->files) seen.push_back(f.id);
    if (!page->next) return seen;
    EXPECT_EQ(*page->next, page->files.back().id);
    after = page->next;
  }
}

TEST_P(StoreContract, ListsPagesInAscendingIdOrder) {
  auto s = open();
  ASSERT_TRUE(s);
  std::set<std::string> ids;
  for (int i = 0; i < 57; ++i) {
    auto r = put(*s, "file number " + std::to_string(i));
    ASSERT_OK(r);
    ids.insert(r->file.id);
  }
  int pages = 0;
  EXPECT_EQ(list_all(*s, 10, &pages),
            std::vector<std::string>(ids.begin(), ids.end()));
  EXPECT_EQ(pages, 6);
  auto first = s->list(std::nullopt, 3);
  ASSERT_OK(first);
  for (auto& f : first->files) {
    EXPECT_EQ(f.refs, 1u);
    EXPECT_EQ(f.size, get(*s, f.id).size());
  }
  auto empty = s->list(std::string("zzzzzzzzzzzz"), 10);
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->files.empty());
  EXPECT_FALSE(empty->next);
  // A page that ends exactly at the last file says there is no more.
  auto all = s->list(std::nullopt, 57);
  ASSERT_OK(all);
  EXPECT_EQ(all->files.size(), 57u);
  EXPECT_FALSE(all->next);
  auto none = s->list(std::nullopt, 0);
  ASSERT_OK(none);
  EXPECT_TRUE(none->files.empty());
}

// Ids starting with many different characters (RADOS: many index shards,
// some empty between them), listed with small pages and from ids that are
// not stored.
TEST_P(StoreContract, ListStaysOrderedAcrossManyShardsWithSmallPages) {
  auto s = open();
  ASSERT_TRUE(s);
  std::set<std::string> ids;
  std::set<char> firsts;
  for (int i = 0; i < 120; ++i) {
    auto r = put(*s, "shard spread " + std::to_string(i));
    ASSERT_OK(r);
    ids.insert(r->file.id);
    firsts.insert(r->file.id[0]);
  }
  EXPECT_GT(firsts.size(), 30u);
  std::vector<std::string> want(ids.begin(), ids.end());
  for (size_t limit : {1, 2, 7}) {
    int pages = 0;
    EXPECT_EQ(list_all(*s, limit, &pages), want) << limit;
    EXPECT_EQ(static_cast<size_t>(pages), (want.size() + limit - 1) / limit);
  }
  // From an id that is not stored, the next stored one comes first.
  for (std::string from : {"000000000000", "Mzzzzzzzzzzz", "a00000000000"}) {
    auto page = s->list(from, 5);
    ASSERT_OK(page);
    auto it = ids.upper_bound(from);
    for (auto& f : page->files) {
      ASSERT_NE(it, ids.end());
      EXPECT_EQ(f.id, *it++);
    }
  }
}

TEST_P(StoreContract, CollidingContentsUnderNarrowedIdsTakeDistinctCandidates) {
  auto s = open({4u});  // 16 possible ids
  ASSERT_TRUE(s);
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
  EXPECT_EQ(uncommitted_leftovers(), 0u);
}

TEST_P(StoreContract,
       FailsWithNameExhaustedWhenEveryCandidateHoldsOtherContent) {
  auto s = open({1u});  // ids 0 and 1 only
  ASSERT_TRUE(s);
  ASSERT_OK(put(*s, "one"));
  ASSERT_OK(put(*s, "two"));
  auto third = put(*s, "three");
  ASSERT_FALSE(third);
  EXPECT_EQ(code_of(third.error()), errc::name_exhausted);
  auto big = put(*s, test::random_bytes(2 * test_stripe + 9, 4));
  ASSERT_FALSE(big);
  EXPECT_EQ(code_of(big.error()), errc::name_exhausted);
  EXPECT_EQ(uncommitted_leftovers(), 0u);
  auto again = put(*s, "two");  // dedup still finds its candidate
  ASSERT_OK(again);
  EXPECT_TRUE(again->dedup);
}

// A staging file no store made.
class foreign_staging final : public staging_file {
 public:
  caf::error append(const std::byte*, size_t size) override {
    size_ += size;
    return {};
  }
  uint64_t size() const override { return size_; }

 private:
  uint64_t size_ = 0;
};

TEST_P(StoreContract, CommitsABatchWhoseUploadsSucceedOrFailEachOnItsOwn) {
  auto s = open({4u});
  auto other = open({4u});  // the same store, as another process opens it
  ASSERT_TRUE(s && other);
  std::string a = test::random_bytes(test_stripe + 77, 9);
  std::string c = colliding_with(a, 4);
  std::vector<commit_request> batch;
  batch.push_back(staged(*s, a, "a1"));
  batch.push_back(staged(*s, a, "a2"));        // the same, in the same batch
  batch.push_back(staged(*s, c, "collides"));  // A's first candidate
  batch.push_back(staged(*s, "", "empty"));
  batch.push_back({std::make_unique<foreign_staging>(),
                   {"foreign", "text/plain", sha256::of("", 0), 1}});
  auto results = s->commit_batch(std::move(batch));
  ASSERT_EQ(results.size(), 5u);
  ASSERT_OK(results[0]);
  ASSERT_OK(results[1]);
  ASSERT_OK(results[2]);
  ASSERT_OK(results[3]);
  EXPECT_EQ(results[0]->file.id, results[1]->file.id);
  EXPECT_NE(results[0]->dedup, results[1]->dedup);  // one of them joined
  EXPECT_NE(results[2]->file.id, results[0]->file.id);
  EXPECT_FALSE(results[2]->dedup);
  ASSERT_FALSE(results[4]);
  EXPECT_EQ(code_of(results[4].error()), errc::internal);
  auto st = s->stat(results[0]->file.id);
  ASSERT_OK(st);
  EXPECT_EQ(st->refs, 2u);
  EXPECT_EQ(get(*s, results[0]->file.id), a);
  EXPECT_EQ(get(*other, results[2]->file.id), c);
  EXPECT_EQ(get(*s, results[3]->file.id), "");
  auto listed = s->list(std::nullopt, 10);
  ASSERT_OK(listed);
  EXPECT_EQ(listed->files.size(), 3u);
  EXPECT_EQ(uncommitted_leftovers(), 0u);
}

TEST_P(StoreContract, AStagingFileDestroyedUncommittedLeavesNothing) {
  auto s = open();
  ASSERT_TRUE(s);
  {
    auto never_written = s->create_staging();
    ASSERT_OK(never_written);
    auto st = s->create_staging();
    ASSERT_OK(st);
    auto content = test::random_bytes(3 * test_stripe + 10, 6);
    for (size_t i = 0; i < content.size(); i += 10000)
      ASSERT_OK((*st)->append(reinterpret_cast<const std::byte*>(&content[i]),
                              std::min<size_t>(10000, content.size() - i)));
    EXPECT_EQ((*st)->size(), content.size());
    if (rados()) {
      // Streamed bytes are written as they come, asynchronously: the
      // objects appear while the writes land.
      auto deadline =
          std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (objects_->objects("d.").size() < 4 &&
             std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      EXPECT_EQ(objects_->objects("d.").size(), 4u);
    }
  }
  EXPECT_EQ(uncommitted_leftovers(), 0u);
  EXPECT_EQ(stored_things(), 0u);
  if (rados()) {
    EXPECT_TRUE(objects_->objects("d.").empty());
  }
}

INSTANTIATE_TEST_SUITE_P(, StoreContract, ::testing::Values("posix", "rados"),
                         backend_name);

}  // namespace
}  // namespace depot::storage
