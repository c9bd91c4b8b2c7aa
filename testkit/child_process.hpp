#pragma once

// Starting, waiting for and stopping child processes: the mechanics under
// depotd_process.hpp, the client tests' CLI runs and the benchmark's `perf`.
// No GoogleTest, so the benchmark links it too. All calls block; one thread
// per child at a time.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <signal.h>
#include <string>
#include <sys/types.h>
#include <vector>

namespace depot::test {

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, read, closed:
/// it may be taken again before anyone binds it). For endpoints that must
/// refuse connections; a server under test is better given port 0 (see
/// depotd_process.hpp). Throws std::runtime_error if no socket can be bound.
int free_tcp_port();

/// How spawn_child() sets up the child. Paths are opened by the parent,
/// before `cwd` applies.
struct spawn_options {
  std::string log;  ///< stderr, and stdout unless `out`, appended here
  std::string out;  ///< if set, stdout appended here instead of `log`
  std::string in;   ///< if set, stdin read from here; else inherited
  std::string cwd;  ///< if set, the child's working directory
  std::vector<std::string> env;  ///< "KEY=value" added to (or replacing in)
                                 ///< the parent's environment
  int death_signal = 0;      ///< if set, PR_SET_PDEATHSIG: sent to the child
                             ///< when the thread that spawned it ends
  bool search_path = false;  ///< look argv[0] up in $PATH (execvp)
  uint64_t nofile = 0;       ///< if set, the child's soft RLIMIT_NOFILE
  uint64_t nofile_hard = 0;  ///< its hard one; 0: as `nofile`
};

/// Starts `argv` (argv[0] the program) as `options` say. Returns the pid once
/// the child has exec'd, or -1 with errno set if a file could not be opened,
/// fork failed or the program could not be executed (that child is reaped).
pid_t spawn_child(const std::vector<std::string>& argv,
                  const spawn_options& options);

/// Waits up to `limit` (0: just looks) for the child `pid` to end, and reaps
/// it. Returns its exit code, 128+signal if a signal ended it, or -1 if
/// `pid` is not (or no longer) a child of ours; nullopt while it still runs.
std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds limit);

/// SIGKILL to the child `pid`, and reaps it.
void kill_child(pid_t pid);

/// Sends `signal` to the child `pid` and waits up to `grace` for it to end;
/// after that SIGKILL. Returns what wait_for_exit() does, or nullopt if the
/// child had to be killed. Either way it has been reaped.
std::optional<int> stop_child(pid_t pid, std::chrono::milliseconds grace,
                              int signal = SIGTERM);

/// SIGSTOP to `pid`, then waits up to `limit` until every thread of it has
/// stopped. kill() returns before they have: the signal reaches one thread,
/// which stops the others, and on a loaded machine another thread may run on
/// for milliseconds, long enough to answer a request a test sends "to a
/// stopped server". False if it sent no signal or they did not all stop.
bool pause_process(pid_t pid, std::chrono::milliseconds limit =
                                  std::chrono::milliseconds(5000));

/// How a child ended, from a status as wait_for_exit() gives it: "exit 3",
/// "signal 9", or "killed" for a negative one (depotd_process::stop()'s
/// "had to be killed").
std::string exit_text(int status);

/// How wait_until_ready() ended.
enum class readiness {
  ready,      ///< the probe succeeded
  exited,     ///< the child ended first (it has been reaped)
  timed_out,  ///< neither within the limit; the child still runs
};

/// Calls `probe` until it returns true, the child `pid` ends or `limit`
/// passes. `probe` is called back to back, so it should wait a little for
/// its answer (a ping with a 200 ms timeout, say). Exceptions from `probe`
/// pass through, the child left running.
readiness wait_until_ready(pid_t pid, std::chrono::milliseconds limit,
                           const std::function<bool()>& probe);

/// All of the file at `path` ("" if it cannot be read).
std::string read_file(const std::string& path);

/// The last `bytes` bytes of the file at `path` (all of it if shorter).
std::string read_file_tail(const std::string& path, size_t bytes);

}  // namespace depot::test
