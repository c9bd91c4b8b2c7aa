#include "client/async.hpp"

#include "client/async_engine.hpp"
#include "client/reply_errors.hpp"
#include "schema/codec.hpp"
#include "schema/validate.hpp"
#include "storage/sha256.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <utility>

namespace depot::client {

using detail::clock;
using detail::engine;

// --- shared_bytes ------------------------------------------------------------

shared_bytes shared_bytes::from(std::string s) {
  auto owner = std::make_shared<std::string>(std::move(s));
  auto* data = reinterpret_cast<const std::byte*>(owner->data());
  size_t size = owner->size();
  return {std::move(owner), data, size};
}

shared_bytes shared_bytes::from(std::vector<std::byte> v) {
  auto owner = std::make_shared<std::vector<std::byte>>(std::move(v));
  const std::byte* data = owner->data();
  size_t size = owner->size();
  return {std::move(owner), data, size};
}

shared_bytes shared_bytes::copy_of(std::string_view text) {
  return from(std::string{text});
}

namespace {

// Limits of a streaming upload, as in upload.cpp.
constexpr unsigned max_out_of_order = 8;
constexpr uint64_t max_window = 256;
constexpr std::chrono::milliseconds first_busy_delay{10};
constexpr std::chrono::milliseconds max_busy_delay{500};

schema::buffer to_buffer(const shared_bytes& b) {
  return {b.owner(), b.data(), b.size()};
}

shared_bytes to_shared(const schema::buffer& b) {
  // The buffer's owner is not reachable from outside: keep a copy of the
  // buffer itself (a pointer copy) alive instead.
  auto keep = std::make_shared<schema::buffer>(b);
  return {std::move(keep), b.data(), b.size()};
}

error local_error(errc code, std::string message) {
  return {code, std::move(message), error_source::local};
}

result<void> check_id(std::string_view id) {
  if (schema::is_file_id(id)) return {};
  return local_error(errc::bad_request,
                     "'" + std::string{id.substr(0, 64)} +
                         "' is not a file id: 12 characters of [0-9A-Za-z]");
}

// A server error reply as the call's error; anything else passes.
template <class Reply>
result<Reply> expect(result<schema::reply_body> r, std::string_view op) {
  if (!r) return std::move(r).error();
  if (auto* e = std::get_if<schema::error_reply>(&*r))
    return detail::server_error(*e);
  if (auto* want = std::get_if<Reply>(&*r)) return std::move(*want);
  return detail::unexpected_reply(op);
}

// --- upload ------------------------------------------------------------------

class upload_impl final : public upload_stream, public detail::transfer {
 public:
  upload_impl(engine* eng, upload_spec spec, upload_handlers h)
      : transfer(eng), spec_(std::move(spec)), h_(std::move(h)) {}

  // Queues `upload`; a local check failure ends the upload at once.
  void start() {
    if (auto problem = schema::check_name(spec_.name))
      return finish_with(
          local_error(errc::bad_request, "bad name: " + *problem));
    if (spec_.sha256) {
      auto lower = schema::normalize_sha256_hex(*spec_.sha256);
      if (!lower)
        return finish_with(local_error(
            errc::bad_request, "bad sha256: not 64 hexadecimal digits"));
      spec_.sha256 = std::move(*lower);
    }
    if (!spec_.mime.empty()) {
      if (auto problem = schema::check_mime(spec_.mime))
        return finish_with(
            local_error(errc::bad_request, "bad mime: " + *problem));
    }
    send_begin();
  }

  bool write(shared_bytes bytes) override {
    if (!eng_ || done_ || finishing_) return false;
    if (bytes.size() > room()) {
      want_writable_ = true;
      return false;
    }
    if (bytes.empty()) return true;
    for (size_t at = 0; at < bytes.size(); at += chunk_max_) {
      size_t n = std::min<size_t>(chunk_max_, bytes.size() - at);
      held_.push_back(
          chunk{next_seq_++, false, false, to_buffer(bytes.slice(at, n))});
      held_bytes_ += n;
    }
    if (room() == 0) want_writable_ = true;
    eng_->mark_dirty(self());
    return true;
  }

  uint64_t room() const override {
    if (!eng_ || done_ || finishing_ || token_.empty()) return 0;
    uint64_t limit = server_window_ * chunk_max_;
    return held_bytes_ >= limit ? 0 : limit - held_bytes_;
  }

  void finish() override {
    if (!eng_ || done_ || finishing_) return;
    finishing_ = true;
    if (!token_.empty()) seal();
    eng_->mark_dirty(self());
  }

  void abort() override {
    if (!eng_ || done_) return;
    if (!token_.empty())
      eng_->send_and_forget(schema::abort_request{token_}, server_);
    finish_with(local_error(errc::bad_request, "aborted"));
  }

  uint64_t held_bytes() const override { return held_bytes_; }
  uint64_t acknowledged() const override { return acknowledged_; }
  uint64_t chunk_max() const override { return chunk_max_; }
  uint64_t window() const override { return server_window_; }
  bool done() const override { return done_; }

  // Sends what the window allows (from process()).
  void pump() override {
    if (!eng_ || done_ || token_.empty() || recovering_) return;
    for (chunk& c : held_) {
      if (in_flight_ >= window_) break;
      if (c.sent) continue;
      c.sent = true;
      ++in_flight_;
      send_chunk(c);
    }
  }

  void detach() override {
    eng_ = nullptr;
    held_.clear();
    held_bytes_ = 0;
  }

 private:
  struct chunk {
    uint64_t seq = 0;
    bool last = false;
    bool sent = false;  // handed to the engine in this generation
    schema::buffer data;
  };

  std::shared_ptr<upload_impl> self() {
    return std::static_pointer_cast<upload_impl>(shared_from_this());
  }

  void send_begin() {
    schema::upload_request req;
    req.name = spec_.name;
    req.size = spec_.size;
    req.sha256 = spec_.sha256;
    if (!spec_.mime.empty()) req.mime = spec_.mime;
    std::weak_ptr<upload_impl> weak = self();
    eng_->call(std::move(req), {}, detail::retry::try_elsewhere,
               [weak](result<schema::reply_body> r, size_t server) {
                 if (auto me = weak.lock()) me->on_begun(std::move(r), server);
               });
  }

  void on_begun(result<schema::reply_body> r, size_t server) {
    if (done_ || !eng_) return;
    if (r) {
      if (auto* e = std::get_if<schema::error_reply>(&*r);
          e && e->code == errc::busy) {
        if (wait_while_busy([this] { send_begin(); })) return;
      }
    } else if (r.error().source == error_source::timeout &&
               ++stalls_ <= eng_->opts().retries) {
      // A token the server made meanwhile idles out there.
      return send_begin();
    }
    auto begun = expect<schema::upload_reply>(std::move(r), "upload");
    if (!begun) return finish_with(std::move(begun).error());
    if (begun->chunk_max == 0 || begun->upload.empty())
      return finish_with(local_error(
          errc::internal,
          "the server answered 'upload' with chunk_max 0 or no token"));
    stalls_ = 0;
    reset_busy();
    token_ = std::move(begun->upload);
    server_ = server;  // the token lives in that server's memory only
    chunk_max_ =
        std::min<uint64_t>(begun->chunk_max, eng_->opts().max_frame_bytes);
    server_window_ = std::clamp<uint64_t>(begun->window, 1, max_window);
    window_ = server_window_;
    if (finishing_) seal();
    eng_->mark_dirty(self());
    notify_writable(true);
  }

  // finish() seen: the last chunk is the newest one not yet sent, or a new
  // empty one.
  void seal() {
    if (!held_.empty() && !held_.back().sent) {
      held_.back().last = true;
    } else {
      held_.push_back(chunk{next_seq_++, true, false, {}});
    }
  }

  void send_chunk(const chunk& c) {
    std::weak_ptr<upload_impl> weak = self();
    uint64_t gen = gen_;
    eng_->call(schema::chunk_request{token_, c.seq, c.last, c.data}, server_,
               detail::retry::report,
               [weak, gen](result<schema::reply_body> r, size_t) {
                 auto me = weak.lock();
                 if (me && gen == me->gen_) me->on_chunk(std::move(r));
               });
  }

  void on_chunk(result<schema::reply_body> r) {
    if (done_ || !eng_) return;
    if (in_flight_ > 0) --in_flight_;
    if (!r) {
      if (r.error().source == error_source::timeout ||
          r.error().source == error_source::handshake)
        return stalled(std::move(r).error());
      return fail(std::move(r).error());
    }
    stalls_ = 0;
    if (auto* ack = std::get_if<schema::chunk_reply>(&*r)) {
      reset_busy();
      drop_through(ack->seq);
      acknowledged_ = std::max(acknowledged_, ack->received);
      eng_->mark_dirty(self());
      if (h_.on_progress) h_.on_progress(acknowledged_);
      notify_writable(false);
      return;
    }
    if (auto* d = std::get_if<schema::chunk_done_reply>(&*r)) {
      upload_result out;
      out.file = std::move(d->file);
      out.dedup = d->dedup;
      out.resumes = resumes_;
      acknowledged_ = out.file.size;
      held_.clear();
      held_bytes_ = 0;
      return finish_with(std::move(out));
    }
    auto* e = std::get_if<schema::error_reply>(&*r);
    if (!e) return fail(detail::unexpected_reply("chunk"));
    if (e->code == errc::unknown_upload)
      return finish_with(detail::server_error(*e));
    if (e->code == errc::busy) {
      // Not taken, nor will the chunks after it be: wait, halve the window,
      // and go on from where the server stands.
      error why = detail::server_error(*e);
      restart_generation();
      window_ = std::max<uint64_t>(1, window_ / 2);
      if (!wait_while_busy([this] { ask_status(); })) fail(std::move(why));
      return;
    }
    if (e->code == errc::out_of_order && e->next &&
        ++out_of_order_ <= max_out_of_order) {
      restart_generation();
      return continue_from(*e->next);
    }
    fail(detail::server_error(*e));
  }

  // Drops the chunks the server acknowledged (seq <= `seq`), except the
  // last: it is kept until the completion, which a retried last chunk gets.
  void drop_through(uint64_t seq) {
    while (!held_.empty() && held_.front().seq <= seq && !held_.front().last) {
      held_bytes_ -= held_.front().data.size();
      held_.pop_front();
    }
  }

  // Replies to the chunks in flight are ignored from now on.
  void restart_generation() {
    ++gen_;
    recovering_ = true;
    in_flight_ = 0;
    for (chunk& c : held_) c.sent = false;
  }

  // After a timeout: upload_status, then the chunks from `next` on again.
  void stalled(error why) {
    restart_generation();
    if (++stalls_ > eng_->opts().retries) {
      why.message = "upload stalled: " + why.message + " (tried " +
                    std::to_string(stalls_) + " times)";
      return finish_with(std::move(why));
    }
    ask_status();
  }

  void ask_status() {
    std::weak_ptr<upload_impl> weak = self();
    uint64_t gen = gen_;
    eng_->call(schema::upload_status_request{token_}, server_,
               detail::retry::report,
               [weak, gen](result<schema::reply_body> r, size_t) {
                 auto me = weak.lock();
                 if (me && gen == me->gen_) me->on_status(std::move(r));
               });
  }

  void on_status(result<schema::reply_body> r) {
    if (done_ || !eng_) return;
    if (!r && (r.error().source == error_source::timeout ||
               r.error().source == error_source::handshake))
      return stalled(std::move(r).error());
    auto st =
        expect<schema::upload_status_reply>(std::move(r), "upload_status");
    if (!st) {
      if (st.error().code == errc::unknown_upload &&
          st.error().source == error_source::server)
        return finish_with(std::move(st).error());
      return fail(std::move(st).error());
    }
    ++resumes_;
    continue_from(st->next);
  }

  // Drops what the server has (seq < next) and resends the rest.
  void continue_from(uint64_t next) {
    while (!held_.empty() && held_.front().seq < next && !held_.front().last) {
      held_bytes_ -= held_.front().data.size();
      held_.pop_front();
    }
    bool last_taken =
        !held_.empty() && held_.front().last && held_.front().seq < next;
    uint64_t have = held_.empty() ? next_seq_ : held_.front().seq;
    if (!last_taken && have != next)
      return fail(local_error(
          errc::internal, "the server expects chunk " + std::to_string(next) +
                              " but this upload holds chunks from " +
                              std::to_string(have)));
    recovering_ = false;
    notify_writable(false);
    eng_->mark_dirty(self());
  }

  // Schedules `again` after the next busy pause; false once the pauses
  // since the last progress add up to options::timeout.
  template <class F>
  bool wait_while_busy(F again) {
    if (busy_waited_ >= eng_->opts().timeout) return false;
    std::weak_ptr<upload_impl> weak = self();
    eng_->after(busy_delay_, [weak, again] {
      if (auto me = weak.lock(); me && !me->done_ && me->eng_) again();
    });
    busy_waited_ += busy_delay_;
    busy_delay_ = std::min(busy_delay_ * 2, max_busy_delay);
    return true;
  }

  void reset_busy() {
    busy_waited_ = std::chrono::milliseconds{0};
    busy_delay_ = first_busy_delay;
  }

  void notify_writable(bool always) {
    if (done_ || !h_.on_writable) return;
    if ((always || want_writable_) && room() > 0) {
      want_writable_ = false;
      h_.on_writable();
    }
  }

  // Gives the upload up on the server (its reply is not awaited).
  void fail(error e) {
    if (!token_.empty() && eng_ && e.source != error_source::timeout)
      eng_->send_and_forget(schema::abort_request{token_}, server_);
    finish_with(std::move(e));
  }

  void finish_with(result<upload_result> r) {
    if (done_) return;
    done_ = true;
    ++gen_;
    held_.clear();
    held_bytes_ = 0;
    auto keep = shared_from_this();
    if (eng_) eng_->retire(this);
    // Only on_done is taken: another handler may be running right now (one
    // that called abort() or cancel()); done_ keeps them from being called.
    if (h_.on_done) {
      auto fn = std::move(h_.on_done);
      h_.on_done = nullptr;
      fn(std::move(r));
    }
  }

  upload_spec spec_;
  upload_handlers h_;
  std::string token_;
  size_t server_ = 0;
  uint64_t chunk_max_ = 0;
  uint64_t server_window_ = 0;  // the server's window: what room() allows
  uint64_t window_ = 1;         // chunks in flight at most (halved on busy)
  uint64_t next_seq_ = 0;
  uint64_t acknowledged_ = 0;
  uint64_t held_bytes_ = 0;
  std::deque<chunk> held_;  // written, not acknowledged (and the last one)
  uint64_t in_flight_ = 0;
  uint64_t gen_ = 0;
  bool recovering_ = false;  // waiting for upload_status or a busy pause
  bool finishing_ = false;
  bool done_ = false;
  bool want_writable_ = false;
  unsigned stalls_ = 0;
  unsigned resumes_ = 0;
  unsigned out_of_order_ = 0;
  std::chrono::milliseconds busy_delay_ = first_busy_delay;
  std::chrono::milliseconds busy_waited_{0};
};

// --- download ----------------------------------------------------------------

class download_impl final : public download_stream, public detail::transfer {
 public:
  download_impl(engine* eng, std::string id, download_handlers h,
                std::optional<file_meta> known)
      : transfer(eng),
        id_(std::move(id)),
        h_(std::move(h)),
        depth_(std::clamp(eng->opts().download_depth, 1u, 64u)),
        meta_(std::move(known)),
        meta_untold_(meta_.has_value()) {}

  void start() {
    if (auto ok = check_id(id_); !ok) return finish_with(std::move(ok).error());
    if (meta_) {
      // Known metadata: no `stat`; on_meta runs from the next process(),
      // as every callback does, and the ranges follow at once.
      auto lower = schema::normalize_sha256_hex(meta_->sha256);
      if (!lower)
        return finish_with(local_error(
            errc::bad_request, "bad sha256: not 64 hexadecimal digits"));
      meta_->sha256 = std::move(*lower);
      if (meta_->id != id_)
        return finish_with(local_error(
            errc::bad_request, "the metadata given is of file " + meta_->id));
      eng_->mark_dirty(self());
      if (eng_->chunk_max() == 0) ask_ping();
    } else {
      ask_first();
    }
  }

  void pause() override { paused_ = true; }

  void resume() override {
    if (!paused_) return;
    paused_ = false;
    if (eng_ && !done_) eng_->mark_dirty(self());
  }

  bool paused() const override { return paused_; }

  void cancel() override {
    if (!eng_ || done_) return;
    finish_with(local_error(errc::bad_request, "cancelled"));
  }

  uint64_t delivered() const override { return delivered_; }
  uint64_t held_bytes() const override { return held_bytes_; }
  bool done() const override { return done_; }

  void pump() override {
    if (eng_ && !done_ && meta_untold_) {
      meta_untold_ = false;
      if (h_.on_meta) h_.on_meta(*meta_);
      if (done_ || !eng_) return;
      ready_to_go();
      return;
    }
    if (!eng_ || done_ || !meta_ || range_ == 0) return;
    deliver();
    if (done_ || paused_ || held_back_) return;
    while (in_flight_.size() + ready_.size() < depth_) {
      range r;
      if (!unsent_.empty()) {
        r = unsent_.front();
        unsent_.erase(unsent_.begin());
      } else if (next_offset_ < meta_->size) {
        r = {next_offset_, std::min(range_, meta_->size - next_offset_)};
        next_offset_ += r.length;
      } else {
        break;
      }
      ask(r);
    }
  }

  void detach() override {
    eng_ = nullptr;
    ready_.clear();
    held_bytes_ = 0;
  }

 private:
  struct range {
    uint64_t offset = 0;
    uint64_t length = 0;
  };

  std::shared_ptr<download_impl> self() {
    return std::static_pointer_cast<download_impl>(shared_from_this());
  }

  // The steps before the ranges (ask_first, ask_stat, ask_ping) are retried
  // after a timeout like the ranges are (options::retries stalls in all),
  // not only once per server.

  // Metadata not known: the first range, asked with the metadata, so that
  // no `stat` goes first (nor a `ping`: the server cuts a long range to its
  // chunk_max).
  void ask_first() {
    uint64_t length = eng_->opts().max_frame_bytes;
    if (eng_->chunk_max() != 0)
      length = std::clamp<uint64_t>(eng_->chunk_max(), 1, length);
    std::weak_ptr<download_impl> weak = self();
    eng_->call(schema::download_request{id_, 0, length, true}, {},
               detail::retry::try_elsewhere,
               [weak, length](result<schema::reply_body> r, size_t) {
                 if (auto me = weak.lock()) me->on_first(length, std::move(r));
               });
  }

  void ask_stat() {
    std::weak_ptr<download_impl> weak = self();
    eng_->call(schema::stat_request{id_}, {}, detail::retry::try_elsewhere,
               [weak](result<schema::reply_body> r, size_t) {
                 if (auto me = weak.lock()) me->on_stat(std::move(r));
               });
  }

  void ask_ping() {
    std::weak_ptr<download_impl> weak = self();
    eng_->call(schema::ping_request{}, {}, detail::retry::try_elsewhere,
               [weak](result<schema::reply_body> r, size_t) {
                 if (auto me = weak.lock()) me->on_ping(std::move(r));
               });
  }

  // True if `r` is a timeout to ask again after (the stall counted).
  bool again_after(const result<schema::reply_body>& r) {
    if (r || (r.error().source != error_source::timeout &&
              r.error().source != error_source::handshake))
      return false;
    return ++stalls_ <= eng_->opts().retries;
  }

  void on_ping(result<schema::reply_body> r) {
    if (done_ || !eng_) return;
    if (again_after(r)) return ask_ping();
    auto p = expect<schema::ping_reply>(std::move(r), "ping");
    if (!p) return finish_with(std::move(p).error());
    eng_->set_chunk_max(p->chunk_max);
    ready_to_go();
  }

  void on_first(uint64_t asked, result<schema::reply_body> r) {
    if (done_ || !eng_) return;
    if (again_after(r)) return ask_first();
    if (auto* e = r ? std::get_if<schema::error_reply>(&*r) : nullptr;
        e && e->code == errc::busy) {
      std::weak_ptr<download_impl> weak = self();
      eng_->after(first_busy_delay, [weak] {
        if (auto me = weak.lock(); me && !me->done_ && me->eng_)
          me->ask_first();
      });
      return;
    }
    auto d = expect<schema::download_reply>(std::move(r), "download");
    if (!d) return finish_with(std::move(d).error());
    if (d->offset != 0 || d->data.size() > asked || d->data.size() > d->size ||
        (d->data.empty() && d->size > 0))
      return finish_with(local_error(
          errc::internal, "the server answered a read of " +
                              std::to_string(asked) + " bytes of file " + id_ +
                              " with " + std::to_string(d->data.size()) +
                              " bytes at offset " + std::to_string(d->offset) +
                              " of size " + std::to_string(d->size)));
    // A range cut short, not the last: that is the server's chunk_max.
    range_ = d->eof ? asked : d->data.size();
    if (range_ < asked) eng_->set_chunk_max(range_);
    next_offset_ = d->data.size();
    held_bytes_ += d->data.size();
    ready_.emplace(0, std::move(d->data));
    if (!d->meta) {
      // A server that does not know `meta`: ask `stat` as before.
      first_size_ = d->size;
      return ask_stat();
    }
    take_meta(std::move(*d->meta), d->size);
  }

  void on_stat(result<schema::reply_body> r) {
    if (done_ || !eng_) return;
    if (again_after(r)) return ask_stat();
    auto s = expect<schema::stat_reply>(std::move(r), "stat");
    if (!s) return finish_with(std::move(s).error());
    take_meta(std::move(s->file), first_size_);
  }

  // Checks the metadata a server gave against the file's `size` from the
  // first range (if known), then tells it and goes on with the ranges.
  void take_meta(file_meta m, std::optional<uint64_t> size) {
    auto lower = schema::normalize_sha256_hex(m.sha256);
    if (m.id != id_ || !lower || (size && m.size != *size))
      return finish_with(local_error(
          errc::internal, "the server gave the metadata of file " + m.id +
                              " (size " + std::to_string(m.size) +
                              ", sha256 '" + m.sha256.substr(0, 64) +
                              "') for file " + id_));
    m.sha256 = std::move(*lower);
    meta_ = std::move(m);
    if (h_.on_meta) h_.on_meta(*meta_);
    if (!done_ && eng_) ready_to_go();
  }

  void ready_to_go() {
    if (!meta_ || meta_untold_) return;
    if (range_ == 0) {
      if (eng_->chunk_max() == 0) return;  // the ping's reply will tell
      range_ = std::clamp<uint64_t>(eng_->chunk_max(), 1,
                                    eng_->opts().max_frame_bytes);
    }
    if (meta_->size == 0) return verify();
    eng_->mark_dirty(self());
  }

  void ask(range r) {
    std::weak_ptr<download_impl> weak = self();
    uint64_t gen = gen_;
    uint64_t key = next_key_++;
    in_flight_.emplace(key, r);
    eng_->call(schema::download_request{id_, r.offset, r.length}, {},
               detail::retry::report,
               [weak, gen, key](result<schema::reply_body> rep, size_t) {
                 auto me = weak.lock();
                 if (me && gen == me->gen_) me->on_range(key, std::move(rep));
               });
  }

  void on_range(uint64_t key, result<schema::reply_body> r) {
    if (done_ || !eng_) return;
    auto it = in_flight_.find(key);
    if (it == in_flight_.end()) return;
    range asked = it->second;
    in_flight_.erase(it);
    if (!r) {
      if (r.error().source != error_source::timeout &&
          r.error().source != error_source::handshake)
        return finish_with(std::move(r).error());
      // Every range in flight times out at about the same moment: that is
      // one stall, not one per range.
      auto now = clock::now();
      if (now >= quiet_until_) {
        ++stalls_;
        quiet_until_ = now + eng_->opts().timeout / 2;
      }
      if (stalls_ > eng_->opts().retries) {
        error why = std::move(r).error();
        why.message = "download stalled: " + why.message + " (tried " +
                      std::to_string(stalls_) + " times)";
        return finish_with(std::move(why));
      }
      owe(asked);
      eng_->mark_dirty(self());
      return;
    }
    if (auto* e = std::get_if<schema::error_reply>(&*r);
        e && e->code == errc::busy) {
      // Too many unread replies on the server's side: ask again later.
      owe(asked);
      // Until then, pump() asks for nothing.
      held_back_ = true;
      std::weak_ptr<download_impl> weak = self();
      eng_->after(first_busy_delay, [weak] {
        if (auto me = weak.lock(); me && !me->done_ && me->eng_) {
          me->held_back_ = false;
          me->eng_->mark_dirty(me);
        }
      });
      return;
    }
    stalls_ = 0;
    auto d = expect<schema::download_reply>(std::move(r), "download");
    if (!d) return finish_with(std::move(d).error());
    if (d->size != meta_->size || d->offset != asked.offset ||
        d->data.size() > asked.length || (d->data.empty() && asked.length > 0))
      return finish_with(local_error(
          errc::internal,
          "the server answered a read of " + std::to_string(asked.length) +
              " bytes at offset " + std::to_string(asked.offset) + " of file " +
              id_ + " (size " + std::to_string(meta_->size) + ") with " +
              std::to_string(d->data.size()) + " bytes at offset " +
              std::to_string(d->offset) + " of size " +
              std::to_string(d->size)));
    if (d->data.size() < asked.length) {
      // The server's ranges are smaller than ours: use its size from now on.
      range_ = d->data.size();
      owe({asked.offset + d->data.size(), asked.length - d->data.size()});
    }
    held_bytes_ += d->data.size();
    ready_.emplace(asked.offset, std::move(d->data));
    eng_->mark_dirty(self());
  }

  void owe(range r) {
    unsent_.push_back(r);
    std::sort(
        unsent_.begin(), unsent_.end(),
        [](const range& a, const range& b) { return a.offset < b.offset; });
  }

  // Hands on what is due, in order.
  void deliver() {
    while (!paused_ && !done_ && !ready_.empty() &&
           ready_.begin()->first == delivered_) {
      schema::buffer b = std::move(ready_.begin()->second);
      ready_.erase(ready_.begin());
      held_bytes_ -= b.size();
      hash_.update(b.data(), b.size());
      uint64_t at = delivered_;
      delivered_ += b.size();
      if (h_.on_data) h_.on_data(at, to_shared(b));
    }
    if (!done_ && meta_ && delivered_ == meta_->size && meta_->size > 0)
      verify();
  }

  void verify() {
    std::string digest = storage::to_hex(hash_.finish());
    if (digest != meta_->sha256)
      return finish_with(local_error(errc::checksum_mismatch,
                                     "file " + meta_->id + " has SHA-256 " +
                                         digest + " but its metadata says " +
                                         meta_->sha256));
    finish_with(*meta_);
  }

  void finish_with(result<file_meta> r) {
    if (done_) return;
    done_ = true;
    ++gen_;
    ready_.clear();
    held_bytes_ = 0;
    in_flight_.clear();
    auto keep = shared_from_this();
    if (eng_) eng_->retire(this);
    // Only on_done is taken: another handler may be running right now (one
    // that called abort() or cancel()); done_ keeps them from being called.
    if (h_.on_done) {
      auto fn = std::move(h_.on_done);
      h_.on_done = nullptr;
      fn(std::move(r));
    }
  }

  std::string id_;
  download_handlers h_;
  size_t depth_;
  std::optional<file_meta> meta_;
  bool meta_untold_;  // given by the caller, on_meta not called yet
  uint64_t range_ = 0;
  std::optional<uint64_t> first_size_;  // the size the first range told
  storage::sha256 hash_;
  uint64_t delivered_ = 0;
  uint64_t next_offset_ = 0;
  uint64_t held_bytes_ = 0;
  uint64_t next_key_ = 0;
  uint64_t gen_ = 0;
  std::map<uint64_t, range> in_flight_;       // key -> range
  std::vector<range> unsent_;                 // owed, to ask (again)
  std::map<uint64_t, schema::buffer> ready_;  // offset -> bytes
  unsigned stalls_ = 0;
  clock::time_point quiet_until_{};  // timeouts until then: the same stall
  bool paused_ = false;
  bool held_back_ = false;
  bool done_ = false;
};

}  // namespace

// --- async_connection --------------------------------------------------------

struct async_connection::impl : engine {
  using engine::engine;
};

async_connection::async_connection(std::unique_ptr<impl> p)
    : impl_(std::move(p)) {}
async_connection::~async_connection() = default;

result<std::unique_ptr<async_connection>> async_connection::open(options opts) {
  auto chs = detail::make_zmq_channels(opts);
  if (!chs) return std::move(chs).error();
  return open(std::move(opts), std::move(*chs));
}

result<std::unique_ptr<async_connection>> async_connection::open(
    options opts, std::vector<std::unique_ptr<detail::channel>> chs) {
  if (auto bad = detail::check_options(opts, chs.size()); !bad)
    return std::move(bad).error();
  auto p = std::make_unique<impl>(std::move(opts), std::move(chs));
  if (auto opened = p->open_all(); !opened) return std::move(opened).error();
  return std::unique_ptr<async_connection>{new async_connection{std::move(p)}};
}

int async_connection::fd() const { return impl_->fd(); }

std::optional<std::chrono::milliseconds> async_connection::next_timeout()
    const {
  return impl_->next_timeout();
}

void async_connection::process() { impl_->process(); }

bool async_connection::run_once(std::chrono::milliseconds max_wait) {
  return impl_->run_once(max_wait);
}

size_t async_connection::pending() const { return impl_->pending(); }

const options& async_connection::settings() const { return impl_->opts(); }

void async_connection::ping(std::function<void(result<server_info>)> done) {
  auto start = clock::now();
  engine* eng = impl_.get();
  eng->call(
      schema::ping_request{}, {}, detail::retry::try_elsewhere,
      [eng, start, done = std::move(done)](result<schema::reply_body> r,
                                           size_t server) {
        auto p = expect<schema::ping_reply>(std::move(r), "ping");
        if (!p) return done(std::move(p).error());
        eng->set_chunk_max(p->chunk_max);
        done(server_info{p->version, std::move(p->server), p->chunk_max,
                         std::chrono::duration_cast<std::chrono::microseconds>(
                             clock::now() - start),
                         eng->endpoint(server)});
      });
}

void async_connection::stat(std::string_view id,
                            std::function<void(result<file_meta>)> done) {
  if (auto ok = check_id(id); !ok) return done(std::move(ok).error());
  impl_->call(schema::stat_request{std::string{id}}, {},
              detail::retry::try_elsewhere,
              [done = std::move(done)](result<schema::reply_body> r, size_t) {
                auto s = expect<schema::stat_reply>(std::move(r), "stat");
                if (!s) return done(std::move(s).error());
                done(std::move(s->file));
              });
}

void async_connection::remove(std::string_view id,
                              std::function<void(result<uint64_t>)> done) {
  if (auto ok = check_id(id); !ok) return done(std::move(ok).error());
  impl_->call(schema::delete_request{std::string{id}}, {},
              detail::retry::report,
              [done = std::move(done)](result<schema::reply_body> r, size_t) {
                auto d = expect<schema::delete_reply>(std::move(r), "delete");
                if (!d) return done(std::move(d).error());
                done(d->refs);
              });
}

void async_connection::list_page(std::optional<std::string> after,
                                 uint64_t limit,
                                 std::function<void(result<page>)> done) {
  if (limit < 1 || limit > schema::max_list_limit)
    return done(local_error(
        errc::bad_request,
        "list limit " + std::to_string(limit) + " is not between 1 and 1000"));
  if (after) {
    if (auto ok = check_id(*after); !ok) return done(std::move(ok).error());
  }
  impl_->call(schema::list_request{std::move(after), limit}, {},
              detail::retry::try_elsewhere,
              [done = std::move(done)](result<schema::reply_body> r, size_t) {
                auto l = expect<schema::list_reply>(std::move(r), "list");
                if (!l) return done(std::move(l).error());
                done(page{std::move(l->files), std::move(l->next)});
              });
}

std::shared_ptr<upload_stream> async_connection::begin_upload(
    upload_spec spec, upload_handlers handlers) {
  auto up = std::make_shared<upload_impl>(impl_.get(), std::move(spec),
                                          std::move(handlers));
  impl_->adopt(up);
  up->start();
  return up;
}

std::shared_ptr<download_stream> async_connection::download(
    std::string_view id, download_handlers handlers) {
  auto d = std::make_shared<download_impl>(impl_.get(), std::string{id},
                                           std::move(handlers), std::nullopt);
  impl_->adopt(d);
  d->start();
  return d;
}

std::shared_ptr<download_stream> async_connection::download(
    const file_meta& known, download_handlers handlers) {
  auto d = std::make_shared<download_impl>(impl_.get(), known.id,
                                           std::move(handlers), known);
  impl_->adopt(d);
  d->start();
  return d;
}

detail::engine& detail_engine(async_connection& c) { return *c.impl_; }

}  // namespace depot::client
