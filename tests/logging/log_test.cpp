#include "logging/log.hpp"

#include "tests/logging/json_lines.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace depot::log {
namespace {

namespace jl = test::json_lines;
using namespace std::chrono_literals;

// The default logger writes into a string while this lives, in the format
// given, at debug level; the previous logger, format and level come back
// after.
class captured_log {
 public:
  explicit captured_log(format f)
      : previous_(spdlog::default_logger()),
        level_(spdlog::get_level()),
        format_(current_format()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("", sink));
    spdlog::set_level(spdlog::level::debug);
    setup(f);
  }
  ~captured_log() {
    setup(format_);
    spdlog::set_default_logger(previous_);
    spdlog::set_level(level_);
  }
  std::string text() const { return out_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  spdlog::level::level_enum level_;
  format format_;
  std::ostringstream out_;
};

// True if `s` has the shape of `pattern`, where each '9' stands for a digit
// and every other character for itself. (std::regex trips GCC 12's
// maybe-uninitialized warning under the sanitizers.)
bool shaped(std::string_view s, std::string_view pattern) {
  if (s.size() != pattern.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool digit = s[i] >= '0' && s[i] <= '9';
    if (pattern[i] == '9' ? !digit : s[i] != pattern[i]) return false;
  }
  return true;
}

size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// Every byte that could break a line, a string or a decoder.
const std::string hostile =
    "quote\" backslash\\ newline\n cr\r tab\t ctrl\x01 del\x7f braces{} "
    "bad\xff truncated\xe2\x82 overlong\xc0\xaf surrogate\xed\xa0\x80 "
    "e\xc3\xa9 smile\xf0\x9f\x98\x80 end";
// The same as it must read back: well-formed UTF-8 kept, each stray byte
// U+FFFD.
const std::string replacement = "\xef\xbf\xbd";
const std::string hostile_read =
    "quote\" backslash\\ newline\n cr\r tab\t ctrl\x01 del\x7f braces{} bad" +
    replacement + " truncated" + replacement + replacement + " overlong" +
    replacement + replacement + " surrogate" + replacement + replacement +
    replacement + " e\xc3\xa9 smile\xf0\x9f\x98\x80 end";

TEST(LogJson, EveryLineIsOneObjectWithTimeLevelThreadAndMessage) {
  captured_log log{format::json};
  info("upload stored", {{"id", "AbCdEfGh1234"}, {"bytes", 4096}});
  warn("plain message");
  error("an error", {{"error", "disk full"}});
  debug("a debug line");
  auto r = jl::check_text(log.text());
  ASSERT_EQ(r.error, "") << log.text();
  ASSERT_EQ(r.lines.size(), 4u) << log.text();
  EXPECT_EQ(jl::str(r.lines[0], "level"), "info");
  EXPECT_EQ(jl::str(r.lines[1], "level"), "warn");
  EXPECT_EQ(jl::str(r.lines[2], "level"), "error");
  EXPECT_EQ(jl::str(r.lines[3], "level"), "debug");
  EXPECT_EQ(jl::str(r.lines[0], "msg"), "upload stored");
  EXPECT_EQ(jl::str(r.lines[0], "id"), "AbCdEfGh1234");
  EXPECT_EQ(r.lines[1].size(), 4u) << "time, level, thread, msg only";
}

TEST(LogJson, TheTimeIsUtcWithMicroseconds) {
  captured_log log{format::json};
  auto before = std::chrono::system_clock::now();
  info("now");
  auto r = jl::check_text(log.text());
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.lines.size(), 1u);
  std::string time = jl::str(r.lines[0], "time");
  std::tm tm{};
  std::time_t t = std::chrono::system_clock::to_time_t(before);
  gmtime_r(&t, &tm);
  char date[16];
  std::strftime(date, sizeof date, "%Y-%m-%d", &tm);
  EXPECT_TRUE(shaped(time, "9999-99-99T99:99:99.999999Z")) << time;
  // Within a second of midnight the date may have turned meanwhile.
  EXPECT_TRUE(time.rfind(date, 0) == 0 || tm.tm_hour == 23) << time;
}

TEST(LogJson, FieldsKeepTheirTypes) {
  captured_log log{format::json};
  std::optional<uint64_t> none;
  std::optional<std::string> some{"x"};
  info("typed", {{"unsigned", uint64_t{18446744073709551615u}},
                 {"negative", -42},
                 {"ratio", 0.25},
                 {"duration_ms", 1500us},
                 {"dedup", true},
                 {"other", false},
                 {"routing", hex{std::string_view{"\x00\x80\xff", 3}}},
                 {"absent", none},
                 {"present", some},
                 {"empty_key", if_set{""}},
                 {"infinite", std::numeric_limits<double>::infinity()}});
  auto r = jl::check_text(log.text());
  ASSERT_EQ(r.error, "") << log.text();
  ASSERT_EQ(r.lines.size(), 1u);
  auto& l = r.lines[0];
  EXPECT_EQ(l.at("unsigned").type, "int");
  EXPECT_EQ(l.at("unsigned").value, "18446744073709551615");
  EXPECT_EQ(l.at("negative").type, "int");
  EXPECT_EQ(l.at("negative").value, "-42");
  EXPECT_EQ(l.at("ratio").type, "float");
  EXPECT_EQ(l.at("ratio").value, "0.25");
  EXPECT_EQ(l.at("duration_ms").type, "float");
  EXPECT_EQ(l.at("duration_ms").value, "1.5");
  EXPECT_EQ(l.at("dedup").type, "bool");
  EXPECT_EQ(l.at("dedup").value, "True");
  EXPECT_EQ(l.at("other").value, "False");
  EXPECT_EQ(jl::str(l, "routing"), "0080ff");
  EXPECT_EQ(l.count("absent"), 0u);
  EXPECT_EQ(jl::str(l, "present"), "x");
  EXPECT_EQ(l.count("empty_key"), 0u);
  EXPECT_EQ(l.at("infinite").type, "NoneType") << "JSON has no infinity";
}

TEST(LogJson, HostileStringsAreEscapedAndReadBackExactly) {
  captured_log log{format::json};
  info(hostile, {{"name", hostile}, {hostile, "as a key"}});
  spdlog::info("plain {}", hostile);
  auto r = jl::check_text(log.text());
  ASSERT_EQ(r.error, "") << log.text();
  ASSERT_EQ(r.lines.size(), 2u) << "no line was split";
  EXPECT_EQ(jl::str(r.lines[0], "msg"), hostile_read);
  EXPECT_EQ(jl::str(r.lines[0], "name"), hostile_read);
  EXPECT_EQ(jl::str(r.lines[0], hostile_read), "as a key");
  EXPECT_EQ(jl::str(r.lines[1], "msg"), "plain " + hostile_read);
}

TEST(LogJson, EveryOneByteStringReadsBackAsItselfOrReplaced) {
  captured_log log{format::json};
  for (int b = 0; b < 256; ++b) {
    std::string s(1, static_cast<char>(b));
    info("byte", {{"value", s}, {"code", b}});
  }
  auto r = jl::check_text(log.text());
  ASSERT_EQ(r.error, "") << log.text();
  ASSERT_EQ(r.lines.size(), 256u);
  for (int b = 0; b < 256; ++b)
    EXPECT_EQ(jl::str(r.lines[b], "value"),
              b < 0x80 ? std::string(1, static_cast<char>(b)) : replacement)
        << b;
}

TEST(LogJson, AFieldNamedLikeAStandardKeyIsRenamedNotDuplicated) {
  captured_log log{format::json};
  info("the message", {{"msg", "a field"}, {"time", 5}, {"level", "x"}});
  auto r = jl::check_text(log.text());
  ASSERT_EQ(r.error, "") << log.text();
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(jl::str(r.lines[0], "msg"), "the message");
  EXPECT_EQ(jl::str(r.lines[0], "msg_"), "a field");
  EXPECT_EQ(r.lines[0].at("time_").value, "5");
  EXPECT_EQ(jl::str(r.lines[0], "level"), "info");
}

TEST(LogJson, PlainSpdlogCallsBecomeTheMessageWithoutFields) {
  captured_log log{format::json};
  spdlog::info("{} files, {} bytes", 3, 4096);
  auto r = jl::check_text(log.text());
  ASSERT_EQ(r.error, "") << log.text();
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(jl::str(r.lines[0], "msg"), "3 files, 4096 bytes");
  EXPECT_EQ(r.lines[0].size(), 4u);
}

TEST(LogJson, TheLevelIsSpdlogsAndMayChangeAfterSetup) {
  captured_log log{format::json};
  spdlog::set_level(spdlog::level::warn);
  info("hidden", {{"a", 1}});
  spdlog::info("hidden too");
  warn("shown");
  spdlog::set_level(spdlog::level::trace);
  trace("shown at trace");
  auto r = jl::check_text(log.text());
  ASSERT_EQ(r.error, "") << log.text();
  ASSERT_EQ(r.lines.size(), 2u) << log.text();
  EXPECT_EQ(jl::str(r.lines[0], "msg"), "shown");
  EXPECT_EQ(jl::str(r.lines[1], "level"), "trace");
}

TEST(LogText, FieldsFollowTheMessageAsKeyValuePairs) {
  captured_log log{format::text};
  info("upload stored", {{"id", "AbCdEfGh1234"},
                         {"token", "7f"},
                         {"bytes", 4096},
                         {"dedup", false},
                         {"duration_ms", 1234us},
                         {"peer", hex{std::string_view{"\x00\x6b", 2}}},
                         {"key", if_set{""}}});
  std::string text = log.text();
  EXPECT_NE(text.find("[info] upload stored id=AbCdEfGh1234 token=7f "
                      "bytes=4096 dedup=false duration_ms=1.234 peer=006b\n"),
            std::string::npos)
      << text;
}

TEST(LogText, StringsThatAreNotPlainWordsAreQuotedAndEscaped) {
  captured_log log{format::text};
  info("refused {}", {{"name", hostile}, {"empty", ""}, {"eq", "a=b"}});
  std::string text = log.text();
  EXPECT_EQ(count_lines(text), 1u) << "a newline in a field cannot split it";
  EXPECT_NE(text.find("] [info] refused {} name=\""), std::string::npos)
      << "the message is not a format string: " << text;
  EXPECT_NE(text.find("name=\"quote\\\" backslash\\\\ newline\\n cr\\r tab\\t "
                      "ctrl\\u0001 del\\u007f braces{} bad\\ufffd"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(" e\xc3\xa9 smile\xf0\x9f\x98\x80 end\""),
            std::string::npos)
      << "well-formed UTF-8 stays readable: " << text;
  EXPECT_NE(text.find(" empty=\"\" eq=\"a=b\""), std::string::npos) << text;
}

TEST(LogText, PlainSpdlogLinesAreUnchanged) {
  captured_log log{format::text};
  spdlog::warn("cannot raise the fd limit: {}", "EPERM");
  const std::string text = log.text();
  const std::string rest = "] [warning] cannot raise the fd limit: EPERM\n";
  EXPECT_TRUE(text.size() == 24 + rest.size() &&
              shaped(text.substr(0, 24), "[9999-99-99 99:99:99.999") &&
              text.substr(24) == rest)
      << text;
}

TEST(LogLevels, ADisabledLevelWritesNothingInEitherFormat) {
  for (format f : {format::text, format::json}) {
    captured_log log{f};
    spdlog::set_level(spdlog::level::info);
    EXPECT_FALSE(enabled(spdlog::level::debug));
    EXPECT_TRUE(enabled(spdlog::level::info));
    debug("hidden", {{"a", 1}});
    trace("hidden");
    EXPECT_EQ(log.text(), "");
  }
}

TEST(LogFormat, OnlyTextAndJsonAreFormats) {
  EXPECT_EQ(parse_format("text"), format::text);
  EXPECT_EQ(parse_format("json"), format::json);
  EXPECT_EQ(parse_format("xml"), std::nullopt);
  EXPECT_EQ(parse_format("JSON"), std::nullopt);
  EXPECT_EQ(parse_format(""), std::nullopt);
}

TEST(LogLevels, LevelNamesAreThoseOfLogLevel) {
  EXPECT_EQ(level_name(spdlog::level::trace), "trace");
  EXPECT_EQ(level_name(spdlog::level::warn), "warn");
  EXPECT_EQ(level_name(spdlog::level::err), "error");
  EXPECT_EQ(level_name(spdlog::level::critical), "critical");
}

}  // namespace
}  // namespace depot::log

namespace depot::test::json_lines {
namespace {

// The checker the tests above rely on refuses what is not a log line.
TEST(JsonLinesChecker, RefusesWhatIsNotAJsonLogLine) {
  const std::string good =
      R"({"time":"2026-11-29T12:50:01.123456Z","level":"info","thread":1,)"
      R"("msg":"m"})";
  EXPECT_EQ(check_text(good + "\n").error, "");
  const std::string head = good.substr(0, good.size() - 1);
  for (const std::string& bad : std::vector<std::string>{
           good,                          // no newline
           good + "\n{\"time\":1}\n",     // keys missing
           "{\"msg\":\"a\nb\"}\n",        // raw newline
           head + ",\"a\":NaN}\n",        // NaN
           head + ",\"a\":1,\"a\":2}\n",  // a key twice
           head + ",\"a\":\"\xff\"}\n",   // not UTF-8
           R"({"time":"2026-11-29 12:50:01","level":"info","thread":1,)"
           R"("msg":"m"})"
           "\n",
           R"({"time":"2026-11-29T12:50:01.123456Z","level":"warning",)"
           R"("thread":1,"msg":"m"})"
           "\n",
       })
    EXPECT_NE(check_text(bad).error, "") << bad;
}

}  // namespace
}  // namespace depot::test::json_lines
