#include "metrics/readiness.hpp"

#include "metrics/listen_address.hpp"

#include <gtest/gtest.h>

#include <string>

namespace depot::metrics {
namespace {

TEST(Readiness, IsReadyOnlyInTheReadyPhaseWithWritableStorage) {
  readiness r;
  EXPECT_EQ(r.check().reason, "starting");
  r.set(phase::recovering);
  EXPECT_FALSE(r.check().ready);
  EXPECT_EQ(r.check().reason, "recovering");
  r.set(phase::ready);
  EXPECT_TRUE(r.check().ready);
  std::string why;
  r.set_storage_check([&why] { return why; });
  EXPECT_TRUE(r.check().ready);
  why = "/data: read-only file system";
  EXPECT_FALSE(r.check().ready);
  EXPECT_EQ(r.check().reason,
            "storage not writable: /data: read-only file system");
}

TEST(Readiness, StoppingIsFinal) {
  readiness r;
  r.set(phase::ready);
  r.set(phase::stopping);
  r.set(phase::ready);
  EXPECT_EQ(r.current(), phase::stopping);
  EXPECT_EQ(r.check().reason, "shutting down");
}

TEST(Readiness, DirectoryCheckSeesAWritableAndAMissingDirectory) {
  EXPECT_EQ(directory_writable_check("/tmp")(), "");
  EXPECT_NE(directory_writable_check("/nonexistent/depot")(), "");
  // /proc is mounted read-only for writes of this kind on every Linux.
  EXPECT_NE(directory_writable_check("/proc/self")(), "");
}

TEST(ListenAddress, ParsesIpv4Ipv6AndLocalhost) {
  std::string err;
  auto a = parse_listen_address("127.0.0.1:9570", &err);
  ASSERT_TRUE(a) << err;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9570);
  a = parse_listen_address("[::1]:0", &err);
  ASSERT_TRUE(a) << err;
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->authority(), "[::1]:0");
  a = parse_listen_address("localhost:80", &err);
  ASSERT_TRUE(a) << err;
  EXPECT_EQ(a->host, "127.0.0.1");
}

TEST(ListenAddress, RefusesWhatIsNotAddrPort) {
  for (const char* bad :
       {"9570", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:65536",
        "300.1.1.1:1", "example.com:80", "[::zz]:1", ":9570"}) {
    std::string err;
    EXPECT_FALSE(parse_listen_address(bad, &err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

}  // namespace
}  // namespace depot::metrics
