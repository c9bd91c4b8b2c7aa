#include "bench/depotd_process.hpp"

#include "bench/wire.hpp"
#include "schema/messages.hpp"

#include <zmq.hpp>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <netinet/in.h>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace depot::bench {
namespace {

// A free TCP port on 127.0.0.1 (bound, read, closed: it may be taken again
// before depotd binds it, so start-up retries with another).
int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Forks and execs `args` with stdout and stderr appended to `log_path`; the
// child gets `death_signal` when the benchmark dies. Returns the pid.
pid_t spawn(const std::vector<std::string>& args, const std::string& log_path,
            int death_signal) {
  // Everything the child needs is prepared before fork: no allocation after.
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int log_fd =
      ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    throw std::runtime_error("cannot open " + log_path + ": " +
                             std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, death_signal);
    if (::getppid() != parent) ::_exit(1);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  return pid;
}

// Waits up to `limit` for `pid` to exit; how it ended, or "" if it still runs.
std::string wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = steady::now() + limit;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status))
        return "exit " + std::to_string(WEXITSTATUS(status));
      if (WIFSIGNALED(status))
        return "signal " + std::to_string(WTERMSIG(status));
      return "ended";
    }
    if (r < 0 && errno != EINTR) return "gone";
    if (steady::now() >= deadline) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
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
  endpoint_ = "tcp://127.0.0.1:" + std::to_string(free_tcp_port());
  std::vector<std::string> args{binary_, "--listen", endpoint_, "--root",
                                root_};
  args.insert(args.end(), flags_.begin(), flags_.end());
  pid_ = spawn(args, log_path_, SIGTERM);

  zmq::context_t ctx(1);
  auto s = connect_socket(ctx, endpoint_);
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  auto start = steady::now();
  for (uint64_t rid = 1;; ++rid) {
    std::string how = wait_exit(pid_, std::chrono::milliseconds(0));
    if (!how.empty()) {
      pid_ = -1;
      return false;
    }
    if (seconds_since(start) > 20) {
      stop();
      throw std::runtime_error(
          "depotd did not answer ping within 20 s; its log:\n" + log_tail());
    }
    check_stop();
    s.send(header_frame({rid, schema::ping_request{}}), zmq::send_flags::none);
    zmq::poll(&item, 1, std::chrono::milliseconds(250));
    std::vector<zmq::message_t> msgs;
    if (zmq::recv_multipart(s, std::back_inserter(msgs),
                            zmq::recv_flags::dontwait)) {
      expect<schema::ping_reply>(decode(std::move(msgs), "ping"), "ping");
      return true;
    }
  }
}

std::string depotd_process::stop() {
  if (pid_ <= 0) return "not running";
  ::kill(pid_, SIGTERM);
  std::string how = wait_exit(pid_, std::chrono::seconds(30));
  if (how.empty()) {
    ::kill(pid_, SIGKILL);
    wait_exit(pid_, std::chrono::seconds(30));
    how = "killed after 30 s";
  }
  pid_ = -1;
  return how;
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
  pid_ = spawn({"perf", "record", "-e", "cpu-clock", "-F", "999", "-p",
                std::to_string(target), "-o", out},
               log_path, SIGINT);
  // Give perf a moment to attach before the workload starts.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
}

perf_recorder::~perf_recorder() { stop(); }

void perf_recorder::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGINT);
  if (wait_exit(pid_, std::chrono::seconds(60)).empty()) {
    ::kill(pid_, SIGKILL);
    wait_exit(pid_, std::chrono::seconds(10));
  }
  pid_ = -1;
}

}  // namespace depot::bench
