// depotd under systemd's Type=notify (depotd/systemd.hpp), with the test as
// the service manager: a unix datagram socket as $NOTIFY_SOCKET. READY=1
// comes only once depotd answers ping, STOPPING=1 on SIGTERM,
// RELOADING=1 then READY=1 around SIGHUP, STATUS= lines throughout, and
// WATCHDOG=1 at half of $WATCHDOG_USEC while depotd is alive (none while it
// is stopped). Real depotd processes.

#include "testkit/child_process.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/temp_dir.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace depot::test {
namespace {

using namespace std::chrono_literals;

// The service manager's end: a datagram socket bound at `path`.
class notify_socket {
 public:
  explicit notify_socket(const std::string& path) : path_{path} {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) throw std::runtime_error("long path");
    path.copy(a.sun_path, path.size());
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("cannot bind " + path);
  }
  ~notify_socket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  notify_socket(const notify_socket&) = delete;
  notify_socket& operator=(const notify_socket&) = delete;

  // The next datagram within `limit`, or nullopt.
  std::optional<std::string> next(std::chrono::milliseconds limit) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return {};
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return {};
    return std::string(buf, static_cast<size_t>(n));
  }

  // Datagrams until one contains `what` (returned, with those before it in
  // `seen`), or nullopt after `limit`.
  std::optional<std::string> until(const std::string& what,
                                   std::chrono::milliseconds limit,
                                   std::vector<std::string>* seen = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      auto m = next(left);
      if (!m) return {};
      if (m->find(what) != std::string::npos) return m;
      if (seen) seen->push_back(*m);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

struct notified_depotd {
  temp_dir dir;
  notify_socket sd{dir / "notify"};
  std::string endpoint = "ipc://" + dir / "depotd.sock";
  pid_t pid = -1;

  explicit notified_depotd(std::vector<std::string> env = {}) {
    env.push_back("NOTIFY_SOCKET=" + dir / "notify");
    spawn_options so;
    so.log = dir / "depotd.log";
    so.in = "/dev/null";
    so.env = env;
    pid = spawn_child(
        {depotd_binary(), "--listen", endpoint, "--root", dir / "root"}, so);
  }
  ~notified_depotd() {
    if (pid > 0) kill_child(pid);
    if (::testing::Test::HasFailure())
      std::cerr << "---- depotd log ----\n"
                << read_file(dir / "depotd.log") << "---- end ----\n";
  }
};

TEST(Systemd, ReadyOnlyOnceDepotdAnswersAndStoppingOnSigterm) {
  DEPOT_ONCE_NOT_PER_STORE();
  notified_depotd d;
  ASSERT_GT(d.pid, 0);
  std::vector<std::string> before;
  auto ready = d.sd.until("READY=1", 10s, &before);
  ASSERT_TRUE(ready) << "no READY=1";
  // Before it: what depotd was doing. With it: that it serves.
  ASSERT_FALSE(before.empty());
  EXPECT_EQ(before.front(), "STATUS=opening the store (recovery)");
  EXPECT_NE(ready->find("STATUS=serving on " + d.endpoint), std::string::npos)
      << *ready;
  // READY=1 means serving: a ping is answered at once, and the start-up line
  // is in the log already.
  wire_client c{d.endpoint};
  auto pong = c.call(schema::ping_request{});
  EXPECT_EQ(code(pong), "ok");
  EXPECT_NE(read_file(d.dir / "depotd.log").find("depotd serving on"),
            std::string::npos);
  // No watchdog asked for: none sent.
  EXPECT_FALSE(d.sd.until("WATCHDOG=1", 300ms));

  ASSERT_EQ(::kill(d.pid, SIGTERM), 0);
  auto stopping = d.sd.until("STOPPING=1", 5s);
  ASSERT_TRUE(stopping);
  EXPECT_NE(stopping->find("STATUS=stopping (signal 15)"), std::string::npos)
      << *stopping;
  EXPECT_EQ(wait_for_exit(d.pid, 10s), 0);
  d.pid = -1;
}

TEST(Systemd, SighupIsReloadingThenReadyAgain) {
  DEPOT_ONCE_NOT_PER_STORE();
  notified_depotd d;
  ASSERT_TRUE(d.sd.until("READY=1", 10s));
  ASSERT_EQ(::kill(d.pid, SIGHUP), 0);
  auto reloading = d.sd.next(5s);
  ASSERT_TRUE(reloading);
  EXPECT_EQ(*reloading, "RELOADING=1");
  auto again = d.sd.until("READY=1", 5s);
  ASSERT_TRUE(again);
  EXPECT_NE(read_file(d.dir / "depotd.log").find("SIGHUP: reload done"),
            std::string::npos);
}

TEST(Systemd, WatchdogPingsWhileAliveAndNoneWhileStopped) {
  DEPOT_ONCE_NOT_PER_STORE();
  // WatchdogSec=0.4 s: a ping every 0.2 s.
  notified_depotd d{{"WATCHDOG_USEC=400000"}};
  ASSERT_TRUE(d.sd.until("READY=1", 10s));
  auto start = std::chrono::steady_clock::now();
  int pings = 0;
  while (std::chrono::steady_clock::now() - start < 1500ms)
    if (auto m = d.sd.next(500ms); m && *m == "WATCHDOG=1") ++pings;
  EXPECT_GE(pings, 5);
  EXPECT_LE(pings, 12);
  // A stopped depotd sends nothing: systemd would restart it.
  ASSERT_TRUE(pause_process(d.pid));
  while (d.sd.next(100ms)) {
  }
  EXPECT_FALSE(d.sd.next(1s));
  ASSERT_EQ(::kill(d.pid, SIGCONT), 0);
  EXPECT_TRUE(d.sd.until("WATCHDOG=1", 2s));
}

TEST(Systemd, AWatchdogForAnotherProcessIsNotOurs) {
  DEPOT_ONCE_NOT_PER_STORE();
  // WATCHDOG_PID names someone else: systemd asked that process, not us.
  notified_depotd d{{"WATCHDOG_USEC=200000", "WATCHDOG_PID=1"}};
  ASSERT_TRUE(d.sd.until("READY=1", 10s));
  EXPECT_FALSE(d.sd.until("WATCHDOG=1", 1s));
}

}  // namespace
}  // namespace depot::test
