#include "bench/process_stats.hpp"

#include "testkit/child_process.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <unistd.h>
#include <utility>

namespace depot::bench {

uint64_t proc_status_bytes(pid_t pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const size_t key_len = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, key_len, key) == 0)
      return std::stoull(line.substr(key_len)) * 1024;  // "   1234 kB"
  }
  return 0;
}

cpu_meter::cpu_meter(pid_t pid) : cpu_meter(std::vector<pid_t>{pid}) {}

cpu_meter::cpu_meter(std::vector<pid_t> pids)
    : pids_(std::move(pids)), start_(take(pids_)) {}

cpu_meter::sample cpu_meter::take(const std::vector<pid_t>& pids) {
  sample out;
  for (pid_t pid : pids) {
    // /proc/PID/stat: "pid (comm) state ..." with utime and stime the 14th
    // and 15th fields; comm may hold spaces, so count from its ')'.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(stat)), {});
    auto close = all.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(all.substr(close + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i)
      if (i >= 14) ticks += std::stod(field);
    out.process_seconds += ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  // /proc/stat: "cpu user nice system idle iowait irq softirq steal ...".
  std::ifstream proc("/proc/stat");
  std::string cpu;
  proc >> cpu;
  double v = 0;
  for (int i = 0; i < 8 && proc >> v; ++i) {
    out.total_ticks += v;
    if (i == 7) out.steal_ticks = v;
  }
  return out;
}

cpu_meter::reading cpu_meter::finish() const {
  sample now = take(pids_);
  reading r;
  r.process_seconds = now.process_seconds - start_.process_seconds;
  double total = now.total_ticks - start_.total_ticks;
  if (total > 0)
    r.steal_fraction = (now.steal_ticks - start_.steal_ticks) / total;
  return r;
}

rss_sampler::rss_sampler(pid_t pid, std::chrono::milliseconds period)
    : thread_([this, pid, period] {
        while (!stop_) {
          uint64_t rss = proc_status_bytes(pid, "VmRSS:");
          if (rss > peak_) peak_ = rss;
          ++samples_;
          std::this_thread::sleep_for(period);
        }
      }) {}

rss_sampler::~rss_sampler() { stop(); }

void rss_sampler::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

perf_recorder::perf_recorder(pid_t target, const std::string& out,
                             const std::string& log_path) {
  test::spawn_options options;
  options.log = log_path;
  options.in = "/dev/null";
  options.death_signal = SIGINT;  // perf writes its file if the bench dies
  options.search_path = true;
  pid_ = test::spawn_child({"perf", "record", "-g", "-e", "cpu-clock", "-F",
                            "999", "-p", std::to_string(target), "-o", out},
                           options);
  if (pid_ < 0)
    throw std::runtime_error(std::string("cannot start perf: ") +
                             std::strerror(errno));
  // Give perf a moment to attach before the workload starts.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
}

perf_recorder::~perf_recorder() { stop(); }

void perf_recorder::stop() {
  if (pid_ <= 0) return;
  test::stop_child(pid_, std::chrono::seconds(60), SIGINT);
  pid_ = -1;
}

}  // namespace depot::bench
