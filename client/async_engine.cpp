#include "client/async_engine.hpp"

#include "client/local_io.hpp"
#include "schema/codec.hpp"

#include <algorithm>
#include <cerrno>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <utility>

namespace depot::client::detail {
namespace {

std::string duration_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s"
                        : std::to_string(ms) + " ms";
}

// How many passes one process() makes at most before returning, so that a
// busy connection still lets the caller's loop run.
constexpr int max_rounds = 64;

// Messages taken from one server per pass, so that none starves another.
constexpr int receive_budget = 256;

// While requests wait for a socket to connect, process() is due this often
// at least (ZeroMQ's fd also signals the connection; this is a safety net).
constexpr std::chrono::milliseconds connect_poll{50};

}  // namespace

result<void> check_options(const options& opts, size_t channels) {
  if (opts.timeout.count() <= 0)
    return error{errc::bad_request, "the timeout must be positive",
                 error_source::local};
  if (channels == 0)
    return error{errc::bad_request, "no server endpoint given",
                 error_source::local};
  for (const std::string& e : endpoint_list(opts))
    if (e.empty())
      return error{errc::bad_request, "an empty server endpoint",
                   error_source::local};
  if (opts.curve_server_key.empty() != opts.curve_key.empty()) {
    auto keys = read_curve_keys(opts);  // says which is missing
    if (!keys) return std::move(keys).error();
  }
  return {};
}

engine::engine(options opts, std::vector<std::unique_ptr<channel>> chs)
    : opts_(std::move(opts)) {
  std::vector<std::string> names = endpoint_list(opts_);
  for (size_t i = 0; i < chs.size(); ++i) {
    server s;
    s.ch = std::move(chs[i]);
    s.endpoint = i < names.size() ? names[i] : "server " + std::to_string(i);
    servers_.push_back(std::move(s));
  }
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
}

engine::~engine() {
  for (auto& [p, t] : live_) t->detach();
  live_.clear();
  for (size_t s = 0; s < servers_.size(); ++s) unwatch(s);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

result<void> engine::open_all() {
  if (epoll_fd_ < 0) return errno_error(errno, "epoll_create1");
  for (size_t s = 0; s < servers_.size(); ++s) {
    servers_[s].reopen = false;
    if (auto r = reopen(s); !r) return r;
  }
  // Whatever was awaited is lost with the old sockets.
  std::vector<request_ptr> lost;
  for (auto& [rid, r] : awaited_) lost.push_back(r);
  awaited_.clear();
  for (const request_ptr& r : lost) timed_out(r, false);
  return {};
}

void engine::watch(size_t s) {
  server& srv = servers_[s];
  auto add = [&](void* socket) {
    int fd = socket_fd(socket);
    if (fd < 0) return -1;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = s;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) return -1;
    return fd;
  };
  srv.fd = add(srv.ch->zmq_socket());
  srv.monitor_fd = add(srv.ch->monitor_socket());
}

void engine::unwatch(size_t s) {
  server& srv = servers_[s];
  for (int* fd : {&srv.fd, &srv.monitor_fd}) {
    if (*fd >= 0) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, *fd, nullptr);
    *fd = -1;
  }
}

result<void> engine::reopen(size_t s) {
  // Off the epoll set before ZeroMQ closes (and may reuse) the descriptors.
  unwatch(s);
  auto r = servers_[s].ch->open();
  if (r) watch(s);
  return r;
}

void engine::call(schema::request_body body, std::optional<size_t> pinned,
                  retry policy, reply_fn done) {
  auto r = std::make_shared<request_state>();
  r->op = schema::op_name(body);
  r->body = std::move(body);
  r->pinned = pinned;
  r->policy = policy;
  r->tries = policy == retry::try_elsewhere && !pinned ? servers_.size() : 1;
  r->done = std::move(done);
  ++open_requests_;
  enqueue(std::move(r));
}

void engine::send_and_forget(schema::request_body body,
                             std::optional<size_t> pinned) {
  auto r = std::make_shared<request_state>();
  r->op = schema::op_name(body);
  r->body = std::move(body);
  r->pinned = pinned;
  enqueue(std::move(r));
}

void engine::enqueue(request_ptr r) {
  r->rid = 0;
  r->queued_at = clock::now();
  r->deadline = r->queued_at + opts_.timeout;
  deadlines_.emplace_back(r->deadline, r);
  queue_.push_back(std::move(r));
}

void engine::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  timers_.emplace(clock::now() + delay, std::move(fn));
}

void engine::adopt(std::shared_ptr<transfer> t) {
  transfer* key = t.get();
  live_.emplace(key, std::move(t));
}

void engine::retire(transfer* t) { live_.erase(t); }

void engine::mark_dirty(std::shared_ptr<transfer> t) {
  dirty_.push_back(std::move(t));
}

size_t engine::pending() const { return open_requests_ + live_.size(); }

void engine::finish(const request_ptr& r, result<schema::reply_body> out,
                    size_t server) {
  if (r->finished) return;
  r->finished = true;
  r->body = schema::ping_request{};  // let go of a chunk's bytes at once
  if (!r->done) return;
  --open_requests_;
  reply_fn fn = std::move(r->done);
  r->done = nullptr;
  fn(std::move(out), server);
}

error engine::no_reply(size_t s) const {
  return error{errc::io_error,
               "no reply from " + servers_[s].endpoint + " within " +
                   duration_text(opts_.timeout),
               error_source::timeout};
}

error engine::no_connection(const request_state& r) const {
  std::string names;
  for (size_t s = 0; s < servers_.size(); ++s)
    if (!r.pinned || *r.pinned == s)
      names += (names.empty() ? "" : ", ") + servers_[s].endpoint;
  return error{
      errc::io_error,
      "no connection to " + names + " within " + duration_text(opts_.timeout),
      error_source::timeout};
}

// --- process -----------------------------------------------------------------

void engine::process() {
  for (int round = 0; round < max_rounds; ++round) {
    bool did = false;
    watch_handshakes();
    did |= pump_transfers();
    did |= flush();
    did |= drain();
    did |= expire();
    did |= run_timers();
    if (!did) break;
  }
}

bool engine::run_once(std::chrono::milliseconds max_wait) {
  auto due = next_timeout();
  auto wait = due ? std::min(*due, max_wait) : max_wait;
  if (wait.count() > 0) {
    pollfd p{epoll_fd_, POLLIN, 0};
    (void)::poll(&p, 1, static_cast<int>(wait.count()));
  }
  process();
  return pending() > 0;
}

std::optional<std::chrono::milliseconds> engine::next_timeout() {
  using std::chrono::milliseconds;
  if (!dirty_.empty()) return milliseconds{0};
  bool queued = false;
  for (const request_ptr& r : queue_)
    if (!r->finished) queued = true;
  for (server& s : servers_) {
    unsigned ev = socket_events(s.ch->zmq_socket());
    if (ev & socket_in) return milliseconds{0};
    if (queued && (ev & socket_out)) return milliseconds{0};
  }
  auto now = clock::now();
  std::optional<clock::time_point> at;
  for (const auto& [when, r] : deadlines_) {
    if (r->finished || r->deadline != when) continue;
    at = when;
    break;
  }
  if (!timers_.empty() && (!at || timers_.begin()->first < *at))
    at = timers_.begin()->first;
  if (queued && (!at || now + connect_poll < *at)) at = now + connect_poll;
  if (!at) return std::nullopt;
  if (*at <= now) return milliseconds{0};
  // Rounded up: waking before the deadline would only spin.
  return std::chrono::ceil<milliseconds>(*at - now);
}

bool engine::pump_transfers() {
  if (dirty_.empty()) return false;
  std::vector<std::weak_ptr<transfer>> now;
  now.swap(dirty_);
  size_t i = 0;
  try {
    for (; i < now.size(); ++i)
      if (auto t = now[i].lock()) t->pump();
  } catch (...) {
    // A callback threw (it leaves process()): the transfers not pumped yet
    // stay due, and so does the one that threw (it may hold more data).
    dirty_.insert(dirty_.end(), now.begin() + static_cast<ptrdiff_t>(i),
                  now.end());
    throw;
  }
  return true;
}

void engine::watch_handshakes() {
  // Asking also drains each monitor, which keeps fd() quiet when idle.
  std::vector<std::optional<error>> refused(servers_.size());
  bool any = false;
  for (size_t s = 0; s < servers_.size(); ++s) {
    if (servers_[s].reopen) continue;  // known; a new socket comes first
    refused[s] = servers_[s].ch->handshake_failure();
    any |= refused[s].has_value();
  }
  if (!any) return;
  const size_t n = servers_.size();
  for (size_t s = 0; s < n; ++s)
    if (refused[s]) servers_[s].refusal = refused[s];
  size_t refused_count = 0;
  for (size_t s = 0; s < n; ++s)
    if (refused[s] || servers_[s].reopen) ++refused_count;
  std::vector<std::pair<request_ptr, error>> failed;
  std::vector<request_ptr> again;
  // Awaited requests on a refusing server will not be answered.
  for (auto it = awaited_.begin(); it != awaited_.end();) {
    const request_ptr& r = it->second;
    if (!refused[r->server]) {
      ++it;
      continue;
    }
    if (r->policy == retry::try_elsewhere && r->tries > 1 && n > 1) {
      --r->tries;
      again.push_back(r);
    } else {
      failed.emplace_back(r, *refused[r->server]);
    }
    it = awaited_.erase(it);
  }
  // Queued ones wait for nothing if their only servers refuse.
  for (const request_ptr& r : queue_) {
    if (r->finished) continue;
    if (r->pinned && refused[*r->pinned]) {
      failed.emplace_back(r, *refused[*r->pinned]);
    } else if (!r->pinned && refused_count == n) {
      if (n == 1) {
        failed.emplace_back(r, *refused[0]);
      } else {
        std::string why;
        for (size_t s = 0; s < n; ++s)
          if (servers_[s].refusal)
            why += (why.empty() ? "" : "; ") + servers_[s].refusal->message;
        failed.emplace_back(r,
                            error{errc::unauthorized,
                                  "every server refused the handshake: " + why,
                                  error_source::handshake});
      }
    }
  }
  for (size_t s = 0; s < n; ++s) {
    if (!refused[s]) continue;
    // ZeroMQ gives up on a connection whose handshake failed: the next
    // request to it gets a new socket (its operator may have fixed the keys).
    servers_[s].reopen = true;
    if (n > 1) back_off(s);
  }
  for (const request_ptr& r : again) enqueue(r);
  for (auto& [r, e] : failed) finish(r, std::move(e), r->server);
}

std::optional<size_t> engine::choose(const request_state& r,
                                     std::vector<int8_t>& can_send) {
  auto ready = [&](size_t s) {
    if (can_send[s] < 0) {
      if (servers_[s].reopen) {
        servers_[s].reopen = false;
        (void)reopen(s);
      }
      can_send[s] =
          (socket_events(servers_[s].ch->zmq_socket()) & socket_out) ? 1 : 0;
    }
    return can_send[s] == 1;
  };
  if (r.pinned) return ready(*r.pinned) ? r.pinned : std::nullopt;
  const size_t n = servers_.size();
  if (n == 1) return ready(0) ? std::optional<size_t>{0} : std::nullopt;
  auto now = clock::now();
  // The next live server in turn that is connected, one this request has
  // not been sent to first (a retry goes elsewhere even when the server
  // that let it time out was not silent enough to be put in back-off);
  // after a quarter of the timeout, or when none is live, one in back-off
  // too (nearest end first).
  auto tried = [&](size_t s) { return s < r.tried.size() && r.tried[s]; };
  bool any_live = false;
  for (bool retried_ones : {false, true}) {
    for (size_t k = 0; k < n; ++k) {
      size_t s = (next_server_ + k) % n;
      if (servers_[s].dead_until > now || tried(s) != retried_ones) continue;
      any_live = true;
      if (ready(s)) {
        next_server_ = (s + 1) % n;
        return s;
      }
    }
    if (any_live && now - r.queued_at < opts_.timeout / 4) return std::nullopt;
  }
  std::optional<size_t> best;
  for (size_t s = 0; s < n; ++s) {
    if (servers_[s].dead_until <= now || !ready(s)) continue;
    if (!best || servers_[s].dead_until < servers_[*best].dead_until) best = s;
  }
  return best;
}

bool engine::flush() {
  if (queue_.empty()) return false;
  bool sent_any = false;
  std::vector<int8_t> can_send(servers_.size(), -1);
  std::vector<std::pair<request_ptr, error>> failed;
  std::deque<request_ptr> left;
  while (!queue_.empty()) {
    request_ptr r = std::move(queue_.front());
    queue_.pop_front();
    if (r->finished) continue;
    auto s = choose(*r, can_send);
    if (!s) {
      left.push_back(std::move(r));
      continue;
    }
    uint64_t rid = next_rid_++;
    // The body goes into the request and back: a chunk's bytes are shared,
    // never copied, and stay with the request for a resend.
    schema::request req{rid, std::move(r->body)};
    auto message = schema::encode_request(req);
    r->body = std::move(req.body);
    auto sent = servers_[*s].ch->send(message, clock::now());
    if (!sent) {
      if (sent.error().source == error_source::timeout) {
        can_send[*s] = 0;  // not connected, or its queue is full: later
        left.push_back(std::move(r));
      } else {
        if (sent.error().source == error_source::handshake)
          servers_[*s].reopen = true;
        failed.emplace_back(std::move(r), std::move(sent).error());
      }
      continue;
    }
    sent_any = true;
    r->rid = rid;
    r->server = *s;
    if (r->tried.size() < servers_.size()) r->tried.resize(servers_.size());
    r->tried[*s] = true;
    r->sent_at = clock::now();
    if (r->done)
      awaited_.emplace(rid, std::move(r));
    else
      r->finished = true;  // fire and forget
  }
  queue_.swap(left);
  for (auto& [r, e] : failed) finish(r, std::move(e), r->server);
  return sent_any || !failed.empty();
}

void engine::back_off(size_t s) {
  server& srv = servers_[s];
  srv.failures = std::min(srv.failures + 1, 16u);
  unsigned factor = 1u << std::min(srv.failures - 1, 3u);
  srv.dead_until =
      clock::now() + opts_.timeout * std::min(factor, max_back_off_timeouts);
}

void engine::heard(size_t s) {
  server& srv = servers_[s];
  srv.last_heard = clock::now();
  srv.refusal.reset();
  srv.failures = 0;
  srv.dead_until = {};
}

bool engine::drain() {
  bool got_any = false;
  for (size_t s = 0; s < servers_.size(); ++s) {
    for (int k = 0; k < receive_budget; ++k) {
      if (!servers_[s].ch->zmq_socket()) break;
      auto got = servers_[s].ch->receive(clock::now());
      if (!got || !got->has_value()) break;
      got_any = true;
      heard(s);
      frames message = std::move(**got);
      if (awaited_.empty()) continue;
      // A reply's shape depends on its op, known only from its rid: decode
      // with the op of the last reply first (the rid is read even when the
      // rest does not fit), then again with the right one if they differ.
      std::string_view guess = last_op_;
      auto decoded = schema::decode_reply(message, guess);
      std::optional<uint64_t> rid =
          std::holds_alternative<schema::reply>(decoded)
              ? std::get<schema::reply>(decoded).rid
              : std::get<schema::decode_failure>(decoded).rid;
      if (!rid) continue;
      auto it = awaited_.find(*rid);
      if (it == awaited_.end()) continue;  // stale: its wait is over
      request_ptr r = std::move(it->second);
      awaited_.erase(it);
      if (r->op != guess) {
        last_op_ = r->op;
        decoded = schema::decode_reply(message, r->op);
      }
      if (auto* failure = std::get_if<schema::decode_failure>(&decoded)) {
        finish(r,
               error{errc::bad_request,
                     "malformed reply to '" + std::string{r->op} +
                         "': " + failure->message,
                     error_source::local},
               s);
        continue;
      }
      finish(r, std::move(std::get<schema::reply>(decoded).body), s);
    }
  }
  return got_any;
}

bool engine::expire() {
  bool did = false;
  while (!deadlines_.empty()) {
    auto [when, r] = deadlines_.front();
    if (r->finished || r->deadline != when) {
      deadlines_.pop_front();
      continue;
    }
    if (when > clock::now()) break;
    deadlines_.pop_front();
    did = true;
    timed_out(r, true);
  }
  return did;
}

void engine::timed_out(const request_ptr& r, bool check_silence) {
  if (r->finished) return;
  if (r->rid == 0) {  // still queued: no server took it in time
    if (!r->done) {
      r->finished = true;
      return;
    }
    finish(r, no_connection(*r), r->pinned.value_or(0));
    return;
  }
  awaited_.erase(r->rid);
  size_t s = r->server;
  if (check_silence && servers_[s].last_heard < r->sent_at) stall(s);
  if (r->policy == retry::try_elsewhere && r->tries > 1 &&
      servers_.size() > 1) {
    --r->tries;
    enqueue(r);
    return;
  }
  finish(r, no_reply(s), s);
}

void engine::stall(size_t s) {
  if (servers_.size() > 1) back_off(s);
  // The socket may be stuck (lost replies, a half-dead connection): a new
  // one, and whatever else it awaited is lost with the old one.
  servers_[s].reopen = false;
  (void)reopen(s);
  std::vector<request_ptr> lost;
  for (auto& [rid, r] : awaited_)
    if (r->server == s) lost.push_back(r);
  for (const request_ptr& r : lost) timed_out(r, false);
}

bool engine::run_timers() {
  bool did = false;
  auto now = clock::now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    auto fn = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    did = true;
    fn();
  }
  return did;
}

}  // namespace depot::client::detail
