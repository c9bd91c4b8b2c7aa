#include "metrics/readiness.hpp"

#include <cerrno>
#include <cstring>
#include <sys/statvfs.h>
#include <unistd.h>

namespace depot::metrics {

std::string_view to_string(phase p) {
  switch (p) {
    case phase::starting:
      return "starting";
    case phase::recovering:
      return "recovering";
    case phase::ready:
      return "ready";
    case phase::stopping:
      return "stopping";
  }
  return "unknown";
}

void readiness::set(phase p) noexcept {
  phase cur = phase_.load(std::memory_order_acquire);
  while (cur != phase::stopping &&
         !phase_.compare_exchange_weak(cur, p, std::memory_order_acq_rel)) {
  }
}

readiness::status readiness::check() const {
  switch (current()) {
    case phase::starting:
      return {false, "starting"};
    case phase::recovering:
      return {false, "recovering"};
    case phase::stopping:
      return {false, "shutting down"};
    case phase::ready:
      break;
  }
  if (check_) {
    std::string why = check_();
    if (!why.empty()) return {false, "storage not writable: " + why};
  }
  return {true, "ok"};
}

readiness::storage_check directory_writable_check(std::string dir) {
  return [dir = std::move(dir)]() -> std::string {
    struct statvfs st {};
    if (::statvfs(dir.c_str(), &st) != 0)
      return dir + ": " + std::strerror(errno);
    if (st.f_flag & ST_RDONLY) return dir + ": read-only file system";
    if (::access(dir.c_str(), W_OK) != 0)
      return dir + ": " + std::strerror(errno);
    if (st.f_bavail == 0) return dir + ": no space left on the file system";
    // Some file systems (btrfs, tmpfs without a limit) report no inode
    // counts at all: only a count that exists and is spent counts.
    if (st.f_files > 0 && st.f_favail == 0)
      return dir + ": no inode left on the file system";
    return {};
  };
}

}  // namespace depot::metrics
