#include "testkit/depotd_process.hpp"

#include "testkit/child_process.hpp"
#include "testkit/rados_env.hpp"

#include <zmq.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <thread>
#include <unistd.h>

#ifndef DEPOTD_PATH
#error "DEPOTD_PATH must name the depotd binary (set by CMake)"
#endif

namespace depot::test {
namespace {

// The first endpoint of the first complete "serving on" line at or after
// `from` in `log`: depotd lists the endpoints it bound in --listen order.
// With --log-format json the message ends in a quote.
std::optional<std::string> served_endpoint(const std::string& log,
                                           size_t from) {
  static const std::string marker = "depotd serving on ";
  auto at = log.find(marker, from);
  if (at == std::string::npos) return std::nullopt;
  auto line_end = log.find('\n', at);
  if (line_end == std::string::npos) return std::nullopt;  // still written
  auto begin = at + marker.size();
  auto end = log.find_first_of(" |\n\"", begin);
  return log.substr(begin, end - begin);
}

// The start-up line is logged at info level: a quieter depotd could never
// be found ready.
void require_info_log(const std::vector<std::string>& flags) {
  for (size_t i = 0; i < flags.size(); ++i) {
    std::string level;
    if (flags[i] == "--log-level" && i + 1 < flags.size())
      level = flags[i + 1];
    else if (flags[i].rfind("--log-level=", 0) == 0)
      level = flags[i].substr(12);
    if (level == "warn" || level == "warning" || level == "err" ||
        level == "error" || level == "critical" || level == "off")
      throw std::invalid_argument(
          "depotd_process needs depotd's info-level start-up line: "
          "--log-level " +
          level + " hides it");
  }
}

// Under DEPOT_TEST_STORE=rados, a depotd whose flags choose no store keeps
// its files in a RADOS namespace named after its root: processes sharing a
// root share a store, as they would on the file system.
void choose_test_store(depotd_options& o) {
  if (test_store() != "rados") return;
  for (auto& f : o.flags)
    if (f == "--store" || f.rfind("--store=", 0) == 0) return;
  char ns[64];
  std::snprintf(ns, sizeof ns, "t%d-%zx", static_cast<int>(getpid()),
                std::hash<std::string>{}(o.root));
  auto flags = rados_flags(ns);
  o.flags.insert(o.flags.end(), flags.begin(), flags.end());
}

}  // namespace

std::string depotd_binary() {
  const char* env = std::getenv("DEPOT_TEST_DEPOTD");
  return env && *env ? env : DEPOTD_PATH;
}

namespace {

depotd_options with_flags(std::vector<std::string> flags) {
  depotd_options options;
  options.flags = std::move(flags);
  return options;
}

}  // namespace

depotd_process::depotd_process(std::vector<std::string> flags)
    : depotd_process(with_flags(std::move(flags))) {}

depotd_process::depotd_process(depotd_options options)
    : options_(std::move(options)) {
  require_info_log(options_.flags);
  if (options_.binary.empty()) options_.binary = depotd_binary();
  auto dir = [this]() -> const temp_dir& {
    if (!dir_) dir_.emplace();
    return *dir_;
  };
  if (options_.root.empty()) options_.root = dir() / "root";
  if (options_.log.empty()) options_.log = dir() / "depotd.log";
  choose_test_store(options_);
  if (options_.listen.empty())
    options_.listen =
        options_.ipc ? "ipc://" + (dir() / "depotd.sock") : "tcp://127.0.0.1:0";
  if (!launch())
    throw std::runtime_error("depotd exited at start; the end of its log:\n" +
                             log_tail());
  // A restart binds the same endpoint, port included.
  options_.listen = endpoint_;
}

depotd_process::~depotd_process() {
  if (pid_ <= 0) return;
  try {
    stop();
  } catch (...) {
    // A destructor cannot report; the child has been reaped either way.
  }
}

int depotd_process::stop(std::optional<std::chrono::milliseconds> grace) {
  if (pid_ <= 0) throw std::runtime_error("depotd is not running");
  auto status = stop_child(pid_, grace.value_or(options_.stop_grace));
  pid_ = -1;
  return status.value_or(-1);
}

void depotd_process::kill9() {
  if (pid_ <= 0) return;
  kill_child(pid_);
  pid_ = -1;
}

void depotd_process::restart() {
  if (pid_ > 0) throw std::runtime_error("depotd is still running");
  for (int attempt = 0;; ++attempt) {
    if (launch()) return;
    if (attempt == 4)
      throw std::runtime_error("depotd did not restart; the end of its log:\n" +
                               log_tail());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

std::string depotd_process::log() const { return read_file(options_.log); }

std::string depotd_process::log_tail(size_t bytes) const {
  return read_file_tail(options_.log, bytes);
}

std::unique_ptr<wire_client> depotd_process::client() const {
  return std::make_unique<wire_client>(endpoint_, options_.client_setup);
}

bool depotd_process::launch() {
  std::vector<std::string> args = {options_.binary, "--listen", options_.listen,
                                   "--root", options_.root};
  args.insert(args.end(), options_.flags.begin(), options_.flags.end());
  const size_t log_start = log().size();
  spawn_options so;
  so.log = options_.log;
  so.in = "/dev/null";
  so.death_signal = options_.death_signal;
  so.nofile = options_.nofile;
  so.nofile_hard = options_.nofile_hard;
  so.env = options_.env;
  so.search_path = true;
  pid_ = spawn_child(args, so);
  if (pid_ < 0)
    throw std::runtime_error("cannot start " + options_.binary + ": " +
                             std::strerror(errno));
  std::optional<wire_client> probe;
  auto ready = readiness::timed_out;
  try {
    ready = wait_until_ready(pid_, options_.ready_limit, [&] {
      if (options_.interrupted && options_.interrupted())
        throw std::runtime_error("interrupted while depotd was starting");
      if (!probe) {
        auto served = served_endpoint(log(), log_start);
        if (!served) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          return false;
        }
        endpoint_ = *served;
        probe.emplace(endpoint_, options_.client_setup);
      }
      probe->send(schema::ping_request{});
      zmq::pollitem_t item{probe->socket().handle(), 0, ZMQ_POLLIN, 0};
      return zmq::poll(&item, 1, std::chrono::milliseconds(200)) > 0;
    });
  } catch (...) {
    kill9();
    throw;
  }
  if (ready == readiness::ready) return true;
  if (ready == readiness::exited) {
    pid_ = -1;
    return false;
  }
  kill9();
  throw std::runtime_error("depotd did not answer ping within " +
                           std::to_string(options_.ready_limit.count()) +
                           " ms; the end of its log:\n" + log_tail());
}

}  // namespace depot::test
