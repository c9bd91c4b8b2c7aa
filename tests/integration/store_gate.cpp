// Under DEPOT_TEST_STORE=rados (ctest's rados.integration.* tests) every
// depotd runs on the RADOS store: without a cluster configured, the whole
// program skips, or fails where DEPOT_REQUIRE_RADOS=1 says one must be.

#include "testkit/rados_env.hpp"

#include <gtest/gtest.h>

#include <iostream>

namespace {

class store_gate : public ::testing::Environment {
 public:
  void SetUp() override {
    using namespace depot::test;
    if (test_store() != "rados" || rados_from_env()) return;
    if (rados_required())
      FAIL() << "DEPOT_REQUIRE_RADOS=1 but no Ceph cluster is configured "
                "(deploy/ceph-dev.sh up, then eval its env)";
    // gtest reports tests skipped by an environment as passed; this line
    // is what ctest's skip pattern for gtest matches, so they show skipped.
    std::cout << "[  SKIPPED ] no Ceph cluster configured\n";
    GTEST_SKIP() << "no Ceph cluster configured (deploy/ceph-dev.sh up, "
                    "then eval its env)";
  }
};

[[maybe_unused]] auto* const gate =
    ::testing::AddGlobalTestEnvironment(new store_gate);

}  // namespace
