#include "client/cli/progress_bar.hpp"

#include "client/cli/output.hpp"

#include <algorithm>
#include <cstdio>
#include <sys/ioctl.h>
#include <unistd.h>

namespace depot::cli {
namespace {

int terminal_width() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
    return ws.ws_col;
  return 80;
}

}  // namespace

progress_bar::progress_bar(std::string label, bool enabled)
    : label_(std::move(label)),
      active_(enabled && ::isatty(STDERR_FILENO) == 1),
      start_(clock::now()) {}

progress_bar::~progress_bar() { clear(); }

client::progress_fn progress_bar::callback() {
  if (!active_) return {};
  return [this](const client::progress& p) { update(p); };
}

void progress_bar::update(const client::progress& p) {
  if (!active_) return;
  auto now = clock::now();
  if (p.done < last_done_) {  // started over
    start_ = now;
    start_bytes_ = p.done;
  }
  last_done_ = p.done;
  bool final = p.total && p.done >= *p.total;
  if (!final && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(p, final);
}

void progress_bar::draw(const client::progress& p, bool final) {
  double elapsed = std::chrono::duration<double>(clock::now() - start_).count();
  double rate = elapsed > 0.05 ? (p.done - start_bytes_) / elapsed : 0;
  std::string right = human_bytes(p.done);
  if (p.total) right += " / " + human_bytes(*p.total);
  if (rate > 0) right += "  " + human_bytes(static_cast<uint64_t>(rate)) + "/s";
  if (p.total && rate > 0 && !final)
    right += "  ETA " +
             human_duration((*p.total - std::min(p.done, *p.total)) / rate);
  int width = terminal_width() - 1;
  std::string label = label_;
  int label_max = std::max(8, width / 3);
  if (static_cast<int>(label.size()) > label_max)
    label = label.substr(0, label_max - 3) + "...";
  std::string line = label + " ";
  if (p.total) {
    int bar = width - static_cast<int>(line.size() + right.size()) - 10;
    if (bar >= 10) {
      double frac = *p.total ? std::min(1.0, double(p.done) / *p.total) : 1.0;
      int full = static_cast<int>(frac * bar);
      line +=
          "[" + std::string(full, '#') + std::string(bar - full, '-') + "] ";
      char pct[8];
      std::snprintf(pct, sizeof pct, "%3d%% ", static_cast<int>(frac * 100));
      line += pct;
    }
  }
  line += right;
  if (static_cast<int>(line.size()) > width) line.resize(width);
  std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void progress_bar::clear() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\x1b[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace depot::cli
