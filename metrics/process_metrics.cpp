// The process_* metrics of Prometheus' client libraries, from /proc/self.

#include "metrics/server_metrics.hpp"

#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <unistd.h>

namespace depot::metrics {
namespace {

// Fields of /proc/self/stat after the command name (which may hold spaces
// and parentheses: it ends at the last ')'), numbered as proc(5) does.
struct proc_stat {
  double utime = 0, stime = 0;  // clock ticks
  double starttime = 0;         // clock ticks after boot
  double vsize = 0;             // bytes
  double rss_pages = 0;
};

bool read_stat(proc_stat& s) {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 2));
  std::string f;
  // Field 3 is the first after the name.
  for (int field = 3; rest >> f; ++field) {
    double v = std::strtod(f.c_str(), nullptr);
    if (field == 14) s.utime = v;
    if (field == 15) s.stime = v;
    if (field == 22) s.starttime = v;
    if (field == 23) s.vsize = v;
    if (field == 24) {
      s.rss_pages = v;
      return true;
    }
  }
  return false;
}

double boot_time() {
  std::ifstream in("/proc/stat");
  std::string key;
  double v = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> v;
      return v;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

double open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return 0;
  double n = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // not the directory's own fd
}

}  // namespace

void add_process_metrics(registry& reg) {
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  static const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  reg.add_callback("process_resident_memory_bytes", "Resident memory size.",
                   metric_type::gauge, {}, [](sample_sink& out) {
                     proc_stat s;
                     if (read_stat(s)) out.value({}, s.rss_pages * page);
                   });
  reg.add_callback("process_virtual_memory_bytes", "Virtual memory size.",
                   metric_type::gauge, {}, [](sample_sink& out) {
                     proc_stat s;
                     if (read_stat(s)) out.value({}, s.vsize);
                   });
  reg.add_callback("process_open_fds", "Open file descriptors.",
                   metric_type::gauge, {},
                   [](sample_sink& out) { out.value({}, open_fds()); });
  reg.add_callback("process_max_fds",
                   "The soft limit of open file descriptors.",
                   metric_type::gauge, {}, [](sample_sink& out) {
                     rlimit r{};
                     if (::getrlimit(RLIMIT_NOFILE, &r) == 0)
                       out.value({}, static_cast<double>(r.rlim_cur));
                   });
  reg.add_callback("process_cpu_seconds_total",
                   "User and system CPU time spent, in seconds.",
                   metric_type::counter, {}, [](sample_sink& out) {
                     proc_stat s;
                     if (read_stat(s))
                       out.value({}, (s.utime + s.stime) / ticks);
                   });
  // Fixed for the process' life: computed once.
  proc_stat s;
  double start = read_stat(s) ? boot_time() + s.starttime / ticks : 0;
  reg.add_callback("process_start_time_seconds",
                   "Start time of the process since the Unix epoch, in "
                   "seconds.",
                   metric_type::gauge, {},
                   [start](sample_sink& out) { out.value({}, start); });
}

}  // namespace depot::metrics
