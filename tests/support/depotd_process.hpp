#pragma once

// A real depotd for integration tests: fork+execv of DEPOTD_PATH (set by
// CMake) on a fresh temp root, listening on a free loopback TCP port (or an
// ipc:// socket in the temp dir), ready once `ping` answers. Its stderr goes
// to a log file in the temp dir, printed when the test has failed. stop()
// sends SIGTERM and reaps it, kill9() sends SIGKILL; restart() starts it
// again on the same root and endpoint. The destructor kills it if it still
// runs. One thread at a time.

#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/wire_client.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

#ifndef DEPOTD_PATH
#error "DEPOTD_PATH must name the depotd binary (set by CMake)"
#endif

namespace depot::test {

/// How a depotd_process is set up.
struct depotd_config {
  std::vector<std::string> flags;  ///< extra command-line flags
  bool ipc = false;                ///< ipc://TEMP/depotd.sock instead of tcp
  std::string root;                ///< --root; empty: TEMP/root
  rlim_t nofile = 0;               ///< if set, depotd's soft RLIMIT_NOFILE
  rlim_t nofile_hard = 0;          ///< its hard one; 0: as `nofile`
};

/// A depotd child process. See the file comment.
class depotd_process {
 public:
  /// Starts depotd with `flags` on a fresh temp root over tcp.
  explicit depotd_process(std::vector<std::string> flags = {})
      : depotd_process(depotd_config{std::move(flags), false, {}}) {}

  /// Starts depotd as `config` says.
  explicit depotd_process(depotd_config config) : config_(std::move(config)) {
    root_ = config_.root.empty() ? dir_ / "root" : config_.root;
    log_path_ = dir_ / "depotd.log";
    for (int attempt = 0;; ++attempt) {
      endpoint_ = config_.ipc
                      ? "ipc://" + (dir_ / "depotd.sock")
                      : "tcp://127.0.0.1:" + std::to_string(free_tcp_port());
      if (launch()) return;
      // Most likely the port was taken between probe and bind: try another.
      if (config_.ipc || attempt == 4)
        throw std::runtime_error("depotd did not start; its log:\n" + log());
    }
  }

  ~depotd_process() {
    if (pid_ > 0) kill9();
    if (::testing::Test::HasFailure())
      std::cerr << "---- depotd log (" << log_path_ << ") ----\n"
                << log() << "---- end of depotd log ----\n";
  }

  depotd_process(const depotd_process&) = delete;
  depotd_process& operator=(const depotd_process&) = delete;

  /// Where clients connect.
  const std::string& endpoint() const { return endpoint_; }

  /// The --root directory.
  const std::string& root() const { return root_; }

  /// The temp dir holding the root, the log and an ipc socket.
  const temp_dir& dir() const { return dir_; }

  /// The server's pid while it runs, else -1.
  pid_t pid() const { return pid_; }

  /// True while the child has not been reaped.
  bool running() const { return pid_ > 0; }

  /// SIGTERM, then waits up to `limit` for the exit. Returns the exit code,
  /// 128+signal if a signal ended it, or -1 if it had to be killed after
  /// `limit`.
  int stop(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    if (pid_ <= 0) throw std::runtime_error("depotd is not running");
    auto status = stop_child(pid_, limit);
    pid_ = -1;
    return status.value_or(-1);
  }

  /// SIGKILL, and reaps the child.
  void kill9() {
    if (pid_ <= 0) return;
    kill_child(pid_);
    pid_ = -1;
  }

  /// Starts depotd again on the same root and endpoint (after stop/kill9).
  void restart() {
    if (pid_ > 0) throw std::runtime_error("depotd is still running");
    // A tcp port just released may need a moment; retry briefly.
    for (int attempt = 0;; ++attempt) {
      if (launch()) return;
      if (attempt == 4)
        throw std::runtime_error("depotd did not restart; its log:\n" + log());
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  /// Everything depotd wrote to stderr (all starts).
  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  /// A new DEALER client connected to this server.
  std::unique_ptr<wire_client> client() const {
    return std::make_unique<wire_client>(endpoint_);
  }

 private:
  // Starts depotd, then waits (10 s at most) until `ping` answers. False
  // if the child exited before answering.
  bool launch() {
    std::vector<std::string> args = {DEPOTD_PATH, "--listen", endpoint_,
                                     "--root", root_};
    args.insert(args.end(), config_.flags.begin(), config_.flags.end());
    const size_t log_start = log().size();
    spawn_options options;
    options.log = log_path_;
    options.nofile = config_.nofile;
    options.nofile_hard = config_.nofile_hard;
    pid_ = spawn_child(args, options);
    if (pid_ < 0)
      throw std::runtime_error("cannot start depotd: " +
                               std::string(std::strerror(errno)));
    auto ready = wait_until_ready(pid_, std::chrono::seconds(10), [&] {
      wire_client probe(endpoint_);
      probe.send(schema::ping_request{});
      zmq::pollitem_t item{probe.socket().handle(), 0, ZMQ_POLLIN, 0};
      // The start-up line proves that this child bound the endpoint (and
      // that no other server on a reused port answered the ping).
      return zmq::poll(&item, 1, std::chrono::milliseconds(200)) > 0 &&
             log().find("serving on", log_start) != std::string::npos;
    });
    if (ready == readiness::ready) return true;
    if (ready == readiness::exited) {
      pid_ = -1;
      return false;
    }
    kill9();
    throw std::runtime_error(
        "depotd did not answer ping within 10 s; its log:\n" + log());
  }

  temp_dir dir_;
  depotd_config config_;
  std::string root_;
  std::string log_path_;
  std::string endpoint_;
  pid_t pid_ = -1;
};

}  // namespace depot::test
