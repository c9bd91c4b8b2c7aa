#include "client/requester.hpp"

#include "schema/codec.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <utility>

namespace depot::client::detail {
namespace {

std::string duration_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s"
                        : std::to_string(ms) + " ms";
}

}  // namespace

error server_error(const schema::error_reply& r) {
  return {r.code, r.message, error_source::server};
}

error unexpected_reply(std::string_view op) {
  return {errc::internal,
          "the server's reply to '" + std::string{op} +
              "' is of an unexpected kind",
          error_source::local};
}

requester::requester(options opts, std::vector<std::unique_ptr<channel>> chs)
    : opts_(std::move(opts)) {
  std::vector<std::string> names = endpoint_list(opts_);
  for (size_t i = 0; i < chs.size(); ++i) {
    server s;
    s.ch = std::move(chs[i]);
    s.endpoint = i < names.size() ? names[i] : "server " + std::to_string(i);
    servers_.push_back(std::move(s));
  }
}

result<void> requester::open() {
  awaited_.clear();
  for (server& s : servers_) {
    s.reopen = false;
    if (auto opened = s.ch->open(); !opened) return opened;
  }
  return {};
}

result<void> requester::stalled() {
  if (servers_.size() == 1) return open();
  std::set<size_t> quiet;
  for (const auto& [rid, a] : awaited_) quiet.insert(a.server);
  if (pinned_) quiet.insert(*pinned_);
  awaited_.clear();
  for (size_t s : quiet)
    if (auto r = put_in_back_off(s); !r) return r;
  return {};
}

result<void> requester::put_in_back_off(size_t s) {
  server& srv = servers_[s];
  srv.failures = std::min(srv.failures + 1, 16u);
  unsigned factor = 1u << std::min(srv.failures - 1, 3u);
  srv.dead_until =
      clock::now() + opts_.timeout * std::min(factor, max_back_off_timeouts);
  for (auto it = awaited_.begin(); it != awaited_.end();)
    it = it->second.server == s ? awaited_.erase(it) : std::next(it);
  // Whatever the old socket had queued for that server goes with it.
  srv.reopen = false;
  return srv.ch->open();
}

result<size_t> requester::pick(clock::time_point deadline) {
  if (pinned_) return *pinned_;
  const size_t n = servers_.size();
  if (n == 1) return size_t{0};
  auto now = clock::now();
  // A live server whose handshake failed is put in back-off as one that
  // timed out is (with a new socket: a new handshake).
  for (size_t s = 0; s < n; ++s)
    if (servers_[s].dead_until <= now && servers_[s].ch->handshake_failure())
      if (auto r = put_in_back_off(s); !r) return std::move(r).error();
  now = clock::now();
  std::vector<size_t> live;  // from the round-robin position on
  std::vector<size_t> resting;
  for (size_t k = 0; k < n; ++k) {
    size_t s = (next_ + k) % n;
    (servers_[s].dead_until <= now ? live : resting).push_back(s);
  }
  std::stable_sort(resting.begin(), resting.end(), [&](size_t a, size_t b) {
    return servers_[a].dead_until < servers_[b].dead_until;
  });
  // The first of `order` to connect by `until`; nullopt then, or as soon as
  // the handshakes of all of them have failed.
  auto first_ready = [&](const std::vector<size_t>& order,
                         clock::time_point until) -> std::optional<size_t> {
    std::vector<channel*> chs;
    for (size_t s : order) chs.push_back(servers_[s].ch.get());
    while (true) {
      auto ready = wait_ready(chs, ready_for::sending, until);
      if (!ready.empty()) return order[ready.front()];
      if (clock::now() >= until) return std::nullopt;
      bool all_refused = true;
      for (channel* ch : chs)
        if (!ch->handshake_failure()) all_refused = false;
      if (all_refused) return std::nullopt;
    }
  };
  // The first connected live one: a server that is down (its socket not
  // connected) is passed over without a wait. Should none of them connect
  // within a quarter of the timeout, those in back-off may serve too (the
  // nearest end of back-off first).
  std::optional<size_t> chosen;
  if (!live.empty())
    chosen = first_ready(
        live, resting.empty() ? deadline
                              : std::min(deadline, now + opts_.timeout / 4));
  if (!chosen) {
    std::vector<size_t> all = live;
    all.insert(all.end(), resting.begin(), resting.end());
    chosen = first_ready(all, deadline);
  }
  if (!chosen) {
    std::string names;
    std::string refusals;
    size_t refused = 0;
    for (const server& s : servers_) {
      names += (names.empty() ? "" : ", ") + s.endpoint;
      if (auto f = s.ch->handshake_failure()) {
        ++refused;
        refusals += (refusals.empty() ? "" : "; ") + f->message;
      }
    }
    if (refused == n)
      return error{errc::unauthorized,
                   "every server refused the handshake: " + refusals,
                   error_source::handshake};
    return error{errc::io_error,
                 "no connection to " + names + " within " +
                     duration_text(opts_.timeout) +
                     (refusals.empty() ? "" : " (" + refusals + ")"),
                 error_source::timeout};
  }
  next_ = (*chosen + 1) % n;
  return *chosen;
}

result<uint64_t> requester::send(schema::request_body body) {
  auto s = pick(deadline());
  if (!s) return std::move(s).error();
  return send_to(*s, std::move(body));
}

result<uint64_t> requester::send_to(size_t s, schema::request_body body) {
  uint64_t rid = next_rid_++;
  std::string_view op = schema::op_name(body);
  schema::request req{rid, std::move(body)};
  server& srv = servers_[s];
  if (srv.reopen) {
    srv.reopen = false;
    if (auto r = srv.ch->open(); !r) return std::move(r).error();
  }
  auto sent = srv.ch->send(schema::encode_request(req), deadline());
  if (!sent) {
    // ZeroMQ gives up on a connection whose handshake failed for good (no
    // more reconnects): the next request gets a new socket and tries a new
    // handshake (the server's operator may have fixed its keys meanwhile).
    if (sent.error().source == error_source::handshake) srv.reopen = true;
    return std::move(sent).error();
  }
  awaited_.emplace(rid, awaited_request{op, s});
  return rid;
}

result<std::optional<std::pair<size_t, frames>>> requester::receive(
    clock::time_point deadline) {
  using out = std::optional<std::pair<size_t, frames>>;
  if (servers_.size() == 1) {
    auto got = servers_[0].ch->receive(deadline);
    if (!got) return std::move(got).error();
    if (!got->has_value()) return out{};
    return out{std::in_place, size_t{0}, std::move(**got)};
  }
  std::vector<channel*> chs;
  for (server& s : servers_) chs.push_back(s.ch.get());
  while (true) {
    // A server we await a reply from whose handshake failed (it dropped
    // the connection, and reconnecting failed) will not answer.
    if (auto refused = awaited_refusal()) return std::move(*refused);
    auto ready = wait_ready(chs, ready_for::receiving, deadline);
    if (ready.empty()) {
      if (clock::now() >= deadline) return out{};
      continue;  // a handshake failed: looked at above
    }
    // Take turns among the ready ones, so that no server starves another.
    auto first = std::lower_bound(ready.begin(), ready.end(), next_rx_);
    size_t s = first == ready.end() ? ready.front() : *first;
    next_rx_ = (s + 1) % servers_.size();
    auto got = servers_[s].ch->receive(clock::now());
    if (!got) return std::move(got).error();
    if (got->has_value()) return out{std::in_place, s, std::move(**got)};
    if (clock::now() >= deadline) return out{};
  }
}

std::optional<error> requester::awaited_refusal() const {
  std::set<size_t> awaited;
  for (const auto& [rid, a] : awaited_) awaited.insert(a.server);
  for (size_t s : awaited)
    if (auto f = servers_[s].ch->handshake_failure()) return f;
  return std::nullopt;
}

error requester::no_reply() const {
  std::string names;
  if (servers_.size() == 1) {
    names = servers_[0].endpoint;
  } else {
    std::set<size_t> quiet;
    for (const auto& [rid, a] : awaited_) quiet.insert(a.server);
    for (size_t s : quiet)
      names += (names.empty() ? "" : ", ") + servers_[s].endpoint;
    if (names.empty()) names = "any server";
  }
  return error{
      errc::io_error,
      "no reply from " + names + " within " + duration_text(opts_.timeout),
      error_source::timeout};
}

result<incoming> requester::wait(clock::time_point deadline) {
  while (true) {
    auto got = receive(deadline);
    if (!got) return std::move(got).error();
    if (!got->has_value()) return no_reply();
    auto& [from, message] = **got;
    if (servers_.size() > 1) {
      // It answers: no longer in back-off.
      servers_[from].failures = 0;
      servers_[from].dead_until = {};
    }
    if (awaited_.empty()) continue;
    // A reply's shape depends on its op, known only from its rid: decode
    // with any awaited op first (the rid is read even when the rest does not
    // fit), then again with the right one if they differ.
    std::string_view guess = awaited_.begin()->second.op;
    auto decoded = schema::decode_reply(message, guess);
    std::optional<uint64_t> rid =
        std::holds_alternative<schema::reply>(decoded)
            ? std::get<schema::reply>(decoded).rid
            : std::get<schema::decode_failure>(decoded).rid;
    if (!rid) continue;
    auto it = awaited_.find(*rid);
    if (it == awaited_.end()) continue;  // stale: its wait is over
    std::string_view op = it->second.op;
    awaited_.erase(it);
    if (op != guess) decoded = schema::decode_reply(message, op);
    if (auto* failure = std::get_if<schema::decode_failure>(&decoded))
      return error{
          errc::bad_request,
          "malformed reply to '" + std::string{op} + "': " + failure->message,
          error_source::local};
    return incoming{*rid, std::move(std::get<schema::reply>(decoded).body),
                    from};
  }
}

result<schema::reply_body> requester::call(schema::request_body body,
                                           on_timeout retry) {
  size_t tries = !pinned_ && retry == on_timeout::try_elsewhere
                     ? servers_.size()
                     : size_t{1};
  for (size_t attempt = 1;; ++attempt) {
    // One request at a time: whatever else was awaited (left by a call that
    // ended early) is stale now.
    awaited_.clear();
    auto rid = attempt < tries ? send(body) : send(std::move(body));
    if (!rid) return std::move(rid).error();
    size_t to = awaited_.at(*rid).server;
    auto until = deadline();
    while (true) {
      auto in = wait(until);
      if (!in) {
        // A server whose handshake failed is treated as one that timed out.
        if ((in.error().source == error_source::timeout ||
             in.error().source == error_source::handshake) &&
            servers_.size() > 1) {
          if (auto r = put_in_back_off(to); !r) return std::move(r).error();
          if (attempt < tries) break;
        } else if (in.error().source == error_source::handshake) {
          servers_[to].reopen = true;  // as in send_to()
        }
        forget(*rid);
        return std::move(in).error();
      }
      if (in->rid != *rid) continue;  // an older request's late reply
      last_server_ = in->server;
      if (auto* e = std::get_if<schema::error_reply>(&in->body))
        return server_error(*e);
      return std::move(in->body);
    }
  }
}

}  // namespace depot::client::detail
