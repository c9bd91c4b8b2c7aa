#pragma once

// Internal to the client library: the engine under async_connection (and,
// through it, under the synchronous connection). It owns one channel per
// server, sends queued requests under fresh rids, matches replies by rid,
// fires per-request timeouts and timers, and hands each reply to its
// request's callback, all from process(), on the caller's thread. Not thread
// safe.
//
// Timeouts are per request: a request not answered within options::timeout
// of being queued fails alone. A server that has sent nothing at all since a
// timed-out request was sent to it is deemed stalled: its socket is replaced
// (a new routing id) and every other request awaiting it is treated as timed
// out too. With several servers a stalled one is also put in back-off
// (options::timeout, doubling, at most 8 times it) and skipped by unpinned
// requests while others are live.

#include "client/async.hpp"
#include "client/channel.hpp"
#include "schema/messages.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace depot::client::detail {

class engine;

/// A streaming transfer the engine keeps alive until it ends.
class transfer : public std::enable_shared_from_this<transfer> {
 public:
  explicit transfer(engine* eng) : eng_(eng) {}
  virtual ~transfer() = default;

  /// Sends what can be sent now; called from process() after mark_dirty().
  virtual void pump() = 0;

  /// The engine is going away: forget it, drop held data, call nothing.
  virtual void detach() = 0;

 protected:
  engine* eng_;
};

/// What a request may do after a timeout.
enum class retry : uint8_t {
  try_elsewhere,  ///< stateless: asked again of the next server, one try each
  report,         ///< the timeout is the answer (delete, chunks, ranges)
};

/// A reply (an error_reply included: the callback decides what it means) or
/// a local/timeout/handshake error; and which server answered.
using reply_fn = std::function<void(result<schema::reply_body>, size_t server)>;

/// Checks what async_connection::open and connection::open refuse.
result<void> check_options(const options& opts, size_t channels);

class engine {
 public:
  /// One channel per endpoint of endpoint_list(opts), in order.
  engine(options opts, std::vector<std::unique_ptr<channel>> chs);
  /// Closes everything; transfers still alive are detached.
  ~engine();

  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  /// (Re)opens every socket. Requests awaiting replies are treated as timed
  /// out (their callbacks run from here). Errors: those of channel::open.
  result<void> open_all();

  /// Queues `body`; `done` runs exactly once, from process() (or from a
  /// later call that gives up on it). `pinned`: only that server.
  void call(schema::request_body body, std::optional<size_t> pinned,
            retry policy, reply_fn done);

  /// Queues `body` whose reply nobody waits for (abort).
  void send_and_forget(schema::request_body body, std::optional<size_t> pinned);

  /// Runs `fn` from process() once `delay` has passed.
  void after(std::chrono::milliseconds delay, std::function<void()> fn);

  /// Keeps `t` alive until retire(t); pump()s it from the next process().
  void adopt(std::shared_ptr<transfer> t);
  void retire(transfer* t);
  void mark_dirty(std::shared_ptr<transfer> t);

  int fd() const { return epoll_fd_; }
  std::optional<std::chrono::milliseconds> next_timeout();
  void process();
  bool run_once(std::chrono::milliseconds max_wait);
  size_t pending() const;

  const options& opts() const { return opts_; }

  /// The longest back-off, in timeouts: a server that keeps stalling is
  /// tried again at least this often (if others are live; else at once).
  static constexpr unsigned max_back_off_timeouts = 8;
  const std::string& endpoint(size_t s) const { return servers_[s].endpoint; }
  size_t servers() const { return servers_.size(); }

  /// The servers' chunk_max once a ping told it (0 before).
  uint64_t chunk_max() const { return chunk_max_; }
  void set_chunk_max(uint64_t v) { chunk_max_ = v; }

 private:
  struct request_state {
    schema::request_body body;
    std::string_view op;
    std::optional<size_t> pinned;
    retry policy = retry::report;
    size_t tries = 1;  // sends left, counting the next
    clock::time_point queued_at;
    clock::time_point deadline;
    clock::time_point sent_at;
    uint64_t rid = 0;  // 0 while queued
    size_t server = 0;
    std::vector<bool> tried;  // servers it was sent to (try_elsewhere)
    bool finished = false;
    reply_fn done;  // empty: fire and forget
  };
  using request_ptr = std::shared_ptr<request_state>;

  struct server {
    std::unique_ptr<channel> ch;
    std::string endpoint;
    clock::time_point dead_until{};  // skipped until then
    unsigned failures = 0;           // stalls in a row
    bool reopen = false;             // its handshake failed: new socket first
    clock::time_point last_heard{};  // when it last sent anything
    std::optional<error> refusal;    // its last failed handshake
    int fd = -1;                     // registered in epoll
    int monitor_fd = -1;
  };

  void enqueue(request_ptr r);
  void finish(const request_ptr& r, result<schema::reply_body> out,
              size_t server);
  bool pump_transfers();
  bool flush();
  bool drain();
  bool expire();
  bool run_timers();
  void watch_handshakes();
  // Which server `r` goes to now, if any can take it.
  std::optional<size_t> choose(const request_state& r,
                               std::vector<int8_t>& can_send);
  void timed_out(const request_ptr& r, bool check_silence);
  void stall(size_t s);
  result<void> reopen(size_t s);
  void watch(size_t s);
  void unwatch(size_t s);
  void heard(size_t s);
  // Skips `s` for options::timeout, doubling with each stall in a row, at
  // most max_back_off_timeouts times it.
  void back_off(size_t s);
  error no_reply(size_t s) const;
  error no_connection(const request_state& r) const;

  options opts_;
  std::vector<server> servers_;
  int epoll_fd_ = -1;
  uint64_t next_rid_ = 1;
  size_t next_server_ = 0;  // round-robin position
  uint64_t chunk_max_ = 0;
  std::string_view last_op_ = "ping";  // the op most replies are to
  std::deque<request_ptr> queue_;      // not sent yet, in order
  std::unordered_map<uint64_t, request_ptr> awaited_;  // rid -> in flight
  // Deadlines in the order they fall (every request has the same timeout);
  // entries whose request finished or moved on are skipped.
  std::deque<std::pair<clock::time_point, request_ptr>> deadlines_;
  std::multimap<clock::time_point, std::function<void()>> timers_;
  std::unordered_map<transfer*, std::shared_ptr<transfer>> live_;
  std::vector<std::weak_ptr<transfer>> dirty_;
  size_t open_requests_ = 0;  // with a callback, not finished
};

}  // namespace depot::client::detail

namespace depot::client {
/// The engine under `c` (for the synchronous layer).
detail::engine& detail_engine(async_connection& c);
}  // namespace depot::client
