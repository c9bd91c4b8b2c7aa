#pragma once

// Refusals and resource exhaustion that operators must see (busy replies,
// dropped connections, fd exhaustion, failed deletes), logged without
// letting a flood of them flood the log: one line per cause per interval,
// carrying how many times the cause occurred since the previous line.

#include <spdlog/spdlog.h>

#include <chrono>
#include <string_view>

namespace depot::transport {

/// How often one cause may log: one line per cause per this interval.
inline constexpr std::chrono::seconds log_interval{10};

/// Records one occurrence of `cause` and logs `text` at `level` if the
/// cause has not logged within log_interval; the line carries the number of
/// occurrences since the last line. `cause` is a short fixed key ("busy:
/// upload memory"); occurrences of one cause share a line, so put per-event
/// details (a peer, a size) in `text` only if losing them is fine. Thread
/// safe: the actors and the I/O thread call it. Never throws.
void log_limited(spdlog::level::level_enum level, std::string_view cause,
                 std::string_view text);

/// log_limited at warning level.
inline void warn_limited(std::string_view cause, std::string_view text) {
  log_limited(spdlog::level::warn, cause, text);
}

}  // namespace depot::transport
