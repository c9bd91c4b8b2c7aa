#pragma once

// Where the tests find a Ceph cluster: deploy/ceph-dev.sh env exports
// DEPOT_CEPH_CONF, DEPOT_RADOS_POOL and DEPOT_CEPH_ID (and the tests run in
// its network namespace). Without them the RADOS cases skip, unless
// DEPOT_REQUIRE_RADOS=1 (CI sets it) makes a missing cluster a failure.
// DEPOT_TEST_STORE=rados makes every depotd the testkit starts use it.

#include <optional>
#include <string>
#include <vector>

namespace depot::test {

struct rados_env {
  std::string conf;  ///< ceph.conf
  std::string pool;
  std::string id;  ///< the Ceph user, without client.
};

/// The cluster from the environment, if one is configured.
std::optional<rados_env> rados_from_env();

/// Whether a missing cluster must fail the RADOS cases (DEPOT_REQUIRE_RADOS).
bool rados_required();

/// A RADOS namespace name no other test uses: `tag` plus random digits.
std::string unique_namespace(const std::string& tag = "t");

/// The store the testkit's depotd processes use: "rados" if
/// DEPOT_TEST_STORE=rados, else "posix".
std::string test_store();

/// depotd's flags for the RADOS store in namespace `ns` of the configured
/// cluster (throws std::runtime_error when none is configured).
std::vector<std::string> rados_flags(const std::string& ns);

}  // namespace depot::test
