#include "schema/buffer_pool.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

namespace depot::schema {
namespace {

TEST(BufferPool, ReusesABlockOnceItsLastBufferIsGone) {
  auto pool = buffer_pool::make(1024, 4);
  auto b = pool->take();
  std::byte* first = b.data();
  std::memcpy(first, "abc", 3);
  buffer sealed = std::move(b).seal(3);
  EXPECT_EQ(sealed.view(), "abc");
  buffer copy = sealed;
  sealed = buffer{};
  EXPECT_NE(pool->take().data(), first);  // still held by `copy`
  copy = buffer{};
  EXPECT_EQ(pool->take().data(), first);
}

TEST(BufferPool, KeepsAtMostMaxIdleBlocks) {
  auto pool = buffer_pool::make(64, 1);
  {
    auto a = pool->take();
    auto b = pool->take();
    auto x = std::move(a).seal(1);
    auto y = std::move(b).seal(1);
  }
  auto c = pool->take();
  auto d = pool->take();
  EXPECT_NE(c.data(), d.data());
}

TEST(BufferPool, BuffersOutliveTheirPoolAndComeBackFromOtherThreads) {
  buffer kept;
  {
    auto pool = buffer_pool::make(64, 8);
    kept = pool->take().seal(10);
    buffer other = pool->take().seal(5);
    std::thread t{[b = std::move(other)]() mutable { b = buffer{}; }};
    t.join();
  }
  EXPECT_EQ(kept.size(), 10u);  // freed normally later (ASan checks)
}

TEST(Buffer, KeepingHoldsTheExtraOwnerUntilTheLastCopyGoes) {
  auto extra = std::make_shared<int>(7);
  std::weak_ptr<int> watch = extra;
  buffer b = buffer::copy_of("payload");
  buffer kept = b.keeping(std::move(extra));
  EXPECT_EQ(kept.view(), "payload");
  EXPECT_EQ(kept.data(), b.data());  // the same bytes, not a copy
  b = buffer{};
  buffer copy = kept;
  kept = buffer{};
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(copy.view(), "payload");
  copy = buffer{};
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace depot::schema
