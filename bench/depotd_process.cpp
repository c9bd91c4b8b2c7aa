#include "bench/depotd_process.hpp"

#include "bench/wire.hpp"
#include "schema/messages.hpp"
#include "tests/support/child_process.hpp"

#include <zmq.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace depot::bench {
namespace {

// Starts `args` with stdout and stderr appended to `log_path` and stdin
// from /dev/null; the child gets `death_signal` when the benchmark dies.
// Returns the pid; throws if it cannot be started.
pid_t spawn(const std::vector<std::string>& args, const std::string& log_path,
            int death_signal) {
  test::spawn_options options;
  options.log = log_path;
  options.in = "/dev/null";
  options.death_signal = death_signal;
  options.search_path = true;
  const pid_t pid = test::spawn_child(args, options);
  if (pid < 0)
    throw std::runtime_error("cannot start " + args.front() + ": " +
                             std::strerror(errno));
  return pid;
}

// How a child ended, from test::wait_for_exit(): "exit 3", "signal 9". (No
// program here exits with a code above 128.)
std::string how_it_ended(int status) {
  if (status < 0) return "gone";
  if (status > 128) return "signal " + std::to_string(status - 128);
  return "exit " + std::to_string(status);
}

}  // namespace

depotd_process::depotd_process(std::string binary, std::string root,
                               std::string log_path,
                               std::vector<std::string> flags)
    : binary_(std::move(binary)),
      root_(std::move(root)),
      log_path_(std::move(log_path)),
      flags_(std::move(flags)) {
  for (int attempt = 0;; ++attempt) {
    if (launch()) return;
    // Most likely the port was taken between probe and bind: try another.
    if (attempt == 3)
      throw std::runtime_error("depotd did not start; the end of its log:\n" +
                               log_tail());
  }
}

depotd_process::~depotd_process() {
  if (pid_ > 0) {
    try {
      stop();
    } catch (...) {
    }
  }
}

bool depotd_process::launch() {
  endpoint_ = "tcp://127.0.0.1:" + std::to_string(test::free_tcp_port());
  std::vector<std::string> args{binary_, "--listen", endpoint_, "--root",
                                root_};
  args.insert(args.end(), flags_.begin(), flags_.end());
  pid_ = spawn(args, log_path_, SIGTERM);

  zmq::context_t ctx(1);
  auto s = connect_socket(ctx, endpoint_);
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  uint64_t rid = 0;
  auto ready = test::wait_until_ready(pid_, std::chrono::seconds(20), [&] {
    check_stop();
    s.send(header_frame({++rid, schema::ping_request{}}),
           zmq::send_flags::none);
    zmq::poll(&item, 1, std::chrono::milliseconds(250));
    std::vector<zmq::message_t> msgs;
    if (!zmq::recv_multipart(s, std::back_inserter(msgs),
                             zmq::recv_flags::dontwait))
      return false;
    expect<schema::ping_reply>(decode(std::move(msgs), "ping"), "ping");
    return true;
  });
  if (ready == test::readiness::ready) return true;
  if (ready == test::readiness::exited) {
    pid_ = -1;
    return false;
  }
  stop();
  throw std::runtime_error("depotd did not answer ping within 20 s; its log:\n" +
                           log_tail());
}

std::string depotd_process::stop() {
  if (pid_ <= 0) return "not running";
  auto status = test::stop_child(pid_, std::chrono::seconds(30));
  pid_ = -1;
  return status ? how_it_ended(*status) : "killed after 30 s";
}

std::string depotd_process::log_tail(size_t bytes) const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string all = ss.str();
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

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

cpu_meter::cpu_meter(pid_t pid) : pid_(pid), start_(take(pid)) {}

cpu_meter::sample cpu_meter::take(pid_t pid) {
  sample out;
  // /proc/PID/stat: "pid (comm) state ..." with utime and stime the 14th
  // and 15th fields; comm may hold spaces, so count from its ')'.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(stat)), {});
  auto close = all.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(all.substr(close + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i)
      if (i >= 14) ticks += std::stod(field);
    out.process_seconds = ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
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
  sample now = take(pid_);
  reading r;
  r.process_seconds = now.process_seconds - start_.process_seconds;
  double total = now.total_ticks - start_.total_ticks;
  if (total > 0) r.steal_fraction = (now.steal_ticks - start_.steal_ticks) / total;
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
  pid_ = spawn({"perf", "record", "-g", "-e", "cpu-clock", "-F", "999", "-p",
                std::to_string(target), "-o", out},
               log_path, SIGINT);
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
