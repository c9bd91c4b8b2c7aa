#include "metrics/exposition.hpp"

#include "metrics/registry.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace depot::metrics {
namespace {

TEST(Exposition, WritesAKnownStateExactly) {
  registry reg;
  auto& req = reg.add_counters("depot_requests_total", "Requests answered.",
                               {"op", "code"});
  req.add({"upload", "ok"}).inc(3);
  req.add({"stat", "not_found"}).inc();
  reg.add_gauges("depot_uploads", "Uploads now.").add({}).set(-2);
  auto& h = reg.add_histograms("depot_flush_seconds", "Flushes.")
                .add({}, std::vector<uint64_t>{1000000, 5000000}, 1000000000);
  h.observe(500000);   // 0.0005 s: first bucket
  h.observe(1000000);  // exactly the bound: first bucket (le is inclusive)
  h.observe(3000000);  // second
  h.observe(9000000);  // +Inf only
  EXPECT_EQ(expose(reg),
            "# HELP depot_requests_total Requests answered.\n"
            "# TYPE depot_requests_total counter\n"
            "depot_requests_total{op=\"upload\",code=\"ok\"} 3\n"
            "depot_requests_total{op=\"stat\",code=\"not_found\"} 1\n"
            "# HELP depot_uploads Uploads now.\n"
            "# TYPE depot_uploads gauge\n"
            "depot_uploads -2\n"
            "# HELP depot_flush_seconds Flushes.\n"
            "# TYPE depot_flush_seconds histogram\n"
            "depot_flush_seconds_bucket{le=\"0.001\"} 2\n"
            "depot_flush_seconds_bucket{le=\"0.005\"} 3\n"
            "depot_flush_seconds_bucket{le=\"+Inf\"} 4\n"
            "depot_flush_seconds_sum 0.0135\n"
            "depot_flush_seconds_count 4\n");
}

TEST(Exposition, HistogramBucketsAreCumulativeWithLabelsBeforeLe) {
  registry reg;
  auto& f = reg.add_histograms("files", "Files per batch.", {"lane"});
  auto& h = f.add({"0"}, histogram::powers_of_two(4));
  for (uint64_t v : {1, 1, 2, 3, 4, 100}) h.observe(v);
  EXPECT_EQ(expose(reg),
            "# HELP files Files per batch.\n"
            "# TYPE files histogram\n"
            "files_bucket{lane=\"0\",le=\"1\"} 2\n"
            "files_bucket{lane=\"0\",le=\"2\"} 3\n"
            "files_bucket{lane=\"0\",le=\"4\"} 5\n"
            "files_bucket{lane=\"0\",le=\"+Inf\"} 6\n"
            "files_sum{lane=\"0\"} 111\n"
            "files_count{lane=\"0\"} 6\n");
}

TEST(Exposition, EscapesLabelValuesAndHelp) {
  registry reg;
  reg.add_counters("c_total", "a \\ b\nc \"q\"", {"l"})
      .add({"back\\slash \"quoted\"\nnewline"})
      .inc();
  EXPECT_EQ(expose(reg),
            "# HELP c_total a \\\\ b\\nc \"q\"\n"
            "# TYPE c_total counter\n"
            "c_total{l=\"back\\\\slash \\\"quoted\\\"\\nnewline\"} 1\n");
}

TEST(Exposition, FormatsValuesAsTheFormatWants) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(12345678901234.0), "12345678901234");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(0.0005), "0.0005");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(1e300), "1e+300");
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(format_value(0.0 / 0.0), "NaN");
}

TEST(Exposition, CallbackFamiliesAreReadAtEachScrape) {
  registry reg;
  int calls = 0;
  reg.add_callback("depot_open", "Open things.", metric_type::gauge, {"kind"},
                   [&calls](sample_sink& out) {
                     ++calls;
                     out.value({"a"}, calls);
                   });
  EXPECT_EQ(expose(reg),
            "# HELP depot_open Open things.\n# TYPE depot_open gauge\n"
            "depot_open{kind=\"a\"} 1\n");
  EXPECT_NE(expose(reg).find("depot_open{kind=\"a\"} 2\n"), std::string::npos);
}

TEST(Registry, RefusesBadNamesDuplicatesAndWrongArity) {
  registry reg;
  EXPECT_THROW(reg.add_counters("9bad", "x"), std::invalid_argument);
  EXPECT_THROW(reg.add_counters("bad-name", "x"), std::invalid_argument);
  EXPECT_THROW(reg.add_counters("ok_total", "x", {"__reserved"}),
               std::invalid_argument);
  EXPECT_THROW(reg.add_histograms("h", "x", {"le"}), std::invalid_argument);
  auto& f = reg.add_counters("ok_total", "x", {"a"});
  EXPECT_THROW(reg.add_gauges("ok_total", "y"), std::invalid_argument);
  EXPECT_THROW(f.add({}), std::invalid_argument);
  EXPECT_THROW(histogram({2, 2}), std::invalid_argument);
}

TEST(Registry, ARegistrationRemovesItsFamiliesWhenItGoes) {
  registry reg;
  reg.add_counters("kept_total", "k").add({}).inc();
  {
    registration r{&reg};
    r.add_callback("owned", "o", metric_type::gauge, {},
                   [](sample_sink& out) { out.value({}, 7); });
    EXPECT_NE(expose(reg).find("owned 7\n"), std::string::npos);
  }
  EXPECT_EQ(expose(reg),
            "# HELP kept_total k\n# TYPE kept_total counter\nkept_total 1\n");
}

TEST(Registry, CountsFromManyThreadsAreNeverLost) {
  counter c;
  histogram h(histogram::powers_of_two(8));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        c.inc();
        h.observe(static_cast<uint64_t>(i % 10));
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 400000u);
  auto s = h.read();
  EXPECT_EQ(s.cumulative.back(), 400000u);
  EXPECT_EQ(s.sum, 4u * 10000u * 45u);
  // Bounds 1 2 4 8: values 0-1, 2, 3-4, 5-8, 9.
  EXPECT_EQ(s.cumulative[0], 4u * 20000u);
  EXPECT_EQ(s.cumulative[3], 4u * 90000u);
}

}  // namespace
}  // namespace depot::metrics
