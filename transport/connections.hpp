#pragma once

// The per-connection bounds of the ROUTER: how many connections, and how
// many bytes a connection may make ZeroMQ buffer before they form a complete
// request. libzmq 4.3.4 bounds neither: it accepts until accept() fails with
// EMFILE (and then retries at once, forever: its epoll is level-triggered),
// and it keeps every frame of a multipart message in the session's pipe
// until the last one arrives (ZMQ_RCVHWM counts complete messages only,
// ZMQ_MAXMSGSIZE bounds one frame). What libzmq does give: the socket
// monitor reports each accepted connection's fd (ZMQ_EVENT_ACCEPTED) and its
// end (ZMQ_EVENT_DISCONNECTED), each received frame carries its
// connection's fd (ZMQ_SRCFD), and shutdown(fd, SHUT_RDWR) on that fd makes
// libzmq's engine fail, close the fd and free the pipe with the unfinished
// message in it (session_base_t::engine_error, pipe_t::rollback).
//
// From the kernel's count of bytes received on a TCP connection (TCP_INFO),
// less what is still unread in the kernel (SIOCINQ), less the wire bytes of
// the complete requests that came out of the ROUTER, the guard knows what
// ZeroMQ holds for that connection: its `held` bytes.

#include "transport/server.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <sys/socket.h>
#include <vector>

namespace depot::transport {

/// The limits and the connection table. One thread (the ROUTER's) calls
/// everything. Connections are named by fd.
class connection_guard {
 public:
  using clock = std::chrono::steady_clock;

  /// `drain` receives every message the ROUTER has ready (so that its bytes
  /// are counted) before a connection is judged; `stats` gets the gauges.
  connection_guard(const server_options& options, server_stats& stats,
                   std::function<void()> drain);

  /// A connection was accepted on `fd` (ZMQ_EVENT_ACCEPTED). Past
  /// max_connections the one idle longest is dropped.
  void accepted(int fd);

  /// The connection on `fd` ended (ZMQ_EVENT_DISCONNECTED). If it held
  /// unfinished requests, or if the heap shrinks by 8 MiB or more soon
  /// after (replies queued for a client that never read them), freed memory
  /// goes back to the system in full.
  void disconnected(int fd);

  /// libzmq's accept() failed with `error` (ZMQ_EVENT_ACCEPT_FAILED). On
  /// EMFILE or ENFILE the connection idle longest is dropped, which frees a
  /// descriptor and ends libzmq's retry loop.
  void accept_failed(int error);

  /// A complete request of `wire_bytes` (frames and their ZMTP headers) came
  /// from the connection on `fd`.
  void received(int fd, uint64_t wire_bytes);

  /// Checks the memory bounds when due, and gives freed memory back to the
  /// system. Returns how long the caller may wait before calling again.
  std::chrono::milliseconds tick();

  /// The per-connection bound in effect (peer_memory_limit or its default).
  uint64_t peer_limit() const { return peer_limit_; }

 private:
  struct conn {
    bool open = false;
    bool dropping = false;  // shut down by us, DISCONNECTED not seen yet
    bool tcp = false;
    clock::time_point accepted{};
    clock::time_point active{};         // accept or last complete request
    clock::time_point holding_since{};  // held > hold_floor since then
    bool holding = false;
    uint64_t accounted = 0;  // wire bytes of complete requests
    uint64_t held = 0;       // the last estimate
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
  };

  conn* find(int fd);
  void measure(int fd, conn& c, clock::time_point now);
  void scan(clock::time_point now);
  bool drop_idlest(int except, const char* cause);
  void drop(int fd, conn& c, const char* cause, const char* why);

  server_options options_;
  server_stats& stats_;
  std::function<void()> drain_;
  uint64_t peer_limit_;
  std::vector<conn> table_;  // indexed by fd
  size_t live_ = 0;          // open and not dropping
  clock::time_point last_probe_{};
  clock::time_point last_scan_{};
  clock::duration scan_cost_{};
  uint64_t memory_at_scan_ = 0;
  clock::time_point last_release_{};
  clock::time_point release_after_drop_{};
  int releases_pending_ = 0;
  bool leave_check_pending_ = false;  // a connection left: compare the heap
  clock::time_point leave_check_at_{};
  uint64_t memory_at_leave_ = 0;
  clock::time_point last_emfile_drop_{};
};

}  // namespace depot::transport
