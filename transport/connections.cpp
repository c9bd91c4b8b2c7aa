#include "transport/connections.hpp"

#include "logging/log.hpp"
#include "schema/codec.hpp"
#include "transport/rate_limited_log.hpp"
#include "transport/resources.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <utility>

namespace depot::transport {
namespace {

using std::chrono::milliseconds;

// Below this a connection is not "holding": a few frame headers, a request
// being read, ZMTP commands.
constexpr uint64_t hold_floor = 64 << 10;

// Bytes on the wire that are not requests: the ZMTP greeting (64), the
// READY command with its properties (under 300 with a 255-byte routing id),
// then heartbeat commands (PONGs to our PINGs, ~7 bytes every heartbeat
// interval; PINGs if the client sends its own). 64 bytes a second covers a
// client pinging every 200 ms; the allowance stops growing at 1 MiB so an
// old connection cannot hide a frame behind it.
constexpr uint64_t allowance_base = 4096;
constexpr uint64_t allowance_per_second = 64;
constexpr uint64_t allowance_max = 1 << 20;

// The bounds are checked once a second, and sooner when the heap grew by
// this much since the last check (a fast peer can send ~4 GB/s over
// loopback: the growth trigger, probed every 10 ms, keeps what one peer can
// add between checks to a few tens of MiB there).
constexpr milliseconds scan_period{1000};
constexpr milliseconds probe_period{10};
constexpr uint64_t growth_trigger = 8 << 20;
// A check costs ~1 µs per connection; checks triggered by growth are spaced
// so that measuring takes at most 1/10 of the thread (dropping is extra).
constexpr int scan_cost_ratio = 10;

// Freed memory kept by tcmalloc for reuse between periodic releases (chunk
// buffers come and go: faulting them in again costs ~3.4 s per GiB here);
// after a drop everything free goes back.
constexpr uint64_t keep_free = 64 << 20;
constexpr milliseconds release_period{1000};
constexpr milliseconds release_delay{250};

// After an EMFILE drop, libzmq needs a moment to close the fd; the failed
// accepts reported meanwhile must not drop more connections.
constexpr milliseconds emfile_spacing{10};

// Past --peer-memory-cap, a connection is dropped only once it has held its
// bytes this long: a client in the middle of a chunk holds up to a frame for
// a moment, a stalled one for good. Past 1.5 times the cap, no grace.
constexpr milliseconds cap_grace{500};

bool same_peer(int fd, const sockaddr_storage& addr, socklen_t len) {
  sockaddr_storage now{};
  socklen_t now_len = sizeof now;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&now), &now_len) != 0)
    return false;
  return now_len == len && std::memcmp(&now, &addr, len) == 0;
}

// The remote end of a connection for log lines: "ADDRESS:PORT" ("[V6]:PORT"),
// "local" for a unix socket (ipc://), "unknown" when it was not recorded.
std::string address_of(const sockaddr_storage& a, socklen_t len) {
  char host[INET6_ADDRSTRLEN] = {};
  if (len > 0 && a.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
    ::inet_ntop(AF_INET, &v4.sin_addr, host, sizeof host);
    return std::string{host} + ":" + std::to_string(ntohs(v4.sin_port));
  }
  if (len > 0 && a.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, host, sizeof host);
    return "[" + std::string{host} + "]:" + std::to_string(ntohs(v6.sin6_port));
  }
  if (len > 0 && a.ss_family == AF_UNIX) return "local";
  return "unknown";
}

}  // namespace

connection_guard::connection_guard(const server_options& options,
                                   server_stats& stats,
                                   std::function<void()> drain)
    : options_(options), stats_(stats), drain_(std::move(drain)) {
  // One request is at most two frames (header and chunk payload), each under
  // ZMQ_MAXMSGSIZE; the limit allows two such requests in progress.
  uint64_t request =
      2 * (options.max_payload + schema::max_request_header_bytes + 1024 + 9);
  peer_limit_ = options.peer_memory_limit > 0 ? options.peer_memory_limit
                                              : 2 * request + hold_floor;
}

connection_guard::conn* connection_guard::find(int fd) {
  if (fd < 0 || static_cast<size_t>(fd) >= table_.size()) return nullptr;
  conn& c = table_[fd];
  return c.open ? &c : nullptr;
}

void connection_guard::accepted(int fd) {
  if (fd < 0) return;
  if (static_cast<size_t>(fd) >= table_.size()) table_.resize(fd + 1);
  conn& c = table_[fd];
  if (c.open && !c.dropping) --live_;  // its DISCONNECTED was missed
  c = conn{};
  c.open = true;
  c.accepted = c.active = clock::now();
  c.addr_len = sizeof c.addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&c.addr), &c.addr_len) != 0)
    c.addr_len = 0;
  c.tcp = c.addr_len > 0 &&
          (c.addr.ss_family == AF_INET || c.addr.ss_family == AF_INET6);
  ++live_;
  if (options_.max_connections > 0) {
    while (live_ > options_.max_connections &&
           drop_idlest(fd, "connections: --max-connections reached")) {
    }
  }
  stats_.connections.store(live_, std::memory_order_relaxed);
}

void connection_guard::disconnected(int fd) {
  conn* c = find(fd);
  if (!c) return;
  if (!c->dropping) --live_;
  c->open = false;
  // What it held is free now: give it back to the system soon.
  if (c->holding && releases_pending_ == 0) {
    releases_pending_ = 2;
    release_after_drop_ = clock::now() + release_delay;
  }
  // What ZeroMQ queued for it (replies it never read) is freed as its pipe
  // goes, a moment later: tick() then compares the heap with now.
  if (!leave_check_pending_) {
    leave_check_pending_ = true;
    leave_check_at_ = clock::now() + release_delay;
    memory_at_leave_ = memory_in_use();
  }
  stats_.connections.store(live_, std::memory_order_relaxed);
}

void connection_guard::accept_failed(int error) {
  if (error != EMFILE && error != ENFILE) {
    log_limited(spdlog::level::info, "connections: accept failed",
                std::strerror(error), {{"errno", error}});
    return;
  }
  warn_limited("connections: out of file descriptors",
               std::string{"accept failed: "} + std::strerror(error) +
                   "; dropping the connection idle longest (lower "
                   "--max-connections or raise the fd limit)");
  auto now = clock::now();
  if (now - last_emfile_drop_ < emfile_spacing) return;
  last_emfile_drop_ = now;
  drop_idlest(-1, "connections: out of file descriptors");
}

void connection_guard::received(int fd, uint64_t wire_bytes) {
  conn* c = find(fd);
  if (!c) {
    // A request read before its ZMQ_EVENT_ACCEPTED: start the entry here.
    accepted(fd);
    c = find(fd);
    if (!c) return;
  }
  c->accounted += wire_bytes;
  c->active = clock::now();
}

bool connection_guard::drop_idlest(int except, const char* cause) {
  int victim = -1;
  for (size_t fd = 0; fd < table_.size(); ++fd) {
    const conn& c = table_[fd];
    if (!c.open || c.dropping || static_cast<int>(fd) == except) continue;
    if (victim < 0 || c.active < table_[victim].active)
      victim = static_cast<int>(fd);
  }
  if (victim < 0) return false;
  drop(victim, table_[victim], cause,
       "the connection idle longest was dropped");
  return true;
}

void connection_guard::drop(int fd, conn& c, const char* cause,
                            const char* why) {
  // The fd may have been closed by libzmq and reused since the table last
  // heard of it: shut it down only if it still leads to the same peer.
  // Without a recorded address (getpeername failed at accept) it cannot be
  // told apart from a reused fd: forget it rather than risk another's.
  bool same = c.addr_len > 0 && same_peer(fd, c.addr, c.addr_len);
  if (same) ::shutdown(fd, SHUT_RDWR);
  if (!c.dropping) --live_;
  if (!same) {
    c.open = false;  // a stale entry
  } else {
    c.dropping = true;
    stats_.connections_dropped.fetch_add(1, std::memory_order_relaxed);
    warn_limited(cause, why,
                 {{"addr", address_of(c.addr, c.addr_len)},
                  {"fd", fd},
                  {"bytes", c.held},
                  {"idle_ms", clock::now() - c.active}});
    // Twice: libzmq frees the pipe once the ROUTER has processed the
    // termination, which takes a turn or two of the I/O loop. A burst of
    // drops does not postpone the first release.
    if (releases_pending_ == 0)
      release_after_drop_ = clock::now() + release_delay;
    releases_pending_ = 2;
  }
  stats_.connections.store(live_, std::memory_order_relaxed);
}

void connection_guard::measure(int fd, conn& c, clock::time_point now) {
  auto rx = tcp_bytes_received(fd);
  if (!rx) {
    c.held = 0;
    c.holding = false;
    return;
  }
  auto age = std::chrono::duration_cast<std::chrono::seconds>(now - c.accepted);
  uint64_t allowance = std::min<uint64_t>(
      allowance_base +
          allowance_per_second * static_cast<uint64_t>(age.count()),
      allowance_max);
  uint64_t known = c.accounted + allowance;
  uint64_t held = *rx > known ? *rx - known : 0;
  if (held > hold_floor) {
    // Only for suspects: bytes still in the kernel are not ZeroMQ's.
    if (auto unread = unread_bytes(fd))
      held = held > *unread ? held - *unread : 0;
  }
  c.held = held;
  if (held > hold_floor) {
    if (!c.holding) c.holding_since = now;
    c.holding = true;
  } else {
    c.holding = false;
  }
}

void connection_guard::scan(clock::time_point now) {
  bool over = false;
  uint64_t total = 0;
  for (size_t fd = 0; fd < table_.size(); ++fd) {
    conn& c = table_[fd];
    if (!c.open || c.dropping || !c.tcp) continue;
    measure(static_cast<int>(fd), c, now);
    total += c.held;
    over = over || c.held > peer_limit_;
  }
  scan_cost_ = clock::now() - now;
  const uint64_t cap = options_.peer_memory_cap;
  if (!over && (cap == 0 || total <= cap)) return;

  // Count the requests ZeroMQ has completed meanwhile, then judge again:
  // only what is still unfinished counts against a connection.
  drain_();
  total = 0;
  std::vector<int> holders;
  for (size_t fd = 0; fd < table_.size(); ++fd) {
    conn& c = table_[fd];
    if (!c.open || c.dropping || !c.tcp) continue;
    if (c.holding) measure(static_cast<int>(fd), c, now);
    if (c.held > peer_limit_) {
      std::string why = "a connection sent " + std::to_string(c.held) +
                        " bytes without completing a request (limit " +
                        std::to_string(peer_limit_) + "): dropped";
      drop(static_cast<int>(fd), c, "connections: peer memory limit",
           why.c_str());
      continue;
    }
    total += c.held;
    if (c.holding) holders.push_back(static_cast<int>(fd));
  }
  log::debug("depot transport: unfinished requests over a limit",
             {{"bytes", total}, {"connections", holders.size()}});
  if (cap == 0 || total <= cap) return;
  std::sort(holders.begin(), holders.end(), [this](int a, int b) {
    return table_[a].holding_since < table_[b].holding_since;
  });
  for (int fd : holders) {
    if (total <= cap) break;
    conn& c = table_[fd];
    if (total <= cap + cap / 2 && now - c.holding_since < cap_grace) break;
    total -= c.held;
    std::string why = "unfinished requests of all connections over " +
                      std::to_string(cap) +
                      " bytes: the connection holding them longest dropped";
    drop(fd, c, "connections: --peer-memory-cap reached", why.c_str());
  }
}

std::chrono::milliseconds connection_guard::tick() {
  auto now = clock::now();
  // Called for every turn of the I/O loop: the heap is probed at most every
  // probe_period (tcmalloc's figure takes its page-heap lock).
  if (now - last_probe_ < probe_period) return probe_period;
  last_probe_ = now;
  uint64_t memory = memory_in_use();
  memory_at_scan_ = std::min(memory_at_scan_, memory);
  bool grew =
      memory > memory_at_scan_ + growth_trigger &&
      now - last_scan_ >=
          std::max<clock::duration>(probe_period, scan_cost_ * scan_cost_ratio);
  if (grew || now - last_scan_ >= scan_period) {
    scan(now);
    last_scan_ = clock::now();
    memory_at_scan_ = memory_in_use();
  }
  // A connection that left freed a trigger's worth: everything free goes
  // back, as after a drop (and not only what exceeds keep_free).
  if (leave_check_pending_ && now >= leave_check_at_) {
    leave_check_pending_ = false;
    if (memory + growth_trigger <= memory_at_leave_ && releases_pending_ == 0) {
      releases_pending_ = 2;
      release_after_drop_ = now;
    }
  }
  if (releases_pending_ > 0 && now >= release_after_drop_) {
    --releases_pending_;
    release_after_drop_ = now + scan_period;
    release_free_memory(0);
    last_release_ = now;
  } else if (now - last_release_ >= release_period) {
    release_free_memory(keep_free);
    last_release_ = now;
  }
  return live_ > 0 || releases_pending_ > 0 || leave_check_pending_
             ? probe_period
             : scan_period;
}

}  // namespace depot::transport
