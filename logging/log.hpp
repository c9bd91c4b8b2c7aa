#pragma once

// Structured logging on top of spdlog: a message plus typed fields, written
// by spdlog's default logger (depotd's: standard output) in one of two
// formats chosen at start-up.
//
//   depot::log::info("upload stored", {{"id", id}, {"bytes", n}});
//
// - text (the default): spdlog's own line, the fields appended as
//   `key=value` (a string that is not plain printable text is quoted and
//   escaped, so no field can break a line or fake one):
//   `[2026-11-29 12:50:01.123] [info] upload stored id=AbC bytes=4096`
// - json: one object per line, `{"time":"2026-11-29T12:50:01.123456Z",
//   "level":"info","thread":1234,"msg":"upload stored","id":"AbC",
//   "bytes":4096}`; numbers and booleans as such, every string escaped
//   (invalid UTF-8 becomes U+FFFD), so every line parses.
//
// Plain spdlog calls (`spdlog::warn("... {}", x)`) keep working in both
// formats: their text is the message, without fields. The level is
// spdlog's (spdlog::set_level), never this module's: it may change at any
// time, and a disabled level costs one atomic load here, nothing formatted.
//
// Everything here is thread safe once setup() has run; setup() itself
// belongs at start-up, before other threads log. The json formatter gets a
// line's fields from the thread that logs: it works with spdlog's
// synchronous loggers (all depot uses), not with an async one.

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <type_traits>

namespace depot::log {

/// How log lines are written.
enum class format { text, json };

/// "text" or "json" as a format; nullopt for anything else.
std::optional<format> parse_format(std::string_view name);

/// Writes the default logger's lines (and those of loggers made later) in
/// `f` from now on: installs a formatter on every sink of spdlog's
/// registry. The level and the sinks stay as they are. Call at start-up,
/// before other threads log; calling it again switches the format.
void setup(format f);

/// The format setup() chose last (text until it is called).
format current_format();

/// Raw bytes logged as lowercase hex (a routing id, a digest). Views them:
/// they must outlive the logging call.
struct hex {
  std::string_view bytes;
};

/// A string field logged only when not empty (a CURVE key, which a NULL
/// connection lacks). Views it.
struct if_set {
  std::string_view text;
};

/// One named, typed value of a log line. It views what it names (strings,
/// hex bytes): build fields inside the logging call's full expression, as
/// the initializer lists below do, and never keep one.
///
/// Taken: bool; any integer (logged as a number); float and double (a
/// non-finite one as null in json); std::chrono durations (as milliseconds
/// with three decimals: name such a field `..._ms`); anything convertible to
/// std::string_view (as a string); hex; if_set; std::optional of any of
/// these (nothing logged when empty).
class field {
 public:
  enum class kind {
    absent,  ///< logs nothing (an empty optional or if_set)
    string,
    hex,
    signed_int,
    unsigned_int,
    floating,
    milliseconds,
    boolean
  };

  /// `key` = `value`; which values are taken: see the class comment. A
  /// type not taken is a compile-time error.
  template <class T>
  field(std::string_view key, const T& value) : key_(key) {
    using U = std::decay_t<T>;
    if constexpr (std::is_same_v<U, bool>) {
      kind_ = kind::boolean;
      b_ = value;
    } else if constexpr (std::is_same_v<U, char>) {
      static_assert(!std::is_same_v<U, char>,
                    "log a char as a string_view or an integer");
    } else if constexpr (std::is_integral_v<U> && std::is_signed_v<U>) {
      kind_ = kind::signed_int;
      i_ = static_cast<int64_t>(value);
    } else if constexpr (std::is_integral_v<U>) {
      kind_ = kind::unsigned_int;
      u_ = static_cast<uint64_t>(value);
    } else if constexpr (std::is_floating_point_v<U>) {
      kind_ = kind::floating;
      d_ = static_cast<double>(value);
    } else if constexpr (is_duration<U>::value) {
      kind_ = kind::milliseconds;
      d_ = std::chrono::duration<double, std::milli>(value).count();
    } else if constexpr (std::is_same_v<U, hex>) {
      kind_ = kind::hex;
      s_ = value.bytes;
    } else if constexpr (std::is_same_v<U, if_set>) {
      kind_ = value.text.empty() ? kind::absent : kind::string;
      s_ = value.text;
    } else if constexpr (is_optional<U>::value) {
      if (value) *this = field(key, *value);
    } else {
      static_assert(std::is_convertible_v<const T&, std::string_view>,
                    "a log field takes numbers, bools, durations, strings, "
                    "hex, if_set and optionals of those");
      kind_ = kind::string;
      s_ = std::string_view(value);
    }
  }

  /// The field's name as given.
  std::string_view key() const { return key_; }
  /// What the value is; only the accessor of that kind below is meaningful.
  kind type() const { return kind_; }
  /// string: the text; hex: the raw bytes.
  std::string_view text() const { return s_; }
  /// signed_int.
  int64_t signed_value() const { return i_; }
  /// unsigned_int.
  uint64_t unsigned_value() const { return u_; }
  /// floating; milliseconds (the duration in ms).
  double floating_value() const { return d_; }
  /// boolean.
  bool boolean_value() const { return b_; }

 private:
  template <class T>
  struct is_duration : std::false_type {};
  template <class R, class P>
  struct is_duration<std::chrono::duration<R, P>> : std::true_type {};
  template <class T>
  struct is_optional : std::false_type {};
  template <class T>
  struct is_optional<std::optional<T>> : std::true_type {};

  std::string_view key_;
  kind kind_ = kind::absent;
  std::string_view s_;
  int64_t i_ = 0;
  uint64_t u_ = 0;
  double d_ = 0;
  bool b_ = false;
};

/// The fields of one line, in the order they are logged.
using fields = std::initializer_list<field>;

/// True if a line at `level` would be written now.
inline bool enabled(spdlog::level::level_enum level) {
  return spdlog::default_logger_raw()->should_log(level);
}

/// Writes `msg` with `first` then `more` at `level`, whether or not the
/// level is enabled (callers check enabled() first; the functions below
/// do). Never throws: a line that cannot be written is lost.
void write(spdlog::level::level_enum level, std::string_view msg,
           fields first = {}, fields more = {});

/// Logs `msg` with `f` at `level` if that level is enabled.
inline void at(spdlog::level::level_enum level, std::string_view msg,
               fields f = {}) {
  if (enabled(level)) write(level, msg, f);
}

/// at() for each level.
inline void trace(std::string_view msg, fields f = {}) {
  at(spdlog::level::trace, msg, f);
}
inline void debug(std::string_view msg, fields f = {}) {
  at(spdlog::level::debug, msg, f);
}
inline void info(std::string_view msg, fields f = {}) {
  at(spdlog::level::info, msg, f);
}
inline void warn(std::string_view msg, fields f = {}) {
  at(spdlog::level::warn, msg, f);
}
inline void error(std::string_view msg, fields f = {}) {
  at(spdlog::level::err, msg, f);
}
inline void critical(std::string_view msg, fields f = {}) {
  at(spdlog::level::critical, msg, f);
}

/// The name a level has in log lines and in `depotd --log-level`: trace,
/// debug, info, warn, error, critical (off for off).
std::string_view level_name(spdlog::level::level_enum level);

}  // namespace depot::log
