#pragma once

// The `depot` CLI's progress line on stderr: bytes, a bar, rate and ETA.
// Drawn only when stderr is a terminal. Not thread safe.

#include "client/client.hpp"

#include <chrono>
#include <string>

namespace depot::cli {

/// One transfer's progress line, redrawn in place at most ten times a second.
class progress_bar {
 public:
  /// A line labelled `label`; draws nothing unless `enabled` and stderr is
  /// a terminal.
  progress_bar(std::string label, bool enabled);

  /// Erases the line if one was drawn.
  ~progress_bar();

  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;

  /// Takes a new position; redraws if due. A position below the last one (an
  /// upload that started over) restarts the rate.
  void update(const client::progress& p);

  /// A callback for depot::client's transfer options that updates this bar.
  client::progress_fn callback();

  /// Erases the line.
  void clear();

 private:
  void draw(const client::progress& p, bool final);

  using clock = std::chrono::steady_clock;
  std::string label_;
  bool active_;
  bool drawn_ = false;
  clock::time_point start_;
  clock::time_point last_draw_{};
  uint64_t start_bytes_ = 0;
  uint64_t last_done_ = 0;
};

}  // namespace depot::cli
