#pragma once

// `depot stats`: depotd's /metrics (the Prometheus text format) read back
// and summed up for a human. Pure functions, safe from any thread; the
// HTTP fetching is depot.cpp's.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace depot::cli {

/// One sample line: its name, labels and value.
struct metric_sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

/// The samples of a text-format scrape, in order; comment lines skipped.
/// nullopt (and `*error` says where) on a line that does not parse.
std::optional<std::vector<metric_sample>> parse_metrics(std::string_view text,
                                                        std::string* error);

/// The value `q` (0..1) of histogram `name` among `samples` whose labels
/// include `match`, interpolated within its bucket as Prometheus'
/// histogram_quantile does; nullopt without observations. Past the last
/// finite bucket: that bucket's bound.
std::optional<double> histogram_quantile(
    const std::vector<metric_sample>& samples, const std::string& name,
    const std::map<std::string, std::string>& match, double q);

/// What `depot stats` prints: from `now`, and when `before` is given
/// (scraped `interval_s` seconds earlier), rates over that interval, else
/// averages since the start. `ready` is /readyz's answer ("ok" or why
/// not); `now_epoch_s` the wall clock, for the uptime.
std::string render_stats(const std::vector<metric_sample>& now,
                         const std::vector<metric_sample>* before,
                         double interval_s, const std::string& url,
                         const std::string& ready, double now_epoch_s);

}  // namespace depot::cli
