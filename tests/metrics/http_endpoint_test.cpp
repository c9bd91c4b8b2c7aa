#include "metrics/http/http_endpoint.hpp"

#include <gtest/gtest.h>

#include <httplib.h>
#include <string>

namespace depot::metrics {
namespace {

TEST(HttpEndpoint, ServesMetricsHealthAndReadiness) {
  registry reg;
  reg.add_counters("depot_things_total", "Things.").add({}).inc(5);
  readiness ready;
  http_endpoint ep{reg, ready};
  ASSERT_EQ(ep.start({"127.0.0.1", 0}), "");
  ASSERT_NE(ep.port(), 0);
  httplib::Client cli("127.0.0.1", ep.port());
  auto m = cli.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_EQ(m->get_header_value("Content-Type"),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(m->body,
            "# HELP depot_things_total Things.\n"
            "# TYPE depot_things_total counter\ndepot_things_total 5\n");
  auto h = cli.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->body, "ok\n");

  ready.set(phase::recovering);
  auto r = cli.Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "recovering\n");
  ready.set(phase::ready);
  r = cli.Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  ready.set(phase::stopping);
  r = cli.Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "shutting down\n");

  auto missing = cli.Get("/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  ep.stop();
  EXPECT_FALSE(httplib::Client("127.0.0.1", ep.port()).Get("/healthz"));
}

TEST(HttpEndpoint, APortInUseFailsTheStartWithTheReason) {
  registry reg;
  readiness ready;
  http_endpoint first{reg, ready};
  ASSERT_EQ(first.start({"127.0.0.1", 0}), "");
  http_endpoint second{reg, ready};
  std::string err = second.start({"127.0.0.1", first.port()});
  EXPECT_NE(err.find("cannot bind 127.0.0.1:" + std::to_string(first.port())),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("in use"), std::string::npos) << err;
}

TEST(HttpEndpoint, StopsAtOnceWhenNeverStarted) {
  registry reg;
  readiness ready;
  http_endpoint ep{reg, ready};
  ep.stop();
}

}  // namespace
}  // namespace depot::metrics
