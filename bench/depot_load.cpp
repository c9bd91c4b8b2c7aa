#include "bench/depot_load.hpp"

#include "bench/wire.hpp"
#include "schema/messages.hpp"
#include "testkit/content.hpp"

#include <zmq.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace depot::bench {

test::socket_setup client_setup;
namespace {

constexpr size_t small_size = 4096;

// How long an upload may go on being refused with `busy` before it fails.
constexpr double retry_limit_s = 10;

// Chunk payloads for a large upload, sent zero-copy from one random block
// cut into chunk-sized slots. A slot is stamped (nonce, chunk index) before
// each use and reused only once ZeroMQ has released the message that last
// carried it (the release runs on ZeroMQ's I/O thread).
class chunk_source {
 public:
  chunk_source(size_t chunk, size_t window)
      : chunk_(chunk),
        slots_(std::max<size_t>(64 * mib / chunk, 4 * window)),
        block_(slots_ * chunk),
        busy_(slots_) {
    test::rng r;
    r.fill(block_.data(), block_.size());
  }

  // A message for chunk `index` of `len` bytes (at most the chunk size).
  zmq::message_t next(uint64_t nonce, uint64_t index, size_t len) {
    const size_t slot = index % slots_;
    while (busy_[slot].load(std::memory_order_acquire)) {
      check_stop();
      std::this_thread::yield();
    }
    std::byte* p = block_.data() + slot * chunk_;
    if (len >= 16) test::stamp(p, nonce, index);
    busy_[slot].store(true, std::memory_order_relaxed);
    return zmq::message_t(p, len, &release, &busy_[slot]);
  }

 private:
  static void release(void*, void* hint) {
    static_cast<std::atomic<bool>*>(hint)->store(false,
                                                 std::memory_order_release);
  }

  size_t chunk_;
  size_t slots_;
  std::vector<std::byte> block_;
  std::vector<std::atomic<bool>> busy_;
};

}  // namespace

upload_outcome upload_big(const std::string& endpoint, uint64_t size,
                          size_t window) {
  test::rng r;
  const uint64_t nonce = r.next();
  // Declared before the context: queued messages reference its block, and
  // the context (linger 0) drops them when it is destroyed, before it.
  std::optional<chunk_source> source;
  zmq::context_t ctx(1);
  auto s = test::connect_socket(ctx, endpoint, zmq::socket_type::dealer,
                                client_setup);
  uint64_t rid = 0;

  auto t0 = steady::now();
  schema::upload_request begin;
  begin.name = "bench-" + std::to_string(size) + ".bin";
  begin.size = size;
  s.send(test::header_frame({++rid, begin}), zmq::send_flags::none);
  auto accepted = test::as<schema::upload_reply>(
      test::decode_reply(receive(s, "upload"), "upload"), "upload");
  const size_t chunk = static_cast<size_t>(accepted.chunk_max);
  window = std::min<size_t>(window, static_cast<size_t>(accepted.window));
  if (chunk < 16 || window == 0)
    throw std::runtime_error("unusable chunk_max or window");

  source.emplace(chunk, window);
  const uint64_t n = std::max<uint64_t>(1, (size + chunk - 1) / chunk);
  // Go-back-N: a chunk refused with `busy` is not taken, and the ones sent
  // after it then answer `out_of_order`; once everything in flight has
  // answered, sending resumes at the first refused seq. Restamping a slot
  // reproduces the same bytes, so a resent chunk is identical.
  uint64_t next = 0;
  std::map<uint64_t, uint64_t> in_flight;  // rid -> seq
  constexpr uint64_t no_rewind = UINT64_MAX;
  uint64_t rewind = no_rewind;  // resend from here once nothing is in flight
  auto last_taken = steady::now();  // when a chunk was last acknowledged
  std::string refusal;              // the server's last refusal, for errors
  upload_outcome out;
  while (out.id.empty()) {
    while (rewind == no_rewind && next < n && in_flight.size() < window) {
      const size_t len =
          static_cast<size_t>(std::min<uint64_t>(chunk, size - next * chunk));
      const bool last = next + 1 == n;
      s.send(
          test::header_frame(
              {++rid, schema::chunk_request{accepted.upload, next, last, {}}}),
          zmq::send_flags::sndmore);
      s.send(source->next(nonce, next, len), zmq::send_flags::none);
      in_flight[rid] = next++;
    }
    auto reply = test::decode_reply(receive(s, "chunk"), "chunk");
    auto it = reply.rid ? in_flight.find(*reply.rid) : in_flight.end();
    if (it == in_flight.end())
      throw std::runtime_error("chunk: a reply with an unknown rid");
    const uint64_t seq = it->second;
    in_flight.erase(it);
    if (auto* done = std::get_if<schema::chunk_done_reply>(&reply.body)) {
      out.id = done->file.id;
      out.time = {static_cast<double>(size), seconds_since(t0)};
    } else if (auto* e = std::get_if<schema::error_reply>(&reply.body);
               e && (e->code == schema::errc::busy ||
                     e->code == schema::errc::out_of_order)) {
      ++(e->code == schema::errc::busy ? out.busy : out.out_of_order);
      if (e->code == schema::errc::busy) refusal = e->message;
      uint64_t from = e->next.value_or(seq);
      rewind = std::min(rewind, from);
    } else {
      test::as<schema::chunk_reply>(reply, "chunk");
      last_taken = steady::now();
    }
    if (rewind != no_rewind && in_flight.empty()) {
      // A server that keeps refusing will not finish this upload: give up
      // rather than spin.
      if (seconds_since(last_taken) > retry_limit_s)
        throw std::runtime_error(
            "upload: depotd refused chunk " + std::to_string(rewind) + " of " +
            std::to_string(n) + " with busy (\"" + refusal + "\") for " +
            std::to_string(static_cast<int>(retry_limit_s)) + " s (" +
            std::to_string(out.busy) +
            " refusals) although the client kept within the window");
      next = rewind;
      rewind = no_rewind;
      std::this_thread::sleep_for(busy_backoff);
    }
  }
  return out;
}

measure download_big(const std::vector<std::string>& endpoints,
                     const std::string& id, uint64_t size, size_t chunk,
                     size_t window) {
  zmq::context_t ctx(1);
  std::vector<zmq::socket_t> sockets;
  std::vector<zmq::pollitem_t> items;
  for (const auto& e : endpoints) {
    sockets.push_back(
        test::connect_socket(ctx, e, zmq::socket_type::dealer, client_setup));
    items.push_back({sockets.back().handle(), 0, ZMQ_POLLIN, 0});
  }
  const uint64_t n = std::max<uint64_t>(1, (size + chunk - 1) / chunk);
  uint64_t sent = 0, received = 0, bytes = 0;
  auto take = [&](zmq::socket_t& s) {
    auto reply = test::decode_reply(receive(s, "download"), "download");
    const auto& d = test::as<schema::download_reply>(reply, "download");
    bytes += d.data.size();
    ++received;
  };
  auto t0 = steady::now();
  auto last_reply = t0;
  while (received < n) {
    while (sent < n && sent - received < window) {
      schema::download_request d{id, sent * chunk, chunk};
      sockets[sent % sockets.size()].send(test::header_frame({sent, d}),
                                          zmq::send_flags::none);
      ++sent;
    }
    if (sockets.size() == 1) {
      take(sockets[0]);
      continue;
    }
    check_stop();
    if (zmq::poll(items, std::chrono::milliseconds(100)) == 0) {
      if (seconds_since(last_reply) >
          static_cast<double>(silence_limit.count()))
        throw std::runtime_error("download: no reply for " +
                                 std::to_string(silence_limit.count()) + " s");
      continue;
    }
    last_reply = steady::now();
    for (size_t i = 0; i < sockets.size(); ++i)
      if (items[i].revents & ZMQ_POLLIN) take(sockets[i]);
  }
  double seconds = seconds_since(t0);
  if (bytes != size)
    throw std::runtime_error("download: got " + std::to_string(bytes) +
                             " bytes of " + std::to_string(size));
  return {static_cast<double>(bytes), seconds};
}

small_outcome upload_small(const std::vector<std::string>& endpoints,
                           int clients, uint64_t count, double cap_s,
                           std::optional<std::string> mime) {
  struct client_state {
    std::vector<std::byte> content;
    bool sent_chunk = false;
  };
  test::rng r;
  const uint64_t nonce = r.next();
  zmq::context_t ctx(1);
  std::vector<zmq::socket_t> sockets;
  std::vector<client_state> state(static_cast<size_t>(clients));
  for (auto& c : state) c.content = test::random_block(small_size, r);
  for (int i = 0; i < clients; ++i)
    sockets.push_back(test::connect_socket(
        ctx, endpoints[static_cast<size_t>(i) % endpoints.size()],
        zmq::socket_type::dealer, client_setup));

  small_outcome out;
  out.ids.reserve(static_cast<size_t>(count));
  uint64_t files = 0, rid = 0;
  auto start = [&](size_t i) {
    auto& c = state[i];
    test::stamp(c.content.data(), nonce, files++);
    c.sent_chunk = false;
    schema::upload_request begin;
    begin.name = "small-" + std::to_string(files) + ".bin";
    begin.size = small_size;
    begin.mime = mime;
    sockets[i].send(test::header_frame({++rid, begin}), zmq::send_flags::none);
  };
  auto t0 = steady::now();
  auto on_reply = [&](size_t i, std::vector<zmq::message_t> msgs) {
    auto& c = state[i];
    if (!c.sent_chunk) {
      auto reply = test::decode_reply(std::move(msgs), "upload");
      if (auto* e = std::get_if<schema::error_reply>(&reply.body);
          e && e->code == schema::errc::busy) {
        if (out.busy++ == 0) {
          out.first_busy_after = out.ids.size();
          out.first_busy_s = seconds_since(t0);
          out.busy_message = e->message;
        }
        return step::retry;
      }
      const auto& accepted = test::as<schema::upload_reply>(reply, "upload");
      c.sent_chunk = true;
      sockets[i].send(
          test::header_frame(
              {++rid, schema::chunk_request{accepted.upload, 0, true, {}}}),
          zmq::send_flags::sndmore);
      sockets[i].send(zmq::message_t(c.content.data(), c.content.size()),
                      zmq::send_flags::none);
      return step::sent;
    }
    const auto& done = test::as<schema::chunk_done_reply>(
        test::decode_reply(std::move(msgs), "chunk"), "chunk");
    out.ids.push_back(done.file.id);
    if (done.dedup) ++out.dedups;
    return step::done;
  };
  out.time = drive_clients(sockets, count, cap_s, start, on_reply);
  return out;
}

measure download_small(const std::vector<std::string>& endpoints, int clients,
                       const std::vector<std::string>& ids, uint64_t count,
                       double cap_s, bool meta) {
  if (ids.empty())
    throw std::runtime_error("no stored 4 KiB files to download");
  zmq::context_t ctx(1);
  std::vector<zmq::socket_t> sockets;
  for (int i = 0; i < clients; ++i)
    sockets.push_back(test::connect_socket(
        ctx, endpoints[static_cast<size_t>(i) % endpoints.size()],
        zmq::socket_type::dealer, client_setup));
  uint64_t next = 0;
  auto start = [&](size_t i) {
    const std::string& id = ids[next % ids.size()];
    sockets[i].send(
        test::header_frame({next, schema::download_request{id, 0, {}, meta}}),
        zmq::send_flags::none);
    ++next;
  };
  auto on_reply = [&](size_t, std::vector<zmq::message_t> msgs) {
    auto reply = test::decode_reply(std::move(msgs), "download");
    const auto& d = test::as<schema::download_reply>(reply, "download");
    if (d.data.size() != small_size)
      throw std::runtime_error("download of a 4 KiB file gave " +
                               std::to_string(d.data.size()) + " bytes");
    if (meta && !d.meta)
      throw std::runtime_error("a download asking for meta got none");
    return step::done;
  };
  return drive_clients(sockets, count, cap_s, start, on_reply);
}

}  // namespace depot::bench
