#pragma once

// A client that speaks ZMTP 3.0 (NULL mechanism, DEALER) over a plain TCP
// socket, written by hand so that a test can do what no ZeroMQ socket does:
// stop in the middle of a frame, send a multipart message that never ends,
// and never reconnect once dropped. Plus what the tests read of a running
// depotd: its resident set and its CPU time. Throws std::runtime_error when
// it cannot connect; sends report failure by returning false.

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <netinet/in.h>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

namespace depot::test {

/// One raw ZMTP connection. See the file comment.
class hostile_peer {
 public:
  /// Connects to tcp://127.0.0.1:PORT (`endpoint`) and sends the greeting and
  /// READY (Socket-Type DEALER), the ZMTP handshake done. Sends (and each
  /// wait for the server's part of the handshake) block at most
  /// `send_timeout_ms`.
  explicit hostile_peer(const std::string& endpoint, int send_timeout_ms = 2000)
      : hostile_peer(endpoint, send_timeout_ms, false) {}

  /// A TCP connection to `endpoint` that says nothing: no ZMTP handshake.
  /// Throws only if connect() fails (a full backlog makes it wait, at most
  /// `send_timeout_ms`).
  static std::unique_ptr<hostile_peer> connect_only(const std::string& endpoint,
                                                    int send_timeout_ms = 500) {
    return std::unique_ptr<hostile_peer>(
        new hostile_peer(endpoint, send_timeout_ms, true));
  }

  ~hostile_peer() {
    if (fd_ >= 0) ::close(fd_);
  }
  hostile_peer(const hostile_peer&) = delete;
  hostile_peer& operator=(const hostile_peer&) = delete;

 private:
  hostile_peer(const std::string& endpoint, int send_timeout_ms, bool silent) {
    auto colon = endpoint.rfind(':');
    if (endpoint.rfind("tcp://127.0.0.1:", 0) != 0 ||
        colon == std::string::npos)
      throw std::runtime_error("hostile_peer needs tcp://127.0.0.1:PORT");
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0)
      throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    timeval tv{send_timeout_ms / 1000, (send_timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port =
        htons(static_cast<uint16_t>(std::stoi(endpoint.substr(colon + 1))));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      int e = errno;
      ::close(fd_);
      throw std::runtime_error(std::string("connect: ") + std::strerror(e));
    }
    if (silent) return;
    // As libzmq's own clients do: greeting, the server's greeting, READY,
    // the server's READY (it pipelines nothing before the handshake ends).
    std::string hello(64, '\0');
    hello[0] = '\xff';
    hello[9] = '\x7f';
    hello[10] = 3;  // version 3.0
    hello.replace(12, 4, "NULL");
    // READY: command flag, size, "\5READY", property Socket-Type = DEALER.
    std::string ready = "\x05READY";
    ready += '\x0b';
    ready += "Socket-Type";
    ready += std::string("\0\0\0\x06", 4);
    ready += "DEALER";
    ready = std::string("\x04") + static_cast<char>(ready.size()) + ready;
    std::string got;
    if (!send_raw(hello) || !read_at_least(got, 64, send_timeout_ms) ||
        !send_raw(ready) || !read_at_least(got, 64 + 2, send_timeout_ms) ||
        !read_at_least(got, 64 + 2 + static_cast<uint8_t>(got[65]),
                       send_timeout_ms)) {
      ::close(fd_);
      throw std::runtime_error("no ZMTP handshake with the server");
    }
  }

 public:
  /// The header of one message frame of `size` bytes (`more`: not the last).
  static std::string frame_header(uint64_t size, bool more) {
    std::string h;
    if (size < 256) {
      h += static_cast<char>(more ? 0x01 : 0x00);
      h += static_cast<char>(size);
    } else {
      h += static_cast<char>(more ? 0x03 : 0x02);
      for (int i = 7; i >= 0; --i)
        h += static_cast<char>((size >> (8 * i)) & 0xff);
    }
    return h;
  }

  /// Sends one whole frame.
  bool send_frame(std::string_view body, bool more) {
    return send_raw(frame_header(body.size(), more)) && send_raw(body);
  }

  /// Sends bytes as they are; false once the server has dropped us (or the
  /// send timed out).
  bool send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  /// Reads into `into` until it holds `n` bytes; false on EOF, an error or
  /// after `timeout_ms` without data.
  bool read_at_least(std::string& into, size_t n, int timeout_ms) {
    while (into.size() < n) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      char buf[256];
      ssize_t got = ::recv(fd_, buf, std::min(sizeof buf, n - into.size()), 0);
      if (got <= 0) return false;
      into.append(buf, static_cast<size_t>(got));
    }
    return true;
  }

  /// True once the server has closed the connection (EOF or reset), looking
  /// for up to `wait_ms`; replies the server sent meanwhile are discarded.
  bool closed_by_server(int wait_ms = 0) {
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, wait_ms) <= 0) return false;
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
    }
  }

 private:
  int fd_ = -1;
};

/// A process's resident set size in KiB (/proc/PID/status VmRSS); -1 if gone.
inline long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

/// A process's CPU time (user + system) in clock ticks (/proc/PID/stat).
inline long cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)),
                  std::istreambuf_iterator<char>());
  auto close = all.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  long utime = 0, stime = 0;
  // Fields after the command: state is field 3; utime 14, stime 15.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

/// Raises this process's soft RLIMIT_NOFILE to at least `want` (up to the
/// hard limit); returns the soft limit now.
inline rlim_t raise_own_nofile(rlim_t want) {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = std::min(want, rl.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

}  // namespace depot::test
