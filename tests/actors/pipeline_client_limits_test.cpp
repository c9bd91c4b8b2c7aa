// The pipeline's actors (see pipeline_test.cpp) on the limits of one client:
// its uploads in progress and the memory they reserve, refused by name,
// given back exactly however an upload ends.

#include "tests/actors/pipeline_test_support.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <string>

namespace depot::actors {
namespace {

using namespace test_support;

TEST_F(Pipeline, AClientAtItsUploadLimitsGetsBusyNamingThemAndOthersDoNot) {
  auto lim = small_limits();
  lim.max_uploads_per_client = 2;
  // One upload of unknown size reserves 2048 + 5 × 1024 = 7168 bytes.
  lim.memory_per_client = 3 * 7168;
  start(lim);
  begin({"a", 1, {}, {}});
  begin({"b", 1, {}, {}});
  auto r = one(schema::upload_request{"c", 1, {}, {}});
  ASSERT_EQ(error_of(r), errc::busy);
  EXPECT_NE(std::get<schema::error_reply>(r.body).message.find(
                "--max-uploads-per-client"),
            std::string::npos);
  // Another client begins its own, up to its memory bound.
  for (int i = 0; i < 2; ++i)
    EXPECT_TRUE(std::holds_alternative<schema::upload_reply>(
        one(schema::upload_request{"d", {}, {}, {}}, "c2").body));
  EXPECT_EQ(pipe->ctx().client_uploads->uploads("c1"), 2u);
  EXPECT_EQ(pipe->ctx().client_uploads->reserved("c1"), 2u);
  EXPECT_EQ(pipe->ctx().client_uploads->reserved("c2"), 2 * 7168u);
}

TEST_F(Pipeline, AClientPastItsUploadMemoryGetsBusyNamingIt) {
  auto lim = small_limits();
  lim.memory_per_client = 2 * 7168;
  start(lim);
  auto a = one(schema::upload_request{"a", {}, {}, {}});
  auto b = one(schema::upload_request{"b", {}, {}, {}});
  auto c = one(schema::upload_request{"c", {}, {}, {}});
  ASSERT_EQ(error_of(c), errc::busy);
  EXPECT_NE(
      std::get<schema::error_reply>(c.body).message.find("--memory-per-client"),
      std::string::npos);
  // A declared small upload still fits.
  EXPECT_TRUE(std::holds_alternative<schema::upload_reply>(
      one(schema::upload_request{"tiny", 0, {}, {}}).body));
  EXPECT_EQ(pipe->ctx().budget->used(), 2 * 7168u);  // the refused took none
}

// Completed, aborted, failed, expired, or continued and completed by another
// connection: each upload goes back to the client that began it, exactly.
TEST_F(Pipeline, EveryWayAnUploadEndsGivesItsClientsShareBack) {
  start();
  auto& cu = *pipe->ctx().client_uploads;
  auto done = begin({"done", {}, {}, {}});
  auto aborted = begin({"aborted", {}, {}, {}});
  auto failed = begin({"failed", 2, {}, {}});
  auto moved = begin({"moved", 5, {}, {}});
  auto idle = begin({"idle", 3, {}, {}});
  EXPECT_EQ(cu.uploads("c1"), 5u);
  uint64_t unknown = server::upload_reservation(pipe->ctx().lim, std::nullopt);
  EXPECT_EQ(cu.reserved("c1"), 2 * unknown + 2 + 5 + 3);

  chunk(done, 0, true, "whole");
  EXPECT_EQ(cu.uploads("c1"), 4u);
  one(schema::abort_request{aborted});
  EXPECT_EQ(cu.uploads("c1"), 3u);
  EXPECT_EQ(cu.reserved("c1"), 2 + 5 + 3u);
  // More bytes than declared: discarded.
  EXPECT_TRUE(std::holds_alternative<schema::error_reply>(
      chunk(failed, 0, true, "too long").body));
  EXPECT_EQ(cu.uploads("c1"), 2u);
  // c1's connection is gone; another continues its upload.
  auto r = one(
      schema::chunk_request{moved, 0, true, schema::buffer::copy_of("moved")},
      "c2");
  EXPECT_TRUE(std::holds_alternative<schema::chunk_done_reply>(r.body));
  EXPECT_EQ(cu.uploads("c1"), 1u);
  EXPECT_EQ(cu.uploads("c2"), 0u);
  // And nobody names the last one again.
  sched.advance_time(std::chrono::seconds(62));
  sched.run();
  sched.advance_time(std::chrono::seconds(1));
  sched.run();
  EXPECT_EQ(error_of(one(schema::upload_status_request{idle})),
            errc::unknown_upload);
  EXPECT_EQ(cu.uploads("c1"), 0u);
  EXPECT_EQ(cu.reserved("c1"), 0u);
  EXPECT_EQ(cu.clients(), 0u);
  EXPECT_EQ(pipe->ctx().budget->used(), 0u);
}

TEST_F(Pipeline, ShutdownGivesEveryClientsShareBack) {
  start();
  begin({"a", {}, {}, {}});
  one(schema::upload_request{"b", 9, {}, {}}, "c2");
  EXPECT_EQ(pipe->ctx().client_uploads->clients(), 2u);
  auto cu = pipe->ctx().client_uploads;
  pipe->shutdown();
  while (sched.run() > 0) {
  }
  EXPECT_EQ(cu->clients(), 0u);
}

}  // namespace
}  // namespace depot::actors
