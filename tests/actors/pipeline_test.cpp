// Actor-level tests: the pipeline's actors driven under CAF's deterministic
// test coordinator (virtual time), with a real store in a temp dir and a
// sink that records every reply. Here: ping, the chunk rules and streaming
// to a staging file.

#include "tests/actors/pipeline_test_support.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace depot::actors {
namespace {

using namespace test_support;

TEST_F(Pipeline, AnswersPingWithVersionAndChunkMax) {
  start();
  auto r = one(schema::ping_request{});
  auto* p = std::get_if<schema::ping_reply>(&r.body);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->version, 1u);
  EXPECT_EQ(p->chunk_max, 1024u);
  EXPECT_EQ(r.rid, rid);
}

TEST_F(Pipeline, AssemblesChunksInOrderAndAnswersTheLastOnceDurable) {
  start();
  auto token = begin({"greeting.txt", 12, std::nullopt, std::nullopt});
  EXPECT_LE(token.size(), 64u);
  auto r = chunk(token, 0, false, "hello ");
  auto* ack = std::get_if<schema::chunk_reply>(&r.body);
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->received, 6u);
  r = chunk(token, 1, true, "depot\n");
  auto* done = std::get_if<schema::chunk_done_reply>(&r.body);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->file.id, "rbWeBrTIp1Js");
  EXPECT_EQ(done->file.mime, "text/plain");
  EXPECT_EQ(done->file.size, 12u);
  EXPECT_FALSE(done->dedup);
  EXPECT_EQ(done->seq, 1u);
  // The reply came only after the store said the file was durable.
  std::vector<std::string> expected{"commit:durable", "reply:done"};
  EXPECT_EQ(log.events, expected);
  EXPECT_EQ(pipe->ctx().budget->used(), 0u);
}

TEST_F(Pipeline, ReacknowledgesALowerSeqWithoutApplyingItTwice) {
  start();
  auto token = begin({"r.bin", std::nullopt, std::nullopt, std::nullopt});
  chunk(token, 0, false, "abc");
  chunk(token, 1, false, "def");
  auto r = chunk(token, 0, false, "abc");
  auto* ack = std::get_if<schema::chunk_reply>(&r.body);
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->seq, 0u);
  EXPECT_EQ(ack->received, 3u);  // as it was acknowledged the first time
  r = chunk(token, 2, true, "g");
  auto* done = std::get_if<schema::chunk_done_reply>(&r.body);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->file.size, 7u);
}

TEST_F(Pipeline, AnswersAHigherSeqWithOutOfOrderAndKeepsTheUpload) {
  start();
  auto token = begin({"o.bin", std::nullopt, std::nullopt, std::nullopt});
  chunk(token, 0, false, "a");
  auto r = chunk(token, 5, false, "z");
  ASSERT_EQ(error_of(r), errc::out_of_order);
  EXPECT_EQ(std::get<schema::error_reply>(r.body).next,
            std::optional<uint64_t>{1});
  r = chunk(token, 1, true, "b");
  EXPECT_TRUE(std::holds_alternative<schema::chunk_done_reply>(r.body));
}

TEST_F(Pipeline, RejectsAChunkOverChunkMaxButKeepsTheUpload) {
  start();
  auto token = begin({"big.bin", std::nullopt, std::nullopt, std::nullopt});
  EXPECT_EQ(error_of(chunk(token, 0, false, std::string(1025, 'x'))),
            errc::too_large);
  auto r = chunk(token, 0, true, std::string(1024, 'x'));
  EXPECT_TRUE(std::holds_alternative<schema::chunk_done_reply>(r.body));
}

TEST_F(Pipeline, DiscardsAnUploadWhoseBytesPassTheDeclaredSize) {
  start();
  auto token = begin({"d.bin", 4, std::nullopt, std::nullopt});
  EXPECT_EQ(error_of(chunk(token, 0, false, "12345")), errc::too_large);
  EXPECT_EQ(error_of(chunk(token, 0, true, "1234")), errc::unknown_upload);
  EXPECT_EQ(pipe->ctx().budget->used(), 0u);
}

TEST_F(Pipeline, DiscardsAnUploadPastTheFileSizeLimitCountingBytesReceived) {
  auto lim = small_limits();
  lim.max_file_size = 2000;
  start(lim);
  auto token = begin({"d.bin", std::nullopt, std::nullopt, std::nullopt});
  chunk(token, 0, false, std::string(1000, 'a'));
  chunk(token, 1, false, std::string(1000, 'b'));
  EXPECT_EQ(error_of(chunk(token, 2, false, "c")), errc::too_large);
  EXPECT_EQ(error_of(one(schema::upload_status_request{token})),
            errc::unknown_upload);
  EXPECT_EQ(error_of(one(schema::upload_request{"x", 2001, {}, {}})),
            errc::too_large);
}

TEST_F(Pipeline, StoresNothingOnSizeOrChecksumMismatch) {
  start();
  auto token = begin({"s.bin", 10, std::nullopt, std::nullopt});
  auto r = chunk(token, 0, true, "short");
  EXPECT_EQ(error_of(r), errc::size_mismatch);
  // The same error answers a retry of the last chunk.
  EXPECT_EQ(error_of(chunk(token, 0, true, "short")), errc::size_mismatch);
  token = begin({"c.bin", std::nullopt, std::string(64, '0'), std::nullopt});
  EXPECT_EQ(error_of(chunk(token, 0, true, "content")),
            errc::checksum_mismatch);
  EXPECT_TRUE(listing().empty());
  EXPECT_EQ(pipe->ctx().budget->used(), 0u);
}

TEST_F(Pipeline, StreamsPastTheRamThresholdToAStagingFile) {
  start();  // ram_threshold 2048
  auto token = begin({"s.bin", std::nullopt, std::nullopt, std::nullopt});
  std::string all;
  for (uint64_t i = 0; i < 10; ++i) {
    std::string part(1000, static_cast<char>('a' + i));
    all += part;
    auto r = chunk(token, i, i == 9, part);
    if (i < 9)
      ASSERT_TRUE(std::holds_alternative<schema::chunk_reply>(r.body));
    else
      ASSERT_TRUE(std::holds_alternative<schema::chunk_done_reply>(r.body));
  }
  auto files = listing();
  ASSERT_EQ(files.size(), 1u);
  std::string back(all.size(), '\0');
  auto rd = store->read(files[0].id, 0, back.size(),
                        reinterpret_cast<std::byte*>(back.data()));
  ASSERT_TRUE(rd);
  EXPECT_EQ(back, all);
  EXPECT_EQ(pipe->ctx().budget->used(), 0u);
}

// Lanes: every upload held in RAM goes to the first committer (its batches grow
// with the load); streamed ones to the others. With the second committer gone,
// small uploads all still commit and a streamed one cannot.
TEST_F(Pipeline,
       UploadsHeldInRamCommitInTheFirstLaneAndStreamedOnesInTheOthers) {
  start(small_limits(), std::nullopt, pipeline_options{1, 2, 1, false});
  ASSERT_EQ(pipe->ctx().committers.size(), 2u);
  caf::anon_send_exit(pipe->ctx().committers[1],
                      caf::exit_reason::user_shutdown);
  sched.run();
  for (int i = 0; i < 12; ++i) {
    auto token = begin({"small" + std::to_string(i), std::nullopt, std::nullopt,
                        std::nullopt});
    auto r = chunk(token, 0, true, "small upload " + std::to_string(i));
    EXPECT_TRUE(std::holds_alternative<schema::chunk_done_reply>(r.body)) << i;
  }
  auto token = begin({"big.bin", std::nullopt, std::nullopt, std::nullopt});
  for (uint64_t i = 0; i < 4; ++i) {  // 4000 bytes: past ram_threshold 2048
    auto r =
        chunk(token, i, i == 3, std::string(1000, static_cast<char>('k' + i)));
    if (i < 3)
      ASSERT_TRUE(std::holds_alternative<schema::chunk_reply>(r.body));
    else
      EXPECT_TRUE(std::holds_alternative<schema::error_reply>(r.body));
  }
  EXPECT_EQ(listing().size(), 12u);
}

}  // namespace
}  // namespace depot::actors
