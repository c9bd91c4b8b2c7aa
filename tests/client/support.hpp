#pragma once

// Helpers for the client tests: a real depotd child process on a free port
// (or an ipc:// socket), running the `depot` CLI, and test files.

#include "client/client.hpp"
#include "storage/sha256.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace depot::test {

/// The depotd binary: $DEPOT_TEST_DEPOTD if set (e.g. a sanitizer build of
/// the client tests against a plain server), else the one the build made
/// (which may not exist yet while it is being written).
inline const char* depotd_path() {
  const char* env = std::getenv("DEPOT_TEST_DEPOTD");
  return env && *env ? env : DEPOTD_PATH;
}

/// The `depot` CLI the build made.
inline const char* depot_cli_path() { return DEPOT_CLI_PATH; }

inline bool depotd_exists() { return ::access(depotd_path(), X_OK) == 0; }

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// `n` pseudo-random bytes from `seed`.
inline std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&out[i], &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<char>(rng());
  return out;
}

inline std::string sha256_hex(const std::string& bytes) {
  return storage::to_hex(storage::sha256::of(bytes.data(), bytes.size()));
}

/// A depotd child process with its own root, serving one endpoint.
class depotd {
 public:
  /// tcp on a free port unless `endpoint` is given; `flags` are extra
  /// command-line flags (e.g. {"--chunk-max", "65536"}).
  explicit depotd(std::vector<std::string> flags = {},
                  std::string endpoint = {})
      : flags_(std::move(flags)) {
    endpoint_ = endpoint.empty()
                    ? "tcp://127.0.0.1:" + std::to_string(free_tcp_port())
                    : std::move(endpoint);
  }
  ~depotd() { stop(); }

  const std::string& endpoint() const { return endpoint_; }
  std::string root() const { return dir_ / "root"; }
  std::string log() const { return read_text(dir_ / "depotd.log"); }

  /// Starts the server and waits (up to 10 s) until it answers ping.
  ::testing::AssertionResult start() {
    std::vector<std::string> argv{depotd_path(), "--root",  root(),
                                  "--listen",    endpoint_, "--log-level",
                                  "warn"};
    argv.insert(argv.end(), flags_.begin(), flags_.end());
    spawn_options so;
    so.log = dir_ / "depotd.log";
    pid_ = spawn_child(argv, so);
    if (pid_ < 0) return ::testing::AssertionFailure() << "cannot spawn depotd";
    client::options o;
    o.endpoint = endpoint_;
    o.timeout = std::chrono::milliseconds(200);
    auto ready = wait_until_ready(pid_, std::chrono::seconds(10), [&] {
      auto conn = client::connection::open(o);
      return conn && conn->ping();
    });
    if (ready == readiness::ready) return ::testing::AssertionSuccess();
    if (ready == readiness::exited) {
      pid_ = -1;
      return ::testing::AssertionFailure() << "depotd exited at start:\n"
                                           << log();
    }
    return ::testing::AssertionFailure()
           << "depotd did not answer ping in 10 s:\n"
           << log();
  }

  /// SIGTERM, then SIGKILL after 10 s; waits for the process.
  void stop() {
    if (pid_ < 0) return;
    if (!stop_child(pid_, std::chrono::seconds(10)))
      ADD_FAILURE() << "depotd ignored SIGTERM for 10 s; killed it";
    pid_ = -1;
  }

  ::testing::AssertionResult restart() {
    stop();
    return start();
  }

 private:
  std::vector<std::string> flags_;
  std::string endpoint_;
  temp_dir dir_;
  pid_t pid_ = -1;
};

/// What a CLI run printed and returned.
struct cli_run {
  int status = -1;  ///< exit status, or -1 if it did not exit normally
  std::string out;
  std::string err;
};

/// Runs `depot ARGS...` with DEPOT_SERVER=`server` (unless empty), stdin from
/// `in` (if given), in the working directory `dir`.
inline cli_run run_cli(const temp_dir& dir, const std::string& server,
                       const std::vector<std::string>& args,
                       const std::string& in = {}) {
  static int counter = 0;
  std::string out = dir / ("cli-" + std::to_string(++counter) + ".out");
  std::string err = dir / ("cli-" + std::to_string(counter) + ".err");
  std::vector<std::string> argv{depot_cli_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> env;
  if (!server.empty()) env.push_back("DEPOT_SERVER=" + server);
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

/// Skips the test while the server binary does not exist yet.
#define DEPOT_REQUIRE_DEPOTD()                                                \
  do {                                                                        \
    if (!::depot::test::depotd_exists())                                      \
      GTEST_SKIP() << "no depotd binary at " << ::depot::test::depotd_path(); \
  } while (false)

/// Prints the error of a failed result.
#define DEPOT_ASSERT_OK(r) \
  ASSERT_TRUE((r).ok()) << ::depot::client::to_string((r).error())
#define DEPOT_EXPECT_OK(r) \
  EXPECT_TRUE((r).ok()) << ::depot::client::to_string((r).error())
