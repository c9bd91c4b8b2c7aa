#pragma once

// Refusals and resource exhaustion that operators must see (busy replies,
// dropped connections, fd exhaustion, failed deletes), logged without
// letting a flood of them flood the log: one line per cause per interval,
// carrying how many times the cause occurred since the previous line.

#include "logging/log.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <string_view>

namespace depot::transport {

/// How often one cause may log: one line per cause per this interval.
inline constexpr std::chrono::seconds log_interval{10};

/// Records one occurrence of `cause` and logs `text` with `fields` at
/// `level` if the cause has not logged within log_interval; the line
/// carries the number of occurrences since the last line. `cause` is a
/// short fixed key ("busy: upload memory"); occurrences of one cause share
/// a line, so per-event details (a peer, a size) in `text` or `fields` are
/// those of the occurrence that logged, the others' are lost. Text format:
/// "CAUSE: TEXT (N since the previous line of this cause)" then the fields;
/// json: msg "CAUSE: TEXT", fields `cause` and `occurrences` (N) then
/// `fields`. Thread safe: the actors and the I/O thread call it. Never
/// throws.
void log_limited(spdlog::level::level_enum level, std::string_view cause,
                 std::string_view text, log::fields fields = {});

/// log_limited at warning level.
inline void warn_limited(std::string_view cause, std::string_view text,
                         log::fields fields = {}) {
  log_limited(spdlog::level::warn, cause, text, fields);
}

}  // namespace depot::transport
