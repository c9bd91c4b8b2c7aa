// The pipeline's actors (see pipeline_test.cpp) on how uploads end and what
// they leave: idle expiry, the memory budget, naming and dedup, the linger
// of finished uploads, abort and continuing from another connection.

#include "tests/actors/pipeline_test_support.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace depot::actors {
namespace {

using namespace test_support;

TEST_F(Pipeline, AnIdleUploadExpiresInVirtualTimeAndFreesItsMemory) {
  start();
  auto token = begin({"idle.bin", std::nullopt, std::nullopt, std::nullopt});
  chunk(token, 0, false, "abc");
  EXPECT_GT(pipe->ctx().budget->used(), 0u);
  sched.advance_time(std::chrono::seconds(30));
  sched.run();
  auto st = one(schema::upload_status_request{token});  // activity: 60 s more
  EXPECT_TRUE(std::holds_alternative<schema::upload_status_reply>(st.body));
  sched.advance_time(std::chrono::seconds(59));
  sched.run();
  EXPECT_FALSE(std::holds_alternative<schema::error_reply>(
      one(schema::upload_status_request{token}).body));
  sched.advance_time(std::chrono::seconds(61));
  sched.run();
  EXPECT_EQ(error_of(one(schema::upload_status_request{token})),
            errc::unknown_upload);
  EXPECT_EQ(pipe->ctx().budget->used(), 0u);
}

// An upload that never gets a chunk expires after the idle timeout too,
// counted from its `upload` request, not from its actor's first message.
TEST_F(Pipeline, AnUploadWithoutAChunkExpiresAfterTheIdleTimeout) {
  start();
  auto token = begin({"never.bin", std::nullopt, std::nullopt, std::nullopt});
  EXPECT_GT(pipe->ctx().budget->used(), 0u);
  sched.advance_time(std::chrono::seconds(62));
  sched.run();
  sched.advance_time(std::chrono::seconds(1));
  sched.run();
  EXPECT_EQ(pipe->ctx().budget->used(), 0u);
  EXPECT_EQ(error_of(one(schema::upload_status_request{token})),
            errc::unknown_upload);
}

TEST_F(Pipeline, AFullMemoryBudgetAnswersBusyUntilMemoryIsFreed) {
  auto lim = small_limits();
  lim.memory_budget = server::upload_reservation(lim, std::nullopt);
  start(lim);
  auto first = begin({"a.bin", std::nullopt, std::nullopt, std::nullopt});
  EXPECT_EQ(error_of(one(schema::upload_request{"b.bin", {}, {}, {}})),
            errc::busy);
  chunk(first, 0, true, "done");
  EXPECT_TRUE(std::holds_alternative<schema::upload_reply>(
      one(schema::upload_request{"b.bin", {}, {}, {}}).body));
}

TEST_F(Pipeline, TheNamerDedupsSameContentAndWalksPastCollisions) {
  start(small_limits(), 3u);  // 8 possible ids: contents collide
  std::set<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto token = begin({"f" + std::to_string(i), {}, {}, {}});
    auto r = chunk(token, 0, true, "content " + std::to_string(i));
    auto* done = std::get_if<schema::chunk_done_reply>(&r.body);
    ASSERT_NE(done, nullptr) << schema::to_string(error_of(r));
    EXPECT_FALSE(done->dedup);
    ids.insert(done->file.id);
  }
  EXPECT_EQ(ids.size(), 5u);
  auto token = begin({"again", {}, {}, {}});
  auto r = chunk(token, 0, true, "content 3");
  auto* done = std::get_if<schema::chunk_done_reply>(&r.body);
  ASSERT_NE(done, nullptr);
  EXPECT_TRUE(done->dedup);
  EXPECT_EQ(done->file.refs, 2u);
  EXPECT_EQ(done->file.name, "f3");
}

TEST_F(Pipeline, ARetriedLastChunkGetsTheSameCompletionForTheLinger) {
  start();
  auto token = begin({"l.bin", {}, {}, {}});
  auto first = chunk(token, 0, true, "last");
  auto again = chunk(token, 0, true, "last");
  ASSERT_TRUE(std::holds_alternative<schema::chunk_done_reply>(again.body));
  EXPECT_EQ(std::get<schema::chunk_done_reply>(again.body).file,
            std::get<schema::chunk_done_reply>(first.body).file);
  auto st = one(schema::upload_status_request{token});
  ASSERT_TRUE(std::holds_alternative<schema::upload_status_reply>(st.body));
  EXPECT_TRUE(std::get<schema::upload_status_reply>(st.body).file.has_value());
  EXPECT_EQ(listing().size(), 1u);
  EXPECT_EQ(listing()[0].refs, 1u);  // not applied twice
  sched.advance_time(std::chrono::seconds(61));
  sched.run();
  EXPECT_EQ(error_of(chunk(token, 0, true, "last")), errc::unknown_upload);
}

TEST_F(Pipeline, AFinishedUploadEndsItsActorAndItsRecordAnswersForTheLinger) {
  start();
  one(schema::ping_request{});  // the client's session is there
  auto actors_before = sys.registry().running();
  auto token = begin({"r.bin", {}, {}, {}});
  chunk(token, 0, false, "abc");
  chunk(token, 1, false, "defg");
  EXPECT_GT(sys.registry().running(),
            actors_before);  // an assembler and a hasher
  auto done = chunk(token, 2, true, "h");
  ASSERT_TRUE(std::holds_alternative<schema::chunk_done_reply>(done.body));
  EXPECT_EQ(sys.registry().running(), actors_before);  // both ended
  auto& uploads = *pipe->ctx().uploads;
  EXPECT_EQ(uploads.active(), 0u);
  EXPECT_EQ(uploads.finished(), 1u);
  EXPECT_TRUE(uploads.all().empty());
  // What the upload answered, the record answers.
  auto again = chunk(token, 1, false, "defg");
  ASSERT_TRUE(std::holds_alternative<schema::chunk_reply>(again.body));
  EXPECT_EQ(std::get<schema::chunk_reply>(again.body).received, 7u);
  auto last = chunk(token, 2, true, "h");
  ASSERT_TRUE(std::holds_alternative<schema::chunk_done_reply>(last.body));
  EXPECT_EQ(std::get<schema::chunk_done_reply>(last.body).file,
            std::get<schema::chunk_done_reply>(done.body).file);
  auto past = chunk(token, 3, false, "i");
  EXPECT_EQ(error_of(past), errc::out_of_order);
  EXPECT_EQ(std::get<schema::error_reply>(past.body).next,
            std::optional<uint64_t>{3});
  auto st = one(schema::upload_status_request{token});
  ASSERT_TRUE(std::holds_alternative<schema::upload_status_reply>(st.body));
  EXPECT_EQ(std::get<schema::upload_status_reply>(st.body).next, 3u);
  EXPECT_EQ(std::get<schema::upload_status_reply>(st.body).received, 8u);
  EXPECT_TRUE(std::holds_alternative<schema::abort_reply>(
      one(schema::abort_request{token}).body));
  EXPECT_EQ(listing().size(), 1u);  // the abort changed nothing
  sched.advance_time(std::chrono::seconds(61));
  EXPECT_EQ(error_of(one(schema::upload_status_request{token})),
            errc::unknown_upload);
  EXPECT_EQ(uploads.finished(), 0u);
}

TEST_F(Pipeline, RequestsQueuedBeforeTheCompletionAreAnsweredByTheEndingActor) {
  start();
  auto token = begin({"q.bin", {}, {}, {}});
  chunk(token, 0, false, "abc");
  // The last chunk, its retry and a status request reach the assembler
  // before it completes; none is lost as it ends.
  size_t before = sink.replies.size();
  pipe->handle({"c1", false},
               {++rid, schema::chunk_request{token, 1, true,
                                             schema::buffer::copy_of("d")}});
  pipe->handle({"c1", false},
               {++rid, schema::chunk_request{token, 1, true,
                                             schema::buffer::copy_of("d")}});
  pipe->handle({"c1", false}, {++rid, schema::upload_status_request{token}});
  sched.run();
  ASSERT_EQ(sink.replies.size(), before + 3);
  size_t done = 0, status = 0;
  for (size_t i = before; i < sink.replies.size(); ++i) {
    done += std::holds_alternative<schema::chunk_done_reply>(
        sink.replies[i].second.body);
    status += std::holds_alternative<schema::upload_status_reply>(
        sink.replies[i].second.body);
  }
  EXPECT_EQ(done, 2u);
  EXPECT_EQ(status, 1u);
  EXPECT_EQ(listing().size(), 1u);
  EXPECT_EQ(listing()[0].refs, 1u);
}

TEST_F(Pipeline, NewUploadsAreBusyWhileTheFinishedOnesFillTheirCap) {
  auto lim = small_limits();
  lim.max_finished = 2;
  start(lim);
  for (int i = 0; i < 2; ++i) {
    auto token = begin({"f" + std::to_string(i), {}, {}, {}});
    chunk(token, 0, true, "content " + std::to_string(i));
  }
  EXPECT_EQ(error_of(one(schema::upload_request{"f2", {}, {}, {}})),
            errc::busy);
  EXPECT_EQ(pipe->ctx().budget->used(), 0u);
  sched.advance_time(std::chrono::seconds(61));
  EXPECT_FALSE(begin({"f2", {}, {}, {}}).empty());
}

TEST_F(Pipeline, AbortFreesAnUploadButNotACompletedFile) {
  start();
  auto token = begin({"a.bin", {}, {}, {}});
  chunk(token, 0, false, "partial");
  EXPECT_TRUE(std::holds_alternative<schema::abort_reply>(
      one(schema::abort_request{token}).body));
  EXPECT_EQ(error_of(chunk(token, 1, true, "x")), errc::unknown_upload);
  EXPECT_EQ(pipe->ctx().budget->used(), 0u);
  token = begin({"b.bin", {}, {}, {}});
  chunk(token, 0, true, "whole");
  EXPECT_TRUE(std::holds_alternative<schema::abort_reply>(
      one(schema::abort_request{token}).body));
  EXPECT_EQ(listing().size(), 1u);
}

TEST_F(Pipeline, AnUploadContinuesFromAnotherConnection) {
  start();
  auto token = begin({"m.bin", {}, {}, {}});
  one(schema::chunk_request{token, 0, false,
                            schema::buffer::copy_of("from c1 ")},
      "c1");
  auto r = one(
      schema::chunk_request{token, 1, true, schema::buffer::copy_of("and c2")},
      "c2");
  auto* done = std::get_if<schema::chunk_done_reply>(&r.body);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->file.size, 14u);
  EXPECT_EQ(sink.replies.back().first.routing_id, "c2");
}

}  // namespace
}  // namespace depot::actors
