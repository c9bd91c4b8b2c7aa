#include "transport/rate_limited_log.hpp"

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
                 std::string_view text) {
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
    spdlog::log(level, "{}: {} ({} since the previous line of this cause)",
                cause, text, count);
  } catch (const std::exception&) {
    // Out of memory for the key, or a formatting failure: logging is
    // best effort and must not turn a refusal into a crash.
  }
}

}  // namespace depot::transport
