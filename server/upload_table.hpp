#pragma once

// The table of upload tokens, shared by the sessions (which add them), the
// I/O thread (which routes requests naming one: actors/routing.hpp) and the
// assemblers (which own them).
//
// A token in progress maps to its assembler. A finished one maps to a
// compact record of what docs/protocol.md still promises for it (a retried last
// chunk gets the same reply, upload_status shows the file, abort is ok) for
// `completion_linger`: its actor ends at completion, so a finished upload
// costs a few hundred bytes instead of an actor. Records are answered on the
// I/O thread, expire by themselves, and are capped in number: at the cap
// new uploads are refused (busy) rather than old promises broken.
//
// The table also notes when a request last named each upload in progress,
// so that one janitor (actors/janitor.hpp) finds the idle ones: no upload
// keeps a timer of its own (a CAF delayed message keeps its receiver
// alive until it fires).

#include "schema/messages.hpp"

#include <caf/actor_addr.hpp>
#include <caf/actor_clock.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace depot::server {

/// What the ack of chunk `seq` reported, if it is among the recent `acked`
/// (seq, received then); else `otherwise`.
template <class Acks>
uint64_t acked_total(const Acks& acked, uint64_t seq, uint64_t otherwise) {
  for (auto& [s, total] : acked)
    if (s == seq) return total;
  return otherwise;
}

/// What a finished upload still answers, without its actor.
struct finished_upload {
  uint64_t last_seq = 0;
  uint64_t received = 0;  ///< bytes the upload took
  schema::reply_body
      completion;  ///< chunk_done_reply, or the error it ended with
  std::vector<std::pair<uint64_t, uint64_t>>
      acked;  ///< last acks (seq, received then)

  /// The reply to a chunk `seq` of this upload (a retry, or one past the end).
  schema::reply_body chunk_reply(const std::string& token, uint64_t seq) const;
  /// The reply to upload_status.
  schema::reply_body status_reply(const std::string& token) const;
};

/// Upload tokens, thread safe. See the file comment. `Actor` is the handle
/// type of an upload's owner (actors/assembler.hpp's assembler_actor in the
/// server; any actor handle in tests): the table only stores, compares and
/// returns it.
template <class Actor>
class upload_table {
 public:
  using time_point = caf::actor_clock::time_point;

  /// `max_active` uploads in progress and `max_finished` records at most;
  /// a record lives `linger` by the clock `now` (the actor system's, so
  /// tests under virtual time see records expire).
  upload_table(size_t max_active, size_t max_finished,
               std::chrono::milliseconds linger,
               std::function<time_point()> now)
      : max_active_(max_active),
        max_finished_(max_finished),
        linger_(linger),
        now_(std::move(now)) {}

  /// Adds `token` in progress under its owner `a`. False if `max_active`
  /// uploads are in progress or `max_finished` records are live already.
  bool insert(const std::string& token, Actor a) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto now = now_();
    purge(now);
    if (active_.size() >= max_active_ || finished_.size() >= max_finished_)
      return false;
    if (finished_.count(token)) return false;
    return active_.emplace(token, in_progress{std::move(a), now}).second;
  }

  /// What a request naming `token` goes to: its owner (and the upload
  /// counts as requested now), or its record once finished; neither if
  /// unknown, withdrawn or expired.
  struct found {
    Actor actor;
    std::shared_ptr<const finished_upload> finished;
  };
  found find(const std::string& token) {
    found out;
    out.finished =
        deliver(token, [&](const Actor& a) { out.actor = a; }).second;
    return out;
  }

  /// As find(), but an upload in progress gets `deliver(actor)` called
  /// under the table's lock, so it cannot finish or be withdrawn between
  /// the look-up and the delivery: what is delivered is in its mailbox
  /// before it starts to drain, and gets answered. Returns whether it was
  /// delivered, else the record of a finished upload (null if unknown).
  template <class Deliver>
  std::pair<bool, std::shared_ptr<const finished_upload>> deliver(
      const std::string& token, Deliver&& deliver) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto now = now_();
    if (auto i = active_.find(token); i != active_.end()) {
      i->second.last_request = now;
      deliver(i->second.actor);
      return {true, nullptr};
    }
    auto i = finished_.find(token);
    if (i == finished_.end() || i->second.expires <= now)
      return {false, nullptr};
    return {false, i->second.record};
  }

  /// Owners of uploads in progress that no request has named for `idle`
  /// or longer.
  std::vector<Actor> idle(std::chrono::milliseconds idle) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto now = now_();
    purge(now);
    std::vector<Actor> out;
    for (auto& [token, u] : active_)
      if (now - u.last_request >= idle) out.push_back(u.actor);
    return out;
  }

  /// Upload `token` of owner `a` has finished: from now on `record`
  /// answers for it, until `linger` has passed.
  void finish(const std::string& token, const caf::actor_addr& a,
              std::shared_ptr<const finished_upload> record) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto i = active_.find(token);
    if (i == active_.end() || i->second.actor.address() != a) return;
    active_.erase(i);
    auto now = now_();
    purge(now);
    auto [j, added] =
        finished_.emplace(token, done{std::move(record), now + linger_});
    if (added) expiry_.emplace_back(j->second.expires, &j->first);
  }

  /// Removes `token` if it is still in progress under `a` (aborted,
  /// expired, failed or shut down): it answers unknown_upload from now on.
  void withdraw(const std::string& token, const caf::actor_addr& a) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto i = active_.find(token);
    if (i != active_.end() && i->second.actor.address() == a) active_.erase(i);
  }

  /// Uploads in progress.
  size_t active() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return active_.size();
  }

  /// Live records of finished uploads.
  size_t finished() {
    std::lock_guard<std::mutex> guard{mutex_};
    purge(now_());
    return finished_.size();
  }

  /// Every owner of an upload in progress (for shutdown).
  std::vector<Actor> all() const {
    std::lock_guard<std::mutex> guard{mutex_};
    std::vector<Actor> out;
    for (auto& [token, u] : active_) out.push_back(u.actor);
    return out;
  }

 private:
  struct in_progress {
    Actor actor;
    time_point last_request;
  };
  struct done {
    std::shared_ptr<const finished_upload> record;
    time_point expires;
  };

  // With mutex_ held.
  void purge(time_point now) {
    while (!expiry_.empty() && expiry_.front().first <= now) {
      finished_.erase(finished_.find(*expiry_.front().second));
      expiry_.pop_front();
    }
  }

  size_t max_active_;
  size_t max_finished_;
  std::chrono::milliseconds linger_;
  std::function<time_point()> now_;

  mutable std::mutex mutex_;
  std::unordered_map<std::string, in_progress> active_;
  std::unordered_map<std::string, done> finished_;
  // Keys of finished_ (nodes do not move) in the order they expire: every
  // record lives equally long.
  std::deque<std::pair<time_point, const std::string*>> expiry_;
};

}  // namespace depot::server
