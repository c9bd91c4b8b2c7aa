// The RADOS store beyond the contract: its index entry codec, instances
// that die (a child process SIGKILLs itself), an unreachable cluster, what
// a clean close leaves.
//
// The dying instances are this test binary run again (fork and exec, with
// DEPOT_RADOS_CHILD saying what to do): librados starts threads, so a child
// forked from a process that already used it must exec before using it.

#include "storage/rados/index.hpp"
#include "testkit/child_process.hpp"
#include "testkit/content.hpp"
#include "tests/storage/store_backends.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace depot::storage {
namespace {

using namespace std::chrono_literals;
using schema::code_of;
using steady = std::chrono::steady_clock;

// --- the index entry codec (no cluster)
// ---------------------------------------------------------------

rados::entry sample_entry() {
  rados::entry e;
  e.meta = {"report.pdf",      5 * test_stripe + 123, std::string(64, 'a'),
            "application/pdf", 1700000000000,         "0123456789abcdef-42"};
  e.refs = 3;
  e.stripe = test_stripe;
  return e;
}

TEST(RadosIndexCodec, RoundTripsAnEntry) {
  auto e = sample_entry();
  auto value = rados::encode_entry(e);
  EXPECT_EQ(value.rfind("3 65536\n", 0), 0u);  // readable counters first
  rados::entry back;
  ASSERT_TRUE(rados::decode_entry(value, &back));
  EXPECT_EQ(back.refs, 3u);
  EXPECT_EQ(back.stripe, test_stripe);
  EXPECT_EQ(back.meta.name, e.meta.name);
  EXPECT_EQ(back.meta.size, e.meta.size);
  EXPECT_EQ(back.meta.sha256, e.meta.sha256);
  EXPECT_EQ(back.meta.mime, e.meta.mime);
  EXPECT_EQ(back.meta.created, e.meta.created);
  EXPECT_EQ(back.meta.gen, e.meta.gen);
  EXPECT_EQ(back.parts(), 6u);
}

TEST(RadosIndexCodec, RejectsGarbageAndEveryTruncation) {
  auto e = sample_entry();
  auto value = rados::encode_entry(e);
  rados::entry out;
  for (size_t n = 0; n < value.size(); ++n)
    EXPECT_FALSE(rados::decode_entry(value.substr(0, n), &out)) << n;
  auto meta = encode_meta(e.meta);
  std::vector<std::string> bads{"garbage",
                                "3 65536",
                                "3 65536\n",
                                "x 65536\n" + meta,
                                "3 x\n" + meta,
                                "-3 65536\n" + meta,
                                "3 65536 " + meta,
                                "0 65536\n" + meta,  // no references
                                "3 0\n" + meta,      // bytes but no stripe
                                "3 65536\nnot msgpack"};
  for (size_t i = 0; i < bads.size(); ++i)
    EXPECT_FALSE(rados::decode_entry(bads[i], &out)) << "case " << i;
  // The empty file needs no stripe.
  e.meta.size = 0;
  e.stripe = 0;
  ASSERT_TRUE(rados::decode_entry(rados::encode_entry(e), &out));
  EXPECT_EQ(out.parts(), 0u);
}

TEST(RadosIndexCodec, NamesShardsInIdOrderAndDataObjectsByToken) {
  EXPECT_EQ(rados::shard_object("abcdEFGH1234"), "i.a");
  EXPECT_EQ(rados::shard_object("Z0000000000z"), "i.Z");
  EXPECT_EQ(rados::shard_object_at(0), "i.0");
  EXPECT_EQ(rados::shard_object_at(rados::shard_count - 1), "i.z");
  for (size_t i = 1; i < rados::shard_count; ++i)
    EXPECT_LT(rados::shard_object_at(i - 1), rados::shard_object_at(i));
  EXPECT_EQ(rados::data_object("tok-1", 7), "d.tok-1.7");
}

// --- dying instances
// --------------------------------------------------------------

constexpr auto short_lease = std::chrono::milliseconds{2000};
const std::string crashed_content = test::random_bytes(3 * test_stripe + 5, 31);

void append_all(staging_file& s, const std::string& bytes) {
  for (size_t i = 0; i < bytes.size(); i += 8192)
    if (auto err =
            s.append(reinterpret_cast<const std::byte*>(bytes.data() + i),
                     std::min<size_t>(8192, bytes.size() - i)))
      std::_Exit(3);
}

// What a child does (DEPOT_RADOS_CHILD=stage|commit): opens the store in
// DEPOT_RADOS_CHILD_NS, stages (and commits), writes to
// DEPOT_RADOS_CHILD_OUT what the parent needs, and SIGKILLs itself with its
// staging files, store and lease still open.
class child_role : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* role = std::getenv("DEPOT_RADOS_CHILD");
    if (!role) return;
    auto env = test::rados_from_env();
    if (!env) std::_Exit(2);
    store_params p;
    p.lease = short_lease;
    auto s =
        open_rados_test_store(*env, std::getenv("DEPOT_RADOS_CHILD_NS"), p);
    if (!s) std::_Exit(4);
    std::string out;
    if (std::string(role) == "commit") {
      auto r = put(**s, crashed_content, "crashed.bin");
      if (!r) std::_Exit(5);
      out = r->file.id;
    }
    auto staged = (*s)->create_staging();
    if (!staged) std::_Exit(6);
    append_all(**staged, test::random_bytes(5 * test_stripe + 7, 32));
    std::this_thread::sleep_for(300ms);  // the stripes' writes land
    std::ofstream(std::getenv("DEPOT_RADOS_CHILD_OUT")) << out << "\n";
    kill(getpid(), SIGKILL);
    std::_Exit(7);
  }
};

[[maybe_unused]] auto* const child_env =
    ::testing::AddGlobalTestEnvironment(new child_role);

// A RADOS test of its own: the cluster (or a skip), a namespace, purged at
// the end.
class RadosStore : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<test::rados_env> env;
    DEPOT_RADOS_OR_SKIP(env);
    env_ = *env;
    ns_ = test::unique_namespace("rados");
    objects_ = rados_namespace::connect(env_, ns_);
    ASSERT_TRUE(objects_);
  }
  void TearDown() override {
    if (objects_) objects_->purge();
  }

  std::shared_ptr<store> open(const store_params& p = {}) {
    auto s = open_rados_test_store(env_, ns_, p);
    if (!s) ADD_FAILURE() << schema::message_of(s.error());
    return s ? *s : nullptr;
  }

  // Runs this binary as a child in `role`; what it wrote, once it died of
  // SIGKILL.
  std::string run_child(const std::string& role) {
    std::string out = dir_ / "child.out";
    test::spawn_options o;
    o.log = dir_ / "child.log";
    o.env = {"DEPOT_RADOS_CHILD=" + role, "DEPOT_RADOS_CHILD_NS=" + ns_,
             "DEPOT_RADOS_CHILD_OUT=" + out};
    pid_t pid = test::spawn_child(
        {"/proc/self/exe", "--gtest_filter=RadosIndexCodec.RoundTripsAnEntry"},
        o);
    EXPECT_GT(pid, 0);
    if (pid <= 0) return {};
    auto code = test::wait_for_exit(pid, 60s);
    if (!code) test::kill_child(pid);
    EXPECT_EQ(code, 128 + SIGKILL) << "see " << o.log;
    std::string written;
    std::ifstream(out) >> written;
    return written;
  }

  // Polls (up to 15 s) until no lease but this store's is left and no data
  // object without an entry: true once another instance's leftovers are
  // reclaimed.
  bool reclaimed(const std::set<std::string>& own_leases,
                 std::chrono::milliseconds* took) {
    auto start = steady::now();
    while (steady::now() - start < 15s) {
      if (objects_->objects("lease.") == own_leases &&
          objects_->omap("leases").size() == own_leases.size() &&
          objects_->orphan_data().empty()) {
        *took = std::chrono::duration_cast<std::chrono::milliseconds>(
            steady::now() - start);
        return true;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  test::temp_dir dir_;
  test::rados_env env_;
  std::string ns_;
  std::unique_ptr<rados_namespace> objects_;
};

TEST_F(RadosStore, ADeadInstancesStagingIsReclaimedByAnother) {
  store_params p;
  p.lease = short_lease;
  auto s = open(p);
  ASSERT_TRUE(s);
  auto own = objects_->objects("lease.");
  ASSERT_EQ(own.size(), 1u);
  run_child("stage");
  // What it left: its staged stripes, its lease with their token.
  EXPECT_GE(objects_->objects("d.").size(), 1u);
  EXPECT_EQ(objects_->objects("lease.").size(), 2u);
  std::chrono::milliseconds took{};
  ASSERT_TRUE(reclaimed(own, &took))
      << objects_->objects("d.").size() << " data objects, "
      << objects_->objects("lease.").size() << " leases left";
  EXPECT_TRUE(objects_->objects("d.").empty());
  EXPECT_EQ(objects_->lease_tokens(), 0u);
  std::cerr << "reclaimed " << took.count() << " ms after the child died\n";
}

TEST_F(RadosStore, ACommittedFileOfACrashedInstanceKeepsItsData) {
  store_params p;
  p.lease = short_lease;
  auto s = open(p);
  ASSERT_TRUE(s);
  auto own = objects_->objects("lease.");
  std::string id = run_child("commit");
  ASSERT_FALSE(id.empty());
  std::chrono::milliseconds took{};
  ASSERT_TRUE(reclaimed(own, &took));
  auto st = s->stat(id);
  ASSERT_OK(st);
  EXPECT_EQ(st->refs, 1u);
  EXPECT_EQ(st->size, crashed_content.size());
  EXPECT_EQ(get(*s, id), crashed_content);
  EXPECT_EQ(objects_->objects("d.").size(), 4u);  // its parts, nothing else
  EXPECT_EQ(objects_->lease_tokens(), 0u);
}

// --- the cluster and its objects
// --------------------------------------------------------------

// Needs no cluster: the monitor named does not exist.
TEST(RadosStoreUnreachable, OpeningFailsWithIoErrorWithinSeconds) {
  test::temp_dir dir;
  std::string conf = dir / "ceph.conf";
  std::ofstream(conf) << "[global]\n"
                         "mon host = 127.0.0.1:1\n"
                         "client mount timeout = 3\n"
                         "auth cluster required = none\n"
                         "auth service required = none\n"
                         "auth client required = none\n";
  rados_store_options o;
  o.pool = "depot";
  o.ns = "unreachable";
  o.conf = conf;
  auto start = steady::now();
  auto s = open_rados_store(o);
  auto took = steady::now() - start;
  ASSERT_FALSE(s);
  EXPECT_EQ(code_of(s.error()), errc::io_error);
  EXPECT_LT(took, 10s);
  EXPECT_NE(schema::message_of(s.error()).find("cannot connect"),
            std::string::npos)
      << schema::message_of(s.error());
}

TEST_F(RadosStore, ACleanCloseLeavesOnlyTheIndexAndCommittedData) {
  std::unique_ptr<staging_file> open_at_close;
  std::string kept_id;
  {
    auto s = open();
    ASSERT_TRUE(s);
    auto big = put(*s, test::random_bytes(2 * test_stripe + 1, 41));
    ASSERT_OK(big);
    kept_id = big->file.id;
    ASSERT_OK(put(*s, "small"));
    ASSERT_OK(put(*s, "small"));  // a dedup
    auto gone = put(*s, test::random_bytes(test_stripe + 2, 42));
    ASSERT_OK(gone);
    ASSERT_OK(s->remove(gone->file.id));
    auto st = s->create_staging();
    ASSERT_OK(st);
    append_all(**st, test::random_bytes(3 * test_stripe, 43));
    open_at_close = std::move(*st);
    EXPECT_EQ(objects_->objects("lease.").size(), 1u);
  }
  open_at_close.reset();  // the last user of the store closes it
  for (auto& o : objects_->objects())
    EXPECT_TRUE(o.rfind("i.", 0) == 0 || o.rfind("d.", 0) == 0 || o == "leases")
        << o;
  EXPECT_TRUE(objects_->objects("lease.").empty());
  EXPECT_TRUE(objects_->omap("leases").empty());
  EXPECT_TRUE(objects_->orphan_data().empty());
  EXPECT_EQ(objects_->entries().size(), 2u);
  EXPECT_EQ(objects_->objects("d.").size(), 4u);  // 3 parts + 1
  auto again = open();
  ASSERT_TRUE(again);
  EXPECT_EQ(get(*again, kept_id), test::random_bytes(2 * test_stripe + 1, 41));
}

TEST_F(RadosStore, AStagingFileOfAnotherStoreObjectIsNotCommitted) {
  auto s = open();
  auto other = open();
  ASSERT_TRUE(s && other);
  std::vector<commit_request> batch;
  batch.push_back(staged(*other, "someone else's", "x"));
  batch.push_back(staged(*s, "mine", "y"));
  auto results = s->commit_batch(std::move(batch));
  ASSERT_EQ(results.size(), 2u);
  ASSERT_FALSE(results[0]);
  EXPECT_EQ(code_of(results[0].error()), errc::internal);
  ASSERT_OK(results[1]);
  EXPECT_EQ(objects_->entries().size(), 1u);
  EXPECT_TRUE(objects_->orphan_data().empty());
  EXPECT_EQ(objects_->lease_tokens(), 0u);
}

}  // namespace
}  // namespace depot::storage
