#pragma once

// Helpers for the client tests: a real depotd child process (testkit's, on a
// port it picks or an ipc:// socket), running the `depot` CLI, and test
// files.

#include "client/client.hpp"
#include "testkit/child_process.hpp"
#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/gtest_status.hpp"
#include "testkit/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <string>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace depot::test {

/// The `depot` CLI the build made.
inline const char* depot_cli_path() { return DEPOT_CLI_PATH; }

/// All of the file at `path` ("" if it cannot be read).
inline std::string read_text(const std::string& path) {
  return read_file(path);
}

/// Replaces the file at `path` with `bytes`.
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// A test_depotd that the client tests start, stop and restart themselves,
/// each step an assertion: configured at construction, started by start().
class depotd {
 public:
  /// tcp on a port depotd picks unless `endpoint` is given; `flags` are
  /// extra command-line flags (e.g. {"--chunk-max", "65536"}).
  explicit depotd(std::vector<std::string> flags = {},
                  std::string endpoint = {}) {
    options_.flags = std::move(flags);
    options_.listen = std::move(endpoint);
  }
  ~depotd() { stop(); }

  /// Where clients connect (once started).
  const std::string& endpoint() const { return server_->endpoint(); }

  /// Starts the server (again, on the same root and endpoint, after stop())
  /// and waits until it answers ping.
  ::testing::AssertionResult start() {
    try {
      if (server_)
        server_->restart();
      else
        server_.emplace(options_);
      return ::testing::AssertionSuccess();
    } catch (const std::exception& e) {
      return ::testing::AssertionFailure() << e.what();
    }
  }

  /// SIGTERM, then SIGKILL after 10 s (a test failure); waits for the process.
  void stop() {
    if (!server_ || !server_->running()) return;
    if (server_->stop() < 0)
      ADD_FAILURE() << "depotd ignored SIGTERM for 10 s; killed it";
  }

  /// stop(), then start().
  ::testing::AssertionResult restart() {
    stop();
    return start();
  }

 private:
  depotd_options options_;
  std::optional<test_depotd> server_;
};

/// What a CLI run printed and returned.
struct cli_run {
  int status = -1;  ///< exit status, or -1 if it did not exit normally
  std::string out;
  std::string err;
};

/// Runs `depot ARGS...` with DEPOT_SERVER=`server` (unless empty) and the
/// "KEY=value" entries of `env`, stdin from `in` (if given), in the working
/// directory `dir`.
inline cli_run run_cli(const temp_dir& dir, const std::string& server,
                       const std::vector<std::string>& args,
                       const std::string& in = {},
                       const std::vector<std::string>& extra_env = {}) {
  static int counter = 0;
  std::string out = dir / ("cli-" + std::to_string(++counter) + ".out");
  std::string err = dir / ("cli-" + std::to_string(counter) + ".err");
  std::vector<std::string> argv{depot_cli_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> env;
  if (!server.empty()) env.push_back("DEPOT_SERVER=" + server);
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  spawn_options so;
  so.log = err;
  so.out = out;
  so.in = in;
  so.cwd = dir.path();
  so.env = std::move(env);
  pid_t pid = spawn_child(argv, so);
  cli_run r;
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status))
    r.status = WEXITSTATUS(status);
  r.out = read_text(out);
  r.err = read_text(err);
  return r;
}

}  // namespace depot::test
