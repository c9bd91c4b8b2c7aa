#pragma once

// How the benchmark prints: units, a plain-text table, and the key=value
// summary that bench/nginx_compare.sh reads.

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace depot::bench {

inline constexpr uint64_t mib = uint64_t{1} << 20;

/// `count` things done in `seconds`.
struct measure {
  double count = 0;
  double seconds = 0;
  double server_cpu_seconds =
      0;                      ///< depotd's CPU time meanwhile (0: not measured)
  double steal_fraction = 0;  ///< machine-wide hypervisor steal meanwhile
  double osd_cpu_seconds = 0;  ///< --osd-pid's CPU time meanwhile (0: none)
  /// Things per second (0 if nothing was timed).
  double rate() const { return seconds > 0 ? count / seconds : 0; }
};

/// "1.23 GB/s" (decimal gigabytes, as STACK-NOTES.md and the targets use).
std::string gb_per_s(double bytes_per_second);

/// "12,345/s".
std::string per_s(double rate);

/// "12,345" (thousands separated).
std::string grouped(double value);

/// "123.4 MiB".
std::string mib_text(double bytes);

/// "0.43".
std::string ratio_text(double ratio);

/// One line of the results table; empty cells print as "-".
struct row {
  std::string what;
  std::string figure;
  std::string ceiling;
  std::string ratio;
  std::string target;
  std::string met;  ///< "yes", "NO" or ""
};

/// A table printed with aligned columns and a heading per section.
class table {
 public:
  /// Starts a section: a blank line and `title` before the rows that follow.
  void section(std::string title);

  void add(row r);

  /// Prints everything to `out`.
  void print(std::ostream& out) const;

 private:
  struct line {
    std::optional<std::string> title;
    row r;
  };
  std::vector<line> lines_;
};

/// The figures in machine-readable form (key=value per line), for scripts.
using summary = std::map<std::string, std::string>;

/// Writes `s` to `path`; throws std::runtime_error on failure.
void write_summary(const summary& s, const std::string& path);

}  // namespace depot::bench
