#include "actors/assembler.hpp"

#include "actors/context.hpp"
#include "actors/hasher.hpp"
#include "logging/log.hpp"
#include "schema/validate.hpp"
#include "transport/log_fields.hpp"
#include "transport/rate_limited_log.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>

namespace depot::actors {

using schema::errc;
using server::acked_total;
using server::finished_upload;

namespace {

/// A chunk taken but not yet acknowledged.
struct pending_chunk {
  uint64_t seq = 0;
  uint64_t received_after = 0;  // the running total its ack reports
  uint64_t bytes = 0;
  int waiting = 0;  // hasher and/or writer still busy with it
  bool last = false;
  bool streamed = false;           // went to the writer (not held in RAM)
  std::vector<requester> waiters;  // the chunk's sender, plus retries of it
};

// done: finished, its record in ctx->uploads answers for it; gone: the
// token is withdrawn. Either way the actor answers what is already in its
// mailbox (as the table would) and then ends: requests sent after the
// table changed do not reach it.
enum class phase { receiving, finishing, done, gone };

// A one-chunk upload up to this size is hashed by its assembler (a fraction
// of a millisecond): most chat files are small, and for them a hasher actor
// would cost more in spawning and messages than the hashing itself.
constexpr uint64_t hash_here_max = 64 * 1024;

}  // namespace

struct assembler_state {
  static inline const char* name = "depot.assembler";

  context_ptr ctx;
  std::string token;
  schema::upload_request decl;
  uint64_t reservation = 0;
  std::shared_ptr<const void> client_hold;  // its place in client_uploads
  hasher_actor hasher;
  disk_writer_actor writer;
  staging_ptr staging = std::make_shared<staging_slot>();

  phase now = phase::receiving;
  uint64_t next = 0;       // next expected seq
  uint64_t received = 0;   // bytes taken
  uint64_t held = 0;       // bytes this upload holds in RAM
  bool streaming = false;  // past ram_threshold: bytes go to staging
  std::vector<schema::buffer> ram;
  size_t flushes = 0;  // RAM parts on their way to the writer
  std::deque<pending_chunk> pending;
  std::deque<std::pair<uint64_t, uint64_t>> acked;  // recent (seq, received)
  caf::error failure;                    // sticky: the writer or hasher failed
  std::optional<content_digest> digest;  // of a one-chunk upload, hashed here

  uint64_t last_seq = 0;
  std::shared_ptr<const finished_upload> record;  // once done
  caf::actor_clock::time_point last_request;
  bool finish_started = false;
  caf::actor_addr self_addr;
  transport::peer peer;  // the latest requester, named in log lines
  std::chrono::steady_clock::time_point started;

  // Ending for any reason (shutdown included) gives the budget back and
  // removes the token. The state dies with the actor (CAF destroys it
  // before running attached functors, so this cannot be one of those).
  ~assembler_state() {
    if (!ctx) return;
    if (reservation > 0) ctx->budget->release(reservation);
    ctx->uploads->withdraw(token, self_addr);
  }
};

namespace {

// Sent to itself once it has its final answer: what was in its mailbox
// before is answered first, then it ends.
using leave_atom = caf::atom_constant<caf::atom("leave")>;

using assembler_impl_actor =
    assembler_actor::extend<caf::reacts_to<leave_atom>>;

using self_ptr = assembler_impl_actor::stateful_pointer<assembler_state>;

void send_reply(self_ptr self, const requester& o, schema::reply_body body) {
  actors::send_reply(*self->state.ctx, o, std::move(body));
}

void send_error(self_ptr self, const requester& o, errc code, std::string text,
                std::optional<uint64_t> next = std::nullopt) {
  send_reply(self, o, schema::error_reply{code, std::move(text), next});
}

// Log lines name whoever sent the latest request: a resumed upload may come
// from another connection than the one that began it.
void note_peer(assembler_state& st, const transport::peer& p) {
  if (st.peer.routing_id != p.routing_id || st.peer.user != p.user) st.peer = p;
}

std::chrono::steady_clock::duration elapsed(const assembler_state& st) {
  return std::chrono::steady_clock::now() - st.started;
}

// A client's mistake ends its upload at info; the server's own failure
// (storage, naming, internal) at warn.
spdlog::level::level_enum failure_level(errc code) {
  switch (code) {
    case errc::checksum_mismatch:
    case errc::size_mismatch:
    case errc::too_large:
    case errc::bad_request:
      return spdlog::level::info;
    default:
      return spdlog::level::warn;
  }
}

void log_failed(const assembler_state& st, errc code, std::string_view text) {
  auto level = failure_level(code);
  if (!log::enabled(level)) return;
  log::write(level, "upload failed",
             {{"token", st.token},
              {"code", schema::to_string(code)},
              {"error", text},
              {"bytes", st.received},
              {"duration_ms", elapsed(st)},
              transport::peer_field(st.peer),
              transport::key_field(st.peer)});
}

// `reason`: client (an abort request) or idle (--idle-timeout).
void log_aborted(const assembler_state& st, std::string_view reason) {
  log::info("upload aborted", {{"token", st.token},
                               {"reason", reason},
                               {"bytes", st.received},
                               {"duration_ms", elapsed(st)},
                               transport::peer_field(st.peer),
                               transport::key_field(st.peer)});
}

// Gives the memory back and stops the hasher.
void release(self_ptr self) {
  auto& st = self->state;
  if (st.reservation > 0) {
    st.ctx->budget->release(st.reservation);
    st.reservation = 0;
  }
  st.client_hold.reset();
  st.ram.clear();
  st.staging.reset();  // the staging file goes once the writer lets go
  if (st.hasher) {
    self->unlink_from(st.hasher);
    self->send_exit(st.hasher, caf::exit_reason::user_shutdown);
    st.hasher = hasher_actor{};
  }
}

// Ends the actor once what is in its mailbox now has been answered.
void drain(self_ptr self, phase p) {
  self->state.now = p;
  self->send(self, leave_atom::value);
}

// Withdraws the token; what is still in the mailbox gets unknown_upload.
// Before any final reply, so a client that hears it can begin anew.
void leave(self_ptr self) {
  auto& st = self->state;
  release(self);
  st.ctx->uploads->withdraw(st.token, self->address());
  drain(self, phase::gone);
}

// The upload cannot go on: every chunk still waiting gets `code`.
void discard(self_ptr self, errc code, const std::string& text) {
  auto& st = self->state;
  auto pending = std::move(st.pending);
  st.pending.clear();
  leave(self);
  for (auto& p : pending)
    for (auto& w : p.waiters) send_error(self, w, code, text);
}

void remember_ack(assembler_state& st, uint64_t seq, uint64_t received) {
  st.acked.emplace_back(seq, received);
  while (st.acked.size() > 2 * st.ctx->lim.window + 2) st.acked.pop_front();
}

// The upload has its final answer: from now on a record in ctx->uploads
// gives it (docs/protocol.md: for completion_linger), and the actor ends.
void complete(self_ptr self, schema::reply_body body) {
  auto& st = self->state;
  release(self);
  auto record = std::make_shared<finished_upload>();
  record->last_seq = st.last_seq;
  record->received = st.received;
  record->completion = std::move(body);
  record->acked.assign(st.acked.begin(), st.acked.end());
  st.record = record;
  // Before any final reply, so a client that hears it can begin anew.
  st.ctx->uploads->finish(st.token, self->address(), record);
  // On success only the last chunk is still pending; on a failure, chunks
  // before it may be too, and they share its fate.
  for (auto& p : st.pending)
    for (auto& w : p.waiters) send_reply(self, w, record->completion);
  st.pending.clear();
  drain(self, phase::done);
}

void fail_completion(self_ptr self, errc code, std::string text) {
  log_failed(self->state, code, text);
  complete(self, schema::error_reply{code, std::move(text), std::nullopt});
}

// Every byte is in and hashed: check the digest, then commit.
void commit(self_ptr self, content_digest& content) {
  auto& st = self->state;
  auto hex = storage::to_hex(content.sha256);
  if (st.decl.sha256 && *st.decl.sha256 != hex) {
    fail_completion(
        self, errc::checksum_mismatch,
        "declared sha256 " + *st.decl.sha256 + " but the content's is " + hex);
    return;
  }
  commit_order order;
  order.staging = st.staging;
  order.ram.parts = std::move(st.ram);
  order.info.name = st.decl.name;
  order.info.sha256 = content.sha256;
  order.info.mime = std::move(content.mime);
  order.info.created_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  // Uploads held in RAM share the first committer, whose group commits grow
  // with the load (one barrier for all of a batch); streamed ones take the
  // others, so that a big file's flush never holds the small ones back.
  auto& committers = st.ctx->committers;
  size_t lane = 0;
  if (st.streaming && committers.size() > 1)
    lane = 1 + std::hash<std::string>{}(st.token) % (committers.size() - 1);
  auto committer = committers[lane];
  self->request(committer, caf::infinite, commit_atom::value, std::move(order))
      .then(
          [self](storage::commit_result& r) {
            auto& st = self->state;
            log::info("upload stored", {{"id", r.file.id},
                                        {"token", st.token},
                                        {"bytes", st.received},
                                        {"dedup", r.dedup},
                                        {"duration_ms", elapsed(st)},
                                        transport::peer_field(st.peer),
                                        transport::key_field(st.peer)});
            complete(self,
                     schema::chunk_done_reply{st.token, st.last_seq,
                                              std::move(r.file), r.dedup});
          },
          [self](caf::error& err) {
            fail_completion(self, schema::code_of(err),
                            schema::message_of(err));
          });
}

// The last chunk is in and every byte is hashed and placed: check sizes,
// get the digest, commit.
void finish(self_ptr self) {
  auto& st = self->state;
  if (st.failure) {
    fail_completion(self, schema::code_of(st.failure),
                    schema::message_of(st.failure));
    return;
  }
  if (st.decl.size && *st.decl.size != st.received) {
    fail_completion(self, errc::size_mismatch,
                    "declared size " + std::to_string(*st.decl.size) +
                        " but received " + std::to_string(st.received) +
                        " bytes");
    return;
  }
  if (st.digest) {
    auto content = std::move(*st.digest);
    st.digest.reset();
    commit(self, content);
    return;
  }
  self->request(st.hasher, caf::infinite, digest_atom::value)
      .then([self](content_digest& content) { commit(self, content); },
            [self](caf::error& err) {
              fail_completion(self, errc::internal, schema::message_of(err));
            });
}

// Acknowledges, in order, the chunks that are fully taken care of.
void advance(self_ptr self) {
  auto& st = self->state;
  while (!st.pending.empty() && st.pending.front().waiting == 0) {
    auto& p = st.pending.front();
    if (p.last) {
      if (st.flushes == 0 && !st.finish_started) {
        st.finish_started = true;
        finish(self);
      }
      return;
    }
    for (auto& w : p.waiters)
      send_reply(self, w,
                 schema::chunk_reply{st.token, p.seq, p.received_after});
    remember_ack(st, p.seq, p.received_after);
    if (p.streamed) st.held -= p.bytes;
    st.pending.pop_front();
  }
}

pending_chunk* find_pending(assembler_state& st, uint64_t seq) {
  for (auto& p : st.pending)
    if (p.seq == seq) return &p;
  return nullptr;
}

void step_done(self_ptr self, uint64_t seq) {
  if (auto* p = find_pending(self->state, seq)) {
    --p->waiting;
    advance(self);
  }
}

void step_failed(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  if (st.now == phase::done || st.now == phase::gone) return;
  // Nothing of this upload can be stored any more. Once its last chunk is
  // in, the failure is its completion, answered to retries like a success.
  if (st.now == phase::finishing) {
    fail_completion(self, schema::code_of(err), schema::message_of(err));
  } else {
    log_failed(st, schema::code_of(err), schema::message_of(err));
    discard(self, schema::code_of(err), schema::message_of(err));
  }
}

void write(self_ptr self, const schema::buffer& b,
           std::optional<uint64_t> seq) {
  auto& st = self->state;
  self->request(st.writer, caf::infinite, write_atom::value, st.staging, b)
      .then(
          [self, seq, n = b.size()](ok_atom) {
            auto& st = self->state;
            if (seq) {
              step_done(self, *seq);
            } else {  // a RAM part flushed at the switch to streaming
              st.held -= n;
              --st.flushes;
              advance(self);
            }
          },
          [self](caf::error& err) { step_failed(self, err); });
}

void take(self_ptr self, const requester& o, schema::chunk_request& c) {
  auto& st = self->state;
  auto& lim = st.ctx->lim;
  uint64_t n = c.data.size();
  if (n > lim.chunk_max) {
    send_error(self, o, errc::too_large,
               "chunk of " + std::to_string(n) + " bytes is over chunk_max " +
                   std::to_string(lim.chunk_max));
    return;
  }
  if (st.received + n > lim.max_file_size ||
      (st.decl.size && st.received + n > *st.decl.size)) {
    std::string why =
        st.decl.size && st.received + n > *st.decl.size
            ? "more bytes than the declared size; upload discarded"
            : "over the server's file-size limit; upload discarded";
    log_failed(st, errc::too_large, why);
    send_error(self, o, errc::too_large, std::move(why));
    discard(self, errc::too_large, "upload discarded");
    return;
  }
  if (st.held + n > st.reservation) {
    transport::log_limited(spdlog::level::info, "busy: window",
                           "a client sent chunks past its window",
                           {{"token", st.token},
                            transport::peer_field(o.peer),
                            transport::key_field(o.peer)});
    count_busy(*st.ctx, metrics::busy_cause::window);
    send_error(
        self, o, errc::busy,
        "too many chunks in flight for this upload; keep within the window");
    return;
  }
  ++st.next;
  st.received += n;
  st.held += n;
  pending_chunk p;
  p.seq = c.seq;
  p.received_after = st.received;
  p.bytes = n;
  p.last = c.last;
  p.waiters.push_back(o);
  p.waiting = 1;
  if (!st.streaming && st.received > lim.ram_threshold) {
    // Too big for RAM: what RAM holds goes to a staging file, and so does
    // everything after it.
    st.streaming = true;
    for (auto& part : st.ram) {
      ++st.flushes;
      write(self, part, std::nullopt);
    }
    st.ram.clear();
  }
  if (st.streaming) {
    ++p.waiting;
    p.streamed = true;
    write(self, c.data, c.seq);
  } else {
    st.ram.push_back(c.data);
  }
  if (c.last) {
    st.now = phase::finishing;
    st.last_seq = c.seq;
  }
  uint64_t seq = c.seq;
  st.pending.push_back(std::move(p));
  if (!st.hasher && c.last &&
      n <= hash_here_max) {  // the first chunk is the last
    content_hasher h{st.decl.mime.value_or("")};
    h.update(c.data);
    st.digest = h.finish();
    step_done(self, seq);
    return;
  }
  if (!st.hasher)
    st.hasher = self->spawn<caf::linked>(hasher, st.ctx, st.token,
                                         st.decl.mime.value_or(""));
  self->request(st.hasher, caf::infinite, hash_atom::value, std::move(c.data))
      .then([self, seq](ok_atom) { step_done(self, seq); },
            [self](caf::error& err) { step_failed(self, err); });
}

void on_chunk(self_ptr self, const requester& o, schema::chunk_request& c) {
  auto& st = self->state;
  st.last_request = self->clock().now();
  note_peer(st, o.peer);
  if (st.now == phase::gone) {
    send_error(self, o, errc::unknown_upload, "no upload " + st.token);
    return;
  }
  if (st.now == phase::done) {
    send_reply(self, o, st.record->chunk_reply(st.token, c.seq));
    return;
  }
  if (c.seq < st.next) {  // a retry: acknowledged again, not applied twice
    if (auto* p = find_pending(st, c.seq)) {
      p->waiters.push_back(o);
      return;
    }
    send_reply(self, o,
               schema::chunk_reply{st.token, c.seq,
                                   acked_total(st.acked, c.seq, st.received)});
    return;
  }
  if (c.seq > st.next || st.now != phase::receiving) {
    send_error(self, o, errc::out_of_order,
               "expected chunk " + std::to_string(st.next), st.next);
    return;
  }
  take(self, o, c);
}

assembler_impl_actor::behavior_type assembler(self_ptr self, context_ptr ctx,
                                              std::string token,
                                              schema::upload_request decl,
                                              uint64_t reservation,
                                              std::shared_ptr<const void> hold,
                                              transport::peer began_by) {
  auto& st = self->state;
  st.peer = std::move(began_by);
  st.started = std::chrono::steady_clock::now();
  st.client_hold = std::move(hold);
  st.ctx = ctx;
  st.token = std::move(token);
  st.decl = std::move(decl);
  st.reservation = reservation;
  st.writer =
      ctx->writers[std::hash<std::string>{}(st.token) % ctx->writers.size()];
  st.last_request = self->clock().now();
  self->set_default_handler(
      unexpected_message_handler(ctx, "assembler of upload " + st.token));
  st.self_addr = self->address();
  return {
      [self](chunk_atom, const requester& o, schema::chunk_request& c) {
        on_chunk(self, o, c);
      },
      [self](status_atom, const requester& o) {
        auto& st = self->state;
        st.last_request = self->clock().now();
        note_peer(st, o.peer);
        if (st.now == phase::gone)
          return send_error(self, o, errc::unknown_upload,
                            "no upload " + st.token);
        if (st.now == phase::done)
          return send_reply(self, o, st.record->status_reply(st.token));
        send_reply(self, o,
                   schema::upload_status_reply{st.token, st.next, st.received,
                                               std::nullopt});
      },
      [self](abort_atom, const requester& o) {
        auto& st = self->state;
        st.last_request = self->clock().now();
        if (st.now == phase::gone)
          return send_error(self, o, errc::unknown_upload,
                            "no upload " + st.token);
        // A commit already under way finishes: the file then stays, as it
        // does for an abort after completion.
        if (st.now == phase::receiving) {
          note_peer(st, o.peer);
          log_aborted(st, "client");
          discard(self, errc::unknown_upload, "upload aborted");
        }
        send_reply(self, o, schema::abort_reply{});
      },
      [self](leave_atom) { self->quit(caf::exit_reason::normal); },
      [self](tick_atom) {  // the janitor found no request for the idle timeout
        auto& st = self->state;
        // Only an upload still receiving can be idle: once the last chunk
        // is in, the store is working on it.
        if (st.now != phase::receiving) return;
        if (self->clock().now() - st.last_request < st.ctx->lim.idle_timeout)
          return;
        log_aborted(st, "idle");
        discard(self, errc::unknown_upload, "upload expired");
      },
  };
}

}  // namespace

assembler_actor spawn_assembler(caf::actor_system& sys, context_ptr ctx,
                                std::string token, schema::upload_request decl,
                                uint64_t reservation,
                                std::shared_ptr<const void> client_hold,
                                transport::peer began_by) {
  return sys.spawn(assembler, std::move(ctx), std::move(token), std::move(decl),
                   reservation, std::move(client_hold), std::move(began_by));
}

}  // namespace depot::actors
