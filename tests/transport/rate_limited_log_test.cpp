#include "transport/rate_limited_log.hpp"

#include "logging/log.hpp"
#include "tests/logging/json_lines.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>
#include <string>

namespace depot::transport {
namespace {

// Captures what the default logger writes while it lives.
class captured_log {
 public:
  captured_log() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_pattern("[%l] %v");
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  }
  ~captured_log() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream out_;
};

size_t lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(RateLimitedLog, LogsTheFirstOccurrenceOfACauseAndThenStaysQuiet) {
  captured_log log;
  for (int i = 0; i < 100; ++i) warn_limited("test: quiet cause", "refused");
  EXPECT_EQ(lines(log.text()), 1u) << log.text();
  EXPECT_NE(log.text().find("[warning] test: quiet cause: refused (1 since"),
            std::string::npos)
      << log.text();
}

TEST(RateLimitedLog, CausesAreLimitedSeparately) {
  captured_log log;
  warn_limited("test: cause a", "a");
  log_limited(spdlog::level::info, "test: cause b", "b");
  warn_limited("test: cause a", "a");
  EXPECT_EQ(lines(log.text()), 2u) << log.text();
  EXPECT_NE(log.text().find("[info] test: cause b: b"), std::string::npos);
}

TEST(RateLimitedLog, TextLinesCarryTheCountThenTheFields) {
  captured_log log;
  warn_limited("test: text fields", "refused", {{"peer", "p1"}, {"bytes", 7}});
  EXPECT_NE(log.text().find("[warning] test: text fields: refused (1 since the "
                            "previous line of this cause) peer=p1 bytes=7\n"),
            std::string::npos)
      << log.text();
}

TEST(RateLimitedLog, JsonLinesCarryTheCauseAndTheCountAsFields) {
  captured_log log;
  log::setup(log::format::json);
  for (int i = 0; i < 3; ++i)
    warn_limited("test: json cause", "refused", {{"peer", "p1"}});
  log::setup(log::format::text);
  auto r = test::json_lines::check_text(log.text());
  ASSERT_EQ(r.error, "") << log.text();
  ASSERT_EQ(r.lines.size(), 1u) << log.text();
  auto& l = r.lines[0];
  EXPECT_EQ(l.at("msg").value, "test: json cause: refused");
  EXPECT_EQ(l.at("level").value, "warn");
  EXPECT_EQ(l.at("cause").value, "test: json cause");
  EXPECT_EQ(l.at("occurrences").type, "int");
  EXPECT_EQ(l.at("occurrences").value, "1");
  EXPECT_EQ(l.at("peer").value, "p1");
}

}  // namespace
}  // namespace depot::transport
