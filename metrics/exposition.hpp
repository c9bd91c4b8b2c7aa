#pragma once

// The Prometheus text exposition format, version 0.0.4: what a registry
// (metrics/registry.hpp) looks like to a scraper. Per family a `# HELP` and
// a `# TYPE` line, then its samples; a histogram's as cumulative
// `_bucket{le="..."}` lines ending with `le="+Inf"`, then `_sum` and
// `_count`.

#include "metrics/registry.hpp"

#include <string>
#include <string_view>

namespace depot::metrics {

/// The Content-Type of the text format.
inline constexpr std::string_view content_type =
    "text/plain; version=0.0.4; charset=utf-8";

/// Every family of `reg` in the text format. Runs each callback family's
/// reader on the calling thread. Thread safe against updates of the
/// metrics (not against adding families).
std::string expose(const registry& reg);

/// A sample value as the format writes it: integers without a fraction,
/// others in the shortest form that reads back exactly, `+Inf`, `-Inf`,
/// `NaN`.
std::string format_value(double v);

/// A label value escaped for the format: `\` `"` and newline as `\\`
/// `\"` `\n`.
std::string escape_label_value(std::string_view v);

/// A `# HELP` text escaped: `\` and newline as `\\` and `\n`.
std::string escape_help(std::string_view v);

}  // namespace depot::metrics
