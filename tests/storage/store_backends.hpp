#pragma once

// The store backends the contract tests run against, as a GoogleTest
// parameter ("posix", "rados"): a fixture that opens stores of one backend
// on one fresh root (a temp dir, or a RADOS namespace of its own), and looks
// at what the backend keeps there. RADOS cases skip without a configured
// cluster (testkit/rados_env.hpp), or fail if DEPOT_REQUIRE_RADOS=1.

#include "storage/posix_store.hpp"
#include "storage/rados/index.hpp"
#include "storage/rados/rados_io.hpp"
#include "storage/rados/rados_store.hpp"
#include "testkit/gtest_status.hpp"
#include "testkit/rados_env.hpp"
#include "testkit/temp_dir.hpp"
#include "tests/storage/store_test_support.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <rados/librados.h>
#include <set>
#include <string>
#include <vector>

namespace depot::storage {

/// Bytes per data object of the RADOS stores the tests open: small, so
/// files of several objects are cheap.
inline constexpr uint64_t test_stripe = 64 * 1024;

/// Every object of a RADOS namespace, through a connection of the test's
/// own (not a store's): to look at what a store left and to clean up.
class rados_namespace {
 public:
  /// Connects to the configured cluster's pool, namespace `ns`; null (and a
  /// test failure) if it cannot.
  static std::unique_ptr<rados_namespace> connect(const test::rados_env& env,
                                                  const std::string& ns) {
    auto p = rados::pool::connect(env.conf, env.id, env.pool, ns);
    if (!p) {
      ADD_FAILURE() << schema::message_of(p.error());
      return nullptr;
    }
    return std::unique_ptr<rados_namespace>{new rados_namespace(*p)};
  }

  rados_ioctx_t io() const { return pool_->io(); }

  /// The names of every object in the namespace.
  std::set<std::string> objects() const {
    std::set<std::string> out;
    rados_list_ctx_t ctx = nullptr;
    if (int r = rados_nobjects_list_open(io(), &ctx); r < 0) {
      ADD_FAILURE() << "rados_nobjects_list_open: " << r;
      return out;
    }
    const char* oid = nullptr;
    while (rados_nobjects_list_next(ctx, &oid, nullptr, nullptr) == 0)
      out.insert(oid);
    rados_nobjects_list_close(ctx);
    return out;
  }

  /// The objects whose names begin with `prefix`.
  std::set<std::string> objects(const std::string& prefix) const {
    std::set<std::string> out;
    for (auto& o : objects())
      if (o.rfind(prefix, 0) == 0) out.insert(o);
    return out;
  }

  /// Omap keys and values of `oid` (empty if it is absent).
  std::map<std::string, std::string> omap(const std::string& oid) const {
    std::map<std::string, std::string> out;
    std::string after;
    for (;;) {
      rados::omap_page page;
      if (int r = rados::omap_range(io(), oid, after, 512, &page); r < 0) {
        ADD_FAILURE() << "omap of " << oid << ": " << r;
        return out;
      }
      for (auto& [k, v] : page.values) out[after = k] = v;
      if (!page.more) return out;
    }
  }

  /// Every index entry: id -> entry.
  std::map<std::string, rados::entry> entries() const {
    std::map<std::string, rados::entry> out;
    for (auto& o : objects("i."))
      for (auto& [id, value] : omap(o)) {
        rados::entry e;
        EXPECT_TRUE(rados::decode_entry(value, &e)) << id;
        out[id] = e;
      }
    return out;
  }

  /// Data objects no index entry references (staged, or left behind).
  std::set<std::string> orphan_data() const {
    std::set<std::string> referenced;
    for (auto& [id, e] : entries())
      for (uint64_t p = 0; p < e.parts(); ++p)
        referenced.insert(rados::data_object(e.meta.gen, p));
    std::set<std::string> out;
    for (auto& o : objects("d."))
      if (!referenced.count(o)) out.insert(o);
    return out;
  }

  /// Tokens recorded under every lease of the namespace.
  size_t lease_tokens() const {
    size_t n = 0;
    for (auto& o : objects("lease.")) n += omap(o).size();
    return n;
  }

  /// Removes every object of the namespace.
  void purge() const {
    for (auto& o : objects()) rados_remove(io(), o.c_str());
  }

 private:
  explicit rados_namespace(std::shared_ptr<rados::pool> p)
      : pool_(std::move(p)) {}
  std::shared_ptr<rados::pool> pool_;
};

/// How a test opens a store; what a backend lacks is ignored.
struct store_params {
  std::optional<unsigned> id_bits;  ///< narrowed ids (collision tests)
  uint32_t max_candidates = 16;
  std::chrono::milliseconds lease{30000};  ///< RADOS only
};

/// Why a RADOS case did not run.
inline constexpr const char* no_cluster =
    "no Ceph cluster configured: run deploy/ceph-dev.sh up, eval its env and "
    "run the tests in its netns (DEPOT_REQUIRE_RADOS=1 makes this a failure)";

/// Sets `env` (a std::optional<test::rados_env>) to the configured cluster;
/// without one, skips the test (fails it if DEPOT_REQUIRE_RADOS=1) and
/// returns. For SetUp() and test bodies.
#define DEPOT_RADOS_OR_SKIP(env)                  \
  env = ::depot::test::rados_from_env();          \
  if (!env) {                                     \
    if (::depot::test::rados_required())          \
      FAIL() << ::depot::storage::no_cluster;     \
    GTEST_SKIP() << ::depot::storage::no_cluster; \
  }

/// Opens a RADOS store on namespace `ns` of `env` with the tests' stripe.
inline schema::expected<std::shared_ptr<store>> open_rados_test_store(
    const test::rados_env& env, const std::string& ns,
    const store_params& p = {}) {
  rados_store_options o;
  o.pool = env.pool;
  o.ns = ns;
  o.conf = env.conf;
  o.id = env.id;
  o.id_bits = p.id_bits;
  o.max_candidates = p.max_candidates;
  o.stripe_bytes = test_stripe;
  o.lease = p.lease;
  return open_rados_store(std::move(o));
}

/// Parameter: the backend's name. Each test has one root (a temp dir or a
/// namespace); every open() is another store on it, as another process's.
class store_backend : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!rados()) return;
    std::optional<test::rados_env> env;
    DEPOT_RADOS_OR_SKIP(env);
    env_ = *env;
    ns_ = test::unique_namespace("contract");
    objects_ = rados_namespace::connect(env_, ns_);
    ASSERT_TRUE(objects_);
  }

  // The namespace goes, whatever the test left (memstore keeps it in RAM).
  void TearDown() override {
    if (objects_) objects_->purge();
  }

  bool rados() const { return GetParam() == "rados"; }

  /// A new store on this test's root.
  std::shared_ptr<store> open(const store_params& p = {}) {
    schema::expected<std::shared_ptr<store>> s =
        rados() ? open_rados_test_store(env_, ns_, p)
                : open_posix_store(
                      {dir_.path(), p.id_bits, p.max_candidates, nullptr});
    if (!s) ADD_FAILURE() << schema::message_of(s.error());
    return s ? *s : nullptr;
  }

  /// What uncommitted work left: POSIX staging files; RADOS data objects
  /// no entry references, and tokens under leases.
  size_t uncommitted_leftovers() const {
    if (!rados()) return staging_files(dir_.path());
    return objects_->orphan_data().size() + objects_->lease_tokens();
  }

  /// Everything stored: POSIX files in the shards; RADOS index entries and
  /// data objects.
  size_t stored_things() const {
    if (!rados()) return shard_files(dir_.path()).size();
    return objects_->entries().size() + objects_->objects("d.").size();
  }

  test::temp_dir dir_;
  test::rados_env env_;
  std::string ns_;
  std::unique_ptr<rados_namespace> objects_;
};

/// The contract every backend keeps (tests/storage/store_contract*_test.cpp).
class StoreContract : public store_backend {};

/// "posix" / "rados" as the test name's suffix.
inline std::string backend_name(
    const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

}  // namespace depot::storage
