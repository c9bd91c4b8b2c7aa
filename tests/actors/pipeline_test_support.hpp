#pragma once

// What the pipeline tests share: one event log, a reply sink and a store
// that record into it, and the Pipeline fixture (the actors under CAF's
// deterministic test coordinator, a real store in a temp dir behind a
// fault-injecting file system).

#include "actors/assembler.hpp"
#include "actors/messages.hpp"
#include "actors/pipeline.hpp"
#include "storage/fault_fs.hpp"
#include "storage/posix_store.hpp"
#include "testkit/temp_dir.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace depot::actors::test_support {

using schema::errc;

/// Every event in one log, so tests can assert on their order.
struct event_log {
  std::mutex mutex;
  std::vector<std::string> events;
  void add(std::string e) {
    std::lock_guard<std::mutex> guard{mutex};
    events.push_back(std::move(e));
  }
};

/// A reply sink that keeps every reply with its peer and logs completions.
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

/// A store that notes when a commit has become durable, around a real one.
/// Every step is forwarded, so the actors drive the real store's staged
/// path (stage, barrier, place, settle) through it.
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

/// An actor system on CAF's deterministic test coordinator.
struct test_config : caf::actor_system_config {
  test_config() { set("scheduler.policy", caf::atom("testing")); }
};

/// Limits small enough that tests reach them with a few KiB.
inline server::limits small_limits() {
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

/// The pipeline on a real store in a temp dir (behind a fault_fs), its
/// actors run by hand: call() runs them until quiet.
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

}  // namespace depot::actors::test_support
