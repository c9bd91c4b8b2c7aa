// The ROUTER server against real ZeroMQ DEALER and REQ clients over tcp and
// ipc. Every receive has a timeout, so a missing reply fails a test instead
// of hanging it.

#include "transport/server.hpp"

#include "schema/codec.hpp"
#include "testkit/temp_dir.hpp"

#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

// Under ThreadSanitizer: libzmq is not instrumented, so frames handed over
// through its lock-free pipes (to its I/O thread and back) look like races.
// Ignoring what its calls to intercepted functions (recv, memcpy) touch, and
// suppressing reports with libzmq on a stack, keeps every race between two
// frames of our own code reported. (Unused in other builds.)
extern "C" const char* __tsan_default_options() {
  return "ignore_noninstrumented_modules=1";
}
extern "C" const char* __tsan_default_suppressions() {
  return "race:libzmq.so\n";
}

namespace depot::transport {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using schema::errc;

constexpr int receive_timeout_ms = 5000;
constexpr size_t MiB = 1024 * 1024;

// --- test data ---------------------------------------------------------------

// Byte `i` of every test file: not periodic in powers of two, so a frame
// shifted or spliced in the wrong place shows.
std::byte pattern_byte(uint64_t i) {
  return static_cast<std::byte>((i * 131 + i / 251 + 7) % 256);
}

schema::buffer pattern(uint64_t offset, size_t size) {
  std::vector<std::byte> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = pattern_byte(offset + i);
  return schema::buffer::from_vector(std::move(bytes));
}

// Where `b` first differs from the pattern at `offset`, or its size if not.
size_t first_mismatch(const schema::buffer& b, uint64_t offset) {
  for (size_t i = 0; i < b.size(); ++i)
    if (b.data()[i] != pattern_byte(offset + i)) return i;
  return b.size();
}

// --- helpers -----------------------------------------------------------------

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Runs tasks on its own thread, as an actor would: replies handed to it reach
// server::send from a thread that is not the I/O thread.
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

std::string as_string(const schema::buffer& b) { return std::string{b.view()}; }

// A test client: a DEALER or REQ socket that never waits longer than 5 s.
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

schema::request ping(uint64_t rid) { return {rid, schema::ping_request{}}; }

schema::request download(uint64_t rid, uint64_t size) {
  return {rid, schema::download_request{"AAAAAAAAAAAA", 0, size}};
}

schema::request chunk(uint64_t rid, schema::buffer data) {
  return {rid, schema::chunk_request{"token", 0, true, std::move(data)}};
}

std::string header_of(const schema::request& r) {
  return as_string(schema::encode_request(r).at(0));
}

// The body of `r` as T, failing the test (and giving nullptr) otherwise.
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

void expect_error(const std::optional<schema::reply>& r, errc code,
                  std::optional<uint64_t> rid) {
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rid, rid);
  auto* e = std::get_if<schema::error_reply>(&r->body);
  ASSERT_NE(e, nullptr) << "expected an error reply";
  EXPECT_EQ(e->code, code) << schema::to_string(e->code) << ": " << e->message;
  EXPECT_FALSE(e->message.empty());
}

// --- fixture -----------------------------------------------------------------

// A server on its own I/O thread with a handler that answers like a small
// depot: ping and download from a worker thread, upload inline on the I/O
// thread, chunk after recording the payload; stat throws std::exception and
// delete throws something else.
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

// --- round trips -------------------------------------------------------------

TEST_F(RouterServer, AnswersADealerPingWithItsRidEchoed) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(c, 42);
  expect_ping(c, 0);
  EXPECT_FALSE(last_peer().req);
}

TEST_F(RouterServer, AnswersARequestWithoutRid) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send({std::nullopt, schema::ping_request{}});
  auto r = c.receive("ping");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->rid);
  body_as<schema::ping_reply>(r);
}

TEST_F(RouterServer, GivesTheHandlerTheClientsRoutingId) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_, "alice");
  expect_ping(c, 1);
  EXPECT_EQ(last_peer().routing_id, "alice");
}

TEST_F(RouterServer, DeliversRepliesQueuedByTheHandlerOnTheIoThread) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  for (uint64_t rid = 1; rid <= 3; ++rid) {
    c.send({rid, schema::upload_request{"a.txt", {}, {}, {}}});
    auto r = c.receive("upload");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->rid, rid);
    if (auto* u = body_as<schema::upload_reply>(r)) {
      EXPECT_EQ(u->upload, "token");
    }
  }
}

TEST_F(RouterServer, EchoesTheReqDelimiterToReqClients) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send_raw({"", header_of(ping(7))});
  auto frames = c.receive_raw();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].size(), 0u);
  frames.erase(frames.begin());
  auto r = client::decode(frames, "ping");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rid, 7u);
  body_as<schema::ping_reply>(r);
  EXPECT_TRUE(last_peer().req);
}

TEST_F(RouterServer, AnswersARealReqSocket) {
  start();
  client c(ctx_, zmq::socket_type::req, endpoint_);
  for (uint64_t rid = 1; rid <= 3; ++rid) expect_ping(c, rid);
  EXPECT_TRUE(last_peer().req);
}

TEST_F(RouterServer, AnswersRequestsPipelinedWithinAWindow) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  constexpr uint64_t total = 20000;
  constexpr uint64_t window = 500;
  std::set<uint64_t> seen;
  uint64_t sent = 0;
  while (seen.size() < total) {
    while (sent < total && sent - seen.size() < window) c.send(ping(sent++));
    auto r = c.receive("ping");
    ASSERT_TRUE(r);
    ASSERT_TRUE(r->rid);
    EXPECT_TRUE(seen.insert(*r->rid).second) << "rid twice: " << *r->rid;
  }
  EXPECT_EQ(*seen.rbegin(), total - 1);
  EXPECT_TRUE(eventually([&] { return stats().replies.load() == total; }));
  EXPECT_EQ(stats().requests.load(), total);
}

// --- payloads ----------------------------------------------------------------

TEST_F(RouterServer, HandsAChunkPayloadToTheHandlerIntact) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  constexpr size_t size = 5 * MiB + 3;
  c.send(chunk(9, pattern(0, size)));
  auto r = c.receive("chunk");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rid, 9u);
  if (auto* a = body_as<schema::chunk_reply>(r)) {
    EXPECT_EQ(a->received, size);
  }
  // More traffic in between: the kept buffer owns its frame.
  expect_ping(c, 10);
  c.send(chunk(11, pattern(0, 16)));
  ASSERT_TRUE(c.receive("chunk"));
  auto got = chunks();
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[0].size(), size);
  EXPECT_EQ(first_mismatch(got[0], 0), size);
  ASSERT_EQ(got[1].size(), 16u);
  EXPECT_EQ(first_mismatch(got[1], 0), 16u);
}

TEST_F(RouterServer, HandsAnEmptyChunkPayloadToTheHandler) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send(chunk(1, schema::buffer{}));
  auto r = c.receive("chunk");
  if (auto* a = body_as<schema::chunk_reply>(r)) {
    EXPECT_EQ(a->received, 0u);
  }
  auto got = chunks();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].empty());
}

TEST_F(RouterServer, SendsDownloadPayloadsIntactAtEverySize) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  // Around ZeroMQ's inline limit (33), our copy threshold (1024), and large.
  const std::vector<size_t> sizes = {
      0, 1, 32, 33, 34, 1023, 1024, 1025, 64 * 1024, MiB, MiB + 1, 4 * MiB};
  uint64_t rid = 0;
  for (size_t size : sizes) {
    SCOPED_TRACE("payload of " + std::to_string(size) + " bytes");
    c.send(download(++rid, size));
    auto r = c.receive("download");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->rid, rid);
    auto* d = body_as<schema::download_reply>(r);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->size, size);
    ASSERT_EQ(d->data.size(), size);
    EXPECT_EQ(first_mismatch(d->data, 0), size);
  }
}

TEST_F(RouterServer, SendsManyLargePayloadsInFlightIntact) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  constexpr uint64_t count = 32;
  for (uint64_t rid = 0; rid < count; ++rid) c.send(download(rid, MiB));
  std::set<uint64_t> seen;
  for (uint64_t i = 0; i < count; ++i) {
    auto r = c.receive("download");
    ASSERT_TRUE(r);
    auto* d = body_as<schema::download_reply>(r);
    ASSERT_NE(d, nullptr);
    ASSERT_EQ(d->data.size(), MiB);
    EXPECT_EQ(first_mismatch(d->data, 0), MiB);
    seen.insert(r->rid.value_or(count));
  }
  EXPECT_EQ(seen.size(), count);
}

// --- the reply queue ---------------------------------------------------------

TEST_F(RouterServer, DeliversRepliesQueuedConcurrentlyFromSeveralThreads) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(c, 0);
  const peer to = last_peer();
  constexpr uint64_t threads = 4;
  constexpr uint64_t per_thread = 2000;
  std::vector<std::thread> senders;
  for (uint64_t t = 0; t < threads; ++t)
    senders.emplace_back([&, t] {
      for (uint64_t i = 0; i < per_thread; ++i)
        srv_->send(to,
                   {1 + t * per_thread + i, schema::ping_reply{1, "test", 0}});
    });
  std::set<uint64_t> seen;
  for (uint64_t i = 0; i < threads * per_thread; ++i) {
    auto r = c.receive("ping");
    ASSERT_TRUE(r) << "after " << i << " replies";
    ASSERT_TRUE(r->rid);
    seen.insert(*r->rid);
  }
  for (auto& s : senders) s.join();
  EXPECT_EQ(seen.size(), threads * per_thread);
  EXPECT_EQ(*seen.begin(), 1u);
  EXPECT_EQ(*seen.rbegin(), threads * per_thread);
  EXPECT_EQ(stats().unroutable.load(), 0u);
}

TEST_F(RouterServer, CountsAReplyToAnUnknownPeerAsUnroutable) {
  start();
  srv_->send(peer{"nobody", false}, {1, schema::ping_reply{}});
  EXPECT_TRUE(eventually([&] { return stats().unroutable.load() == 1; }));
  srv_->send(peer{"", true}, {2, schema::ping_reply{}});
  EXPECT_TRUE(eventually([&] { return stats().unroutable.load() == 2; }));
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(c, 3);
}

TEST_F(RouterServer, CountsRepliesToADisconnectedPeerAsUnroutable) {
  start();
  peer gone;
  {
    client c(ctx_, zmq::socket_type::dealer, endpoint_);
    expect_ping(c, 1);
    gone = last_peer();
  }
  // The ROUTER learns of the disconnect asynchronously: until then a reply
  // still enters the dead pipe and vanishes. Keep replying until one is
  // refused.
  uint64_t rid = 100;
  EXPECT_TRUE(eventually([&] {
    srv_->send(gone, {rid++, schema::ping_reply{}});
    std::this_thread::sleep_for(5ms);
    return stats().unroutable.load() > 0;
  }));
  client d(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(d, 2);
}

TEST_F(RouterServer, DropsRepliesToAClientThatDoesNotReadAndServesOthers) {
  start();
  client slow(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(slow, 0);
  const peer to = last_peer();
  // More replies than the send HWM (10000) plus what the sockets buffer; one
  // shared 64 KiB payload, so memory stays small.
  constexpr uint64_t total = 25000;
  const schema::buffer payload = pattern(0, 64 * 1024);
  // The ping's reply is counted just after it is sent: wait for it.
  ASSERT_TRUE(eventually([&] { return stats().replies.load() == 1; }));
  for (uint64_t i = 0; i < total; ++i)
    srv_->send(to, {i, schema::download_reply{"AAAAAAAAAAAA", 0, payload.size(),
                                              true, payload}});
  EXPECT_TRUE(eventually([&] {
    return stats().replies.load() - 1 + stats().unroutable.load() == total;
  }));
  EXPECT_GT(stats().unroutable.load(), 0u);
  client other(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(other, 1);
}

// --- malformed requests ------------------------------------------------------

TEST_F(RouterServer, AnswersAGarbageHeaderWithBadRequestAndKeepsServing) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send_raw({"this is not msgpack"});
  expect_error(c.receive("ping"), errc::bad_request, std::nullopt);
  expect_ping(c, 5);
  EXPECT_EQ(handled(), 1u);
}

TEST_F(RouterServer, AnswersAMsgpackBombWithBadRequest) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send_raw({"\xdd\xff\xff\xff\xff"s});
  expect_error(c.receive("ping"), errc::bad_request, std::nullopt);
  c.send_raw({"\xdd\xff\x00\x00\x00"s});
  expect_error(c.receive("ping"), errc::bad_request, std::nullopt);
  expect_ping(c, 1);
}

TEST_F(RouterServer, AnswersAnEmptyMessageWithBadRequest) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send_raw({""});
  auto frames = c.receive_raw();
  ASSERT_EQ(frames.size(), 1u);  // a lone empty frame is no REQ delimiter
  expect_error(client::decode(frames, "ping"), errc::bad_request, std::nullopt);
  EXPECT_EQ(handled(), 0u);
}

TEST_F(RouterServer, AnswersAnEmptyHeaderAfterTheDelimiterWithBadRequest) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send_raw({"", ""});
  auto frames = c.receive_raw();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].size(), 0u);
  frames.erase(frames.begin());
  expect_error(client::decode(frames, "ping"), errc::bad_request, std::nullopt);
}

TEST_F(RouterServer, AnswersAnEmptyReqMessageWithBadRequest) {
  start();
  client c(ctx_, zmq::socket_type::req, endpoint_);
  c.send_raw({""});
  expect_error(c.receive("ping"), errc::bad_request, std::nullopt);
  expect_ping(c, 2);  // the REQ state machine got its reply
}

TEST_F(RouterServer, AnswersExtraFramesWithBadRequestEchoingTheRid) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send_raw({header_of(ping(3)), "unexpected"});
  expect_error(c.receive("ping"), errc::bad_request, 3);
  std::vector<std::string> many(100, "x");
  many[0] = header_of(ping(4));
  c.send_raw(many);
  auto r = c.receive("ping");
  expect_error(r, errc::bad_request, 4);
  if (r) {
    EXPECT_NE(std::get<schema::error_reply>(r->body).message.find("100"),
              std::string::npos);
  }
  c.send_raw({header_of(chunk(5, pattern(0, 4)))});  // no payload
  expect_error(c.receive("chunk"), errc::bad_request, 5);
  EXPECT_EQ(handled(), 0u);
  EXPECT_EQ(stats().malformed.load(), 3u);
}

TEST_F(RouterServer, AnswersUnknownOpsAndVersionsEchoingTheRid) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  // {"op": "nope", "rid": 7}
  c.send_raw({"\x82\xa2op\xa4nope\xa3rid\x07"s});
  expect_error(c.receive("ping"), errc::unknown_op, 7);
  // {"op": "ping", "rid": 8, "v": 2}
  c.send_raw({"\x83\xa2op\xa4ping\xa3rid\x08\xa1v\x02"s});
  expect_error(c.receive("ping"), errc::unsupported_version, 8);
}

TEST_F(RouterServer, AnswersInternalWhenTheHandlerThrows) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send({11, schema::stat_request{"AAAAAAAAAAAA"}});
  expect_error(c.receive("stat"), errc::internal, 11);
  c.send({12, schema::delete_request{"AAAAAAAAAAAA"}});
  expect_error(c.receive("delete"), errc::internal, 12);
  expect_ping(c, 13);
}

TEST_F(RouterServer, CountsRequestsMalformedAndReplies) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(c, 1);
  c.send_raw({"?"});
  ASSERT_TRUE(c.receive("ping"));
  EXPECT_EQ(stats().requests.load(), 2u);
  EXPECT_EQ(stats().malformed.load(), 1u);
  EXPECT_TRUE(eventually([&] { return stats().replies.load() == 2; }));
  EXPECT_EQ(stats().unroutable.load(), 0u);
  EXPECT_EQ(stats().dropped.load(), 0u);
}

// --- limits ------------------------------------------------------------------

TEST_F(RouterServer, TakesAChunkOfExactlyMaxPayload) {
  constexpr size_t max_payload = 64 * 1024;
  start(options_for({"tcp://127.0.0.1:0"}, max_payload));
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  c.send(chunk(1, pattern(0, max_payload)));
  auto r = c.receive("chunk");
  if (auto* a = body_as<schema::chunk_reply>(r)) {
    EXPECT_EQ(a->received, max_payload);
  }
}

TEST_F(RouterServer, NeverHandsAFrameOverMaxMsgSizeToTheHandler) {
  constexpr size_t max_payload = 64 * 1024;
  start(options_for({"tcp://127.0.0.1:0"}, max_payload));
  client big(ctx_, zmq::socket_type::dealer, endpoint_);
  client other(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(other, 1);
  // Over max_payload + header limit + 1 KiB: libzmq drops the connection.
  big.send(chunk(2, pattern(0, max_payload + 16 * 1024)));
  expect_ping(other, 3);
  // `big` reconnects by itself (with a new routing id); a ping written on
  // the dropped connection is lost with it, so retry.
  bool answered = false;
  big.socket().set(zmq::sockopt::rcvtimeo, 300);
  for (uint64_t rid = 10; rid < 40 && !answered; ++rid) {
    big.send(ping(rid));
    std::vector<zmq::message_t> frames;
    while (!(frames = big.receive_raw()).empty()) {
      auto r = client::decode(frames, "ping");
      ASSERT_TRUE(r);
      body_as<schema::ping_reply>(r);
      answered = true;
    }
  }
  EXPECT_TRUE(answered);
  EXPECT_TRUE(chunks().empty());
}

// --- endpoints, binding ------------------------------------------------------

TEST_F(RouterServer, ResolvesAWildcardPortInItsEndpoints) {
  start(options_for({"tcp://127.0.0.1:0", "tcp://127.0.0.1:*"}));
  auto eps = srv_->endpoints();
  ASSERT_EQ(eps.size(), 2u);
  uint64_t rid = 0;
  for (const std::string& ep : eps) {
    SCOPED_TRACE(ep);
    EXPECT_EQ(ep.rfind("tcp://127.0.0.1:", 0), 0u);
    std::string port = ep.substr(std::string("tcp://127.0.0.1:").size());
    EXPECT_FALSE(port.empty());
    EXPECT_NE(port, "0");
    EXPECT_NE(port, "*");
    client c(ctx_, zmq::socket_type::dealer, ep);
    expect_ping(c, ++rid);
  }
  EXPECT_NE(eps[0], eps[1]);
}

TEST_F(RouterServer, ResolvesTheWildcardHostAndServesIpv4ClientsOnIt) {
  start(options_for({"tcp://*:0"}));
  std::string port = endpoint_.substr(endpoint_.rfind(':') + 1);
  EXPECT_NE(port, "0") << endpoint_;
  client c(ctx_, zmq::socket_type::dealer, "tcp://127.0.0.1:" + port);
  expect_ping(c, 1);
}

TEST_F(RouterServer, ServesAnIpcEndpointInATempDir) {
  test::temp_dir dir;
  start(options_for({"ipc://" + (dir / "depot.sock")}));
  EXPECT_EQ(srv_->endpoints().at(0), "ipc://" + (dir / "depot.sock"));
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(c, 1);
  c.send(download(2, MiB));
  auto r = c.receive("download");
  if (auto* d = body_as<schema::download_reply>(r)) {
    EXPECT_EQ(first_mismatch(d->data, 0), MiB);
  }
}

TEST_F(RouterServer, ServesIpv6Loopback) {
  server probe({{"tcp://[::1]:0"}, MiB, 10s, 1000}, [](const peer&, auto) {});
  if (probe.bind()) GTEST_SKIP() << "no IPv6 loopback here";
  start(options_for({"tcp://[::1]:0"}));
  EXPECT_EQ(endpoint_.rfind("tcp://[::1]:", 0), 0u) << endpoint_;
  client c(ctx_, zmq::socket_type::dealer, endpoint_, {}, /*ipv6=*/true);
  expect_ping(c, 1);
}

TEST(RouterServerBind, ReturnsIoErrorForAnInvalidEndpoint) {
  for (std::string ep : {"bogus://nowhere", "tcp://127.0.0.1:notaport",
                         "tcp://no-such-interface-xyz:5555",
                         "ipc:///nonexistent-dir/depot/x.sock"}) {
    SCOPED_TRACE(ep);
    server s({{ep}, MiB, 10s, 1000}, [](const peer&, auto) {});
    caf::error err = s.bind();
    ASSERT_TRUE(err);
    EXPECT_EQ(schema::code_of(err), errc::io_error);
    EXPECT_NE(schema::message_of(err).find(ep), std::string::npos)
        << schema::message_of(err);
    EXPECT_TRUE(s.endpoints().empty());
  }
}

TEST(RouterServerBind, ReturnsIoErrorForAPortInUseAndReleasesWhatItBound) {
  auto quiet = [](const peer&, auto) {};
  server first({{"tcp://127.0.0.1:0"}, MiB, 10s, 1000}, quiet);
  ASSERT_FALSE(first.bind());
  std::string taken = first.endpoints().at(0);
  std::string free_port;
  {
    server probe({{"tcp://127.0.0.1:0"}, MiB, 10s, 1000}, quiet);
    ASSERT_FALSE(probe.bind());
    free_port = probe.endpoints().at(0);
  }
  server second({{free_port, taken}, MiB, 10s, 1000}, quiet);
  caf::error err = second.bind();
  ASSERT_TRUE(err);
  EXPECT_EQ(schema::code_of(err), errc::io_error);
  EXPECT_NE(schema::message_of(err).find(taken), std::string::npos)
      << schema::message_of(err);
  EXPECT_TRUE(second.endpoints().empty());
  // The endpoint bound before the failure was let go at once.
  server third({{free_port}, MiB, 10s, 1000}, quiet);
  EXPECT_FALSE(third.bind());
  // run() after a failed bind() returns at once.
  second.run();
}

TEST(RouterServerBind, ReturnsIoErrorWhenGivenNoEndpoint) {
  server s({{}, MiB, 10s, 1000}, [](const peer&, auto) {});
  caf::error err = s.bind();
  ASSERT_TRUE(err);
  EXPECT_EQ(schema::code_of(err), errc::io_error);
}

TEST(RouterServerBind, ReturnsIoErrorWhenBoundTwice) {
  server s({{"tcp://127.0.0.1:0"}, MiB, 10s, 1000}, [](const peer&, auto) {});
  ASSERT_FALSE(s.bind());
  caf::error err = s.bind();
  ASSERT_TRUE(err);
  EXPECT_EQ(schema::code_of(err), errc::io_error);
}

// --- life cycle --------------------------------------------------------------

TEST_F(RouterServer, ReturnsFromRunWithinASecondOfStopFromAnotherThread) {
  start();
  client c(ctx_, zmq::socket_type::dealer, endpoint_);
  expect_ping(c, 1);
  auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] { srv_->stop(); });
  io_.join();
  auto elapsed = std::chrono::steady_clock::now() - t0;
  stopper.join();
  EXPECT_LT(elapsed, 1s);
}

TEST_F(RouterServer, CountsRepliesSentAfterRunReturnedAsUnroutable) {
  start();
  stop_server();
  srv_->send(peer{"x", false}, {1, schema::ping_reply{}});
  EXPECT_EQ(stats().unroutable.load(), 1u);
}

TEST(RouterServerLifeCycle, ReturnsFromRunAtOnceWhenStoppedBeforeRun) {
  server s({{"tcp://127.0.0.1:0"}, MiB, 10s, 1000}, [](const peer&, auto) {});
  ASSERT_FALSE(s.bind());
  s.send(peer{"x", false}, {1, schema::ping_reply{}});  // queued, unroutable
  s.stop();
  s.run();
  EXPECT_EQ(s.stats().unroutable.load(), 1u);
}

TEST(RouterServerLifeCycle, IsDestroyedSafelyWithoutRun) {
  {
    server s({{"tcp://127.0.0.1:0"}, MiB, 10s, 1000}, [](const peer&, auto) {});
    ASSERT_FALSE(s.bind());
    s.send(peer{"x", false}, {1, schema::ping_reply{}});
    s.stop();
  }
  {
    server s({{"tcp://127.0.0.1:0"}, MiB, 10s, 1000}, [](const peer&, auto) {});
  }
}

TEST(RouterServerLifeCycle, ReturnsFromRunWithoutBind) {
  server s({{"tcp://127.0.0.1:0"}, MiB, 10s, 1000}, [](const peer&, auto) {});
  s.run();
  EXPECT_TRUE(s.endpoints().empty());
}

}  // namespace
}  // namespace depot::transport
