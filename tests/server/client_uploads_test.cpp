// server::client_uploads: the uploads and upload memory each client holds,
// refused past its bounds, given back exactly when an upload ends.

#include "server/client_uploads.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace depot::server {
namespace {

using refusal = client_uploads::refusal;

TEST(ClientUploads, ChargesUploadsUpToTheCountBound) {
  client_uploads cu{3, 1000};
  std::vector<std::shared_ptr<const void>> held;
  for (int i = 0; i < 3; ++i) {
    auto r = cu.begin("a", 1);
    ASSERT_TRUE(r.hold);
    EXPECT_EQ(r.refused, refusal::none);
    held.push_back(r.hold);
  }
  auto r = cu.begin("a", 1);
  EXPECT_FALSE(r.hold);
  EXPECT_EQ(r.refused, refusal::uploads);
  EXPECT_EQ(cu.uploads("a"), 3u);
  EXPECT_EQ(cu.reserved("a"), 3u);
}

TEST(ClientUploads, ChargesReservedBytesUpToTheMemoryBound) {
  client_uploads cu{100, 1000};
  auto a = cu.begin("a", 600);
  ASSERT_TRUE(a.hold);
  auto b = cu.begin("a", 401);
  EXPECT_FALSE(b.hold);
  EXPECT_EQ(b.refused, refusal::memory);
  EXPECT_TRUE(cu.begin("a", 400).hold);  // exactly to the bound
  EXPECT_EQ(cu.begin("a", 2000).refused, refusal::memory);
  EXPECT_EQ(cu.reserved("a"), 600u);  // the refused took nothing
}

TEST(ClientUploads, OneClientAtItsBoundsLeavesTheOthersUnaffected) {
  client_uploads cu{2, 100};
  auto a1 = cu.begin("hostile", 50).hold;
  auto a2 = cu.begin("hostile", 50).hold;
  EXPECT_FALSE(cu.begin("hostile", 1).hold);
  auto b = cu.begin("other", 100);
  EXPECT_TRUE(b.hold);
  EXPECT_EQ(cu.clients(), 2u);
}

TEST(ClientUploads, EndingUploadsGivesBackExactlyAndForgetsTheClient) {
  client_uploads cu{5, 1000};
  std::vector<std::shared_ptr<const void>> held;
  for (uint64_t n : {10, 20, 30, 40}) held.push_back(cu.begin("a", n).hold);
  EXPECT_EQ(cu.uploads("a"), 4u);
  EXPECT_EQ(cu.reserved("a"), 100u);
  held.erase(held.begin() + 1);  // the 20-byte upload ends
  EXPECT_EQ(cu.uploads("a"), 3u);
  EXPECT_EQ(cu.reserved("a"), 80u);
  held.clear();
  EXPECT_EQ(cu.uploads("a"), 0u);
  EXPECT_EQ(cu.reserved("a"), 0u);
  EXPECT_EQ(cu.clients(), 0u);
}

TEST(ClientUploads, AHoldIsGivenBackToTheClientThatBeganItWhoeverEndsIt) {
  client_uploads cu{1, 1000};
  auto hold = cu.begin("began", 10).hold;
  // The upload moves on (another connection continues it): the hold goes
  // with it, and the other client's account never sees it.
  std::shared_ptr<const void> elsewhere = std::move(hold);
  EXPECT_EQ(cu.uploads("began"), 1u);
  EXPECT_TRUE(cu.begin("continues", 10).hold);
  EXPECT_FALSE(cu.begin("began", 10).hold);
  elsewhere.reset();
  EXPECT_EQ(cu.uploads("began"), 0u);
  EXPECT_TRUE(cu.begin("began", 10).hold);
}

TEST(ClientUploads, AHoldOutlivingTheTableIsSafe) {
  std::shared_ptr<const void> hold;
  {
    client_uploads cu{1, 10};
    hold = cu.begin("a", 1).hold;
  }
  hold.reset();  // no crash, no leak (checked by the sanitizer builds)
}

TEST(ClientUploads, ConcurrentBeginsAndEndsBalance) {
  client_uploads cu{1000000, uint64_t{1} << 40};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&cu, t] {
      for (int i = 0; i < 2000; ++i) {
        auto h = cu.begin("c" + std::to_string((t + i) % 3), 7).hold;
        ASSERT_TRUE(h);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(cu.clients(), 0u);
}

}  // namespace
}  // namespace depot::server
