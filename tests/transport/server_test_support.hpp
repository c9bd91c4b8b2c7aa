#pragma once

// What the ROUTER server tests share: patterned test data, a worker thread
// standing in for an actor, a DEALER/REQ test client with timeouts, request
// builders and the RouterServer fixture (a server with a small depot-like
// handler on its own I/O thread).

#include "schema/codec.hpp"
#include "transport/server.hpp"

#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

namespace depot::transport::test_support {

using namespace std::chrono_literals;
using namespace std::string_literals;
using schema::errc;

/// How long a test client waits for any send or receive.
inline constexpr int receive_timeout_ms = 5000;
/// One mebibyte.
inline constexpr size_t MiB = 1024 * 1024;

// --- test data ---------------------------------------------------------------

/// Byte `i` of every test file: not periodic in powers of two, so a frame
/// shifted or spliced in the wrong place shows.
inline std::byte pattern_byte(uint64_t i) {
  return static_cast<std::byte>((i * 131 + i / 251 + 7) % 256);
}

/// `size` bytes of the test pattern from `offset` on.
inline schema::buffer pattern(uint64_t offset, size_t size) {
  std::vector<std::byte> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = pattern_byte(offset + i);
  return schema::buffer::from_vector(std::move(bytes));
}

/// Where `b` first differs from the pattern at `offset`, or its size if not.
inline size_t first_mismatch(const schema::buffer& b, uint64_t offset) {
  for (size_t i = 0; i < b.size(); ++i)
    if (b.data()[i] != pattern_byte(offset + i)) return i;
  return b.size();
}

// --- helpers -----------------------------------------------------------------

/// Whether `pred` holds within `limit`, polled every millisecond.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// Runs tasks on its own thread, as an actor would: replies handed to it reach
/// server::send from a thread that is not the I/O thread.
class worker {
 public:
  worker() : thread_([this] { loop(); }) {}
  ~worker() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  void post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      cv_.wait(lock, [&] { return done_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // done_ and nothing left
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool done_ = false;
  std::thread thread_;
};

/// The bytes of `b` as a string.
inline std::string as_string(const schema::buffer& b) {
  return std::string{b.view()};
}

/// A test client: a DEALER or REQ socket that never waits longer than 5 s.
class client {
 public:
  client(zmq::context_t& ctx, zmq::socket_type type,
         const std::string& endpoint, const std::string& routing_id = {},
         bool ipv6 = false)
      : socket_(ctx, type) {
    socket_.set(zmq::sockopt::ipv6, ipv6);
    socket_.set(zmq::sockopt::rcvtimeo, receive_timeout_ms);
    socket_.set(zmq::sockopt::sndtimeo, receive_timeout_ms);
    socket_.set(zmq::sockopt::linger, 0);
    if (!routing_id.empty()) socket_.set(zmq::sockopt::routing_id, routing_id);
    socket_.connect(endpoint);
  }

  zmq::socket_t& socket() { return socket_; }

  /// Sends `frames` as one multipart message, byte for byte.
  void send_raw(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      zmq::message_t m(frames[i].data(), frames[i].size());
      auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore
                                         : zmq::send_flags::none;
      ASSERT_TRUE(socket_.send(m, flags)) << "send timed out";
    }
  }

  /// Sends an encoded request.
  void send(const schema::request& r) {
    std::vector<std::string> frames;
    for (const schema::buffer& b : schema::encode_request(r))
      frames.push_back(as_string(b));
    send_raw(frames);
  }

  /// The next message; empty after the timeout.
  std::vector<zmq::message_t> receive_raw() {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(socket_, std::back_inserter(frames)))
      frames.clear();
    return frames;
  }

  /// The next reply, decoded as the answer to `op`; nullopt (and a test
  /// failure) after a timeout or a decode failure.
  std::optional<schema::reply> receive(std::string_view op) {
    return decode(receive_raw(), op);
  }

  static std::optional<schema::reply> decode(
      const std::vector<zmq::message_t>& frames, std::string_view op) {
    if (frames.empty()) {
      ADD_FAILURE() << "no reply within " << receive_timeout_ms << " ms";
      return std::nullopt;
    }
    std::vector<schema::buffer> buffers;
    for (const zmq::message_t& m : frames)
      buffers.push_back(schema::buffer::copy_of(m.to_string_view()));
    auto decoded = schema::decode_reply(buffers, op);
    if (auto* failure = std::get_if<schema::decode_failure>(&decoded)) {
      ADD_FAILURE() << "undecodable reply: " << failure->message;
      return std::nullopt;
    }
    return std::get<schema::reply>(std::move(decoded));
  }

 private:
  zmq::socket_t socket_;
};

/// A ping with rid `rid`.
inline schema::request ping(uint64_t rid) {
  return {rid, schema::ping_request{}};
}

/// A download of `size` bytes from offset 0 of a fixed file id.
inline schema::request download(uint64_t rid, uint64_t size) {
  return {rid, schema::download_request{"AAAAAAAAAAAA", 0, size}};
}

/// A last chunk of the fixed token "token" carrying `data`.
inline schema::request chunk(uint64_t rid, schema::buffer data) {
  return {rid, schema::chunk_request{"token", 0, true, std::move(data)}};
}

/// The encoded header frame of `r`.
inline std::string header_of(const schema::request& r) {
  return as_string(schema::encode_request(r).at(0));
}

/// The body of `r` as T, failing the test (and giving nullptr) otherwise.
template <class T>
const T* body_as(const std::optional<schema::reply>& r) {
  if (!r) return nullptr;
  const T* body = std::get_if<T>(&r->body);
  if (!body) {
    if (auto* e = std::get_if<schema::error_reply>(&r->body))
      ADD_FAILURE() << "error reply: " << schema::to_string(e->code) << ": "
                    << e->message;
    else
      ADD_FAILURE() << "reply of another kind (index " << r->body.index()
                    << ")";
  }
  return body;
}

/// Expects `r` to be an error reply with `code`, `rid` and a message.
inline void expect_error(const std::optional<schema::reply>& r, errc code,
                         std::optional<uint64_t> rid) {
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rid, rid);
  auto* e = std::get_if<schema::error_reply>(&r->body);
  ASSERT_NE(e, nullptr) << "expected an error reply";
  EXPECT_EQ(e->code, code) << schema::to_string(e->code) << ": " << e->message;
  EXPECT_FALSE(e->message.empty());
}

// --- fixture -----------------------------------------------------------------

/// A server on its own I/O thread with a handler that answers like a small
/// depot: ping and download from a worker thread, upload inline on the I/O
/// thread, chunk after recording the payload; stat throws std::exception and
/// delete throws something else.
class RouterServer : public ::testing::Test {
 protected:
  static constexpr size_t default_max_payload = 8 * MiB;

  void TearDown() override { stop_server(); }

  server_options options_for(std::vector<std::string> endpoints,
                             size_t max_payload = default_max_payload) {
    server_options o;
    o.endpoints = std::move(endpoints);
    o.max_payload = max_payload;
    return o;
  }

  // Binds and runs a server; its first endpoint in endpoint_.
  void start(server_options o) {
    max_payload_ = o.max_payload;
    srv_ = std::make_unique<server>(
        std::move(o),
        [this](const peer& p, schema::request r) { handle(p, std::move(r)); });
    caf::error err = srv_->bind();
    ASSERT_FALSE(err) << schema::message_of(err);
    ASSERT_FALSE(srv_->endpoints().empty());
    endpoint_ = srv_->endpoints().front();
    io_ = std::thread([this] { srv_->run(); });
  }

  void start() { start(options_for({"tcp://127.0.0.1:0"})); }

  void stop_server() {
    if (srv_) srv_->stop();
    if (io_.joinable()) io_.join();
  }

  void handle(const peer& p, schema::request r) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last_peer_ = p;
      ++handled_;
    }
    std::optional<uint64_t> rid = r.rid;
    if (std::holds_alternative<schema::ping_request>(r.body)) {
      work_.post([this, p, rid] {
        srv_->send(p, {rid, schema::ping_reply{1, "test", max_payload_}});
      });
    } else if (auto* d = std::get_if<schema::download_request>(&r.body)) {
      uint64_t size = d->length.value_or(0);
      schema::download_reply reply{d->file, d->offset, d->offset + size, true,
                                   pattern(d->offset, size)};
      work_.post([this, p, rid, reply = std::move(reply)] {
        srv_->send(p, {rid, reply});
      });
    } else if (auto* c = std::get_if<schema::chunk_request>(&r.body)) {
      schema::chunk_reply reply{c->upload, c->seq, c->data.size()};
      {
        std::lock_guard<std::mutex> lock(mutex_);
        chunks_.push_back(c->data);
      }
      work_.post([this, p, rid, reply] { srv_->send(p, {rid, reply}); });
    } else if (std::holds_alternative<schema::upload_request>(r.body)) {
      srv_->send(p, {rid, schema::upload_reply{"token", max_payload_, 8}});
    } else if (std::holds_alternative<schema::stat_request>(r.body)) {
      throw std::runtime_error("the handler failed");
    } else if (std::holds_alternative<schema::delete_request>(r.body)) {
      throw 42;
    } else {
      work_.post([this, p, rid] {
        srv_->send(p, {rid, schema::error_reply{errc::not_found, "no", {}}});
      });
    }
  }

  peer last_peer() {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_peer_;
  }

  size_t handled() {
    std::lock_guard<std::mutex> lock(mutex_);
    return handled_;
  }

  std::vector<schema::buffer> chunks() {
    std::lock_guard<std::mutex> lock(mutex_);
    return chunks_;
  }

  // A ping round trip on `c`, checked.
  void expect_ping(client& c, uint64_t rid) {
    c.send(ping(rid));
    auto r = c.receive("ping");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->rid, rid);
    if (auto* p = body_as<schema::ping_reply>(r)) {
      EXPECT_EQ(p->server, "test");
    }
  }

  // A ping round trip on `c`, checked; the peer the server saw it come from.
  peer pinged_peer(client& c, uint64_t rid) {
    expect_ping(c, rid);
    return last_peer();
  }

  const server_stats& stats() { return srv_->stats(); }

  // Declaration order is destruction order reversed: clients (test locals)
  // go first, then the worker (its last tasks may still call send), then
  // the server, then the clients' context.
  zmq::context_t ctx_;
  std::unique_ptr<server> srv_;
  std::thread io_;
  std::string endpoint_;
  size_t max_payload_ = 0;
  std::mutex mutex_;
  peer last_peer_;
  size_t handled_ = 0;
  std::vector<schema::buffer> chunks_;
  worker work_;
};

}  // namespace depot::transport::test_support
