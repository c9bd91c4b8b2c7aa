// The store's contract when it is shared: several store objects on one root
// (as several processes open it) and many threads at once. Same backends as
// store_contract_test.cpp, which instantiates StoreContract.

#include "testkit/content.hpp"
#include "tests/storage/store_backends.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace depot::storage {
namespace {

using schema::code_of;

TEST_P(StoreContract, TwoStoresOnOneRootShareFilesAndDeduplicateAcrossThem) {
  auto one = open();
  auto two = open();
  ASSERT_TRUE(one && two);
  std::string content = test::random_bytes(2 * test_stripe + 3, 21);
  auto a = put(*one, content, "from-one");
  ASSERT_OK(a);
  auto b = put(*two, content, "from-two");
  ASSERT_OK(b);
  EXPECT_TRUE(b->dedup);
  EXPECT_EQ(b->file.id, a->file.id);
  EXPECT_EQ(b->file.refs, 2u);
  EXPECT_EQ(b->file.name, "from-one");
  EXPECT_EQ(get(*two, a->file.id), content);
  auto left = one->remove(a->file.id);
  ASSERT_OK(left);
  EXPECT_EQ(*left, 1u);
  EXPECT_EQ(get(*two, a->file.id), content);
  left = two->remove(a->file.id);
  ASSERT_OK(left);
  EXPECT_EQ(*left, 0u);
  EXPECT_EQ(code_of(one->stat(a->file.id).error()), errc::not_found);
  EXPECT_EQ(code_of(two->stat(a->file.id).error()), errc::not_found);
  EXPECT_EQ(stored_things(), 0u);
  EXPECT_EQ(uncommitted_leftovers(), 0u);
}

// 8 threads on two store objects upload the same content 25 times each,
// then take every reference away again: every count is exact.
// A store may remember what it read of a file; another store deleting it
// and storing other content under the same id is seen all the same.
TEST_P(StoreContract, AnIdTakenOverByOtherContentInAnotherStoreIsSeenThere) {
  store_params narrow;
  narrow.id_bits = 4;
  auto one = open(narrow);
  auto two = open(narrow);
  ASSERT_TRUE(one && two);
  std::string first = "first content", second = colliding_with(first, 4);
  auto a = put(*one, first, "first.txt");
  ASSERT_OK(a);
  auto before = one->stat(a->file.id);
  ASSERT_OK(before);
  EXPECT_EQ(before->name, "first.txt");
  auto left = two->remove(a->file.id);
  ASSERT_OK(left);
  EXPECT_EQ(*left, 0u);
  auto b = put(*two, second, "second.txt");
  ASSERT_OK(b);
  ASSERT_EQ(b->file.id, a->file.id);
  auto after = one->stat(a->file.id);
  ASSERT_OK(after);
  EXPECT_EQ(after->name, "second.txt");
  EXPECT_EQ(after->sha256, b->file.sha256);
  EXPECT_EQ(after->size, second.size());
  EXPECT_EQ(after->refs, 1u);
  EXPECT_EQ(get(*one, a->file.id), second);
  auto page = one->list(std::nullopt, 10);
  ASSERT_OK(page);
  ASSERT_EQ(page->files.size(), 1u);
  EXPECT_EQ(page->files[0].name, "second.txt");
}

TEST_P(StoreContract, ReferencesStayExactUnderConcurrentUploadsAndDeletes) {
  std::shared_ptr<store> stores[] = {open(), open()};
  ASSERT_TRUE(stores[0] && stores[1]);
  const std::string content = test::random_bytes(test_stripe + 100, 22);
  constexpr int threads = 8, each = 25, total = threads * each;
  std::atomic<int> fresh{0}, failed{0};
  std::mutex mutex;
  std::string id;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) {
        auto r = put(*stores[t % 2], content, "t" + std::to_string(t));
        if (!r) {
          ++failed;
          std::lock_guard<std::mutex> lock{mutex};
          ADD_FAILURE() << test::describe_error(r.error());
          continue;
        }
        if (!r->dedup) ++fresh;
        std::lock_guard<std::mutex> lock{mutex};
        id = r->file.id;
      }
    });
  for (auto& th : pool) th.join();
  pool.clear();
  ASSERT_EQ(failed, 0);
  EXPECT_EQ(fresh, 1);
  auto st = stores[0]->stat(id);
  ASSERT_OK(st);
  EXPECT_EQ(st->refs, uint64_t{total});
  EXPECT_EQ(get(*stores[1], id), content);
  EXPECT_EQ(uncommitted_leftovers(), 0u);

  std::vector<uint64_t> left;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) {
        auto r = stores[t % 2]->remove(id);
        std::lock_guard<std::mutex> lock{mutex};
        if (r)
          left.push_back(*r);
        else
          ADD_FAILURE() << test::describe_error(r.error());
      }
    });
  for (auto& th : pool) th.join();
  std::sort(left.begin(), left.end());
  ASSERT_EQ(left.size(), size_t{total});
  EXPECT_EQ(left.front(), 0u);
  EXPECT_LT(left.back(), uint64_t{total});
  // RADOS takes each reference with one compare-and-swap: each delete saw
  // its own count, 199 down to 0, each once. (A POSIX delete counts the
  // reference files after its unlink, which others may be unlinking too.)
  if (rados()) {
    for (int i = 0; i < total; ++i) EXPECT_EQ(left[i], uint64_t(i));
  }
  EXPECT_EQ(code_of(stores[0]->stat(id).error()), errc::not_found);
  EXPECT_EQ(code_of(stores[1]->remove(id).error()), errc::not_found);
  EXPECT_EQ(stored_things(), 0u);
  EXPECT_EQ(uncommitted_leftovers(), 0u);
}

// Uploads of one content race deletes of it, on two store objects: the last
// reference going while another upload joins must not lose that upload.
TEST_P(StoreContract, DedupRacingDeleteNeverLosesAnAcknowledgedUpload) {
  std::shared_ptr<store> stores[] = {open(), open()};
  ASSERT_TRUE(stores[0] && stores[1]);
  const std::string content = test::random_bytes(2 * test_stripe + 17, 23);
  constexpr int threads = 6, rounds = 30;
  std::atomic<int64_t> uploads{0}, deletes{0};
  std::mutex mutex;
  std::string id;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      store& s = *stores[t % 2];
      for (int i = 0; i < rounds; ++i) {
        auto r = put(s, content);
        if (r) {
          ++uploads;
          std::lock_guard<std::mutex> lock{mutex};
          id = r->file.id;
        } else {
          std::lock_guard<std::mutex> lock{mutex};
          ADD_FAILURE() << "upload: " << test::describe_error(r.error());
        }
        if ((i + t) % 4 == 3) continue;  // more uploads than deletes
        std::string target;
        {
          std::lock_guard<std::mutex> lock{mutex};
          target = id;
        }
        auto d = s.remove(target);
        if (d) {
          ++deletes;
        } else if (code_of(d.error()) != errc::not_found) {
          std::lock_guard<std::mutex> lock{mutex};
          ADD_FAILURE() << "delete: " << test::describe_error(d.error());
        }
      }
    });
  for (auto& th : pool) th.join();
  int64_t expected = uploads - deletes;
  ASSERT_GE(expected, 0);
  auto st = stores[0]->stat(id);
  if (expected == 0) {
    EXPECT_EQ(code_of(st.error()), errc::not_found);
  } else {
    ASSERT_OK(st);
    EXPECT_EQ(st->refs, uint64_t(expected));
    EXPECT_EQ(get(*stores[1], id), content);
  }
  EXPECT_EQ(uncommitted_leftovers(), 0u);
  for (int64_t i = 0; i < expected; ++i) ASSERT_OK(stores[i % 2]->remove(id));
  EXPECT_EQ(stored_things(), 0u);
}

// A read racing the deletion of its file gives the whole range, right, or
// not_found: never bytes of something else, never a short range.
TEST_P(StoreContract, AReadRacingADeleteIsWholeAndRightOrNotFound) {
  auto s = open();
  ASSERT_TRUE(s);
  const std::string content = test::random_bytes(4 * test_stripe + 9, 24);
  const uint64_t offset = test_stripe - 100;
  const size_t length = 2 * test_stripe + 200;  // across three objects
  const std::string want = content.substr(offset, length);
  std::atomic<bool> done{false};
  std::atomic<int> whole{0}, gone{0};
  std::mutex mutex;
  auto first = put(*s, content);
  ASSERT_OK(first);
  const std::string id = first->file.id;
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&] {
      std::vector<std::byte> buf(length);
      while (!done) {
        auto f = s->open(id);
        schema::expected<size_t> n = f ? (*f)->read(offset, length, buf.data())
                                       : schema::expected<size_t>(f.error());
        std::lock_guard<std::mutex> lock{mutex};
        if (!n) {
          if (code_of(n.error()) == errc::not_found)
            ++gone;
          else
            ADD_FAILURE() << test::describe_error(n.error());
        } else if (*n == length &&
                   std::equal(want.begin(), want.end(),
                              reinterpret_cast<const char*>(buf.data()))) {
          ++whole;
        } else {
          ADD_FAILURE() << "read " << *n << " bytes, not the range stored";
        }
      }
    });
  for (int i = 0; i < 40; ++i) {
    ASSERT_OK(s->remove(id));
    ASSERT_OK(put(*s, content));
  }
  done = true;
  for (auto& th : readers) th.join();
  EXPECT_GT(whole + gone, 0);
  EXPECT_EQ(uncommitted_leftovers(), 0u);
}

}  // namespace
}  // namespace depot::storage
