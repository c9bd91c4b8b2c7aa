#include "client/cli/stats.hpp"

#include "client/cli/output.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>

namespace depot::cli {
namespace {

using sample_list = std::vector<metric_sample>;
using labels = std::map<std::string, std::string>;

bool includes(const labels& have, const labels& want) {
  for (const auto& [k, v] : want) {
    auto i = have.find(k);
    if (i == have.end() || i->second != v) return false;
  }
  return true;
}

// The sum of every sample `name` whose labels include `match`.
double sum(const sample_list& s, const std::string& name,
           const labels& match = {}) {
  double total = 0;
  for (const auto& m : s)
    if (m.name == name && includes(m.labels, match)) total += m.value;
  return total;
}

bool has(const sample_list& s, const std::string& name) {
  return std::any_of(s.begin(), s.end(),
                     [&](const metric_sample& m) { return m.name == name; });
}

// Values of label `key` among samples `name`, in first-seen order.
std::vector<std::string> label_values(const sample_list& s,
                                      const std::string& name,
                                      const std::string& key) {
  std::vector<std::string> out;
  for (const auto& m : s) {
    if (m.name != name) continue;
    auto i = m.labels.find(key);
    if (i != m.labels.end() &&
        std::find(out.begin(), out.end(), i->second) == out.end())
      out.push_back(i->second);
  }
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string human_seconds(std::optional<double> s) {
  if (!s) return "-";
  if (*s < 1e-3) return fmt("%.0f us", *s * 1e6);
  if (*s < 1) return fmt("%.1f ms", *s * 1e3);
  return fmt("%.2f s", *s);
}

std::string human_bytes_d(double b) {
  return human_bytes(b > 0 ? static_cast<uint64_t>(b) : 0);
}

// The histogram difference now - before (cumulative buckets and count),
// as samples, for quantiles over an interval.
sample_list minus(const sample_list& now, const sample_list* before) {
  if (!before) return now;
  sample_list out = now;
  for (auto& m : out)
    for (const auto& b : *before)
      if (b.name == m.name && b.labels == m.labels) {
        m.value -= b.value;
        break;
      }
  return out;
}

}  // namespace

std::optional<std::vector<metric_sample>> parse_metrics(std::string_view text,
                                                        std::string* error) {
  std::vector<metric_sample> out;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text =
        nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    auto bad = [&](const char* why) {
      if (error)
        *error = "line " + std::to_string(line_no) + ": " + why + ": " +
                 std::string{line.substr(0, 80)};
      return std::nullopt;
    };
    metric_sample m;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    m.name = std::string{line.substr(0, i)};
    if (m.name.empty()) return bad("no metric name");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string_view::npos || eq + 1 >= line.size() ||
            line[eq + 1] != '"')
          return bad("bad label");
        std::string key{line.substr(i, eq - i)};
        std::string value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            value += line[j] == 'n' ? '\n' : line[j];
          } else {
            value += line[j];
          }
        }
        if (j >= line.size()) return bad("unterminated label value");
        m.labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return bad("unterminated labels");
      ++i;
    }
    while (i < line.size() && line[i] == ' ') ++i;
    std::string value{line.substr(i)};
    size_t sp = value.find(' ');  // a timestamp may follow
    if (sp != std::string::npos) value.resize(sp);
    if (value == "+Inf")
      m.value = std::numeric_limits<double>::infinity();
    else if (value == "-Inf")
      m.value = -std::numeric_limits<double>::infinity();
    else if (value == "NaN")
      m.value = std::numeric_limits<double>::quiet_NaN();
    else {
      char* end = nullptr;
      m.value = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0') return bad("bad value");
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::optional<double> histogram_quantile(const sample_list& samples,
                                         const std::string& name,
                                         const labels& match, double q) {
  std::map<double, double> buckets;  // le -> cumulative count, summed
  for (const auto& m : samples) {
    if (m.name != name + "_bucket" || !includes(m.labels, match)) continue;
    auto le = m.labels.find("le");
    if (le == m.labels.end()) continue;
    double bound = le->second == "+Inf"
                       ? std::numeric_limits<double>::infinity()
                       : std::strtod(le->second.c_str(), nullptr);
    buckets[bound] += m.value;
  }
  if (buckets.empty()) return std::nullopt;
  double count = buckets.rbegin()->second;
  if (count <= 0) return std::nullopt;
  double rank = q * count;
  double lower = 0, below = 0;
  for (const auto& [bound, cum] : buckets) {
    if (cum >= rank) {
      if (std::isinf(bound)) return lower;
      double in = cum - below;
      return in <= 0 ? bound : lower + (bound - lower) * (rank - below) / in;
    }
    lower = bound;
    below = cum;
  }
  return lower;
}

std::string render_stats(const sample_list& now, const sample_list* before,
                         double interval_s, const std::string& url,
                         const std::string& ready, double now_epoch_s) {
  std::string out;
  double start = sum(now, "process_start_time_seconds");
  double uptime = start > 0 ? now_epoch_s - start : 0;
  // Rates: over the interval if there are two scrapes, else since start.
  double span = before ? interval_s : uptime;
  auto rate = [&](const std::string& name, const labels& match) {
    double d = sum(now, name, match) - (before ? sum(*before, name, match) : 0);
    return span > 0 ? d / span : 0.0;
  };
  const std::string per = before ? "/s" : "/s avg";
  out += "depotd at " + url + ": up " + human_duration(uptime) + ", " +
         (ready == "ok" ? std::string{"ready"} : "not ready (" + ready + ")") +
         "\n";

  // Requests by operation.
  const std::string req = "depot_requests_total";
  auto window = minus(now, before);
  char head[160];
  std::snprintf(head, sizeof head, "\n  %-12s %12s  %10s %9s %10s %10s\n",
                "requests", "total", per.c_str(), "errors", "p50", "p99");
  out += head;
  for (const std::string& op : label_values(now, req, "op")) {
    double total = sum(now, req, {{"op", op}});
    if (total == 0) continue;
    double ok = sum(now, req, {{"op", op}, {"code", "ok"}});
    auto p50 = histogram_quantile(window, "depot_request_duration_seconds",
                                  {{"op", op}}, 0.5);
    auto p99 = histogram_quantile(window, "depot_request_duration_seconds",
                                  {{"op", op}}, 0.99);
    char line[160];
    std::snprintf(line, sizeof line, "  %-12s %12.0f  %10.1f %9.0f %10s %10s\n",
                  op.c_str(), total, rate(req, {{"op", op}}), total - ok,
                  human_seconds(p50).c_str(), human_seconds(p99).c_str());
    out += line;
  }
  std::string errors;
  for (const std::string& code : label_values(now, req, "code")) {
    if (code == "ok") continue;
    double n = sum(now, req, {{"code", code}});
    if (n > 0)
      errors += (errors.empty() ? "" : ", ") + code + " " + fmt("%.0f", n);
  }
  out += "errors by code: " + (errors.empty() ? "none" : errors) + "\n";
  std::string busy;
  for (const std::string& cause :
       label_values(now, "depot_busy_total", "cause")) {
    double n = sum(now, "depot_busy_total", {{"cause", cause}});
    if (n > 0)
      busy += (busy.empty() ? "" : ", ") + cause + " " + fmt("%.0f", n);
  }
  out += "busy by cause: " + (busy.empty() ? "none" : busy) + "\n";

  out += "\nbytes in " + human_bytes_d(sum(now, "depot_received_bytes_total")) +
         " (" + human_bytes_d(rate("depot_received_bytes_total", {})) + per +
         "), out " + human_bytes_d(sum(now, "depot_sent_bytes_total")) + " (" +
         human_bytes_d(rate("depot_sent_bytes_total", {})) + per + ")\n";
  double reserved = sum(now, "depot_upload_memory_reserved_bytes");
  double budget = sum(now, "depot_upload_memory_budget_bytes");
  out += "uploads: " + fmt("%.0f", sum(now, "depot_uploads_in_progress")) +
         " in progress, " + fmt("%.0f", sum(now, "depot_upload_records")) +
         " finished records; memory " + human_bytes_d(reserved) + " of " +
         human_bytes_d(budget) +
         (budget > 0 ? fmt(" (%.1f%%)", 100 * reserved / budget) : "") + "\n";
  out += "downloads in flight: " +
         fmt("%.0f", sum(now, "depot_downloads_in_flight")) + " (" +
         human_bytes_d(sum(now, "depot_download_unread_bytes")) + " unread)\n";
  double batches = sum(now, "depot_commit_batch_files_count");
  out += "commits: " + fmt("%.0f", sum(now, "depot_commit_batch_files_sum")) +
         " files in " + fmt("%.0f", batches) + " batches" +
         (batches > 0 ? fmt(" (%.1f per batch)",
                            sum(now, "depot_commit_batch_files_sum") / batches)
                      : "") +
         ", " + fmt("%.0f", sum(now, "depot_dedup_hits_total")) +
         " dedup hits, " +
         fmt("%.0f", sum(now, "depot_naming_collisions_total")) +
         " naming collisions; flush p50 " +
         human_seconds(histogram_quantile(window, "depot_commit_flush_seconds",
                                          {}, 0.5)) +
         " p99 " +
         human_seconds(histogram_quantile(window, "depot_commit_flush_seconds",
                                          {}, 0.99)) +
         "\n";
  std::string storage;
  for (const std::string& op :
       label_values(now, "depot_storage_errors_total", "op")) {
    double n = sum(now, "depot_storage_errors_total", {{"op", op}});
    if (n > 0)
      storage += (storage.empty() ? "" : ", ") + op + " " + fmt("%.0f", n);
  }
  out += "storage errors: " + (storage.empty() ? "none" : storage) + "\n";
  out += "connections: " + fmt("%.0f", sum(now, "depot_connections")) +
         " open, " + fmt("%.0f", sum(now, "depot_connections_dropped_total")) +
         " dropped by the limits\n";
  out += "process: RSS " +
         human_bytes_d(sum(now, "process_resident_memory_bytes")) + ", " +
         fmt("%.0f", sum(now, "process_open_fds")) + " fds" +
         (has(now, "process_max_fds")
              ? " of " + fmt("%.0f", sum(now, "process_max_fds"))
              : "") +
         ", CPU " + fmt("%.1f s", sum(now, "process_cpu_seconds_total")) + "\n";
  return out;
}

}  // namespace depot::cli
