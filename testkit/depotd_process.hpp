#pragma once

// A real depotd as a child process, for the tests and the benchmark alike.
// It listens on tcp://127.0.0.1:0 unless told otherwise: depotd picks a free
// port, and the launcher reads the endpoint back from depotd's start-up line
// ("depotd serving on ..."), so no port is probed ahead and no other server
// can be mistaken for this one. It counts as started once that line is in
// its log and it answers `ping`. Its stdout and stderr are appended to one
// log file; when it does not start, the exception carries the end of that
// log. restart() starts it again on the same root and endpoint (a resolved
// port is kept). The destructor stops it if it still runs. One thread at a
// time per object.

#include "testkit/temp_dir.hpp"
#include "testkit/wire_client.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace depot::test {

/// The depotd binary the kit starts by default: $DEPOT_TEST_DEPOTD if set
/// (e.g. a sanitizer build of the tests against a plain server), else the
/// one this build makes, which may not exist yet.
std::string depotd_binary();

/// How a depotd_process is set up. DIR is a temp dir of the process's own,
/// made only when something below defaults into it.
struct depotd_options {
  std::vector<std::string> flags;  ///< extra flags, after --listen and --root
  std::string binary;              ///< empty: depotd_binary()
  std::string listen;  ///< --listen; empty: tcp://127.0.0.1:0 (or ipc below)
  bool ipc = false;    ///< if `listen` is empty: ipc://DIR/depotd.sock
  std::string root;    ///< --root; empty: DIR/root
  std::string log;     ///< stdout and stderr, appended; empty: DIR/depotd.log
  std::chrono::milliseconds ready_limit{10'000};  ///< to answer ping
  std::chrono::milliseconds stop_grace{10'000};   ///< SIGTERM to SIGKILL
  int death_signal = 0;          ///< sent to depotd if the starting thread ends
  uint64_t nofile = 0;           ///< if set, depotd's soft RLIMIT_NOFILE
  uint64_t nofile_hard = 0;      ///< its hard one; 0: as `nofile`
  std::vector<std::string> env;  ///< "KEY=value" added to depotd's environment
  /// If set, asked while waiting for depotd to start; true abandons the
  /// start (depotd is killed, and std::runtime_error thrown).
  std::function<bool()> interrupted;
  /// Applied to the kit's own client sockets (the readiness ping, client())
  /// before they connect: the keys of a client a CURVE depotd admits.
  socket_setup client_setup;
};

/// A depotd child process. See the file comment.
class depotd_process {
 public:
  /// Starts depotd as `options` say and waits until it is ready. Throws
  /// std::runtime_error, with the end of its log, if it does not start.
  explicit depotd_process(depotd_options options);

  /// Starts depotd with `flags` on a fresh temp root over tcp.
  explicit depotd_process(std::vector<std::string> flags = {});

  /// Stops it as stop() does if it still runs.
  ~depotd_process();

  depotd_process(const depotd_process&) = delete;
  depotd_process& operator=(const depotd_process&) = delete;

  /// Where clients connect: the first --listen, port resolved.
  const std::string& endpoint() const { return endpoint_; }

  /// The --root directory.
  const std::string& root() const { return options_.root; }

  /// The log file.
  const std::string& log_path() const { return options_.log; }

  /// The server's pid while it runs, else -1.
  pid_t pid() const { return pid_; }

  /// True while the child has not been reaped.
  bool running() const { return pid_ > 0; }

  /// SIGTERM, then waits up to `grace` (default: the options' stop_grace)
  /// for the exit; SIGKILL after that. Returns the exit code, 128+signal if
  /// a signal ended it, or -1 if it had to be killed. Throws
  /// std::runtime_error if it is not running.
  int stop(std::optional<std::chrono::milliseconds> grace = std::nullopt);

  /// SIGKILL, and reaps the child (nothing if it is not running).
  void kill9();

  /// Starts depotd again on the same root and endpoint (after stop/kill9),
  /// retrying briefly while a just-released tcp port is not free yet.
  /// Throws std::runtime_error if it still runs or does not start.
  void restart();

  /// Everything in the log (all starts).
  std::string log() const;

  /// The last `bytes` of the log.
  std::string log_tail(size_t bytes = 8000) const;

  /// A new DEALER client connected to this server.
  std::unique_ptr<wire_client> client() const;

 private:
  // Starts depotd and waits until it is ready. False if it exited before.
  bool launch();

  std::optional<temp_dir> dir_;
  depotd_options options_;
  std::string endpoint_;
  pid_t pid_ = -1;
};

}  // namespace depot::test
