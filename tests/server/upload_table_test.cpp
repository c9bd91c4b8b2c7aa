// The upload table on its own: tokens in progress, records of finished
// uploads (what they answer, when they expire, how many may live), under a
// clock the test moves.

#include "server/upload_table.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

namespace depot::server {
namespace {

using schema::errc;
using namespace std::chrono_literals;

struct test_config : caf::actor_system_config {
  test_config() { set("scheduler.policy", caf::atom("testing")); }
};

// (An argument: CAF 0.17 trips UBSan spawning a function that takes none.)
caf::behavior idle(int) {
  return {[](int) {}};
}

class UploadTable : public ::testing::Test {
 protected:
  upload_table<caf::actor> table(size_t max_active, size_t max_finished) {
    return upload_table<caf::actor>{max_active, max_finished, 60s,
                                    [this] { return now; }};
  }
  std::shared_ptr<const finished_upload> done(uint64_t last_seq,
                                              uint64_t received) {
    auto f = std::make_shared<finished_upload>();
    f->last_seq = last_seq;
    f->received = received;
    schema::file_meta file;
    file.id = "abcdefghijkl";
    file.size = received;
    f->completion = schema::chunk_done_reply{"t", last_seq, file, false};
    f->acked = {{0, 10}, {1, 25}};
    return f;
  }

  void TearDown() override {
    for (auto& x : {a, b})
      caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
    dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler()).run();
  }

  test_config cfg;
  caf::actor_system sys{cfg};
  caf::actor a = sys.spawn(idle, 0);
  caf::actor b = sys.spawn(idle, 0);
  upload_table<caf::actor>::time_point now{};
};

TEST_F(UploadTable, ATokenGoesToItsAssemblerUntilItFinishesThenToItsRecord) {
  auto t = table(10, 10);
  ASSERT_TRUE(t.insert("t", a));
  EXPECT_EQ(t.find("t").actor, a);
  EXPECT_EQ(t.active(), 1u);
  t.finish("t", a.address(), done(2, 30));
  auto f = t.find("t");
  EXPECT_FALSE(f.actor);
  ASSERT_TRUE(f.finished);
  EXPECT_EQ(f.finished->last_seq, 2u);
  EXPECT_EQ(t.active(), 0u);
  EXPECT_EQ(t.finished(), 1u);
  EXPECT_TRUE(t.all().empty());  // nothing left to shut down
}

TEST_F(UploadTable, ARecordExpiresAfterTheLinger) {
  auto t = table(10, 10);
  ASSERT_TRUE(t.insert("t", a));
  t.finish("t", a.address(), done(0, 5));
  now += 59s;
  EXPECT_TRUE(t.find("t").finished);
  now += 1s;
  EXPECT_FALSE(t.find("t").finished);
  EXPECT_EQ(t.finished(), 0u);
}

TEST_F(UploadTable, OnlyTheOwnerFinishesOrWithdrawsAToken) {
  auto t = table(10, 10);
  ASSERT_TRUE(t.insert("t", a));
  EXPECT_FALSE(t.insert("t", b));  // tokens are unique
  t.finish("t", b.address(), done(0, 5));
  t.withdraw("t", b.address());
  EXPECT_EQ(t.find("t").actor, a);
  t.withdraw("t", a.address());
  auto f = t.find("t");
  EXPECT_FALSE(f.actor);
  EXPECT_FALSE(f.finished);
  EXPECT_EQ(t.active(), 0u);
  // A finished token is not withdrawn by its actor ending.
  ASSERT_TRUE(t.insert("u", b));
  t.finish("u", b.address(), done(0, 5));
  t.withdraw("u", b.address());
  EXPECT_TRUE(t.find("u").finished);
}

TEST_F(UploadTable, AnUploadIsIdleWhenNoRequestNamedItForTheIdleTime) {
  auto t = table(10, 10);
  ASSERT_TRUE(t.insert("a", a));
  ASSERT_TRUE(t.insert("b", b));
  now += 40s;
  t.find("b");  // a request names b
  now += 20s;
  EXPECT_EQ(t.idle(60s), std::vector<caf::actor>{a});
  EXPECT_EQ(t.idle(20s).size(), 2u);
  t.finish("a", a.address(), done(0, 1));  // finished uploads are never idle
  EXPECT_TRUE(t.idle(60s).empty());
}

TEST_F(UploadTable, CapsUploadsInProgressAndLiveRecordsApart) {
  auto t = table(1, 2);
  ASSERT_TRUE(t.insert("1", a));
  EXPECT_FALSE(t.insert("2", b));  // one in progress at most
  t.finish("1", a.address(), done(0, 1));
  ASSERT_TRUE(t.insert("2", b));
  t.finish("2", b.address(), done(0, 1));
  // Two records live: a new upload would make a third promise.
  EXPECT_FALSE(t.insert("3", a));
  now += 30s;
  EXPECT_FALSE(t.insert("3", a));
  now += 31s;  // both expired
  EXPECT_TRUE(t.insert("3", a));
  EXPECT_EQ(t.finished(), 0u);
}

TEST_F(UploadTable, ARecordAnswersAsTheUploadDid) {
  auto f = done(2, 30);
  auto last = f->chunk_reply("t", 2);
  ASSERT_TRUE(std::holds_alternative<schema::chunk_done_reply>(last));
  EXPECT_EQ(std::get<schema::chunk_done_reply>(last).file.size, 30u);
  auto earlier = f->chunk_reply("t", 1);
  ASSERT_TRUE(std::holds_alternative<schema::chunk_reply>(earlier));
  EXPECT_EQ(std::get<schema::chunk_reply>(earlier).received,
            25u);  // as acknowledged
  EXPECT_EQ(std::get<schema::chunk_reply>(f->chunk_reply("t", 0)).received,
            10u);
  auto past = f->chunk_reply("t", 3);
  ASSERT_TRUE(std::holds_alternative<schema::error_reply>(past));
  EXPECT_EQ(std::get<schema::error_reply>(past).code, errc::out_of_order);
  EXPECT_EQ(std::get<schema::error_reply>(past).next,
            std::optional<uint64_t>{3});
  auto st = std::get<schema::upload_status_reply>(f->status_reply("t"));
  EXPECT_EQ(st.next, 3u);
  EXPECT_EQ(st.received, 30u);
  ASSERT_TRUE(st.file);
  EXPECT_EQ(st.file->id, "abcdefghijkl");

  finished_upload failed;
  failed.received = 4;
  failed.completion =
      schema::error_reply{errc::size_mismatch, "short", std::nullopt};
  EXPECT_EQ(std::get<schema::error_reply>(failed.chunk_reply("t", 0)).code,
            errc::size_mismatch);
  EXPECT_FALSE(
      std::get<schema::upload_status_reply>(failed.status_reply("t")).file);
}

}  // namespace
}  // namespace depot::server
