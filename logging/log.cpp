#include "logging/log.hpp"

#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <memory>

namespace depot::log {
namespace {

using spdlog::memory_buf_t;

std::atomic<format> chosen{format::text};

// A structured line's fields, already rendered as json members, handed from
// write() to the json formatter: spdlog's log_msg has no room for them, and
// a synchronous logger formats on the calling thread while write() waits.
// `payload` tells the formatter the line is write()'s and not a plain
// spdlog call's.
struct pending_fields {
  bool active = false;
  const char* payload = nullptr;
  std::string_view members;
};
thread_local pending_fields pending;

void append(memory_buf_t& out, std::string_view s) {
  out.append(s.data(), s.data() + s.size());
}

// The length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no
// overlong forms, no surrogates, nothing past U+10FFFF), or 0.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto at = [&](size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0x100u;
  };
  auto cont = [](unsigned b) { return b >= 0x80 && b <= 0xbf; };
  unsigned b0 = at(0);
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(at(1)) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    unsigned lo = b0 == 0xe0 ? 0xa0 : 0x80;
    unsigned hi = b0 == 0xed ? 0x9f : 0xbf;
    return at(1) >= lo && at(1) <= hi && cont(at(2)) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    unsigned lo = b0 == 0xf0 ? 0x90 : 0x80;
    unsigned hi = b0 == 0xf4 ? 0x8f : 0xbf;
    return at(1) >= lo && at(1) <= hi && cont(at(2)) && cont(at(3)) ? 4 : 0;
  }
  return 0;
}

// `s` as the inside of a JSON string: quote, backslash and every control
// character escaped (DEL too), well-formed UTF-8 kept, each byte of
// anything else replaced by \ufffd. The result is valid JSON and valid
// UTF-8 whatever `s` holds, and holds no line break.
void escape(memory_buf_t& out, std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  size_t plain = 0;  // start of the run copied as is
  auto flush = [&](size_t i) { append(out, s.substr(plain, i - plain)); };
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (size_t n = utf8_sequence(s, i)) {
        i += n;
        continue;
      }
      flush(i);
      append(out, "\\ufffd");
      plain = ++i;
      continue;
    }
    flush(i);
    switch (c) {
      case '"':
        append(out, "\\\"");
        break;
      case '\\':
        append(out, "\\\\");
        break;
      case '\n':
        append(out, "\\n");
        break;
      case '\r':
        append(out, "\\r");
        break;
      case '\t':
        append(out, "\\t");
        break;
      case '\b':
        append(out, "\\b");
        break;
      case '\f':
        append(out, "\\f");
        break;
      default: {
        char u[] = {'\\', 'u', '0', '0', digits[c >> 4], digits[c & 15]};
        out.append(u, u + sizeof u);
      }
    }
    plain = ++i;
  }
  flush(s.size());
}

void quoted(memory_buf_t& out, std::string_view s) {
  out.push_back('"');
  escape(out, s);
  out.push_back('"');
}

void hex_of(memory_buf_t& out, std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  for (char b : bytes) {
    auto c = static_cast<unsigned char>(b);
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
}

// A text-mode value needs no quotes when it is printable ASCII without
// spaces, quotes, backslashes or '=': it cannot be misread as several.
bool bare(std::string_view s) {
  if (s.empty()) return false;
  for (char b : s) {
    auto c = static_cast<unsigned char>(b);
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '=')
      return false;
  }
  return true;
}

// The value of `f`, as json or as text. Numbers are the same in both; a
// non-finite one is null in json (which has no such numbers).
void value(memory_buf_t& out, const field& f, bool json) {
  using kind = field::kind;
  switch (f.type()) {
    case kind::absent:
      break;
    case kind::string:
      if (json || !bare(f.text()))
        quoted(out, f.text());
      else
        append(out, f.text());
      break;
    case kind::hex:
      if (json || f.text().empty()) out.push_back('"');
      hex_of(out, f.text());
      if (json || f.text().empty()) out.push_back('"');
      break;
    case kind::signed_int:
      fmt::format_to(std::back_inserter(out), "{}", f.signed_value());
      break;
    case kind::unsigned_int:
      fmt::format_to(std::back_inserter(out), "{}", f.unsigned_value());
      break;
    case kind::floating:
    case kind::milliseconds: {
      double d = f.floating_value();
      if (json && !std::isfinite(d))
        append(out, "null");
      else if (f.type() == kind::milliseconds)
        fmt::format_to(std::back_inserter(out), "{:.3f}", d);
      else
        fmt::format_to(std::back_inserter(out), "{}", d);
      break;
    }
    case kind::boolean:
      append(out, f.boolean_value() ? "true" : "false");
      break;
  }
}

// The keys every json line has: a field of that name is logged with a `_`
// appended, so that no line has a key twice.
bool reserved(std::string_view key) {
  return key == "time" || key == "level" || key == "thread" || key == "msg" ||
         key == "logger";
}

void json_members(memory_buf_t& out, fields list) {
  for (const field& f : list) {
    if (f.type() == field::kind::absent) continue;
    append(out, ",\"");
    escape(out, f.key());
    if (reserved(f.key())) out.push_back('_');
    append(out, "\":");
    value(out, f, true);
  }
}

void text_pairs(memory_buf_t& out, fields list) {
  for (const field& f : list) {
    if (f.type() == field::kind::absent) continue;
    out.push_back(' ');
    append(out, f.key());
    out.push_back('=');
    value(out, f, false);
  }
}

// One JSON object per line (see log.hpp). spdlog calls it under the sink's
// lock, on the thread that logs.
class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg,
              memory_buf_t& dest) override {
    append(dest, "{\"time\":\"");
    timestamp(dest, msg.time);
    append(dest, "\",\"level\":\"");
    append(dest, level_name(msg.level));
    append(dest, "\",\"thread\":");
    fmt::format_to(std::back_inserter(dest), "{}", msg.thread_id);
    append(dest, ",\"msg\":");
    std::string_view payload{msg.payload.data(), msg.payload.size()};
    quoted(dest, payload);
    if (msg.logger_name.size() > 0) {
      append(dest, ",\"logger\":");
      quoted(dest, {msg.logger_name.data(), msg.logger_name.size()});
    }
    if (pending.active && pending.payload == msg.payload.data())
      append(dest, pending.members);
    append(dest, "}\n");
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }

 private:
  // RFC 3339 in UTC with microseconds; the date and time of day are
  // computed once per second.
  void timestamp(memory_buf_t& dest, spdlog::log_clock::time_point t) {
    using namespace std::chrono;
    auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
    int64_t secs = us / 1000000;
    int64_t frac = us % 1000000;
    if (frac < 0) {
      frac += 1000000;
      --secs;
    }
    if (secs != cached_second_ || cached_len_ == 0) {
      std::time_t tt = static_cast<std::time_t>(secs);
      std::tm tm{};
      gmtime_r(&tt, &tm);
      int n = std::snprintf(cached_, sizeof cached_,
                            "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                            tm.tm_sec);
      cached_len_ = n > 0 ? static_cast<size_t>(n) : 0;
      cached_second_ = secs;
    }
    dest.append(cached_, cached_ + cached_len_);
    fmt::format_to(std::back_inserter(dest), ".{:06}Z", frac);
  }

  int64_t cached_second_ = 0;
  char cached_[40] = {};
  size_t cached_len_ = 0;
};

}  // namespace

std::optional<format> parse_format(std::string_view name) {
  if (name == "text") return format::text;
  if (name == "json") return format::json;
  return std::nullopt;
}

void setup(format f) {
  chosen.store(f, std::memory_order_release);
  if (f == format::json)
    spdlog::set_formatter(std::make_unique<json_formatter>());
  else
    spdlog::set_formatter(std::make_unique<spdlog::pattern_formatter>());
}

format current_format() { return chosen.load(std::memory_order_acquire); }

void write(spdlog::level::level_enum level, std::string_view msg, fields first,
           fields more) {
  // Reused per thread: a line costs no allocation once the buffer has grown.
  thread_local memory_buf_t buf;
  try {
    buf.clear();
    auto* logger = spdlog::default_logger_raw();
    if (current_format() == format::json) {
      json_members(buf, first);
      json_members(buf, more);
      pending = {true, msg.data(), {buf.data(), buf.size()}};
      logger->log(level, spdlog::string_view_t{msg.data(), msg.size()});
      pending = {};
    } else {
      append(buf, msg);
      text_pairs(buf, first);
      text_pairs(buf, more);
      logger->log(level, spdlog::string_view_t{buf.data(), buf.size()});
    }
  } catch (const std::exception&) {
    // Out of memory for the line: logging is best effort, never a crash.
    pending = {};
  }
}

std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

}  // namespace depot::log
