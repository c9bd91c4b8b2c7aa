#include "bench/report.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace depot::bench {

std::string gb_per_s(double bytes_per_second) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f GB/s", bytes_per_second / 1e9);
  return buf;
}

std::string grouped(double value) {
  auto n = static_cast<long long>(std::llround(value));
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string per_s(double rate) { return grouped(rate) + "/s"; }

std::string mib_text(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / static_cast<double>(mib));
  return buf;
}

std::string ratio_text(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", ratio);
  return buf;
}

void table::section(std::string title) {
  lines_.push_back(line{std::move(title), {}});
}

void table::add(row r) { lines_.push_back(line{std::nullopt, std::move(r)}); }

void table::print(std::ostream& out) const {
  static const row heading{"what",  "figure", "ceiling",
                           "ratio", "target", "met"};
  auto cells = [](const row& r) {
    return std::array<const std::string*, 6>{&r.what,  &r.figure, &r.ceiling,
                                             &r.ratio, &r.target, &r.met};
  };
  std::array<size_t, 6> width{};
  auto widen = [&](const row& r) {
    auto c = cells(r);
    for (size_t i = 0; i < c.size(); ++i)
      width[i] = std::max(width[i], std::max<size_t>(c[i]->size(), 1));
  };
  widen(heading);
  for (const auto& l : lines_)
    if (!l.title) widen(l.r);
  auto print_row = [&](const row& r) {
    auto c = cells(r);
    std::string text;
    for (size_t i = 0; i < c.size(); ++i) {
      std::string cell = c[i]->empty() ? "-" : *c[i];
      if (i + 1 < c.size()) cell.resize(width[i], ' ');
      text += cell;
      if (i + 1 < c.size()) text += "  ";
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << '\n';
  };
  size_t total = 0;
  for (size_t w : width) total += w + 2;
  print_row(heading);
  out << std::string(total - 2, '-') << '\n';
  for (const auto& l : lines_) {
    if (l.title)
      out << *l.title << '\n';
    else
      print_row(l.r);
  }
}

void write_summary(const summary& s, const std::string& path) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path);
  for (const auto& [key, value] : s) out << key << '=' << value << '\n';
  if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

}  // namespace depot::bench
