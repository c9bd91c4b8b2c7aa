#pragma once

// depotd as a systemd service (Type=notify, deploy/depotd.service). The
// service manager hears READY=1 once the sockets are bound and the store's
// recovery is done, RELOADING=1 then READY=1 around a SIGHUP, STOPPING=1 on
// SIGTERM, STATUS= lines saying what depotd is doing, and, with WatchdogSec=,
// WATCHDOG=1 only while the I/O loop and the actor scheduler both answer, so
// that a wedged depotd is killed and restarted. Without $NOTIFY_SOCKET every
// call does nothing.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace depotd {

class service_manager {
 public:
  /// Reads $NOTIFY_SOCKET and $WATCHDOG_USEC (libsystemd's sd_notify).
  service_manager();

  /// True when a service manager listens ($NOTIFY_SOCKET is set).
  bool listening() const { return listening_; }

  /// STATUS=`text`.
  void status(const std::string& text) const;

  /// READY=1 with STATUS=`text`.
  void ready(const std::string& text) const;

  /// RELOADING=1 (a SIGHUP is being applied; ready() ends it).
  void reloading() const;

  /// STOPPING=1 with STATUS=`text`.
  void stopping(const std::string& text) const;

  /// WATCHDOG=1.
  void watchdog() const;

  /// WatchdogSec as systemd passed it, or zero when there is no watchdog.
  std::chrono::microseconds watchdog_interval() const { return watchdog_; }

 private:
  friend class startup_progress;
  void notify(const std::string& state) const;

  bool listening_ = false;
  std::chrono::microseconds watchdog_{0};
};

/// While alive, tells systemd every 10 s that the start goes on
/// (EXTEND_TIMEOUT_USEC=30 s, STATUS=`what` and the seconds so far), so a
/// long recovery of a big store is not taken for a hung start whatever
/// TimeoutStartSec says. Nothing without a service manager.
class startup_progress {
 public:
  startup_progress(const service_manager& sd, std::string what);
  ~startup_progress();

  startup_progress(const startup_progress&) = delete;
  startup_progress& operator=(const startup_progress&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace depotd
