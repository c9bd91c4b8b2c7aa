#include "depotd/systemd.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>
#include <systemd/sd-daemon.h>

namespace depotd {

service_manager::service_manager() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  listening_ = socket && *socket;
  uint64_t usec = 0;
  // > 0: a watchdog is asked of this process (WATCHDOG_PID, if set, is us).
  if (sd_watchdog_enabled(0, &usec) > 0)
    watchdog_ = std::chrono::microseconds{usec};
}

void service_manager::notify(const std::string& state) const {
  if (!listening_) return;
  if (int rc = sd_notify(0, state.c_str()); rc < 0)
    spdlog::warn("systemd: cannot notify {}: {}",
                 state.substr(0, state.find('\n')), std::strerror(-rc));
}

void service_manager::status(const std::string& text) const {
  notify("STATUS=" + text);
}

void service_manager::ready(const std::string& text) const {
  notify("READY=1\nSTATUS=" + text);
}

void service_manager::reloading() const { notify("RELOADING=1"); }

void service_manager::stopping(const std::string& text) const {
  notify("STOPPING=1\nSTATUS=" + text);
}

void service_manager::watchdog() const { notify("WATCHDOG=1"); }

startup_progress::startup_progress(const service_manager& sd,
                                   std::string what) {
  sd.status(what);
  if (!sd.listening()) return;
  thread_ = std::thread{[this, &sd, what = std::move(what)] {
    auto start = std::chrono::steady_clock::now();
    std::unique_lock lock{mutex_};
    while (!wake_.wait_for(lock, std::chrono::seconds{10},
                           [this] { return done_; })) {
      auto s = std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::steady_clock::now() - start);
      sd.notify("EXTEND_TIMEOUT_USEC=30000000\nSTATUS=" + what + " (" +
                std::to_string(s.count()) + " s)");
    }
  }};
}

startup_progress::~startup_progress() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock{mutex_};
    done_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

}  // namespace depotd
