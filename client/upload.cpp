#include "client/transfers.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace depot::client::detail {
namespace {

// docs/protocol.md: a server restart loses uploads in progress. Starting over
// more often than this means something else is wrong.
constexpr unsigned max_restarts = 2;

// out_of_order cannot happen to a client that keeps within its window on one
// connection; a few are tolerated (e.g. right after a reconnect).
constexpr unsigned max_out_of_order = 8;

// Windows beyond this would only hold more memory, not go faster.
constexpr uint64_t max_window = 256;

// Waits before asking a `busy` server again: doubling, up to a limit.
constexpr std::chrono::milliseconds first_busy_delay{10};
constexpr std::chrono::milliseconds max_busy_delay{500};

struct chunk {
  uint64_t seq = 0;
  bool last = false;
  schema::buffer data;
};

// One attempt at an upload: one token from `upload` to the completed file.
// Fails with the server's unknown_upload when the server lost the token.
class attempt {
 public:
  attempt(requester& rq, source& src, const upload_options& opts,
          upload_result& stats)
      : rq_(rq), src_(src), opts_(opts), stats_(stats) {}

  /// True once the server issued a token: the upload was begun.
  bool begun() const { return !token_.empty(); }

  result<upload_result> run() {
    if (auto begun = begin(); !begun) return std::move(begun).error();
    while (true) {
      if (auto filled = fill(); !filled) {
        if (filled.error().source != error_source::timeout)
          return fail(std::move(filled).error());
        if (auto resumed = resume(filled.error()); !resumed)
          return std::move(resumed).error();
        continue;
      }
      auto in = rq_.wait(rq_.deadline());
      if (!in) {
        if (in.error().source != error_source::timeout)
          return fail(std::move(in).error());
        if (auto resumed = resume(in.error()); !resumed)
          return std::move(resumed).error();
        continue;
      }
      stalls_ = 0;
      if (auto* ack = std::get_if<schema::chunk_reply>(&in->body)) {
        while (!unacked_.empty() && unacked_.front().seq <= ack->seq)
          unacked_.pop_front();
        busy_waited_ = std::chrono::milliseconds{0};
        busy_delay_ = first_busy_delay;
        report(opts_.on_progress, {ack->received, src_.size});
      } else if (auto* done =
                     std::get_if<schema::chunk_done_reply>(&in->body)) {
        report(opts_.on_progress, {done->file.size, done->file.size});
        rq_.forget_all();
        upload_result out = stats_;
        out.file = std::move(done->file);
        out.dedup = done->dedup;
        return out;
      } else if (auto* e = std::get_if<schema::error_reply>(&in->body)) {
        if (e->code == errc::unknown_upload) {
          rq_.forget_all();
          return server_error(*e);
        }
        if (e->code == errc::busy) {
          if (auto r = back_off(*e); !r) return std::move(r).error();
          continue;
        }
        if (e->code != errc::out_of_order || !e->next ||
            ++out_of_order_ > max_out_of_order)
          return fail(server_error(*e));
        // Forget the other chunks in flight (their replies would be
        // out_of_order too) and go on from where the server stands.
        rq_.forget_all();
        if (auto r = continue_from(*e->next); !r)
          return fail(std::move(r).error());
        if (auto sent = resend();
            !sent && sent.error().source != error_source::timeout)
          return fail(std::move(sent).error());
      } else {
        return fail(unexpected_reply("chunk"));
      }
    }
  }

 private:
  // `upload`: the token, chunk_max and window. Retried on a new socket
  // after a timeout (a token the server made meanwhile idles out there).
  result<void> begin() {
    schema::upload_request req;
    req.name = opts_.name;
    req.size = src_.size;
    req.sha256 = src_.sha256;
    if (!opts_.mime.empty()) req.mime = opts_.mime;
    for (unsigned stall = 0;;) {
      auto r = rq_.call(req);
      if (!r && r.error().code == errc::busy &&
          r.error().source == error_source::server && wait_while_busy()) {
        continue;
      }
      if (!r) {
        if (r.error().source != error_source::timeout ||
            stall++ >= rq_.opts().retries)
          return std::move(r).error();
        if (auto opened = rq_.stalled(); !opened) return opened;
        continue;
      }
      auto* ur = std::get_if<schema::upload_reply>(&*r);
      if (!ur) return unexpected_reply("upload");
      if (ur->chunk_max == 0 || ur->upload.empty())
        return error{errc::internal,
                     "the server answered 'upload' with chunk_max 0 or no "
                     "token",
                     error_source::local};
      token_ = ur->upload;
      // The token lives in that server's memory only: the rest of the
      // upload goes there.
      rq_.pin(rq_.last_server());
      chunk_size_ =
          std::min<uint64_t>(ur->chunk_max, rq_.opts().max_frame_bytes);
      window_ = std::clamp<uint64_t>(ur->window, 1, max_window);
      return {};
    }
  }

  result<schema::buffer> read_chunk() {
    std::vector<std::byte> bytes(chunk_size_);
    auto n = src_.read(bytes.data(), bytes.size());
    if (!n) return std::move(n).error();
    bytes.resize(*n);
    return schema::buffer::from_vector(std::move(bytes));
  }

  // Sends new chunks until the window is full or the last one is out. A
  // chunk counts as unacknowledged from before its send, so a send that
  // times out is simply resent on resume.
  result<void> fill() {
    while (!sent_last_ && unacked_.size() < window_) {
      if (!ahead_) {
        auto first = read_chunk();
        if (!first) return std::move(first).error();
        ahead_ = std::move(*first);
      }
      // Reading one chunk ahead tells whether this one is the last.
      auto following = read_chunk();
      if (!following) return std::move(following).error();
      chunk c{next_seq_++, following->empty(), std::move(*ahead_)};
      ahead_ = std::move(*following);
      sent_last_ = c.last;
      unacked_.push_back(c);
      if (auto sent = send(c); !sent) return sent;
    }
    return {};
  }

  result<void> send(const chunk& c) {
    auto rid = rq_.send(schema::chunk_request{token_, c.seq, c.last, c.data});
    if (!rid) return std::move(rid).error();
    return {};
  }

  // Drops what the server has (seq < next) and checks the rest is here.
  // The last chunk stays even when taken: the server may be storing the
  // file still, and a retried last chunk is answered with the completion
  // (with `dedup`, which upload_status does not carry).
  result<void> continue_from(uint64_t next) {
    while (!unacked_.empty() && unacked_.front().seq < next &&
           !unacked_.front().last)
      unacked_.pop_front();
    if (!unacked_.empty() && unacked_.front().last &&
        unacked_.front().seq < next)
      return {};
    uint64_t have = unacked_.empty() ? next_seq_ : unacked_.front().seq;
    if (have != next)
      return error{errc::internal,
                   "the server expects chunk " + std::to_string(next) +
                       " but this client is at chunk " + std::to_string(have),
                   error_source::local};
    return {};
  }

  result<void> resend() {
    for (const chunk& c : unacked_)
      if (auto sent = send(c); !sent) return sent;
    return {};
  }

  // After a timeout: a new socket, upload_status, and the chunks from
  // `next` on again. Tries up to options::retries times in a row. With
  // several servers the one that stalled goes into back-off meanwhile, so
  // that a start-over (run_upload) goes to another.
  result<void> resume(error why) {
    while (true) {
      if (++stalls_ > rq_.opts().retries) {
        rq_.forget_all();
        why.message = "upload stalled: " + why.message + " (tried " +
                      std::to_string(stalls_) + " times)";
        return why;
      }
      if (auto opened = rq_.stalled(); !opened) return opened;
      auto status = rq_.call(schema::upload_status_request{token_});
      if (!status) {
        if (status.error().source == error_source::timeout) {
          why = std::move(status).error();
          continue;
        }
        if (status.error().code == errc::unknown_upload)
          return std::move(status).error();
        return fail(std::move(status).error());
      }
      auto* st = std::get_if<schema::upload_status_reply>(&*status);
      if (!st) return fail(unexpected_reply("upload_status"));
      ++stats_.resumes;
      if (auto r = continue_from(st->next); !r)
        return fail(std::move(r).error());
      if (!st->file) report(opts_.on_progress, {st->received, src_.size});
      auto sent = resend();
      if (!sent && sent.error().source == error_source::timeout) {
        why = std::move(sent).error();
        continue;
      }
      if (!sent) return fail(std::move(sent).error());
      auto filled = fill();
      if (!filled && filled.error().source == error_source::timeout) {
        why = std::move(filled).error();
        continue;
      }
      if (!filled) return fail(std::move(filled).error());
      return {};
    }
  }

  // Sleeps before asking a busy server again; false once the waits since
  // the last progress add up to options::timeout.
  bool wait_while_busy() {
    if (busy_waited_ >= rq_.opts().timeout) return false;
    std::this_thread::sleep_for(busy_delay_);
    busy_waited_ += busy_delay_;
    busy_delay_ = std::min(busy_delay_ * 2, max_busy_delay);
    return true;
  }

  // A chunk was refused with `busy` (the server holds too much of this
  // upload or of all uploads): it was not taken, and neither will the ones
  // sent after it be. Wait, halve the window, and go on from `next`.
  result<void> back_off(const schema::error_reply& e) {
    rq_.forget_all();
    if (!wait_while_busy()) return fail(server_error(e));
    window_ = std::max<uint64_t>(1, window_ / 2);
    auto status = rq_.call(schema::upload_status_request{token_});
    if (!status) {
      if (status.error().source == error_source::timeout)
        return resume(std::move(status).error());
      if (status.error().code == errc::unknown_upload)
        return std::move(status).error();
      return fail(std::move(status).error());
    }
    auto* st = std::get_if<schema::upload_status_reply>(&*status);
    if (!st) return fail(unexpected_reply("upload_status"));
    if (auto r = continue_from(st->next); !r) return fail(std::move(r).error());
    if (auto sent = resend();
        !sent && sent.error().source != error_source::timeout)
      return fail(std::move(sent).error());
    return {};
  }

  // Gives the upload up on the server (best effort, when it answers at
  // all) and returns `e`.
  error fail(error e) {
    rq_.forget_all();
    if (!token_.empty() && e.source != error_source::timeout) {
      auto aborted = rq_.send(schema::abort_request{token_});
      (void)aborted;  // its reply is dropped as stale
      rq_.forget_all();
    }
    return e;
  }

  requester& rq_;
  source& src_;
  const upload_options& opts_;
  upload_result& stats_;

  std::string token_;
  uint64_t chunk_size_ = 0;
  uint64_t window_ = 1;
  uint64_t next_seq_ = 0;
  bool sent_last_ = false;
  std::optional<schema::buffer> ahead_;
  std::deque<chunk> unacked_;  // sent (or about to be), not acknowledged
  unsigned stalls_ = 0;
  unsigned out_of_order_ = 0;
  std::chrono::milliseconds busy_delay_ = first_busy_delay;
  std::chrono::milliseconds busy_waited_{0};
};

}  // namespace

void report(const progress_fn& fn, progress p) {
  if (!fn) return;
  try {
    fn(p);
  } catch (...) {
    throw callback_failure{std::current_exception()};
  }
}

result<upload_result> run_upload(requester& rq, source& src,
                                 const upload_options& opts) {
  // However this ends (a progress callback may throw through it), later
  // calls must not stay pinned to this upload's server.
  struct unpin_at_exit {
    requester& rq;
    ~unpin_at_exit() { rq.pin(std::nullopt); }
  } unpin{rq};
  upload_result stats;
  report(opts.on_progress, {0, src.size});
  unsigned moves = 0;  // start-overs on another server
  while (true) {
    attempt a{rq, src, opts, stats};
    auto r = a.run();
    rq.pin(std::nullopt);
    if (!r && r.error().source == error_source::timeout && a.begun() &&
        rq.servers() > 1 && moves + 1 < rq.servers() && src.rewind()) {
      // The server that held the upload stopped answering (it is in
      // back-off now): start over on another one.
      ++moves;
      ++stats.restarts;
      report(opts.on_progress, {0, src.size});
      continue;
    }
    if (r || r.error().code != errc::unknown_upload ||
        r.error().source != error_source::server)
      return r;
    // The server lost the upload (it restarted, or the token idled out):
    // start over from the first byte if the source can be read again.
    if (stats.restarts >= max_restarts || !src.rewind()) {
      error e = std::move(r).error();
      e.message += stats.restarts >= max_restarts
                       ? " (the upload was started over " +
                             std::to_string(stats.restarts) + " times)"
                       : " (the input cannot be read again to start over)";
      return e;
    }
    ++stats.restarts;
    report(opts.on_progress, {0, src.size});
  }
}

}  // namespace depot::client::detail
