#include "transport/rate_limited_log.hpp"

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

}  // namespace
}  // namespace depot::transport
