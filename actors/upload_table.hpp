#pragma once

// The table of upload tokens, shared by the sessions (which add them), the
// I/O thread (which routes requests naming one: actors/routing.hpp) and the
// assemblers (which own them).
//
// A token in progress maps to its assembler. A finished one maps to a
// compact record of what PROTOCOL.md still promises for it (a retried last
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

#include <caf/actor.hpp>
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

namespace depot::actors {

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

/// Upload tokens, thread safe. See the file comment.
class upload_table {
 public:
  using time_point = caf::actor_clock::time_point;

  /// `max_active` uploads in progress and `max_finished` records at most;
  /// a record lives `linger` by the clock `now` (the actor system's, so
  /// tests under virtual time see records expire).
  upload_table(size_t max_active, size_t max_finished,
               std::chrono::milliseconds linger,
               std::function<time_point()> now);

  /// Adds `token` in progress under its assembler `a`. False if
  /// `max_active` uploads are in progress or `max_finished` records are
  /// live already.
  bool insert(const std::string& token, caf::actor a);

  /// What a request naming `token` goes to: its assembler (and the upload
  /// counts as requested now), or its record once finished; neither if
  /// unknown, withdrawn or expired.
  struct found {
    caf::actor actor;
    std::shared_ptr<const finished_upload> finished;
  };
  found find(const std::string& token);

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

  /// Assemblers of uploads in progress that no request has named for
  /// `idle` or longer.
  std::vector<caf::actor> idle(std::chrono::milliseconds idle);

  /// Upload `token` of assembler `a` has finished: from now on `record`
  /// answers for it, until `linger` has passed.
  void finish(const std::string& token, const caf::actor_addr& a,
              std::shared_ptr<const finished_upload> record);

  /// Removes `token` if it is still in progress under `a` (aborted,
  /// expired, failed or shut down): it answers unknown_upload from now on.
  void withdraw(const std::string& token, const caf::actor_addr& a);

  /// Uploads in progress.
  size_t active() const;
  /// Live records of finished uploads.
  size_t finished();
  /// Every assembler of an upload in progress (for shutdown).
  std::vector<caf::actor> all() const;

 private:
  struct in_progress {
    caf::actor actor;
    time_point last_request;
  };
  struct done {
    std::shared_ptr<const finished_upload> record;
    time_point expires;
  };
  void purge(time_point now);  // with mutex_ held

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

}  // namespace depot::actors
