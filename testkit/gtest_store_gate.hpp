#pragma once

// Under DEPOT_TEST_STORE=rados (ctest's rados.* tests) every depotd the
// testkit starts runs on the RADOS store: without a cluster configured, the
// whole test program skips, or fails where DEPOT_REQUIRE_RADOS=1 says one
// must be. Included by gtest_depotd.hpp: registered once per program.

#include "testkit/rados_env.hpp"

#include <gtest/gtest.h>

#include <iostream>

namespace depot::test {

class store_gate : public ::testing::Environment {
 public:
  void SetUp() override {
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

inline ::testing::Environment* const store_gate_registered =
    ::testing::AddGlobalTestEnvironment(new store_gate);

}  // namespace depot::test
