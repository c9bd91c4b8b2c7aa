#pragma once

// A test client speaking PROTOCOL.md over a real ZeroMQ socket: a DEALER
// (requests pipelined, replies matched by rid) or a REQ (one at a time).
// Requests are encoded and replies decoded with the project's own codec
// (schema/codec.hpp); raw frames can be sent for malformed input. Every
// receive gives up after reply_timeout and throws std::runtime_error, which
// GoogleTest reports as a failure of the running test: no test can hang on a
// server that stays silent. One thread at a time per client.

#include "schema/buffer.hpp"
#include "schema/codec.hpp"
#include "schema/errc.hpp"
#include "schema/messages.hpp"
#include "tests/support/content.hpp"

#include <gtest/gtest.h>
#include <msgpack.hpp>
#include <zmq.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace depot::test {

/// How long a receive waits for a reply before the test fails.
inline constexpr std::chrono::milliseconds reply_timeout{5000};

/// "ok" for a successful reply, else the wire error code ("too_large", ...).
inline std::string code(const schema::reply& r) {
  if (auto* e = std::get_if<schema::error_reply>(&r.body))
    return std::string(schema::to_string(e->code));
  return "ok";
}

/// A one-line description of `r` for failure messages.
inline std::string describe(const schema::reply& r) {
  static constexpr const char* names[] = {
      "upload_reply",        "chunk_reply",  "chunk_done_reply",
      "upload_status_reply", "abort_reply",  "download_reply",
      "stat_reply",          "delete_reply", "list_reply",
      "ping_reply",          "error_reply"};
  std::string out = names[r.body.index()];
  if (auto* e = std::get_if<schema::error_reply>(&r.body))
    out += " " + std::string(schema::to_string(e->code)) + ": " + e->message;
  return out;
}

/// The body of `r` as a T; throws (failing the test) if it is anything else.
template <class T>
const T& as(const schema::reply& r) {
  if (auto* body = std::get_if<T>(&r.body)) return *body;
  throw std::runtime_error("unexpected reply: " + describe(r));
}

/// The `next` of an out_of_order error reply (nullopt if absent).
inline std::optional<uint64_t> error_next(const schema::reply& r) {
  if (auto* e = std::get_if<schema::error_reply>(&r.body)) return e->next;
  return std::nullopt;
}

/// Frames as received from or sent to the socket.
using frames = std::vector<std::string>;

/// The `rid` of a reply header frame, if it decodes as a map holding a uint
/// `rid` (used to match replies before decoding them by op).
inline std::optional<uint64_t> peek_rid(const std::string& header) {
  try {
    msgpack::unpack_limit limits(1000, 1000, 1 << 20, 1 << 20, 1 << 20, 16);
    auto handle =
        msgpack::unpack(header.data(), header.size(), nullptr, nullptr, limits);
    const msgpack::object& root = handle.get();
    if (root.type != msgpack::type::MAP) return std::nullopt;
    for (uint32_t i = 0; i < root.via.map.size; ++i) {
      const auto& kv = root.via.map.ptr[i];
      if (kv.key.type == msgpack::type::STR &&
          std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == "rid" &&
          kv.val.type == msgpack::type::POSITIVE_INTEGER)
        return kv.val.via.u64;
    }
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

/// Decodes reply frames (envelope already stripped) to a request of `op`;
/// throws if they do not decode.
inline schema::reply decode_frames(const frames& f, std::string_view op) {
  std::vector<schema::buffer> bufs;
  for (const auto& s : f) bufs.push_back(schema::buffer::copy_of(s));
  auto decoded = schema::decode_reply(bufs, op);
  if (auto* failure = std::get_if<schema::decode_failure>(&decoded))
    throw std::runtime_error("undecodable reply to " + std::string(op) + ": " +
                             failure->message);
  return std::get<schema::reply>(std::move(decoded));
}

/// A connected client socket. See the file comment.
class wire_client {
 public:
  /// Connects a socket of `type` (dealer or req) to `endpoint`.
  explicit wire_client(const std::string& endpoint,
                       zmq::socket_type type = zmq::socket_type::dealer)
      : socket_(context_, type) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::sndtimeo,
                static_cast<int>(reply_timeout.count()));
    socket_.connect(endpoint);
  }

  wire_client(const wire_client&) = delete;
  wire_client& operator=(const wire_client&) = delete;

  /// Sends `body` with a fresh rid and returns that rid.
  uint64_t send(schema::request_body body) {
    uint64_t rid = next_rid_++;
    send_with_rid(rid, std::move(body));
    return rid;
  }

  /// Sends `body` with the given rid (or none); a reply to a request without
  /// rid can only be taken with receive_frames().
  void send_with_rid(std::optional<uint64_t> rid, schema::request_body body) {
    std::string op(schema::op_name(body));
    auto bufs = schema::encode_request(schema::request{rid, std::move(body)});
    frames f;
    for (const auto& b : bufs) f.emplace_back(b.view());
    if (rid) pending_[*rid] = op;
    send_frames(f);
  }

  /// Waits for the reply carrying `rid` (replies to other pending rids that
  /// arrive first are kept for later).
  schema::reply receive(uint64_t rid) {
    auto deadline = std::chrono::steady_clock::now() + reply_timeout;
    for (;;) {
      if (auto it = ready_.find(rid); it != ready_.end()) {
        auto r = std::move(it->second);
        ready_.erase(it);
        return r;
      }
      take_one(deadline, "rid " + std::to_string(rid));
    }
  }

  /// Waits for the next reply to one of the rids that are keys of `rids`
  /// (replies to other rids are kept for later); returns the rid and reply.
  template <class Map>
  std::pair<uint64_t, schema::reply> receive_any_of(const Map& rids) {
    auto deadline = std::chrono::steady_clock::now() + reply_timeout;
    for (;;) {
      for (auto it = ready_.begin(); it != ready_.end(); ++it) {
        if (rids.count(it->first) == 0) continue;
        std::pair<uint64_t, schema::reply> out{it->first,
                                               std::move(it->second)};
        ready_.erase(it);
        return out;
      }
      take_one(deadline,
               "one of " + std::to_string(rids.size()) + " pending rids");
    }
  }

  /// Sends `body` and waits for its reply.
  schema::reply call(schema::request_body body) {
    return receive(send(std::move(body)));
  }

  /// Sends raw frames (nothing added; a DEALER adds no delimiter).
  void send_frames(const frames& f) {
    for (size_t i = 0; i < f.size(); ++i) {
      auto flags =
          i + 1 < f.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      if (!socket_.send(zmq::buffer(f[i].data(), f[i].size()), flags))
        throw std::runtime_error("send timed out");
    }
  }

  /// The next message that matched no pending rid (raw frames, envelope
  /// stripped by the socket), waiting at most reply_timeout.
  frames receive_frames() {
    auto deadline = std::chrono::steady_clock::now() + reply_timeout;
    while (unmatched_.empty()) take_one(deadline, "an unmatched message");
    frames f = std::move(unmatched_.front());
    unmatched_.pop_front();
    return f;
  }

  /// Requests sent whose reply has not been taken yet.
  size_t pending() const { return pending_.size() + ready_.size(); }

  /// The socket, for options.
  zmq::socket_t& socket() { return socket_; }

 private:
  // Receives one message and files it under its rid (decoded) or as
  // unmatched (raw). Throws once `deadline` passes.
  void take_one(std::chrono::steady_clock::time_point deadline,
                const std::string& waiting_for) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (left.count() <= 0 || zmq::poll(&item, 1, left) == 0)
      throw std::runtime_error("no reply within " +
                               std::to_string(reply_timeout.count()) +
                               " ms while waiting for " + waiting_for);
    frames f;
    for (;;) {
      zmq::message_t msg;
      if (!socket_.recv(msg, zmq::recv_flags::dontwait))
        throw std::runtime_error("recv failed after poll");
      f.emplace_back(msg.to_string());
      if (!msg.more()) break;
    }
    std::optional<uint64_t> rid;
    if (!f.empty()) rid = peek_rid(f.front());
    auto it = rid ? pending_.find(*rid) : pending_.end();
    if (it == pending_.end()) {
      unmatched_.push_back(std::move(f));
      return;
    }
    std::string op = it->second;
    pending_.erase(it);
    ready_.emplace(*rid, decode_frames(f, op));
  }

  zmq::context_t context_{1};
  zmq::socket_t socket_;
  uint64_t next_rid_ = 1;
  std::map<uint64_t, std::string> pending_;  // rid → op, reply not received yet
  std::map<uint64_t, schema::reply> ready_;  // received, not taken yet
  std::deque<frames> unmatched_;
};

// --- operations
// ------------------------------------------------------------------

/// What upload_content does.
struct upload_options {
  std::string name = "file.bin";
  std::optional<uint64_t> size;  ///< declared size; none by default
  std::optional<std::string> sha256;
  std::optional<std::string> mime;
  uint64_t chunk = 0;    ///< bytes per chunk; 0: the server's chunk_max
  uint64_t window = 0;   ///< chunks in flight; 0: the server's window
  bool declare = false;  ///< declare size and sha256 computed from the content
};

/// Uploads `content` with pipelined chunks and returns the reply to the last
/// chunk (or the first error reply, which ends the upload). Every ack of a
/// chunk that is not the last is checked (seq, received) as it arrives.
inline schema::reply upload_content(wire_client& c, std::string_view content,
                                    upload_options o = {}) {
  schema::upload_request req;
  req.name = o.name;
  req.size = o.size;
  req.sha256 = o.sha256;
  req.mime = o.mime;
  if (o.declare) {
    req.size = content.size();
    req.sha256 = sha256_hex(content);
  }
  auto begun = c.call(req);
  if (!std::holds_alternative<schema::upload_reply>(begun.body)) return begun;
  const auto& up = std::get<schema::upload_reply>(begun.body);
  uint64_t chunk = o.chunk ? o.chunk : up.chunk_max;
  uint64_t window = o.window ? o.window : up.window;
  uint64_t chunks = std::max<uint64_t>(1, (content.size() + chunk - 1) / chunk);
  std::map<uint64_t, uint64_t> seq_of;  // rid → seq
  uint64_t sent = 0;
  std::optional<schema::reply> last;
  while (!last) {
    while (sent < chunks && seq_of.size() < window) {
      uint64_t off = sent * chunk;
      uint64_t len = std::min<uint64_t>(chunk, content.size() - off);
      schema::chunk_request ch;
      ch.upload = up.upload;
      ch.seq = sent;
      ch.last = sent + 1 == chunks;
      ch.data = schema::buffer::copy_of(content.substr(off, len));
      seq_of[c.send(std::move(ch))] = sent;
      ++sent;
    }
    auto [rid, r] = c.receive_any_of(seq_of);
    uint64_t seq = seq_of.at(rid);
    seq_of.erase(rid);
    if (std::holds_alternative<schema::error_reply>(r.body) ||
        seq + 1 == chunks) {
      last = std::move(r);
      break;
    }
    const auto& ack = as<schema::chunk_reply>(r);
    EXPECT_EQ(ack.upload, up.upload);
    EXPECT_EQ(ack.seq, seq);
    EXPECT_EQ(ack.received,
              std::min<uint64_t>((seq + 1) * chunk, content.size()))
        << "ack of seq " << seq;
  }
  // Take the replies still in flight so later calls start clean. Each must
  // come (PROTOCOL.md: never silence); after the first that does not, the
  // rest are not waited for.
  while (!seq_of.empty()) {
    try {
      auto [rid, r] = c.receive_any_of(seq_of);
      seq_of.erase(rid);
    } catch (const std::runtime_error& e) {
      std::string seqs;
      for (auto& [rid, seq] : seq_of) seqs += " " + std::to_string(seq);
      ADD_FAILURE() << "chunks pipelined behind the reply '" << describe(*last)
                    << "' got no reply (seq" << seqs << "): " << e.what();
      break;
    }
  }
  return *last;
}

/// Uploads `content` and returns the stored file's metadata; throws (failing
/// the test) unless the upload completed.
inline schema::file_meta store_content(wire_client& c, std::string_view content,
                                       upload_options o = {}) {
  return as<schema::chunk_done_reply>(upload_content(c, content, std::move(o)))
      .file;
}

/// Downloads all of file `id` with `in_flight` pipelined range requests of
/// `range` bytes (0: the server's default length). Throws on any error reply.
inline std::string download_all(wire_client& c, const std::string& id,
                                uint64_t range = 0, size_t in_flight = 4) {
  std::string out;
  std::map<uint64_t, uint64_t> offset_of;  // rid → offset
  std::map<uint64_t, std::string> parts;   // offset → bytes
  uint64_t next_offset = 0;
  std::optional<uint64_t> size;
  auto request = [&](uint64_t off) {
    schema::download_request d;
    d.file = id;
    d.offset = off;
    if (range) d.length = range;
    offset_of[c.send(d)] = off;
  };
  // The first reply tells the size (and the server's range length).
  auto first = c.call(schema::download_request{
      id, 0, range ? std::optional<uint64_t>(range) : std::nullopt});
  const auto& d0 = as<schema::download_reply>(first);
  size = d0.size;
  out.assign(d0.data.view());
  if (d0.eof) return out;
  uint64_t step = d0.data.size();
  if (step == 0) throw std::runtime_error("empty range before eof");
  next_offset = step;
  while (next_offset < *size || !offset_of.empty()) {
    while (next_offset < *size && offset_of.size() < in_flight) {
      request(next_offset);
      next_offset += step;
    }
    auto [rid, r] = c.receive_any_of(offset_of);
    uint64_t off = offset_of.at(rid);
    offset_of.erase(rid);
    parts[off] = std::string(as<schema::download_reply>(r).data.view());
  }
  for (auto& [off, bytes] : parts) {
    if (off != out.size()) throw std::runtime_error("gap in download");
    out += bytes;
  }
  return out;
}

/// `stat` of `id`: the reply, ok or not.
inline schema::reply stat_of(wire_client& c, const std::string& id) {
  return c.call(schema::stat_request{id});
}

/// Every stored file, following `next` across pages of `limit`.
inline std::vector<schema::file_meta> list_all(wire_client& c,
                                               uint64_t limit = 1000) {
  std::vector<schema::file_meta> all;
  std::optional<std::string> after;
  for (;;) {
    auto page =
        as<schema::list_reply>(c.call(schema::list_request{after, limit}));
    all.insert(all.end(), page.files.begin(), page.files.end());
    if (!page.next) return all;
    after = page.next;
  }
}

/// A chunk request (payload copied into a fresh buffer).
inline schema::chunk_request make_chunk(const std::string& token, uint64_t seq,
                                        bool last, std::string_view data) {
  schema::chunk_request ch;
  ch.upload = token;
  ch.seq = seq;
  ch.last = last;
  ch.data = schema::buffer::copy_of(data);
  return ch;
}

/// Begins an upload and returns its token; throws unless the server agreed.
inline std::string begin_upload(wire_client& c, schema::upload_request req) {
  return as<schema::upload_reply>(c.call(std::move(req))).upload;
}

/// Begins an upload of `name` with nothing declared.
inline std::string begin_upload(wire_client& c,
                                const std::string& name = "file.bin") {
  schema::upload_request req;
  req.name = name;
  return begin_upload(c, std::move(req));
}

}  // namespace depot::test
