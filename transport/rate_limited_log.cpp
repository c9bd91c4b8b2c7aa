#include "transport/rate_limited_log.hpp"

#include <spdlog/fmt/fmt.h>

#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <unordered_map>

namespace depot::transport {
namespace {

struct cause_state {
  std::chrono::steady_clock::time_point last{};
  bool logged = false;
  uint64_t count = 0;  // occurrences since the last line, the current one too
};

// Few causes exist (a dozen fixed keys), so the map stays small; one mutex
// is cheap next to what a refusal costs anyway.
std::mutex mutex;
std::unordered_map<std::string, cause_state>& causes() {
  static auto* map = new std::unordered_map<std::string, cause_state>;
  return *map;  // leaked on purpose: usable from static destructors
}

}  // namespace

void log_limited(spdlog::level::level_enum level, std::string_view cause,
                 std::string_view text, log::fields fields) {
  try {
    uint64_t count;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto& st = causes()[std::string{cause}];
      ++st.count;
      auto now = std::chrono::steady_clock::now();
      if (st.logged && now - st.last < log_interval) return;
      st.logged = true;
      st.last = now;
      count = st.count;
      st.count = 0;
    }
    if (!log::enabled(level)) return;
    if (log::current_format() == log::format::json) {
      log::write(level, fmt::format("{}: {}", cause, text),
                 {{"cause", cause}, {"occurrences", count}}, fields);
    } else {
      log::write(
          level,
          fmt::format("{}: {} ({} since the previous line of this cause)",
                      cause, text, count),
          fields);
    }
  } catch (const std::exception&) {
    // Out of memory for the key, or a formatting failure: logging is
    // best effort and must not turn a refusal into a crash.
  }
}

}  // namespace depot::transport
