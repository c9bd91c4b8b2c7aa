#include "testkit/wire_client.hpp"

#include "schema/codec.hpp"
#include "testkit/content.hpp"

#include <zmq_addon.hpp>

#include <algorithm>
#include <stdexcept>
#include <variant>

namespace depot::test {

schema::reply decode_frames(const frames& f, std::string_view op) {
  std::vector<zmq::message_t> msgs;
  for (const auto& s : f) msgs.emplace_back(s.data(), s.size());
  return decode_reply(std::move(msgs), op);
}

wire_client::wire_client(const std::string& endpoint, zmq::socket_type type)
    : wire_client(endpoint, type, {}) {}

wire_client::wire_client(const std::string& endpoint, const socket_setup& setup)
    : wire_client(endpoint, zmq::socket_type::dealer, setup) {}

wire_client::wire_client(const std::string& endpoint, zmq::socket_type type,
                         const socket_setup& setup)
    : socket_(connect_socket(context_, endpoint, type, setup)) {
  socket_.set(zmq::sockopt::sndtimeo, static_cast<int>(reply_timeout.count()));
}

uint64_t wire_client::send(schema::request_body body) {
  uint64_t rid = next_rid_++;
  send_with_rid(rid, std::move(body));
  return rid;
}

void wire_client::send_with_rid(std::optional<uint64_t> rid,
                                schema::request_body body) {
  std::string op(schema::op_name(body));
  frames f;
  for (const auto& b :
       schema::encode_request(schema::request{rid, std::move(body)}))
    f.emplace_back(b.view());
  if (rid) pending_[*rid] = op;
  send_frames(f);
}

schema::reply wire_client::receive(uint64_t rid) {
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

schema::reply wire_client::call(schema::request_body body) {
  return receive(send(std::move(body)));
}

void wire_client::send_frames(const frames& f) {
  for (size_t i = 0; i < f.size(); ++i) {
    auto flags =
        i + 1 < f.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
    if (!socket_.send(zmq::buffer(f[i].data(), f[i].size()), flags))
      throw std::runtime_error("send timed out");
  }
}

frames wire_client::receive_frames() {
  auto deadline = std::chrono::steady_clock::now() + reply_timeout;
  while (unmatched_.empty()) take_one(deadline, "an unmatched message");
  frames f = std::move(unmatched_.front());
  unmatched_.pop_front();
  return f;
}

void wire_client::take_one(std::chrono::steady_clock::time_point deadline,
                           const std::string& waiting_for) {
  auto left = std::max(std::chrono::milliseconds(0),
                       std::chrono::duration_cast<std::chrono::milliseconds>(
                           deadline - std::chrono::steady_clock::now()));
  auto msgs = receive_message(socket_, left, waiting_for);
  std::optional<uint64_t> rid;
  if (!msgs.empty()) rid = peek_rid(msgs.front().to_string_view());
  auto it = rid ? pending_.find(*rid) : pending_.end();
  if (it == pending_.end()) {
    frames f;
    for (const auto& m : msgs) f.emplace_back(m.to_string());
    unmatched_.push_back(std::move(f));
    return;
  }
  std::string op = it->second;
  pending_.erase(it);
  ready_.emplace(*rid, decode_reply(std::move(msgs), op));
}

schema::reply upload_content(wire_client& c, std::string_view content,
                             upload_options o) {
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
    const auto& ack = as<schema::chunk_reply>(r, "chunk");
    const uint64_t received =
        std::min<uint64_t>((seq + 1) * chunk, content.size());
    if (ack.upload != up.upload || ack.seq != seq || ack.received != received)
      throw std::runtime_error(
          "ack of seq " + std::to_string(seq) + ": upload " + ack.upload +
          " seq " + std::to_string(ack.seq) + " received " +
          std::to_string(ack.received) + ", expected upload " + up.upload +
          " seq " + std::to_string(seq) + " received " +
          std::to_string(received));
  }
  // Take the replies still in flight so later calls start clean. Each must
  // come (docs/protocol.md: never silence).
  while (!seq_of.empty()) {
    try {
      auto [rid, r] = c.receive_any_of(seq_of);
      seq_of.erase(rid);
    } catch (const std::runtime_error& e) {
      std::string seqs;
      for (auto& [rid, seq] : seq_of) seqs += " " + std::to_string(seq);
      throw std::runtime_error("chunks pipelined behind the reply '" +
                               describe(*last) + "' got no reply (seq" + seqs +
                               "): " + e.what());
    }
  }
  return *last;
}

schema::file_meta store_content(wire_client& c, std::string_view content,
                                upload_options o) {
  return as<schema::chunk_done_reply>(upload_content(c, content, std::move(o)))
      .file;
}

std::string download_all(wire_client& c, const std::string& id, uint64_t range,
                         size_t in_flight) {
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

schema::reply stat_of(wire_client& c, const std::string& id) {
  return c.call(schema::stat_request{id});
}

std::vector<schema::file_meta> list_all(wire_client& c, uint64_t limit) {
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

schema::chunk_request make_chunk(const std::string& token, uint64_t seq,
                                 bool last, std::string_view data) {
  schema::chunk_request ch;
  ch.upload = token;
  ch.seq = seq;
  ch.last = last;
  ch.data = schema::buffer::copy_of(data);
  return ch;
}

std::string begin_upload(wire_client& c, schema::upload_request req) {
  return as<schema::upload_reply>(c.call(std::move(req))).upload;
}

std::string begin_upload(wire_client& c, const std::string& name) {
  schema::upload_request req;
  req.name = name;
  return begin_upload(c, std::move(req));
}

}  // namespace depot::test
