// The per-client quota of download bytes not yet written to the client.

#include "server/unread_quota.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace depot::server {
namespace {

TEST(UnreadQuota, ChargesUpToTheQuotaAndGivesBackAsPayloadsGo) {
  unread_quota q{100};
  auto a = q.charge("c1", 60);
  ASSERT_TRUE(a);
  auto b = q.charge("c1", 40);
  ASSERT_TRUE(b);
  EXPECT_EQ(q.unread("c1"), 100u);
  EXPECT_FALSE(q.charge("c1", 1));  // over: busy
  EXPECT_EQ(q.unread("c1"), 100u);
  a.reset();  // written out
  EXPECT_EQ(q.unread("c1"), 40u);
  EXPECT_TRUE(q.charge("c1", 60));
}

TEST(UnreadQuota, ClientsHaveTheirOwnQuota) {
  unread_quota q{100};
  auto a = q.charge("greedy", 100);
  EXPECT_FALSE(q.charge("greedy", 10));
  EXPECT_TRUE(q.charge("other", 100));
}

TEST(UnreadQuota, OneRangeIsAlwaysAllowedWhenNothingIsUnread) {
  unread_quota q{100};
  auto big = q.charge("c1", 500);
  EXPECT_TRUE(big);
  EXPECT_FALSE(q.charge("c1", 1));
}

TEST(UnreadQuota, CountsOnlyClientsWithBytesUnread) {
  unread_quota q{100};
  {
    std::vector<std::shared_ptr<const void>> held;
    for (int i = 0; i < 1000; ++i)
      held.push_back(q.charge("c" + std::to_string(i), 1));
    EXPECT_EQ(q.clients(), 1000u);
  }
  EXPECT_EQ(q.clients(), 0u);
  for (int i = 0; i < 200; ++i) q.charge("d" + std::to_string(i), 1);
  EXPECT_EQ(q.unread("c5"), 0u);
}

// Per client 800 bytes (light: 100), overall cap 1000 (headroom 250).
TEST(UnreadQuotaOverall, BelowTheCapOnlyThePerClientQuotaApplies) {
  unread_quota q{800, 1000};
  auto a = q.charge("a", 500);
  auto b = q.charge("b", 500);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(q.total(), 1000u);
}

TEST(UnreadQuotaOverall, PastTheCapTheClientHoldingTheMostIsRefused) {
  unread_quota q{800, 1000};
  std::vector<std::shared_ptr<const void>> held;
  for (int i = 0; i < 10; ++i) held.push_back(q.charge("greedy", 100));
  EXPECT_EQ(q.unread("greedy"), 800u);  // its own quota stopped it
  held.push_back(q.charge("second", 100));
  held.push_back(q.charge("second", 100));
  ASSERT_EQ(q.total(), 1000u);
  unread_quota::refusal why{};
  EXPECT_FALSE(q.charge("second", 10, &why));
  EXPECT_EQ(why, unread_quota::refusal::overall);
  EXPECT_FALSE(q.charge("greedy", 10, &why));
  EXPECT_EQ(why, unread_quota::refusal::per_client);
}

TEST(UnreadQuotaOverall, PastTheCapAClientWithLittleUnreadIsStillServed) {
  unread_quota q{800, 1000};
  auto g1 = q.charge("greedy1", 800);
  auto g2 = q.charge("greedy2", 200);
  ASSERT_GE(q.total(), 1000u);
  // Holding nothing: one range, however large the total.
  auto r1 = q.charge("reader", 50);
  ASSERT_TRUE(r1);
  // Holding little (up to light, 100, within its fair share): more.
  auto r2 = q.charge("reader", 50);
  EXPECT_TRUE(r2);
  unread_quota::refusal why{};
  EXPECT_FALSE(q.charge("reader", 1, &why));  // past light
  EXPECT_EQ(why, unread_quota::refusal::overall);
  // It reads: served again.
  r1.reset();
  EXPECT_TRUE(q.charge("reader", 50));
  // The greedy ones stay refused.
  EXPECT_FALSE(q.charge("greedy2", 1));
}

TEST(UnreadQuotaOverall, LightClientsTogetherStopAtTheHeadroom) {
  unread_quota q{800, 1000};
  auto g = q.charge("greedy", 800);
  auto g2 = q.charge("greedy2", 200);
  std::vector<std::shared_ptr<const void>> held;
  // Each light client takes a first range (always) and one more while the
  // headroom (250) lasts.
  size_t seconds = 0;
  for (int i = 0; i < 10; ++i) {
    auto c = "light" + std::to_string(i);
    held.push_back(q.charge(c, 50));
    ASSERT_TRUE(held.back());
    if (auto s = q.charge(c, 50)) {
      held.push_back(s);
      ++seconds;
    }
  }
  EXPECT_LT(seconds, 10u);
  // Past cap + headroom by at most one range per client.
  EXPECT_LE(q.total(), 1000u + 250u + 10 * 50u);
}

TEST(UnreadQuotaOverall, TotalsGoBackToZeroAsPayloadsGo) {
  unread_quota q{800, 1000};
  {
    std::vector<std::shared_ptr<const void>> held;
    for (int i = 0; i < 50; ++i)
      if (auto h = q.charge("c" + std::to_string(i % 7), 40)) held.push_back(h);
    EXPECT_GT(q.total(), 0u);
  }
  EXPECT_EQ(q.total(), 0u);
  EXPECT_EQ(q.clients(), 0u);
  // And the fair share counts no ghost: one client alone may fill the cap.
  std::vector<std::shared_ptr<const void>> again;
  for (int i = 0; i < 8; ++i) again.push_back(q.charge("x", 100));
  EXPECT_EQ(q.unread("x"), 800u);
}

}  // namespace
}  // namespace depot::server
