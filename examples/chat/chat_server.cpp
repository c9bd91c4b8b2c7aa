// chat_server: a chat relay on depot. Chat clients talk to its ROUTER
// socket (wire format: chat_wire.hpp); files they send are streamed into
// depot as they arrive and streamed back out of it, range by range, to the
// receivers who fetch them, over ONE depot::client::async_connection. One
// thread, one event loop (zmq_poll over the ROUTER, the depot connection's
// fd() and a signalfd).
//
//   chat_server [--listen EP] [--depot EP] [--depot-timeout S]
//               [--idle-timeout S]
//
// What it holds: per upload at most chat::upload_credit pieces depot has not
// taken (plus depot's window inside the depot connection), per fetch at
// most one range the receiver has no credit for (plus the download's
// depth × chunk_max). Users, rooms and messages waiting for offline users
// live in memory only: an example, not a product.
//
// Files and references: each upload adds one depot reference (the same
// content sent twice is stored once, with two references). Forwarding a
// file a user has received (or sent) sends only its id: no upload, no new
// reference; forwards share the file with the original message. A chat
// that lets senders delete their messages, and with them the reference,
// would have to keep its own count of the messages naming an id (or upload
// again on forward) before calling remove(); this example never deletes.

#include "chat_wire.hpp"

#include <zmq.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <depot/client/async.hpp>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <sys/signalfd.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace {

namespace dc = depot::client;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct server_options {
  std::string listen = "tcp://127.0.0.1:5580";
  std::string depot = dc::default_endpoint;
  std::chrono::milliseconds depot_timeout = 10s;
  std::chrono::milliseconds idle_timeout = 120s;
};

// Limits that keep one client from taking the server's memory.
constexpr size_t max_transfers_per_session = 16;
constexpr size_t max_waiting_messages = 1000;
constexpr size_t max_text = 64 << 10;
constexpr uint64_t max_fetch_credit = 64;

// A frame that shares `bytes` (no copy): the last reference is dropped by
// ZeroMQ once the frame is sent, on its I/O thread.
zmq::message_t shared_frame(const dc::shared_bytes& bytes) {
  auto* keep = new dc::shared_bytes(bytes);
  return zmq::message_t(
      const_cast<std::byte*>(bytes.data()), bytes.size(),
      [](void*, void* hint) { delete static_cast<dc::shared_bytes*>(hint); },
      keep);
}

// A received frame as upload bytes (no copy): the frame is kept alive by
// the bytes' owner until depot has acknowledged them.
dc::shared_bytes bytes_of(zmq::message_t&& frame) {
  auto owner = std::make_shared<zmq::message_t>(std::move(frame));
  auto* data = static_cast<const std::byte*>(owner->data());
  size_t size = owner->size();
  return dc::shared_bytes(std::move(owner), data, size);
}

class chat_server {
 public:
  chat_server(server_options opts, std::unique_ptr<dc::async_connection> depot)
      : opts_(std::move(opts)),
        router_(ctx_, zmq::socket_type::router),
        depot_(std::move(depot)) {
    router_.set(zmq::sockopt::router_mandatory, 1);
    router_.set(zmq::sockopt::linger, 0);
    router_.set(zmq::sockopt::maxmsgsize,
                static_cast<int64_t>(chat::max_frame));
    router_.set(zmq::sockopt::sndhwm, 10000);
    router_.bind(opts_.listen);
  }

  std::string endpoint() { return router_.get(zmq::sockopt::last_endpoint); }

  // Runs until SIGTERM or SIGINT (blocked by main and read from `sigfd`).
  void run(int sigfd) {
    auto next_sweep = clock_type::now() + 1s;
    for (;;) {
      zmq::pollitem_t items[] = {
          {router_.handle(), 0, ZMQ_POLLIN, 0},
          {nullptr, depot_->fd(), ZMQ_POLLIN, 0},
          {nullptr, sigfd, ZMQ_POLLIN, 0},
      };
      auto wait = std::chrono::milliseconds(1000);
      if (auto t = depot_->next_timeout()) wait = std::min(wait, *t);
      zmq::poll(items, 3, wait);
      if (items[2].revents & ZMQ_POLLIN) break;
      // At most this many client messages per turn, so that depot's
      // replies (which free room for them) are never starved.
      chat::frames msg;
      zmq::message_t identity;
      for (int i = 0; i < 1000 && chat::receive(router_, msg, &identity); ++i)
        handle(identity.to_string(), msg);
      depot_->process();
      if (clock_type::now() >= next_sweep) {
        sweep_idle();
        next_sweep = clock_type::now() + 1s;
      }
    }
    std::cerr << "chat_server: stopping\n";
    // Uploads not finished are dropped on depot's side too.
    std::vector<std::shared_ptr<upload>> ups;
    for (auto& [key, u] : uploads_) ups.push_back(u);
    for (auto& u : ups) u->stream->abort();
    depot_->process();
  }

 private:
  // A file coming in from a chat client and going out to depot.
  struct upload {
    std::string identity, user, target;
    uint64_t xfer = 0;
    std::shared_ptr<dc::upload_stream> stream;
    std::deque<dc::shared_bytes> queue;  // received, not yet taken by depot
    uint64_t credit_out = 0;             // pieces the client may still send
    bool end_received = false;
    clock_type::time_point last_activity = clock_type::now();
    // Logged at the end, to show the flow control at work.
    uint64_t pieces = 0, most_held = 0, window_full = 0;
  };
  // A file going out of depot to a chat client.
  struct fetch {
    std::string identity, user, id;
    uint64_t xfer = 0;
    std::shared_ptr<dc::download_stream> stream;
    std::deque<std::pair<uint64_t, dc::shared_bytes>> queue;  // no credit yet
    uint64_t credit = 0;
    bool depot_done = false;
    clock_type::time_point last_activity = clock_type::now();
    uint64_t ranges = 0, most_held = 0, pauses = 0;  // logged at the end
  };
  using transfer_key = std::pair<std::string, uint64_t>;  // identity, xfer

  struct user_state {
    std::optional<std::string> identity;  // set while online
    std::deque<std::vector<std::string>> waiting;
    std::set<std::string> known_ids;  // files sent to or by this user
  };

  // --- sending -----------------------------------------------------------

  // Sends `frames` to `identity`; false if the peer is gone or its queue
  // is full (ROUTER_MANDATORY, never blocking).
  bool send(const std::string& identity, std::vector<zmq::message_t> frames) {
    try {
      if (!router_.send(zmq::buffer(identity),
                        zmq::send_flags::sndmore | zmq::send_flags::dontwait))
        return false;
      for (size_t i = 0; i < frames.size(); ++i)
        router_.send(frames[i], i + 1 < frames.size() ? zmq::send_flags::sndmore
                                                      : zmq::send_flags::none);
      return true;
    } catch (const zmq::error_t&) {
      return false;  // EHOSTUNREACH: the client went away
    }
  }

  bool send_fields(const std::string& identity,
                   const std::vector<std::string>& fields) {
    std::vector<zmq::message_t> frames;
    for (auto& f : fields) frames.push_back(chat::text_frame(f));
    return send(identity, std::move(frames));
  }

  void reply_error(const std::string& identity, std::string_view verb,
                   std::string_view key, std::string_view message) {
    send_fields(identity, {"error", std::string(verb), std::string(key),
                           std::string(message)});
  }

  // Delivers `fields` (a msg or file message) to `user` now if online, else
  // when they next log in.
  void deliver(const std::string& user, std::vector<std::string> fields) {
    user_state& u = users_[user];
    if (fields[0] == "file") u.known_ids.insert(fields[6]);
    if (u.identity) {
      if (send_fields(*u.identity, fields)) return;
      go_offline(user);  // gone, or not reading: it waits like the rest
    }
    if (u.waiting.size() >= max_waiting_messages) {
      std::cerr << "chat_server: " << user
                << " has too many waiting messages; one dropped\n";
      return;
    }
    u.waiting.push_back(std::move(fields));
  }

  // Delivers to a user or to every member of a room but the sender.
  void deliver_to_target(const std::string& from, const std::string& target,
                         const std::vector<std::string>& fields) {
    if (target[0] != '#') {
      deliver(target, fields);
      return;
    }
    auto room = rooms_.find(target.substr(1));
    if (room == rooms_.end()) return;
    for (const auto& member : room->second)
      if (member != from) deliver(member, fields);
  }

  // --- sessions ------------------------------------------------------------

  // Ends the session of `user` (gone, replaced or logged out): its
  // transfers are dropped; its messages wait from now on.
  void go_offline(const std::string& user) {
    user_state& u = users_[user];
    if (!u.identity) return;
    std::string identity = *u.identity;
    u.identity.reset();
    sessions_.erase(identity);
    drop_transfers(identity);
  }

  void drop_transfers(const std::string& identity) {
    std::vector<std::shared_ptr<upload>> ups;
    for (auto& [key, up] : uploads_)
      if (key.first == identity) ups.push_back(up);
    for (auto& up : ups) up->stream->abort();  // on_done erases it
    std::vector<std::shared_ptr<fetch>> fs;
    for (auto& [key, f] : fetches_)
      if (key.first == identity) fs.push_back(f);
    for (auto& f : fs) f->stream->cancel();
  }

  size_t transfers_of(const std::string& identity) const {
    size_t n = 0;
    for (auto& [key, up] : uploads_) n += key.first == identity;
    for (auto& [key, f] : fetches_) n += key.first == identity;
    return n;
  }

  // --- client messages ------------------------------------------------------

  void handle(const std::string& identity, chat::frames& m) {
    std::string verb(chat::field(m, 0));
    if (m.empty() || m.size() > chat::max_frames) {
      reply_error(identity, verb, "", "a message has 1 to 8 frames");
      return;
    }
    if (verb == "login") return login(identity, m);
    auto s = sessions_.find(identity);
    if (s == sessions_.end()) {
      reply_error(identity, verb, "", "not logged in");
      return;
    }
    const std::string user = s->second;
    if (verb == "join" && m.size() == 2) return join(identity, user, m);
    if (verb == "text" && m.size() == 3) return text(identity, user, m);
    if (verb == "file_begin" && m.size() == 6)
      return file_begin(identity, user, m);
    if (verb == "file_chunk" && m.size() == 3) return file_chunk(identity, m);
    if (verb == "file_end" && m.size() == 2) return file_end(identity, m);
    if (verb == "forward" && m.size() == 3) return forward(identity, user, m);
    if (verb == "fetch" && m.size() == 4) return start_fetch(identity, user, m);
    if (verb == "credit" && m.size() == 3) return credit(identity, m);
    if (verb == "cancel" && m.size() == 2) return cancel(identity, m);
    if (verb == "logout" && m.size() == 1) {
      go_offline(user);
      send_fields(identity, {"ok", "logout", user});
      return;
    }
    reply_error(identity, verb, "", "unknown command or wrong field count");
  }

  void login(const std::string& identity, const chat::frames& m) {
    std::string user(chat::field(m, 1));
    if (m.size() != 2 || !chat::valid_name(user)) {
      reply_error(identity, "login", "", "login USER (a valid name)");
      return;
    }
    if (auto s = sessions_.find(identity); s != sessions_.end())
      go_offline(s->second);  // this connection was someone else
    user_state& u = users_[user];
    if (u.identity) {
      reply_error(*u.identity, "login", user, "logged in elsewhere");
      go_offline(user);
    }
    u.identity = identity;
    sessions_[identity] = user;
    send_fields(identity, {"ok", "login", user});
    while (!u.waiting.empty() && u.identity) {
      if (!send_fields(identity, u.waiting.front())) {
        go_offline(user);
        return;
      }
      u.waiting.pop_front();
    }
  }

  void join(const std::string& identity, const std::string& user,
            const chat::frames& m) {
    std::string room(chat::field(m, 1));
    if (!chat::valid_name(room)) {
      reply_error(identity, "join", "", "not a valid room name");
      return;
    }
    rooms_[room].insert(user);
    send_fields(identity, {"ok", "join", room});
  }

  // Checks TARGET; for a room, that `user` is a member. An error names
  // `key` (the transfer's number for file_begin, else the target).
  bool check_target(const std::string& identity, const std::string& user,
                    std::string_view verb, const std::string& target,
                    std::string_view key) {
    if (!chat::valid_target(target)) {
      reply_error(identity, verb, key, "not a valid user or #room");
      return false;
    }
    if (target[0] == '#') {
      auto room = rooms_.find(target.substr(1));
      if (room == rooms_.end() || room->second.count(user) == 0) {
        reply_error(identity, verb, key, "not a member (join it first)");
        return false;
      }
    }
    return true;
  }

  void text(const std::string& identity, const std::string& user,
            const chat::frames& m) {
    std::string target(chat::field(m, 1));
    if (!check_target(identity, user, "text", target, target)) return;
    if (m[2].size() > max_text) {
      reply_error(identity, "text", target, "longer than 64 KiB");
      return;
    }
    deliver_to_target(user, target,
                      {"msg", user, target, std::string(chat::field(m, 2))});
    send_fields(identity, {"ok", "text", target});
  }

  void file_begin(const std::string& identity, const std::string& user,
                  const chat::frames& m) {
    auto xfer = chat::parse_number(chat::field(m, 1));
    std::string key = std::string(chat::field(m, 1));
    std::string target(chat::field(m, 2));
    if (!xfer) {
      reply_error(identity, "file_begin", key, "XFER is not a number");
      return;
    }
    if (!check_target(identity, user, "file_begin", target, key)) return;
    if (uploads_.count({identity, *xfer})) {
      reply_error(identity, "file_begin", key, "transfer number in use");
      return;
    }
    if (transfers_of(identity) >= max_transfers_per_session) {
      reply_error(identity, "file_begin", key, "too many transfers at once");
      return;
    }
    dc::upload_spec spec;
    spec.name = std::string(chat::field(m, 3));
    spec.mime = std::string(chat::field(m, 5));
    if (!chat::field(m, 4).empty()) {
      spec.size = chat::parse_number(chat::field(m, 4));
      if (!spec.size) {
        reply_error(identity, "file_begin", key, "SIZE is not a number");
        return;
      }
    }
    auto up = std::make_shared<upload>();
    up->identity = identity;
    up->user = user;
    up->target = target;
    up->xfer = *xfer;
    std::weak_ptr<upload> weak = up;
    dc::upload_handlers h;
    h.on_writable = [this, weak] {
      if (auto u = weak.lock()) pump(*u);
    };
    h.on_done = [this, weak](dc::result<dc::upload_result> r) {
      if (auto u = weak.lock()) upload_done(u, std::move(r));
    };
    uploads_[{identity, *xfer}] = up;
    up->stream = depot_->begin_upload(std::move(spec), std::move(h));
    if (up->stream->done()) return;  // refused locally: on_done replied
    // The first pieces may come at once; they wait here until depot has
    // begun the upload (on_writable).
    up->credit_out = chat::upload_credit;
    send_fields(identity, {"credit", key, std::to_string(chat::upload_credit)});
  }

  std::shared_ptr<upload> find_upload(const std::string& identity,
                                      std::string_view verb,
                                      std::string_view xfer_text) {
    auto xfer = chat::parse_number(xfer_text);
    auto it = xfer ? uploads_.find({identity, *xfer}) : uploads_.end();
    if (it == uploads_.end()) {
      reply_error(identity, verb, xfer_text, "no such upload");
      return nullptr;
    }
    return it->second;
  }

  void file_chunk(const std::string& identity, chat::frames& m) {
    auto up = find_upload(identity, "file_chunk", chat::field(m, 1));
    if (!up) return;
    if (up->credit_out == 0 || up->end_received ||
        m[2].size() > chat::max_chunk) {
      // Past its credit: the client ignores flow control; drop the upload
      // rather than hold what it sends.
      up->stream->abort();  // on_done reports it
      return;
    }
    --up->credit_out;
    up->last_activity = clock_type::now();
    up->queue.push_back(bytes_of(std::move(m[2])));
    ++up->pieces;
    up->most_held = std::max<uint64_t>(up->most_held, up->queue.size());
    pump(*up);
  }

  void file_end(const std::string& identity, const chat::frames& m) {
    auto up = find_upload(identity, "file_end", chat::field(m, 1));
    if (!up) return;
    up->end_received = true;
    up->credit_out = 0;
    pump(*up);
  }

  // Hands depot what it has room for; one credit back per piece taken.
  void pump(upload& up) {
    if (up.stream == nullptr || up.stream->done()) return;
    uint64_t granted = 0;
    while (!up.queue.empty()) {
      uint64_t room = up.stream->room();
      if (room == 0) {
        ++up.window_full;  // the sender waits for credit meanwhile
        break;
      }
      dc::shared_bytes& front = up.queue.front();
      if (front.size() <= room) {
        if (!up.stream->write(front)) break;
        up.queue.pop_front();
        ++granted;
      } else {
        // Larger than depot's window has room for: the part that fits
        // (a slice shares the frame, no copy).
        if (!up.stream->write(front.slice(0, room))) break;
        front = front.slice(room, front.size() - room);
      }
    }
    if (up.end_received) {
      if (up.queue.empty()) up.stream->finish();
      return;
    }
    if (granted > 0) {
      up.credit_out += granted;
      send_fields(up.identity,
                  {"credit", std::to_string(up.xfer), std::to_string(granted)});
    }
  }

  void upload_done(const std::shared_ptr<upload>& up,
                   dc::result<dc::upload_result> r) {
    uploads_.erase({up->identity, up->xfer});
    up->queue.clear();
    std::string key = std::to_string(up->xfer);
    if (!r) {
      reply_error(up->identity, "file", key, dc::to_string(r.error()));
      return;
    }
    const dc::file_meta& f = r->file;
    std::cerr << "chat_server: stored " << f.id << " (" << f.size
              << " bytes) from " << up->user << ": " << up->pieces
              << " pieces, at most " << up->most_held
              << " held, depot's window full " << up->window_full << " times"
              << std::endl;
    users_[up->user].known_ids.insert(f.id);
    files_[f.id] = f;
    send_fields(up->identity, {"stored", key, f.id, std::to_string(f.size),
                               r->dedup ? "1" : "0"});
    deliver_to_target(up->user, up->target,
                      {"file", up->user, up->target, f.name,
                       std::to_string(f.size), f.mime, f.id});
  }

  void forward(const std::string& identity, const std::string& user,
               const chat::frames& m) {
    std::string id(chat::field(m, 1));
    std::string target(chat::field(m, 2));
    if (!check_target(identity, user, "forward", target, target)) return;
    if (users_[user].known_ids.count(id) == 0) {
      reply_error(identity, "forward", id,
                  "no file with that id was sent "
                  "to or by you");
      return;
    }
    // Only the id travels on: stat gives what receivers are shown.
    depot_->stat(
        id, [this, identity, user, id, target](dc::result<dc::file_meta> r) {
          if (!r) {
            reply_error(identity, "forward", id, dc::to_string(r.error()));
            return;
          }
          files_[r->id] = *r;
          deliver_to_target(user, target,
                            {"file", user, target, r->name,
                             std::to_string(r->size), r->mime, r->id});
          send_fields(identity, {"ok", "forward", id});
        });
  }

  void start_fetch(const std::string& identity, const std::string& user,
                   const chat::frames& m) {
    std::string key(chat::field(m, 1));
    auto xfer = chat::parse_number(key);
    std::string id(chat::field(m, 2));
    auto initial = chat::parse_number(chat::field(m, 3));
    if (!xfer || !initial || *initial == 0 || *initial > max_fetch_credit) {
      reply_error(identity, "fetch", key,
                  "fetch XFER ID CREDIT (CREDIT 1 to 64)");
      return;
    }
    if (users_[user].known_ids.count(id) == 0) {
      reply_error(identity, "fetch", key,
                  "no file with that id was sent to or by you");
      return;
    }
    if (fetches_.count({identity, *xfer}) ||
        transfers_of(identity) >= max_transfers_per_session) {
      reply_error(identity, "fetch", key,
                  "transfer number in use or too many transfers");
      return;
    }
    auto f = std::make_shared<fetch>();
    f->identity = identity;
    f->user = user;
    f->id = id;
    f->xfer = *xfer;
    f->credit = *initial;
    std::weak_ptr<fetch> weak = f;
    dc::download_handlers h;
    h.on_meta = [this, weak](const dc::file_meta& meta) {
      auto f = weak.lock();
      if (!f) return;
      if (!send_fields(f->identity,
                       {"meta", std::to_string(f->xfer), meta.name,
                        std::to_string(meta.size), meta.mime, meta.sha256}))
        f->stream->cancel();
    };
    h.on_data = [this, weak](uint64_t offset, dc::shared_bytes bytes) {
      auto f = weak.lock();
      if (!f) return;
      f->queue.emplace_back(offset, std::move(bytes));
      ++f->ranges;
      f->most_held = std::max<uint64_t>(f->most_held, f->queue.size());
      drain(*f);
      // No credit: stop asking depot for more until the receiver grants.
      if (!f->queue.empty() && !f->stream->paused()) {
        f->stream->pause();
        ++f->pauses;
      }
    };
    h.on_done = [this, weak](dc::result<dc::file_meta> r) {
      auto f = weak.lock();
      if (!f) return;
      if (!r) {
        fetches_.erase({f->identity, f->xfer});
        reply_error(f->identity, "fetch", std::to_string(f->xfer),
                    dc::to_string(r.error()));
        return;
      }
      f->depot_done = true;
      drain(*f);
    };
    fetches_[{identity, *xfer}] = f;
    // With the metadata kept from the upload (or a forward's stat), the
    // ranges go out at once, checked against its SHA-256; by id, the first
    // range asks for the metadata too.
    auto known = files_.find(id);
    f->stream = known != files_.end()
                    ? depot_->download(known->second, std::move(h))
                    : depot_->download(id, std::move(h));
  }

  // Sends what the receiver has credit for; `fetched` once all went out.
  void drain(fetch& f) {
    while (f.credit > 0 && !f.queue.empty()) {
      auto& [offset, bytes] = f.queue.front();
      std::vector<zmq::message_t> frames;
      frames.push_back(chat::text_frame("data"));
      frames.push_back(chat::text_frame(std::to_string(f.xfer)));
      frames.push_back(chat::text_frame(std::to_string(offset)));
      frames.push_back(shared_frame(bytes));
      if (!send(f.identity, std::move(frames))) {
        f.stream->cancel();  // the receiver is gone; on_done erases it
        return;
      }
      f.queue.pop_front();
      --f.credit;
    }
    if (f.queue.empty() && f.depot_done) {
      std::cerr << "chat_server: fetch of " << f.id << " by " << f.user
                << " done: " << f.ranges << " ranges, at most " << f.most_held
                << " held, paused " << f.pauses << " times" << std::endl;
      send_fields(f.identity, {"fetched", std::to_string(f.xfer)});
      fetches_.erase({f.identity, f.xfer});
    }
  }

  void credit(const std::string& identity, const chat::frames& m) {
    auto xfer = chat::parse_number(chat::field(m, 1));
    auto n = chat::parse_number(chat::field(m, 2));
    auto it = xfer ? fetches_.find({identity, *xfer}) : fetches_.end();
    // Credit for a fetch that just ended crosses its `fetched`: ignored.
    if (it == fetches_.end() || !n) return;
    std::shared_ptr<fetch> f = it->second;
    f->credit = std::min(f->credit + *n, max_fetch_credit);
    f->last_activity = clock_type::now();
    drain(*f);
    if (f->queue.empty() && !f->depot_done && f->stream->paused())
      f->stream->resume();
  }

  void cancel(const std::string& identity, const chat::frames& m) {
    auto xfer = chat::parse_number(chat::field(m, 1));
    if (xfer) {
      if (auto u = uploads_.find({identity, *xfer}); u != uploads_.end()) {
        auto up = u->second;
        up->stream->abort();
        return;
      }
      if (auto f = fetches_.find({identity, *xfer}); f != fetches_.end()) {
        auto fp = f->second;
        fp->stream->cancel();
        return;
      }
    }
    reply_error(identity, "cancel", chat::field(m, 1), "no such transfer");
  }

  // Drops transfers whose client has owed us pieces (an upload) or credit
  // (a fetch holding a range) for longer than the idle timeout.
  void sweep_idle() {
    auto limit = clock_type::now() - opts_.idle_timeout;
    std::vector<std::shared_ptr<upload>> ups;
    for (auto& [key, u] : uploads_)
      if (u->credit_out > 0 && !u->end_received && u->last_activity < limit)
        ups.push_back(u);
    for (auto& u : ups) u->stream->abort();
    std::vector<std::shared_ptr<fetch>> fs;
    for (auto& [key, f] : fetches_)
      if (!f->queue.empty() && f->last_activity < limit) fs.push_back(f);
    for (auto& f : fs) f->stream->cancel();
  }

  server_options opts_;
  zmq::context_t ctx_;
  zmq::socket_t router_;
  std::unique_ptr<dc::async_connection> depot_;
  std::map<std::string, std::string> sessions_;  // identity -> user
  std::map<std::string, user_state> users_;
  std::map<std::string, std::set<std::string>> rooms_;  // room -> members
  std::map<transfer_key, std::shared_ptr<upload>> uploads_;
  std::map<transfer_key, std::shared_ptr<fetch>> fetches_;
  // Files this server stored or forwarded: what depot said of them.
  std::map<std::string, dc::file_meta> files_;
};

int usage(const char* why) {
  if (why) std::cerr << "chat_server: " << why << "\n";
  std::cerr << "usage: chat_server [--listen EP] [--depot EP] "
               "[--depot-timeout SECONDS] [--idle-timeout SECONDS]\n"
               "  --listen   where chat clients connect "
               "(default tcp://127.0.0.1:5580)\n"
               "  --depot    the depot server (default $DEPOT_SERVER, else "
               "tcp://127.0.0.1:5570)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  server_options opts;
  if (const char* env = std::getenv("DEPOT_SERVER"); env && *env)
    opts.depot = env;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") return usage(nullptr), 0;
    if (i + 1 >= argc) return usage(("missing value after " + a).c_str());
    std::string v = argv[++i];
    auto seconds = [&]() -> std::optional<std::chrono::milliseconds> {
      auto n = chat::parse_number(v);
      if (!n || *n == 0 || *n > 86400) return std::nullopt;
      return std::chrono::seconds(*n);
    };
    if (a == "--listen") {
      opts.listen = v;
    } else if (a == "--depot") {
      opts.depot = v;
    } else if (a == "--depot-timeout" || a == "--idle-timeout") {
      auto s = seconds();
      if (!s) return usage((a + ": 1 to 86400 seconds").c_str());
      (a == "--depot-timeout" ? opts.depot_timeout : opts.idle_timeout) = *s;
    } else {
      return usage(("unknown flag " + a).c_str());
    }
  }

  // SIGTERM and SIGINT end the loop through a signalfd it polls.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  int sigfd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (sigfd < 0) {
    std::perror("chat_server: signalfd");
    return 1;
  }

  dc::options depot_opts;
  depot_opts.endpoint = opts.depot;
  depot_opts.timeout = opts.depot_timeout;
  // Ranges a fetch keeps in flight: what it holds for a slow receiver.
  depot_opts.download_depth = 4;
  auto depot = dc::async_connection::open(depot_opts);
  if (!depot) {
    std::cerr << "chat_server: depot: " << dc::to_string(depot.error()) << "\n";
    return 1;
  }
  try {
    chat_server server(opts, std::move(*depot));
    std::cout << "chat_server listening on " << server.endpoint()
              << " (depot at " << opts.depot << ")" << std::endl;
    server.run(sigfd);
  } catch (const zmq::error_t& e) {
    std::cerr << "chat_server: " << opts.listen << ": " << e.what() << "\n";
    return 1;
  }
  ::close(sigfd);
  return 0;
}
