#include "client/cli/output.hpp"

#include "schema/validate.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace depot::cli {

std::string json_string(std::string_view raw) {
  return schema::json_string(raw);
}

std::string display_text(std::string_view text) {
  return schema::escape_text(text);
}

std::string list_row(const client::file_meta& m) {
  // Padded to byte widths, as printf's "%-12s  %10s  %-19s  %-24s  %s" did.
  auto left = [](std::string s, size_t width) {
    if (s.size() < width) s.append(width - s.size(), ' ');
    return s;
  };
  std::string size = human_bytes(m.size);
  if (size.size() < 10) size.insert(0, 10 - size.size(), ' ');
  return left(display_text(m.id), 12) + "  " + size + "  " +
         left(human_time(m.created), 19) + "  " +
         left(display_text(m.mime), 24) + "  " + display_text(m.name);
}

std::string json_meta(const client::file_meta& m) {
  return "{\"id\":" + json_string(m.id) + ",\"name\":" + json_string(m.name) +
         ",\"size\":" + std::to_string(m.size) +
         ",\"sha256\":" + json_string(m.sha256) +
         ",\"mime\":" + json_string(m.mime) +
         ",\"created\":" + std::to_string(m.created) +
         ",\"refs\":" + std::to_string(m.refs) + "}";
}

std::string json_error(const client::error& e) {
  return "{\"error\":" + json_string(e.code_name()) +
         ",\"message\":" + json_string(e.message) + "}";
}

std::string human_bytes(uint64_t bytes) {
  static constexpr const char* units[] = {"B",   "KiB", "MiB",
                                          "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf,
                v < 10    ? "%.2f %s"
                : v < 100 ? "%.1f %s"
                          : "%.0f %s",
                v, units[u]);
  return buf;
}

std::string human_time(uint64_t ms_since_epoch) {
  std::time_t t = static_cast<std::time_t>(ms_since_epoch / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string human_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<uint64_t>(std::llround(seconds));
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%llum%02llus",
                  static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lluh%02llum",
                  static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s / 60 % 60));
  return buf;
}

}  // namespace depot::cli
