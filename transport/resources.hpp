#pragma once

// The process resources a peer can exhaust from outside, and the probes the
// transport uses to bound them: the file-descriptor limit, the bytes the
// kernel has received on a TCP connection, and the heap. Linux only.

#include <cstdint>
#include <optional>

namespace depot::transport {

/// RLIMIT_NOFILE before and after raise_fd_limit().
struct fd_limits {
  uint64_t soft_before = 0;  ///< the soft limit found at start
  uint64_t soft = 0;         ///< the soft limit now
  uint64_t hard = 0;         ///< the hard limit (RLIM_INFINITY shows as 2^63)
  int error = 0;             ///< errno of a failed getrlimit/setrlimit, else 0
};

/// Raises the soft RLIMIT_NOFILE to the hard one (capped at the kernel's
/// fs.nr_open). Call once at start, before threads open files. Never fails:
/// on an error the limits found are returned with `error` set.
fd_limits raise_fd_limit();

/// Connections allowed under a soft fd limit by default: the limit less a
/// reserve (a quarter, at least 64) for the store's files, libzmq's own
/// descriptors and the process's others. At least 1.
uint64_t default_max_connections(uint64_t soft_limit);

/// Bytes the kernel has received on the TCP socket `fd` since it was
/// accepted (TCP_INFO's tcpi_bytes_received); nullopt if `fd` is not a TCP
/// socket.
std::optional<uint64_t> tcp_bytes_received(int fd);

/// Bytes received on the socket `fd` that nobody has read yet (SIOCINQ).
std::optional<uint64_t> unread_bytes(int fd);

/// Heap bytes in use: tcmalloc's generic.current_allocated_bytes when the
/// process is linked with tcmalloc, else the resident set size. Cheap when
/// tcmalloc is linked (no system call), one pread of /proc/self/statm else.
uint64_t memory_in_use();

/// Gives freed heap memory back to the operating system, keeping up to
/// `keep` bytes of it for reuse (0: give back all). tcmalloc keeps freed
/// pages unless told; under glibc's malloc this is malloc_trim(0) (which
/// ignores `keep`). Costs page faults later: call it seldom.
void release_free_memory(uint64_t keep);

}  // namespace depot::transport
