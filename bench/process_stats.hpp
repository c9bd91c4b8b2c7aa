#pragma once

// What the benchmark measures of the depotd it starts (testkit's
// depotd_process): its memory and CPU time, from /proc, and optionally
// `perf record` attached to it. Each sampler or recorder stops in its
// destructor, so nothing is left running when the benchmark ends or fails.
// One thread at a time per object.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace depot::bench {

/// A value of /proc/PID/status in bytes (`key` like "VmRSS:" or "VmHWM:");
/// 0 if the process or the key is gone.
uint64_t proc_status_bytes(pid_t pid, const char* key);

/// CPU time used by some processes (summed), and the share of the machine's CPU
/// time the hypervisor took (steal), between construction and finish(): what an
/// operation cost the server, less sensitive to a busy host than wall-clock
/// rates.
class cpu_meter {
 public:
  struct reading {
    double process_seconds = 0;  ///< user + system time of the process
    double steal_fraction = 0;   ///< steal / all CPU time, machine-wide
  };
  explicit cpu_meter(pid_t pid);
  /// All of `pids` (the depotd processes sharing one store).
  explicit cpu_meter(std::vector<pid_t> pids);
  reading finish() const;

 private:
  struct sample {
    double process_seconds = 0;
    double steal_ticks = 0, total_ticks = 0;
  };
  static sample take(const std::vector<pid_t>& pids);
  std::vector<pid_t> pids_;
  sample start_;
};

/// Samples VmRSS of `pid` every `period` on a thread of its own, from
/// construction until stop() or destruction.
class rss_sampler {
 public:
  rss_sampler(pid_t pid, std::chrono::milliseconds period);
  ~rss_sampler();
  rss_sampler(const rss_sampler&) = delete;
  rss_sampler& operator=(const rss_sampler&) = delete;

  /// Stops sampling (idempotent).
  void stop();

  /// The largest VmRSS seen, in bytes.
  uint64_t peak() const { return peak_; }

  /// How many samples were taken.
  uint64_t samples() const { return samples_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> peak_{0}, samples_{0};
  std::thread thread_;
};

/// `perf record -e cpu-clock -g -p PID -o out` from construction until stop()
/// or destruction (SIGINT, then it writes `out`). Its own messages go to
/// `log_path`.
class perf_recorder {
 public:
  perf_recorder(pid_t target, const std::string& out,
                const std::string& log_path);
  ~perf_recorder();
  perf_recorder(const perf_recorder&) = delete;
  perf_recorder& operator=(const perf_recorder&) = delete;

  /// Stops perf and waits for it to write its file (idempotent).
  void stop();

 private:
  pid_t pid_ = -1;
};

}  // namespace depot::bench
