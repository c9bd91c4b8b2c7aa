#include "transport/resources.hpp"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <fcntl.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

// tcmalloc's C interface (gperftools/malloc_extension_c.h), declared weak:
// depotd links tcmalloc, the tests and the sanitizer builds do not, and
// there these are null and glibc's figures are used instead.
extern "C" {
int MallocExtension_GetNumericProperty(const char* property, size_t* value)
    __attribute__((weak));
void MallocExtension_ReleaseToSystem(size_t num_bytes) __attribute__((weak));
void MallocExtension_ReleaseFreeMemory() __attribute__((weak));
}

namespace depot::transport {
namespace {

uint64_t as_u64(rlim_t r) {
  return r == RLIM_INFINITY ? uint64_t{1} << 63 : static_cast<uint64_t>(r);
}

// fs.nr_open caps what setrlimit accepts for RLIMIT_NOFILE when the hard
// limit is RLIM_INFINITY.
rlim_t nr_open() {
  rlim_t value = 1 << 20;
  if (FILE* f = std::fopen("/proc/sys/fs/nr_open", "re")) {
    unsigned long long v = 0;
    if (std::fscanf(f, "%llu", &v) == 1 && v > 0) value = v;
    std::fclose(f);
  }
  return value;
}

bool have_tcmalloc() {
  return MallocExtension_GetNumericProperty != nullptr &&
         MallocExtension_ReleaseToSystem != nullptr &&
         MallocExtension_ReleaseFreeMemory != nullptr;
}

}  // namespace

fd_limits raise_fd_limit() {
  fd_limits out;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    out.error = errno;
    return out;
  }
  out.soft_before = out.soft = as_u64(rl.rlim_cur);
  out.hard = as_u64(rl.rlim_max);
  rlim_t target = rl.rlim_max == RLIM_INFINITY ? nr_open() : rl.rlim_max;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < target) {
    rl.rlim_cur = target;
    if (::setrlimit(RLIMIT_NOFILE, &rl) == 0)
      out.soft = as_u64(target);
    else
      out.error = errno;
  }
  return out;
}

uint64_t default_max_connections(uint64_t soft_limit) {
  uint64_t reserve = std::max<uint64_t>(64, soft_limit / 4);
  return soft_limit > reserve ? soft_limit - reserve : 1;
}

std::optional<uint64_t> tcp_bytes_received(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return {};
  // Kernels before 4.1 fill a shorter struct without the byte counters.
  if (len <
      offsetof(tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received)
    return {};
  return info.tcpi_bytes_received;
}

std::optional<uint64_t> unread_bytes(int fd) {
  int n = 0;
  if (::ioctl(fd, SIOCINQ, &n) != 0 || n < 0) return {};
  return static_cast<uint64_t>(n);
}

uint64_t memory_in_use() {
  if (have_tcmalloc()) {
    size_t v = 0;
    if (MallocExtension_GetNumericProperty("generic.current_allocated_bytes",
                                           &v))
      return v;
  }
  static const int statm = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  static const long page = ::sysconf(_SC_PAGESIZE);
  if (statm < 0) return 0;
  char buf[128];
  ssize_t n = ::pread(statm, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = '\0';
  unsigned long long size = 0, resident = 0;
  if (std::sscanf(buf, "%llu %llu", &size, &resident) != 2) return 0;
  return resident * static_cast<uint64_t>(page);
}

void release_free_memory(uint64_t keep) {
  if (have_tcmalloc()) {
    if (keep == 0) {
      MallocExtension_ReleaseFreeMemory();
      return;
    }
    size_t free_bytes = 0;
    if (MallocExtension_GetNumericProperty("tcmalloc.pageheap_free_bytes",
                                           &free_bytes) &&
        free_bytes > keep)
      MallocExtension_ReleaseToSystem(free_bytes - keep);
    return;
  }
  if (keep == 0) ::malloc_trim(0);
}

}  // namespace depot::transport
