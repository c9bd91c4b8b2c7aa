#include "testkit/child_process.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace depot::test {

int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

pid_t spawn_child(const std::vector<std::string>& argv,
                  const spawn_options& options) {
  if (argv.empty() || options.log.empty()) {
    errno = EINVAL;
    return -1;
  }
  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls (the parent may have threads, and one
  // of them may hold the malloc lock).
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  std::vector<char*> env;
  char** envp = environ;
  if (!options.env.empty()) {
    auto key = [](const std::string& kv) {
      return kv.substr(0, kv.find('=') + 1);
    };
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      bool replaced = false;
      for (const auto& x : options.env)
        replaced = replaced || key(kv) == key(x);
      if (!replaced) env_strings.push_back(std::move(kv));
    }
    env_strings.insert(env_strings.end(), options.env.begin(),
                       options.env.end());
    for (auto& s : env_strings) env.push_back(s.data());
    env.push_back(nullptr);
    envp = env.data();
  }

  // O_CLOEXEC everywhere: the child's dup2 copies lose the flag, the
  // originals close at exec, and no other child inherits them meanwhile.
  const int append = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
  int in_fd = -1, out_fd = -1, err_fd = -1, exec_pipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int fd : {in_fd, out_fd, err_fd, exec_pipe[0], exec_pipe[1]})
      if (fd >= 0) ::close(fd);
  };
  auto fail = [&] {
    const int e = errno;
    close_all();
    errno = e;
    return pid_t{-1};
  };
  if ((err_fd = ::open(options.log.c_str(), append, 0644)) < 0) return fail();
  if (!options.out.empty() &&
      (out_fd = ::open(options.out.c_str(), append, 0644)) < 0)
    return fail();
  if (!options.in.empty() &&
      (in_fd = ::open(options.in.c_str(), O_RDONLY | O_CLOEXEC)) < 0)
    return fail();
  // The child writes its errno here if it cannot exec; exec closes it.
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) return fail();

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return fail();
  if (pid == 0) {
    auto die = [&] {
      const int e = errno;
      if (::write(exec_pipe[1], &e, sizeof e) < 0) {
      }
      ::_exit(127);
    };
    // dup2 onto itself would keep O_CLOEXEC: clear the flag instead.
    auto redirect = [&](int fd, int to) {
      if ((fd == to ? ::fcntl(fd, F_SETFD, 0) : ::dup2(fd, to)) < 0) die();
    };
    if (options.death_signal != 0) {
      ::prctl(PR_SET_PDEATHSIG, options.death_signal);
      if (::getppid() != parent) ::_exit(1);  // died before prctl
    }
    if (in_fd >= 0) redirect(in_fd, STDIN_FILENO);
    redirect(out_fd >= 0 ? out_fd : err_fd, STDOUT_FILENO);
    redirect(err_fd, STDERR_FILENO);
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) die();
    if (options.nofile != 0) {
      const rlimit rl{options.nofile, options.nofile_hard != 0
                                          ? options.nofile_hard
                                          : options.nofile};
      if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) die();
    }
    if (options.search_path)
      ::execvpe(args[0], args.data(), envp);
    else
      ::execve(args[0], args.data(), envp);
    die();
  }
  ::close(exec_pipe[1]);
  exec_pipe[1] = -1;
  int child_errno = 0;
  ssize_t n;
  while ((n = ::read(exec_pipe[0], &child_errno, sizeof child_errno)) < 0 &&
         errno == EINTR) {
  }
  close_all();
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    errno = child_errno;
    return -1;
  }
  return pid;
}

std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void kill_child(pid_t pid) {
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

std::optional<int> stop_child(pid_t pid, std::chrono::milliseconds grace,
                              int signal) {
  ::kill(pid, signal);
  auto status = wait_for_exit(pid, grace);
  if (!status) kill_child(pid);
  return status;
}

namespace {

// True if every thread of `pid` is stopped (or gone): the state letter
// after the last ')' of /proc/PID/task/TID/stat (the name in parentheses
// may hold any character) is 'T', 't' or 'Z'. False if none can be read.
bool all_threads_stopped(pid_t pid) {
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(tasks.c_str());
  if (!dir) return false;
  bool any = false;
  bool stopped = true;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string stat = read_file(tasks + "/" + e->d_name + "/stat");
    const size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) continue;
    any = true;
    const char state = stat[close + 2];
    if (state != 'T' && state != 't' && state != 'Z') stopped = false;
  }
  ::closedir(dir);
  return any && stopped;
}

}  // namespace

bool pause_process(pid_t pid, std::chrono::milliseconds limit) {
  if (::kill(pid, SIGSTOP) != 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!all_threads_stopped(pid)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

readiness wait_until_ready(pid_t pid, std::chrono::milliseconds limit,
                           const std::function<bool()>& probe) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (wait_for_exit(pid, std::chrono::milliseconds(0)))
      return readiness::exited;
    if (probe()) return readiness::ready;
  }
  return readiness::timed_out;
}

std::string exit_text(int status) {
  if (status < 0) return "killed";
  // No program started here exits with a code above 128 by itself.
  if (status > 128) return "signal " + std::to_string(status - 128);
  return "exit " + std::to_string(status);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string read_file_tail(const std::string& path, size_t bytes) {
  std::string all = read_file(path);
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

}  // namespace depot::test
