// The per-client quota of download bytes not yet written to the client.

#include "server/unread_quota.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace depot::server
