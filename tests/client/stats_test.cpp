// `depot stats`: the text format read back (parse_metrics,
// histogram_quantile), and the command against a real depotd --metrics.

#include "client/cli/stats.hpp"

#include "tests/client/support.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace depot::test {
namespace {

using cli::histogram_quantile;
using cli::parse_metrics;

TEST(StatsParse, ReadsNamesLabelsWithEscapesAndValues) {
  std::string err;
  auto s = parse_metrics(
      "# HELP x_total X.\n# TYPE x_total counter\n"
      "x_total{op=\"up\\\"load\",code=\"ok\"} 3\n"
      "y 1.5e3\n"
      "h_bucket{le=\"+Inf\"} +Inf\n",
      &err);
  ASSERT_TRUE(s) << err;
  ASSERT_EQ(s->size(), 3u);
  EXPECT_EQ((*s)[0].name, "x_total");
  EXPECT_EQ((*s)[0].labels.at("op"), "up\"load");
  EXPECT_EQ((*s)[0].labels.at("code"), "ok");
  EXPECT_EQ((*s)[0].value, 3);
  EXPECT_EQ((*s)[1].value, 1500);
  EXPECT_TRUE(std::isinf((*s)[2].value));
}

TEST(StatsParse, RefusesWhatIsNotTheTextFormat) {
  for (const char* bad :
       {"x{op=\"a\" 1\n", "x nope\n", "{a=\"b\"} 1\n", "x{op=\"a} 1\n"}) {
    std::string err;
    EXPECT_FALSE(parse_metrics(bad, &err)) << bad;
    EXPECT_NE(err.find("line 1"), std::string::npos) << err;
  }
}

TEST(StatsQuantile, InterpolatesWithinTheBucketAsPrometheusDoes) {
  std::string err;
  auto s = parse_metrics(
      "d_bucket{op=\"a\",le=\"0.1\"} 50\n"
      "d_bucket{op=\"a\",le=\"0.2\"} 90\n"
      "d_bucket{op=\"a\",le=\"+Inf\"} 100\n"
      "d_bucket{op=\"b\",le=\"0.1\"} 0\n"
      "d_bucket{op=\"b\",le=\"0.2\"} 0\n"
      "d_bucket{op=\"b\",le=\"+Inf\"} 0\n",
      &err);
  ASSERT_TRUE(s) << err;
  // Rank 25 of 50 in [0, 0.1]; rank 70 is 20 of 40 into [0.1, 0.2].
  EXPECT_DOUBLE_EQ(*histogram_quantile(*s, "d", {{"op", "a"}}, 0.25), 0.05);
  EXPECT_DOUBLE_EQ(*histogram_quantile(*s, "d", {{"op", "a"}}, 0.7), 0.15);
  // In +Inf: the highest finite bound.
  EXPECT_DOUBLE_EQ(*histogram_quantile(*s, "d", {{"op", "a"}}, 0.99), 0.2);
  EXPECT_FALSE(histogram_quantile(*s, "d", {{"op", "b"}}, 0.5));
  EXPECT_FALSE(histogram_quantile(*s, "nothing", {}, 0.5));
}

int metrics_port(const std::string& log) {
  const std::string line = "metrics on http://127.0.0.1:";
  size_t at = log.find(line);
  if (at == std::string::npos) return 0;
  return std::atoi(log.c_str() + at + line.size());
}

// The whitespace-separated words of the first line of `out` whose first
// word is `first`; empty if none.
std::vector<std::string> row(const std::string& out, const std::string& first) {
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    if (!words.empty() && words[0] == first) return words;
  }
  return {};
}

TEST(StatsCommand, SumsUpARunningServer) {
  test_depotd d({"--metrics", "127.0.0.1:0"});
  int port = metrics_port(d.log());
  ASSERT_NE(port, 0) << d.log();
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  temp_dir dir;
  write_bytes(dir / "a.txt", "the same bytes twice\n");
  ASSERT_EQ(run_cli(dir, d.endpoint(), {"upload", dir / "a.txt"}).status, 0);
  ASSERT_EQ(run_cli(dir, d.endpoint(), {"upload", dir / "a.txt"}).status, 0);
  ASSERT_EQ(run_cli(dir, d.endpoint(), {"stat", "AAAAAAAAAAAA"}).status, 1);

  cli_run r =
      run_cli(dir, {}, {"stats", "--metrics-url", url, "--interval", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("depotd at " + url + ": up "), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(", ready\n"), std::string::npos) << r.out;
  auto upload = row(r.out, "upload");
  ASSERT_GE(upload.size(), 4u) << r.out;
  EXPECT_EQ(upload[1], "2") << r.out;  // total
  EXPECT_EQ(upload[3], "0") << r.out;  // errors
  auto stat = row(r.out, "stat");
  ASSERT_GE(stat.size(), 4u) << r.out;
  EXPECT_EQ(stat[1], "1") << r.out;
  EXPECT_EQ(stat[3], "1") << r.out;
  EXPECT_NE(r.out.find("errors by code: not_found 1\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("busy by cause: none\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 dedup hits"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("uploads: 0 in progress, 2 finished records; memory 0 B "
                       "of 512 MiB (0.0%)\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("storage errors: none\n"), std::string::npos) << r.out;
  auto process = row(r.out, "process:");
  ASSERT_GE(process.size(), 8u) << r.out;
  EXPECT_EQ(process[1], "RSS") << r.out;
  EXPECT_GT(std::atoi(process[4].c_str()), 3) << r.out;  // fds
  EXPECT_EQ(process[5], "fds") << r.out;

  // Two scrapes: rates over the interval; the URL from the environment.
  r = run_cli(dir, {}, {"stats", "--interval", "0.2"}, {},
              {"DEPOT_METRICS_URL=" + url});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("  requests            total          /s"),
            std::string::npos)
      << r.out;
}

TEST(StatsCommand, SaysWhenNothingAnswers) {
  temp_dir dir;
  int port = free_tcp_port();
  cli_run r =
      run_cli(dir, {},
              {"stats", "--metrics-url",
               "http://127.0.0.1:" + std::to_string(port), "--interval", "0"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("cannot reach http://127.0.0.1:" + std::to_string(port) +
                       "/metrics"),
            std::string::npos)
      << r.err;
  r = run_cli(dir, {},
              {"stats", "--metrics-url", "ftp://x", "--interval", "0"});
  EXPECT_EQ(r.status, 2) << r.err;
}

}  // namespace
}  // namespace depot::test
