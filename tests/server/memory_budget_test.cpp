// server::memory_budget and server::upload_reservation: what an upload
// reserves, and that the budget never lends more than its limit.

#include "server/memory_budget.hpp"

#include "server/limits.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace depot::server {
namespace {

TEST(MemoryBudget, ReservesUpToItsLimitAndNothingPastIt) {
  memory_budget b{100};
  EXPECT_TRUE(b.try_reserve(60));
  EXPECT_FALSE(b.try_reserve(41));
  EXPECT_EQ(b.used(), 60u);  // a refused reservation takes nothing
  EXPECT_TRUE(b.try_reserve(40));
  EXPECT_EQ(b.used(), 100u);
  EXPECT_FALSE(b.try_reserve(1));
  b.release(60);
  EXPECT_EQ(b.used(), 40u);
  EXPECT_TRUE(b.try_reserve(60));
}

TEST(MemoryBudget, RefusesOneReservationLargerThanTheLimit) {
  memory_budget b{100};
  EXPECT_FALSE(b.try_reserve(101));
  EXPECT_FALSE(b.try_reserve(UINT64_MAX));  // no overflow past the check
  EXPECT_EQ(b.used(), 0u);
}

TEST(MemoryBudget, ThreadsRacingForItNeverOverbook) {
  memory_budget b{1000};
  std::vector<std::thread> threads;
  std::atomic<uint64_t> granted{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        if (b.try_reserve(7)) granted += 7;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), b.used());
  EXPECT_LE(b.used(), 1000u);
  EXPECT_GT(b.used(), 1000u - 7);  // it filled up
}

TEST(UploadReservation, AnUnknownSizeReservesItsRamPartAndAWindowInFlight) {
  limits lim;
  lim.ram_threshold = 4096;
  lim.window = 4;
  lim.chunk_max = 1024;
  EXPECT_EQ(upload_reservation(lim, std::nullopt), 4096u + 4 * 1024 + 1024);
}

TEST(UploadReservation, NeverMoreThanTheDeclaredSize) {
  limits lim;
  EXPECT_EQ(upload_reservation(lim, 100), 100u);
  EXPECT_EQ(upload_reservation(lim, 0), 0u);
  EXPECT_EQ(upload_reservation(lim, uint64_t{1} << 40),
            upload_reservation(lim, std::nullopt));
}

}  // namespace
}  // namespace depot::server
