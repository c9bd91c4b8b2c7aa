// Actor-level tests: the pipeline's actors driven under CAF's deterministic
// test coordinator (virtual time), with a real store in a temp dir and a
// sink that records every reply.

#include "actors/pipeline.hpp"

#include "actors/assembler.hpp"
#include "actors/messages.hpp"
#include "storage/fault_fs.hpp"
#include "storage/posix_store.hpp"
#include "testkit/temp_dir.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <sstream>

namespace depot::actors {
namespace {

using schema::errc;

// Every event in one log, so tests can assert on their order.
struct event_log {
  std::mutex mutex;
  std::vector<std::string> events;
  void add(std::string e) {
    std::lock_guard<std::mutex> guard{mutex};
    events.push_back(std::move(e));
  }
};

struct recording_sink final : transport::reply_sink {
  explicit recording_sink(event_log& log) : log(log) {}
  void send(const transport::peer& to, schema::reply r) override {
    std::lock_guard<std::mutex> guard{mutex};
    if (std::holds_alternative<schema::chunk_done_reply>(r.body))
      log.add("reply:done");
    replies.emplace_back(to, std::move(r));
  }
  event_log& log;
  std::mutex mutex;
  std::vector<std::pair<transport::peer, schema::reply>> replies;
};

// A store that notes when a commit has become durable, around a real one.
// Every step is forwarded, so the actors drive the real store's staged
// path (stage, barrier, place, settle) through it.
struct logging_store final : storage::store {
  struct logging_batch final : storage::staged_batch {
    logging_batch(std::unique_ptr<storage::staged_batch> base, event_log& log)
        : base(std::move(base)), log(log) {}
    bool needs_barrier() const override { return base->needs_barrier(); }
    void place(const caf::error& barrier_failure) override {
      base->place(barrier_failure);
    }
    storage::commit_results settle(const caf::error& barrier_failure) override {
      auto results = base->settle(barrier_failure);
      for (auto& r : results) log.add(r ? "commit:durable" : "commit:failed");
      return results;
    }
    std::unique_ptr<storage::staged_batch> base;
    event_log& log;
  };
  logging_store(std::shared_ptr<storage::store> base, event_log& log)
      : base(std::move(base)), log(log) {}
  schema::expected<std::unique_ptr<storage::staging_file>> create_staging()
      override {
    return base->create_staging();
  }
  std::unique_ptr<storage::staged_batch> stage(
      std::vector<storage::commit_request> requests) override {
    return std::make_unique<logging_batch>(base->stage(std::move(requests)),
                                           log);
  }
  caf::error barrier() override {
    ++barriers;
    return base->barrier();
  }
  schema::expected<schema::file_meta> stat(const std::string& id) override {
    return base->stat(id);
  }
  schema::expected<std::unique_ptr<storage::object_reader>> open(
      const std::string& id) override {
    return base->open(id);
  }
  schema::expected<uint64_t> remove(const std::string& id) override {
    return base->remove(id);
  }
  schema::expected<storage::list_page> list(
      const std::optional<std::string>& after, size_t limit) override {
    return base->list(after, limit);
  }
  std::shared_ptr<storage::store> base;
  event_log& log;
  std::atomic<int> barriers{0};  ///< barrier() calls forwarded
};

struct test_config : caf::actor_system_config {
  test_config() { set("scheduler.policy", caf::atom("testing")); }
};

server::limits small_limits() {
  server::limits lim;
  lim.chunk_max = 1024;
  lim.window = 4;
  lim.max_file_size = 64 * 1024;
  lim.ram_threshold = 2048;
  lim.memory_budget = 1 << 20;
  lim.idle_timeout = std::chrono::seconds(60);
  lim.completion_linger = std::chrono::seconds(60);
  return lim;
}

class Pipeline : public ::testing::Test {
 protected:
  void start(server::limits lim = small_limits(),
             std::optional<unsigned> bits = std::nullopt,
             pipeline_options opts = {1, 1, 1, false}) {
    fsys = std::make_shared<storage::fault_fs>(storage::posix_file_system());
    auto s = storage::open_posix_store({dir.path(), bits, 16, fsys});
    ASSERT_TRUE(s);
    store = std::make_shared<logging_store>(*s, log);
    pipe = std::make_unique<pipeline>(sys, lim, store, &sink, opts);
    sched.run();
  }

  void TearDown() override {
    if (pipe) pipe->shutdown();
    while (sched.run() > 0 || sched.trigger_timeouts() > 0) {
    }
  }

  // Sends one request from `client` and runs the actors until quiet;
  // returns the replies that came back, in order.
  std::vector<schema::reply> call(schema::request_body body,
                                  std::string client = "c1") {
    size_t before = sink.replies.size();
    pipe->handle(transport::peer{client, false},
                 schema::request{++rid, std::move(body)});
    sched.run();
    std::vector<schema::reply> out;
    for (size_t i = before; i < sink.replies.size(); ++i)
      out.push_back(sink.replies[i].second);
    return out;
  }

  schema::reply one(schema::request_body body, std::string client = "c1") {
    auto r = call(std::move(body), std::move(client));
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? schema::reply{} : r.back();
  }

  std::string begin(schema::upload_request req) {
    auto r = one(std::move(req));
    auto* up = std::get_if<schema::upload_reply>(&r.body);
    EXPECT_NE(up, nullptr);
    return up ? up->upload : "";
  }

  schema::reply chunk(const std::string& token, uint64_t seq, bool last,
                      const std::string& bytes) {
    return one(schema::chunk_request{token, seq, last,
                                     schema::buffer::copy_of(bytes)});
  }

  static errc error_of(const schema::reply& r) {
    auto* e = std::get_if<schema::error_reply>(&r.body);
    return e ? e->code : errc{};
  }

  std::vector<schema::file_meta> listing() {
    auto page = store->list(std::nullopt, 1000);
    return page ? page->files : std::vector<schema::file_meta>{};
  }

  test::temp_dir dir;
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched =
      dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  event_log log;
  recording_sink sink{log};
  std::shared_ptr<storage::fault_fs> fsys;
  std::shared_ptr<storage::store> store;
  std::unique_ptr<pipeline> pipe;
  uint64_t rid = 0;
};

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

TEST_F(Pipeline, StorageFailuresBecomeIoErrorRepliesAndTheServerGoesOn) {
  start();
  fsys->inject({storage::fs_op::sync_fs, EIO, "", 0, 1});
  auto token = begin({"f.bin", {}, {}, {}});
  auto r = chunk(token, 0, true, "will fail");
  EXPECT_EQ(error_of(r), errc::io_error);
  EXPECT_TRUE(listing().empty());
  std::vector<std::string> expected{"commit:failed"};
  EXPECT_EQ(log.events, expected);  // no completion was ever sent
  token = begin({"f.bin", {}, {}, {}});
  EXPECT_TRUE(std::holds_alternative<schema::chunk_done_reply>(
      chunk(token, 0, true, "will work").body));
}

TEST_F(Pipeline, ContentTypeIsDeclaredOrDetectedWhetherHashedHereOrByAHasher) {
  start();
  int n = 0;
  auto mime = [&](std::optional<std::string> declared, bool one_chunk) {
    // Distinct contents: a dedup would answer with the first upload's type.
    const std::string png =
        std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16) + std::to_string(++n);
    auto token = begin({"f", {}, {}, declared});
    if (!one_chunk) chunk(token, 0, false, png.substr(0, 9));
    auto r =
        chunk(token, one_chunk ? 0 : 1, true, one_chunk ? png : png.substr(9));
    auto* done = std::get_if<schema::chunk_done_reply>(&r.body);
    return done ? done->file.mime : "<no file>";
  };
  EXPECT_EQ(mime(std::nullopt, true), "image/png");
  EXPECT_EQ(mime(std::nullopt, false), "image/png");
  EXPECT_EQ(mime(std::string("image/x-mine"), true), "image/x-mine");
  EXPECT_EQ(mime(std::string("image/x-mine"), false), "image/x-mine");
}

TEST_F(Pipeline, ReadsStatsListsAndDeletes) {
  start();
  auto token = begin({"r.txt", {}, {}, std::string("text/x-custom")});
  auto r = chunk(token, 0, true, "0123456789");
  auto id = std::get<schema::chunk_done_reply>(r.body).file.id;
  EXPECT_EQ(std::get<schema::chunk_done_reply>(r.body).file.mime,
            "text/x-custom");
  auto d = one(schema::download_request{id, 4, 3});
  auto* dl = std::get_if<schema::download_reply>(&d.body);
  ASSERT_NE(dl, nullptr);
  EXPECT_EQ(dl->data.view(), "456");
  EXPECT_EQ(dl->size, 10u);
  EXPECT_FALSE(dl->eof);
  d = one(schema::download_request{id, 8, std::nullopt});
  EXPECT_TRUE(std::get<schema::download_reply>(d.body).eof);
  EXPECT_EQ(error_of(one(schema::download_request{id, 11, std::nullopt})),
            errc::out_of_range);
  auto s = one(schema::stat_request{id});
  EXPECT_EQ(std::get<schema::stat_reply>(s.body).file.refs, 1u);
  auto l = one(schema::list_request{std::nullopt, 10});
  EXPECT_EQ(std::get<schema::list_reply>(l.body).files.size(), 1u);
  auto del = one(schema::delete_request{id});
  EXPECT_EQ(std::get<schema::delete_reply>(del.body).refs, 0u);
  EXPECT_EQ(error_of(one(schema::stat_request{id})), errc::not_found);
}

// --- typed interfaces ------------------------------------------------------

// Only a dynamically typed handle can send an actor what its interface does
// not list; such a message is counted, logged (not once per message) and,
// if it was a request, refused with unexpected_message.
TEST_F(Pipeline, AMessageAnActorDoesNotTakeIsCountedLoggedAndRefused) {
  start();
  std::ostringstream logged;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(logged)));
  const auto& ctx = pipe->ctx();
  std::vector<caf::actor> targets{
      caf::actor_cast<caf::actor>(ctx.writers.front()),
      caf::actor_cast<caf::actor>(ctx.committers.front()),
      caf::actor_cast<caf::actor>(ctx.readers.front()),
      caf::actor_cast<caf::actor>(ctx.deleter),
      caf::actor_cast<caf::actor>(ctx.janitor)};
  caf::scoped_actor self{sys, true};
  for (auto& target : targets) {
    auto answer = self->request(target, caf::infinite, std::string("junk"));
    sched.run();
    caf::error got;
    answer.receive([](const caf::message&) {},
                   [&](caf::error& err) { got = std::move(err); });
    EXPECT_EQ(got, caf::sec::unexpected_message);
  }
  spdlog::set_default_logger(previous);
  EXPECT_EQ(ctx.unexpected_messages.load(), targets.size());
  // The 1st, 2nd and 4th are logged; the 3rd and 5th only counted.
  std::string text = logged.str();
  size_t lines =
      static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  EXPECT_EQ(lines, 3u) << text;
  EXPECT_NE(text.find("disk writer got a message it does not take"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("(4 so far)"), std::string::npos) << text;
  // The actors go on serving.
  EXPECT_TRUE(std::holds_alternative<schema::ping_reply>(
      one(schema::ping_request{}).body));
}

TEST_F(Pipeline, AnAssemblerCountsAMessageItDoesNotTakeAndTheUploadGoesOn) {
  start();
  auto token = begin({"on.txt", 6, std::nullopt, std::nullopt});
  auto assemblers = pipe->ctx().uploads->all();
  ASSERT_EQ(assemblers.size(), 1u);
  caf::anon_send(caf::actor_cast<caf::actor>(assemblers.front()), 42);
  sched.run();
  EXPECT_EQ(pipe->ctx().unexpected_messages.load(), 1u);
  auto r = chunk(token, 0, true, "abcdef");
  EXPECT_TRUE(std::holds_alternative<schema::chunk_done_reply>(r.body))
      << static_cast<int>(error_of(r));
}

// sweep_atom is the janitor's public message: it expires idle uploads at
// once, without waiting for its own timer (which is not in its interface).
TEST_F(Pipeline, TheJanitorSweepsOnRequestWithoutWaitingForItsTimer) {
  start();
  auto idle = begin({"idle.bin", std::nullopt, std::nullopt, std::nullopt});
  // Past the idle timeout by the clock, but no timer has fired.
  sched.clock().current_time += std::chrono::seconds(61);
  auto fresh = begin({"fresh.bin", std::nullopt, std::nullopt, std::nullopt});
  caf::anon_send(pipe->ctx().janitor, sweep_atom::value);
  sched.run();
  EXPECT_EQ(error_of(one(schema::upload_status_request{idle})),
            errc::unknown_upload);
  EXPECT_TRUE(std::holds_alternative<schema::upload_status_reply>(
      one(schema::upload_status_request{fresh}).body));
  EXPECT_EQ(pipe->ctx().unexpected_messages.load(), 0u);
}

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
