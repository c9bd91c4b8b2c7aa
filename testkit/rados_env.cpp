#include "testkit/rados_env.hpp"

#include <cstdlib>
#include <random>
#include <stdexcept>

namespace depot::test {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

std::optional<rados_env> rados_from_env() {
  rados_env e{env("DEPOT_CEPH_CONF"), env("DEPOT_RADOS_POOL"),
              env("DEPOT_CEPH_ID")};
  if (e.conf.empty() || e.pool.empty()) return std::nullopt;
  if (e.id.empty()) e.id = "admin";
  return e;
}

bool rados_required() { return env("DEPOT_REQUIRE_RADOS") == "1"; }

std::string unique_namespace(const std::string& tag) {
  std::random_device rd;
  return tag + "-" + std::to_string(rd()) + std::to_string(rd());
}

std::string test_store() {
  return env("DEPOT_TEST_STORE") == "rados" ? "rados" : "posix";
}

std::vector<std::string> rados_flags(const std::string& ns) {
  auto e = rados_from_env();
  if (!e)
    throw std::runtime_error(
        "no Ceph cluster configured: run deploy/ceph-dev.sh up and eval its "
        "env");
  return {"--store",   "rados", "--rados-pool", e->pool, "--ceph-conf",
          e->conf,     "--ceph-id", e->id, "--rados-namespace", ns};
}

}  // namespace depot::test
