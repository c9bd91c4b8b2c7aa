// The asynchronous, streaming client API (client/async.hpp) against a real
// depotd: many transfers on one connection from one thread, a relay whose
// memory stays bounded, failures and timeouts that stay with their own
// request, an external poll() loop, and backpressure both ways.

#include "client/async.hpp"

#include "client/channel.hpp"
#include "schema/codec.hpp"
#include "storage/sha256.hpp"
#include "tests/client/support.hpp"
#include "tests/client/wrapping_channel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <poll.h>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace depot::test {
namespace {

namespace dc = depot::client;
using namespace std::chrono_literals;
using dc::detail::channel;
using dc::detail::clock;
using dc::detail::frames;

// Small chunks and a small window, so that short files make many chunks and
// the window fills; uploads stay in RAM.
const std::vector<std::string> small_chunks{
    "--chunk-max", "65536", "--window", "4", "--ram-threshold", "67108864"};

std::unique_ptr<dc::async_connection> open_async(
    const std::string& endpoint, std::chrono::milliseconds timeout = 10s) {
  dc::options o;
  o.endpoint = endpoint;
  o.timeout = timeout;
  auto c = dc::async_connection::open(o);
  EXPECT_TRUE(c.ok()) << dc::to_string(c.error());
  return c ? std::move(*c) : nullptr;
}

// Runs the loop until `until` holds or `limit` passes; true if it held.
bool drive(dc::async_connection& c, const std::function<bool()>& until,
           std::chrono::milliseconds limit = 60s) {
  auto end = clock::now() + limit;
  while (!until()) {
    if (clock::now() >= end) return false;
    c.run_once(100ms);
  }
  return true;
}

// The client's own resident set, bytes (VmRSS).
uint64_t own_rss() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) << 10;
  return 0;
}

// Uploads `bytes` under `name` with one write, waiting for the result.
dc::result<dc::upload_result> upload_all(dc::async_connection& c,
                                         const std::string& name,
                                         const std::string& bytes) {
  std::optional<dc::result<dc::upload_result>> out;
  dc::upload_handlers h;
  h.on_done = [&](dc::result<dc::upload_result> r) { out.emplace(r); };
  auto up = c.begin_upload({name, bytes.size(), {}, {}}, std::move(h));
  size_t at = 0;
  auto push = [&] {
    while (at < bytes.size()) {
      size_t n = std::min<size_t>(up->room(), bytes.size() - at);
      if (n == 0) return;
      EXPECT_TRUE(up->write(dc::shared_bytes::copy_of(bytes.substr(at, n))));
      at += n;
    }
    up->finish();
  };
  while (!out) {
    if (!up->done()) push();
    c.run_once(100ms);
  }
  return std::move(*out);
}

// Streams `contents[i]` into one upload each, all at once, writing as much
// as room() allows whenever step() is called (from the loop).
struct pusher {
  pusher(dc::async_connection& c, std::vector<std::string> contents_,
         const std::string& prefix, bool declare_size)
      : contents(std::move(contents_)),
        results(contents.size()),
        written(contents.size(), 0) {
    for (size_t i = 0; i < contents.size(); ++i) {
      dc::upload_handlers h;
      h.on_done = [this, i](dc::result<dc::upload_result> r) {
        results[i].emplace(std::move(r));
      };
      dc::upload_spec spec{prefix + std::to_string(i), {}, {}, {}};
      if (declare_size) spec.size = contents[i].size();
      ups.push_back(c.begin_upload(std::move(spec), std::move(h)));
    }
  }

  // Writes what fits; true once every upload has its result.
  bool step() {
    bool all_done = true;
    for (size_t i = 0; i < ups.size(); ++i) {
      auto& u = *ups[i];
      const std::string& bytes = contents[i];
      while (written[i] < bytes.size() && u.room() > 0) {
        size_t n = std::min<size_t>(u.room(), bytes.size() - written[i]);
        EXPECT_TRUE(u.write(dc::shared_bytes::copy_of(
            std::string_view{bytes}.substr(written[i], n))));
        written[i] += n;
      }
      if (written[i] == bytes.size()) u.finish();
      if (!results[i]) all_done = false;
    }
    return all_done;
  }

  const std::vector<std::string> contents;
  std::vector<std::optional<dc::result<dc::upload_result>>> results;
  std::vector<size_t> written;
  std::vector<std::shared_ptr<dc::upload_stream>> ups;
};

class AsyncConnection : public ::testing::Test {
 protected:
  void start(std::vector<std::string> flags = small_chunks) {
    server_.emplace(std::move(flags));
  }
  const std::string& endpoint() const { return server_->endpoint(); }

  // Stores `bytes` over a connection of its own, as another client would.
  dc::result<dc::upload_result> store(const std::string& name,
                                      const std::string& bytes) {
    auto plain = open_async(endpoint());
    return upload_all(*plain, name, bytes);
  }

  std::optional<test_depotd> server_;
};

TEST_F(AsyncConnection, KeepsManyPlainRequestsInFlightAndMatchesEachReply) {
  start();
  auto c = open_async(endpoint());
  ASSERT_TRUE(c);
  auto up = upload_all(*c, "a.txt", "hello depot\n");
  ASSERT_OK(up);
  EXPECT_EQ(up->file.id, "rbWeBrTIp1Js");

  int pings = 0, stats = 0, pages = 0, missing = 0;
  for (int i = 0; i < 50; ++i) {
    c->ping([&](dc::result<dc::server_info> r) {
      EXPECT_OK(r);
      if (r) {
        EXPECT_EQ(r->chunk_max, 65536u);
      }
      ++pings;
    });
    c->stat("rbWeBrTIp1Js", [&](dc::result<dc::file_meta> r) {
      EXPECT_OK(r);
      if (r) {
        EXPECT_EQ(r->name, "a.txt");
      }
      ++stats;
    });
    c->stat("000000000000", [&](dc::result<dc::file_meta> r) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().code, dc::errc::not_found);
      ++missing;
    });
    c->list_page({}, 10, [&](dc::result<dc::page> r) {
      EXPECT_OK(r);
      if (r) {
        EXPECT_EQ(r->files.size(), 1u);
      }
      ++pages;
    });
  }
  // Nothing is sent until the loop runs: calls only queue.
  EXPECT_EQ(pings + stats + pages + missing, 0);
  EXPECT_EQ(c->pending(), 200u);
  ASSERT_TRUE(drive(*c, [&] { return c->pending() == 0; }));
  EXPECT_EQ(pings, 50);
  EXPECT_EQ(stats, 50);
  EXPECT_EQ(missing, 50);
  EXPECT_EQ(pages, 50);

  std::optional<dc::result<uint64_t>> refs;
  c->remove("rbWeBrTIp1Js", [&](dc::result<uint64_t> r) { refs.emplace(r); });
  ASSERT_TRUE(drive(*c, [&] { return refs.has_value(); }));
  ASSERT_OK(*refs);
  EXPECT_EQ(**refs, 0u);

  // A malformed id is refused at once, from the call itself.
  bool refused = false;
  c->stat("nope", [&](dc::result<dc::file_meta> r) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, dc::errc::bad_request);
    EXPECT_EQ(r.error().source, dc::error_source::local);
    refused = true;
  });
  EXPECT_TRUE(refused);
}

TEST_F(AsyncConnection, InterleavesAHundredUploadsAndAHundredDownloads) {
  start();
  auto c = open_async(endpoint());
  ASSERT_TRUE(c);
  // 100 files to download later, uploaded all at once.
  std::vector<std::string> stored(100);
  for (size_t i = 0; i < stored.size(); ++i)
    stored[i] = random_bytes(i * 3001 + (i % 7) * 65536, 1000 + i);
  std::vector<std::string> stored_ids(100);
  {
    pusher first{*c, stored, "stored-", true};
    ASSERT_TRUE(drive(*c, [&] { return first.step(); }));
    for (size_t i = 0; i < stored.size(); ++i) {
      ASSERT_TRUE(first.results[i].has_value()) << i;
      ASSERT_OK(*first.results[i]);
      stored_ids[i] = (*first.results[i])->file.id;
    }
  }
  for (size_t i = 0; i < stored.size(); ++i)
    ASSERT_EQ(stored_ids[i], candidate_id(stored[i], 0)) << i;

  // Now 100 new uploads and 100 downloads at the same time, one thread.
  std::vector<std::string> fresh(100);
  for (size_t i = 0; i < 100; ++i)
    fresh[i] = random_bytes(i * 2221 + 1, 5000 + i);
  std::vector<std::string> downloaded(100);
  std::vector<std::optional<dc::result<dc::file_meta>>> fetched(100);
  pusher second{*c, fresh, "fresh-", true};
  for (size_t i = 0; i < 100; ++i) {
    dc::download_handlers d;
    d.on_data = [&, i](uint64_t offset, dc::shared_bytes b) {
      EXPECT_EQ(offset, downloaded[i].size());
      downloaded[i].append(b.view());
    };
    d.on_done = [&, i](dc::result<dc::file_meta> r) { fetched[i] = r; };
    (void)c->download(stored_ids[i], std::move(d));
  }
  ASSERT_TRUE(drive(*c, [&] { return second.step() && c->pending() == 0; }));
  auto& uploaded = second.results;
  for (size_t i = 0; i < 100; ++i) {
    ASSERT_TRUE(uploaded[i].has_value()) << i;
    ASSERT_OK(*uploaded[i]);
    EXPECT_EQ((*uploaded[i])->file.id, candidate_id(fresh[i], 0)) << i;
    EXPECT_EQ((*uploaded[i])->file.size, fresh[i].size());
    ASSERT_TRUE(fetched[i].has_value()) << i;
    ASSERT_OK(*fetched[i]);
    EXPECT_TRUE(downloaded[i] == stored[i]) << i;
  }
}

TEST_F(AsyncConnection, RelaysA200MiBStreamWithBoundedMemory) {
  // depotd's defaults: chunk_max 1 MiB, window 16.
  start({});
  auto c = open_async(endpoint());
  ASSERT_TRUE(c);
  constexpr uint64_t total = uint64_t{200} << 20;
  constexpr size_t piece = size_t{1} << 20;
  const uint64_t base_rss = own_rss();
  uint64_t peak_rss = base_rss;

  // Produced piece by piece as if arriving from a chat client; the test
  // holds at most one piece that the upload has not taken.
  rng producer{77};
  storage::sha256 produced_hash;
  uint64_t produced = 0;
  uint64_t max_upload_held = 0;
  int writable_calls = 0;
  int refusals = 0;
  std::optional<dc::result<dc::upload_result>> uploaded;
  std::optional<dc::shared_bytes> next;
  std::shared_ptr<dc::upload_stream> up;
  auto push = [&] {
    while (!up->done()) {
      if (!next && produced < total) {
        std::vector<std::byte> bytes(piece);
        producer.fill(bytes.data(), bytes.size());
        produced_hash.update(bytes.data(), bytes.size());
        produced += bytes.size();
        next = dc::shared_bytes::from(std::move(bytes));
      }
      if (!next) {
        up->finish();
        return;
      }
      if (!up->write(*next)) {
        ++refusals;
        return;  // on_writable says when to go on
      }
      next.reset();
      max_upload_held = std::max(max_upload_held, up->held_bytes());
    }
  };
  dc::upload_handlers h;
  h.on_writable = [&] {
    ++writable_calls;
    push();
  };
  h.on_progress = [&](uint64_t) {
    max_upload_held = std::max(max_upload_held, up->held_bytes());
  };
  h.on_done = [&](dc::result<dc::upload_result> r) { uploaded.emplace(r); };
  up = c->begin_upload({"relay.bin", {}, {}, "application/octet-stream"},
                       std::move(h));
  ASSERT_TRUE(drive(
      *c,
      [&] {
        peak_rss = std::max(peak_rss, own_rss());
        return uploaded.has_value();
      },
      300s));
  ASSERT_OK(*uploaded);
  const auto& file = (*uploaded)->file;
  EXPECT_EQ(file.size, total);
  EXPECT_EQ(file.sha256, storage::to_hex(produced_hash.finish()));
  const uint64_t window_bytes = up->window() * up->chunk_max();
  EXPECT_EQ(window_bytes, uint64_t{16} << 20);
  EXPECT_LE(max_upload_held, window_bytes);
  EXPECT_GT(refusals, 0);  // the window did fill
  EXPECT_GT(writable_calls, 1);
  EXPECT_EQ(up->held_bytes(), 0u);

  // Streamed back and compared with the same sequence, range by range.
  rng expected{77};
  std::vector<std::byte> scratch;
  uint64_t received = 0;
  uint64_t max_download_held = 0;
  bool equal = true;
  std::optional<dc::result<dc::file_meta>> fetched;
  std::shared_ptr<dc::download_stream> down;
  dc::download_handlers d;
  d.on_data = [&](uint64_t offset, dc::shared_bytes b) {
    EXPECT_EQ(offset, received);
    scratch.resize(b.size());
    expected.fill(scratch.data(), scratch.size());
    equal = equal && std::memcmp(scratch.data(), b.data(), b.size()) == 0;
    received += b.size();
    max_download_held = std::max(max_download_held, down->held_bytes());
  };
  d.on_done = [&](dc::result<dc::file_meta> r) { fetched.emplace(r); };
  down = c->download(file.id, std::move(d));
  ASSERT_TRUE(drive(
      *c,
      [&] {
        peak_rss = std::max(peak_rss, own_rss());
        return fetched.has_value();
      },
      300s));
  ASSERT_OK(*fetched);
  EXPECT_EQ(received, total);
  EXPECT_TRUE(equal);
  const uint64_t depth_bytes = uint64_t{c->settings().download_depth} << 20;
  EXPECT_LE(max_download_held, depth_bytes);

  std::cout << "relay of " << (total >> 20) << " MiB: upload held at most "
            << max_upload_held << " bytes (window " << window_bytes
            << "), download held at most " << max_download_held
            << " bytes (depth " << depth_bytes << "), client RSS "
            << (base_rss >> 20) << " MiB before, peak " << (peak_rss >> 20)
            << " MiB\n";
  RecordProperty("upload_held_max", std::to_string(max_upload_held));
  RecordProperty("download_held_max", std::to_string(max_download_held));
  RecordProperty("rss_growth", std::to_string(peak_rss - base_rss));
  // Far below the 200 MiB that went through (window 16 MiB + depth 8 MiB +
  // ZeroMQ's and the allocator's own).
  EXPECT_RSS_LT(peak_rss - base_rss, uint64_t{80} << 20);
}

TEST_F(AsyncConnection, OneTransfersFailureLeavesTheOthersAlone) {
  start();
  auto c = open_async(endpoint());
  ASSERT_TRUE(c);
  std::string stored = random_bytes(300000, 9);
  auto first = upload_all(*c, "stored.bin", stored);
  ASSERT_OK(first);

  std::vector<std::string> contents;
  for (int i = 0; i < 5; ++i)
    contents.push_back(random_bytes(200000 + i, 40 + i));
  pusher good{*c, contents, "good-", true};

  // A download of a missing id, and downloads that work.
  std::optional<dc::result<dc::file_meta>> missing;
  dc::download_handlers m;
  m.on_data = [](uint64_t, dc::shared_bytes) { ADD_FAILURE() << "data"; };
  m.on_done = [&](dc::result<dc::file_meta> r) { missing.emplace(r); };
  (void)c->download("000000000000", std::move(m));
  std::vector<std::string> got(5);
  int downloads_ok = 0;
  for (int i = 0; i < 5; ++i) {
    dc::download_handlers d;
    d.on_data = [&, i](uint64_t, dc::shared_bytes b) {
      got[i].append(b.view());
    };
    d.on_done = [&, i](dc::result<dc::file_meta> r) {
      EXPECT_OK(r);
      EXPECT_TRUE(got[i] == stored);
      ++downloads_ok;
    };
    (void)c->download(first->file.id, std::move(d));
  }

  // A bad name: refused from within begin_upload, nothing sent.
  std::optional<dc::result<dc::upload_result>> bad_name;
  dc::upload_handlers b;
  b.on_done = [&](dc::result<dc::upload_result> r) { bad_name.emplace(r); };
  auto bad = c->begin_upload({"a/b", {}, {}, {}}, std::move(b));
  ASSERT_TRUE(bad_name.has_value());
  ASSERT_FALSE(*bad_name);
  EXPECT_EQ(bad_name->error().code, dc::errc::bad_request);
  EXPECT_EQ(bad_name->error().source, dc::error_source::local);
  EXPECT_FALSE(bad->write(dc::shared_bytes::copy_of("x")));

  // A declared SHA-256 the content does not have: the server's error.
  std::optional<dc::result<dc::upload_result>> wrong_sum;
  dc::upload_handlers w;
  w.on_done = [&](dc::result<dc::upload_result> r) { wrong_sum.emplace(r); };
  auto liar =
      c->begin_upload({"liar.bin", {}, std::string(64, 'a'), {}}, std::move(w));
  // Too much for the declared size: too_large.
  std::optional<dc::result<dc::upload_result>> too_big;
  dc::upload_handlers t;
  t.on_done = [&](dc::result<dc::upload_result> r) { too_big.emplace(r); };
  auto big = c->begin_upload({"big.bin", 10, {}, {}}, std::move(t));

  ASSERT_TRUE(drive(*c, [&] {
    bool all = good.step();
    if (liar->room() > 0 && !liar->done()) {
      EXPECT_TRUE(liar->write(dc::shared_bytes::copy_of("not that content")));
      liar->finish();
    }
    if (big->room() > 0 && !big->done()) {
      EXPECT_TRUE(
          big->write(dc::shared_bytes::copy_of(std::string(70000, 'b'))));
      big->finish();
    }
    return all && c->pending() == 0;
  }));
  ASSERT_TRUE(missing.has_value());
  ASSERT_FALSE(*missing);
  EXPECT_EQ(missing->error().code, dc::errc::not_found);
  ASSERT_TRUE(wrong_sum.has_value());
  ASSERT_FALSE(*wrong_sum);
  EXPECT_EQ(wrong_sum->error().code, dc::errc::checksum_mismatch);
  EXPECT_EQ(wrong_sum->error().source, dc::error_source::server);
  ASSERT_TRUE(too_big.has_value());
  ASSERT_FALSE(*too_big);
  EXPECT_EQ(too_big->error().code, dc::errc::too_large);
  EXPECT_EQ(downloads_ok, 5);
  for (size_t i = 0; i < contents.size(); ++i) {
    ASSERT_TRUE(good.results[i].has_value());
    ASSERT_OK(*good.results[i]);
    EXPECT_EQ((*good.results[i])->file.id, candidate_id(contents[i], 0));
  }
}

// A ZeroMQ channel that loses the reply to every `stat` of one id, as a
// server stuck on that one request would, and counts its sockets.
class swallowing_channel final : public wrapping_channel {
 public:
  swallowing_channel(std::unique_ptr<channel> inner, std::string id,
                     std::shared_ptr<int> opens)
      : wrapping_channel(std::move(inner)),
        id_(std::move(id)),
        opens_(std::move(opens)) {}

  dc::result<void> open() override {
    ++*opens_;
    return inner_->open();
  }
  dc::result<void> send(const frames& message,
                        clock::time_point deadline) override {
    auto decoded = schema::decode_request(message);
    if (auto* r = std::get_if<schema::request>(&decoded))
      if (auto* st = std::get_if<schema::stat_request>(&r->body);
          st && st->file == id_ && r->rid)
        lost_.insert(*r->rid);
    return inner_->send(message, deadline);
  }
  dc::result<std::optional<frames>> receive(
      clock::time_point deadline) override {
    while (true) {
      auto got = inner_->receive(deadline);
      if (!got || !got->has_value()) return got;
      auto decoded = schema::decode_reply(**got, "stat");
      std::optional<uint64_t> rid =
          std::holds_alternative<schema::reply>(decoded)
              ? std::get<schema::reply>(decoded).rid
              : std::get<schema::decode_failure>(decoded).rid;
      if (!rid || !lost_.count(*rid)) return got;
    }
  }

 private:
  std::string id_;
  std::shared_ptr<int> opens_;
  std::set<uint64_t> lost_;
};

TEST_F(AsyncConnection, ARequestThatStallsTimesOutAloneWhileOthersComplete) {
  start();
  std::string bytes = random_bytes(2 << 20, 5);
  auto up = store("big.bin", bytes);
  ASSERT_OK(up);
  std::string id = up->file.id;  // downloaded again and again
  auto other = store("other.bin", "other");
  ASSERT_OK(other);
  std::string stuck_id = other->file.id;  // whose stat is never answered
  dc::options o;
  o.endpoint = endpoint();
  o.timeout = 800ms;
  o.download_depth = 2;  // a slow download, still going when the stat stalls
  auto inner = dc::detail::make_zmq_channel(o);
  ASSERT_OK(inner);
  auto opens = std::make_shared<int>(0);
  std::vector<std::unique_ptr<channel>> chs;
  chs.push_back(
      std::make_unique<swallowing_channel>(std::move(*inner), stuck_id, opens));
  auto c = dc::async_connection::open(o, std::move(chs));
  ASSERT_OK(c);
  auto& conn = **c;

  std::optional<dc::result<dc::file_meta>> stalled;
  auto start_time = clock::now();
  clock::time_point stalled_at;
  conn.stat(stuck_id, [&](dc::result<dc::file_meta> r) {
    stalled.emplace(r);
    stalled_at = clock::now();
  });
  // Meanwhile: a ping after each ping, and downloads one after another.
  int pings = 0;
  std::function<void()> ping = [&] {
    conn.ping([&](dc::result<dc::server_info> r) {
      EXPECT_OK(r);
      ++pings;
      if (!stalled) ping();
    });
  };
  ping();
  int downloads = 0;
  std::function<void()> fetch = [&] {
    auto got = std::make_shared<std::string>();
    dc::download_handlers d;
    d.on_data = [got](uint64_t, dc::shared_bytes b) { got->append(b.view()); };
    d.on_done = [&, got](dc::result<dc::file_meta> r) {
      EXPECT_OK(r);
      EXPECT_TRUE(*got == bytes);
      ++downloads;
      if (!stalled) fetch();
    };
    (void)conn.download(id, std::move(d));
  };
  fetch();
  ASSERT_TRUE(drive(conn, [&] { return stalled && conn.pending() == 0; }));
  ASSERT_FALSE(*stalled);
  EXPECT_EQ(stalled->error().source, dc::error_source::timeout);
  EXPECT_GE(stalled_at - start_time, 800ms);
  EXPECT_GT(pings, 10);
  EXPECT_GT(downloads, 0);
  // The server kept answering: its socket was never replaced.
  EXPECT_EQ(*opens, 1);
}

TEST_F(AsyncConnection, EveryRequestToAStoppedServerTimesOutThenItIsUsedAgain) {
  start();
  std::string bytes = random_bytes(1 << 20, 6);
  auto c = open_async(endpoint(), 300ms);
  ASSERT_TRUE(c);
  auto stored = upload_all(*c, "x.bin", bytes);
  ASSERT_OK(stored);

  ASSERT_TRUE(pause_process(server_->pid()));
  std::vector<dc::error> errors;
  auto note = [&](const auto& r) {
    EXPECT_FALSE(r);
    if (!r) errors.push_back(r.error());
  };
  c->ping([&](dc::result<dc::server_info> r) { note(r); });
  c->stat(stored->file.id, [&](dc::result<dc::file_meta> r) { note(r); });
  dc::download_handlers d;
  d.on_done = [&](dc::result<dc::file_meta> r) { note(r); };
  (void)c->download(stored->file.id, std::move(d));
  std::string more = random_bytes(500000, 7);
  pusher up{*c, {more}, "more-", true};
  auto begun = clock::now();
  bool finished = drive(
      *c, [&] { return up.step() && c->pending() == 0; }, 20s);
  ::kill(server_->pid(), SIGCONT);
  ASSERT_TRUE(finished);
  auto took = clock::now() - begun;
  ASSERT_EQ(errors.size(), 3u);
  for (const auto& e : errors)
    EXPECT_EQ(e.source, dc::error_source::timeout) << dc::to_string(e);
  ASSERT_FALSE(*up.results[0]);
  EXPECT_EQ(up.results[0]->error().source, dc::error_source::timeout);
  // options::retries (3) more tries of 300 ms at most, plus slack.
  EXPECT_LT(took, 5s);

  std::optional<dc::result<dc::server_info>> again;
  c->ping([&](dc::result<dc::server_info> r) { again.emplace(r); });
  ASSERT_TRUE(drive(*c, [&] { return again.has_value(); }));
  EXPECT_OK(*again);
}

TEST_F(AsyncConnection, RunsFromAnExternalPollLoopOnItsFd) {
  start();
  auto c = open_async(endpoint());
  ASSERT_TRUE(c);
  const int fd = c->fd();
  ASSERT_GE(fd, 0);
  // Nothing pending: no timeout, and the fd stays quiet.
  EXPECT_FALSE(c->next_timeout().has_value());

  std::string bytes = random_bytes(700000, 8);
  std::optional<dc::result<dc::upload_result>> uploaded;
  std::optional<dc::result<dc::file_meta>> fetched;
  std::string got;
  size_t written = 0;
  dc::upload_handlers h;
  std::shared_ptr<dc::upload_stream> up;
  auto push = [&] {
    while (written < bytes.size() && up->room() > 0) {
      size_t n = std::min<size_t>(up->room(), bytes.size() - written);
      ASSERT_TRUE(up->write(dc::shared_bytes::copy_of(
          std::string_view{bytes}.substr(written, n))));
      written += n;
    }
    if (written == bytes.size()) up->finish();
  };
  h.on_writable = push;
  h.on_done = [&](dc::result<dc::upload_result> r) {
    uploaded.emplace(r);
    if (!r) return;
    dc::download_handlers d;
    d.on_data = [&](uint64_t, dc::shared_bytes b) { got.append(b.view()); };
    d.on_done = [&](dc::result<dc::file_meta> m) { fetched.emplace(m); };
    (void)c->download(r->file.id, std::move(d));
  };
  up = c->begin_upload({"polled.bin", {}, {}, {}}, std::move(h));
  // Queued only: due at once, or soon if the socket is still connecting.
  ASSERT_TRUE(c->next_timeout().has_value());
  EXPECT_LE(c->next_timeout()->count(), 50);

  int wakeups = 0;
  auto end = clock::now() + 30s;
  while (!fetched && clock::now() < end) {
    auto t = c->next_timeout();
    pollfd p{fd, POLLIN, 0};
    int wait = t ? static_cast<int>(std::min<int64_t>(t->count(), 1000)) : 1000;
    int rc = ::poll(&p, 1, wait);
    ASSERT_GE(rc, 0);
    ++wakeups;
    c->process();
  }
  ASSERT_TRUE(uploaded.has_value());
  ASSERT_OK(*uploaded);
  ASSERT_TRUE(fetched.has_value());
  ASSERT_OK(*fetched);
  EXPECT_TRUE(got == bytes);
  EXPECT_EQ(c->pending(), 0u);
  EXPECT_FALSE(c->next_timeout().has_value());
  // Idle now: the fd does not keep waking the loop.
  c->process();
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 200), 0);
  std::cout << "poll loop: " << wakeups << " wakeups\n";
}

TEST_F(AsyncConnection, WriteRefusesPastTheWindowAndOnWritableFiresLater) {
  start();  // chunk_max 64 KiB, window 4: 256 KiB
  auto c = open_async(endpoint());
  ASSERT_TRUE(c);
  int writable = 0;
  std::optional<dc::result<dc::upload_result>> done;
  dc::upload_handlers h;
  h.on_writable = [&] { ++writable; };
  h.on_done = [&](dc::result<dc::upload_result> r) { done.emplace(r); };
  auto up = c->begin_upload({"window.bin", {}, {}, {}}, std::move(h));
  std::string bytes = random_bytes(600 << 10, 3);
  auto piece = [&](size_t at, size_t n) {
    return dc::shared_bytes::copy_of(std::string_view{bytes}.substr(at, n));
  };
  // Not begun yet: no room.
  EXPECT_EQ(up->room(), 0u);
  EXPECT_FALSE(up->write(piece(0, 1)));
  ASSERT_TRUE(drive(*c, [&] { return writable > 0; }));
  EXPECT_EQ(writable, 1);
  EXPECT_EQ(up->chunk_max(), 65536u);
  EXPECT_EQ(up->window(), 4u);
  EXPECT_EQ(up->room(), 262144u);
  EXPECT_TRUE(up->write(piece(0, 200 << 10)));
  EXPECT_FALSE(up->write(piece(200 << 10, 100 << 10)));  // over the window
  EXPECT_EQ(up->held_bytes(), uint64_t{200} << 10);
  EXPECT_TRUE(up->write(piece(200 << 10, 56 << 10)));
  EXPECT_EQ(up->room(), 0u);
  EXPECT_FALSE(up->writable());
  EXPECT_EQ(up->held_bytes(), 262144u);
  // The acknowledgements make room, and on_writable says so.
  ASSERT_TRUE(drive(*c, [&] { return writable > 1; }));
  EXPECT_GT(up->room(), 0u);
  EXPECT_LT(up->held_bytes(), 262144u);
  size_t at = 256 << 10;
  ASSERT_TRUE(drive(*c, [&] {
    while (at < bytes.size() && up->room() > 0) {
      size_t n = std::min<size_t>(up->room(), bytes.size() - at);
      EXPECT_TRUE(up->write(piece(at, n)));
      EXPECT_LE(up->held_bytes(), 262144u);
      at += n;
    }
    if (at == bytes.size()) up->finish();
    return done.has_value();
  }));
  ASSERT_OK(*done);
  EXPECT_EQ((*done)->file.id, candidate_id(bytes, 0));
  EXPECT_FALSE(up->write(piece(0, 1)));  // ended
}

TEST_F(AsyncConnection, AnAbortedUploadEndsAtOnceAndTheConnectionGoesOn) {
  start();
  auto c = open_async(endpoint());
  ASSERT_TRUE(c);
  std::optional<dc::result<dc::upload_result>> done;
  dc::upload_handlers h;
  h.on_done = [&](dc::result<dc::upload_result> r) { done.emplace(r); };
  auto up = c->begin_upload({"gone.bin", {}, {}, {}}, std::move(h));
  ASSERT_TRUE(drive(*c, [&] { return up->room() > 0; }));
  EXPECT_TRUE(up->write(dc::shared_bytes::copy_of(random_bytes(100000, 1))));
  up->abort();
  ASSERT_TRUE(done.has_value());
  ASSERT_FALSE(*done);
  EXPECT_EQ(done->error().code, dc::errc::bad_request);
  EXPECT_EQ(up->held_bytes(), 0u);
  auto after = upload_all(*c, "kept.bin", "kept");
  ASSERT_OK(after);
  std::optional<dc::result<dc::page>> listed;
  c->list_page({}, 100, [&](dc::result<dc::page> r) { listed.emplace(r); });
  ASSERT_TRUE(drive(*c, [&] { return listed.has_value(); }));
  ASSERT_OK(*listed);
  ASSERT_EQ((*listed)->files.size(), 1u);
  EXPECT_EQ((*listed)->files[0].name, "kept.bin");
}

TEST_F(AsyncConnection, DownloadsFromKnownMetadataWithoutAStatAndVerifiesIt) {
  start();
  auto c = open_async(endpoint());
  ASSERT_TRUE(c);
  std::string bytes = random_bytes(300000, 21);  // several 64 KiB ranges
  auto up = upload_all(*c, "known.bin", bytes);
  ASSERT_OK(up);
  auto fetch = [&](const dc::file_meta& known, std::string& got,
                   std::optional<dc::file_meta>& told) {
    std::optional<dc::result<dc::file_meta>> done;
    dc::download_handlers h;
    h.on_meta = [&](const dc::file_meta& m) { told = m; };
    h.on_data = [&](uint64_t, dc::shared_bytes b) { got += b.view(); };
    h.on_done = [&](dc::result<dc::file_meta> r) { done.emplace(r); };
    auto d = c->download(known, std::move(h));
    EXPECT_FALSE(told.has_value()) << "on_meta ran inside download()";
    EXPECT_TRUE(drive(*c, [&] { return done.has_value(); }));
    return done ? *done : dc::result<dc::file_meta>{dc::error{}};
  };
  std::string got;
  std::optional<dc::file_meta> told;
  auto r = fetch(up->file, got, told);
  ASSERT_OK(r);
  EXPECT_EQ(*r, up->file);
  ASSERT_TRUE(told.has_value());
  EXPECT_EQ(*told, up->file);
  EXPECT_TRUE(got == bytes) << "downloaded bytes differ";

  // Metadata that does not match the content fails the download.
  dc::file_meta wrong = up->file;
  wrong.sha256 = std::string(64, 'a');
  got.clear();
  told.reset();
  r = fetch(wrong, got, told);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, dc::errc::checksum_mismatch);
  EXPECT_EQ(r.error().source, dc::error_source::local);

  // A size that is not the file's is caught at the first range.
  wrong = up->file;
  wrong.size += 1;
  got.clear();
  told.reset();
  r = fetch(wrong, got, told);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().source, dc::error_source::local);
}

TEST_F(AsyncConnection, APausedDownloadHoldsAtMostItsDepthAndResumes) {
  start();
  std::string bytes = random_bytes(2 << 20, 4);
  dc::options o;
  o.endpoint = endpoint();
  o.download_depth = 4;
  auto opened = dc::async_connection::open(o);
  ASSERT_OK(opened);
  auto& c = **opened;
  auto up = upload_all(c, "paused.bin", bytes);
  ASSERT_OK(up);
  std::string got;
  std::optional<dc::result<dc::file_meta>> done;
  std::shared_ptr<dc::download_stream> d;
  dc::download_handlers h;
  // Paused at the second range: the first comes alone (with the metadata),
  // the others are asked once it is delivered.
  h.on_data = [&](uint64_t, dc::shared_bytes b) {
    got.append(b.view());
    if (got.size() == 2 * 65536) d->pause();
  };
  h.on_done = [&](dc::result<dc::file_meta> r) { done.emplace(r); };
  d = c.download(up->file.id, std::move(h));
  ASSERT_TRUE(drive(c, [&] { return d->paused(); }));
  auto until = clock::now() + 300ms;
  while (clock::now() < until) c.run_once(50ms);
  EXPECT_EQ(got.size(), 2 * 65536u);
  EXPECT_EQ(d->delivered(), 2 * 65536u);
  EXPECT_GT(d->held_bytes(), 0u);
  EXPECT_LE(d->held_bytes(), 4u * 65536u);
  d->resume();
  ASSERT_TRUE(drive(c, [&] { return done.has_value(); }));
  ASSERT_OK(*done);
  EXPECT_TRUE(got == bytes);
}

TEST_F(AsyncConnection, CancelFromOnDataAndClosingMidTransferCallNothingMore) {
  start();
  std::string bytes = random_bytes(1 << 20, 14);
  auto c = open_async(endpoint());
  ASSERT_TRUE(c);
  auto up = upload_all(*c, "c.bin", bytes);
  ASSERT_OK(up);

  // Cancelled from its own on_data: on_done at once, no more data.
  int data_calls = 0;
  std::optional<dc::result<dc::file_meta>> done;
  std::shared_ptr<dc::download_stream> d;
  dc::download_handlers h;
  h.on_data = [&](uint64_t, dc::shared_bytes) {
    ++data_calls;
    d->cancel();
  };
  h.on_done = [&](dc::result<dc::file_meta> r) { done.emplace(r); };
  d = c->download(up->file.id, std::move(h));
  ASSERT_TRUE(drive(*c, [&] { return done.has_value(); }));
  ASSERT_FALSE(*done);
  EXPECT_EQ(done->error().code, dc::errc::bad_request);
  EXPECT_EQ(data_calls, 1);
  EXPECT_TRUE(d->done());
  EXPECT_EQ(d->held_bytes(), 0u);
  // The replies still coming are dropped; the connection goes on.
  std::optional<dc::result<dc::server_info>> pong;
  c->ping([&](dc::result<dc::server_info> r) { pong.emplace(r); });
  ASSERT_TRUE(drive(*c, [&] { return pong.has_value() && c->pending() == 0; }));
  EXPECT_OK(*pong);

  // Closed with an upload and a download in flight: their handles go
  // inert and no callback runs.
  bool called = false;
  dc::upload_handlers uh;
  uh.on_done = [&](dc::result<dc::upload_result>) { called = true; };
  auto open_up = c->begin_upload({"never.bin", {}, {}, {}}, std::move(uh));
  dc::download_handlers dh;
  dh.on_done = [&](dc::result<dc::file_meta>) { called = true; };
  auto open_down = c->download(up->file.id, std::move(dh));
  c->run_once(20ms);
  c.reset();
  EXPECT_FALSE(called);
  EXPECT_FALSE(open_up->write(dc::shared_bytes::copy_of("x")));
  EXPECT_EQ(open_up->room(), 0u);
  open_up->finish();
  open_up->abort();
  open_down->pause();
  open_down->resume();
  open_down->cancel();
  EXPECT_FALSE(called);
}

// A ZeroMQ channel that, after `keep` replies, loses every reply until its
// socket is replaced: a connection that died silently.
class losing_channel final : public wrapping_channel {
 public:
  losing_channel(std::unique_ptr<channel> inner, int keep,
                 std::shared_ptr<int> opens)
      : wrapping_channel(std::move(inner)),
        keep_(keep),
        opens_(std::move(opens)) {}

  dc::result<void> open() override {
    ++*opens_;
    return inner_->open();
  }
  dc::result<void> send(const frames& message,
                        clock::time_point deadline) override {
    return inner_->send(message, deadline);
  }
  dc::result<std::optional<frames>> receive(
      clock::time_point deadline) override {
    while (true) {
      auto got = inner_->receive(deadline);
      if (!got || !got->has_value()) return got;
      if (*opens_ > 1 || received_ < keep_) {
        ++received_;
        return got;
      }
    }
  }

 private:
  int keep_;
  std::shared_ptr<int> opens_;
  int received_ = 0;
};

// A connection to `endpoint` through a losing_channel that passes `keep`
// replies, then none until its socket is replaced; `opens` counts sockets.
dc::result<std::unique_ptr<dc::async_connection>> open_losing(
    const std::string& endpoint, std::chrono::milliseconds timeout, int keep,
    std::shared_ptr<int> opens) {
  dc::options o;
  o.endpoint = endpoint;
  o.timeout = timeout;
  auto inner = dc::detail::make_zmq_channel(o);
  if (!inner) return std::move(inner).error();
  std::vector<std::unique_ptr<channel>> chs;
  chs.push_back(
      std::make_unique<losing_channel>(std::move(*inner), keep, opens));
  return dc::async_connection::open(o, std::move(chs));
}

// What a download by id saw: the metadata told, the bytes, whether on_meta
// came before every on_data, and the result.
struct fetched_by_id {
  std::optional<dc::file_meta> told;
  int told_times = 0;
  bool data_before_meta = false;
  std::string bytes;
  int data_calls = 0;
  std::optional<dc::result<dc::file_meta>> done;
};

fetched_by_id fetch_by_id(dc::async_connection& c, const std::string& id) {
  fetched_by_id out;
  dc::download_handlers h;
  h.on_meta = [&](const dc::file_meta& m) {
    out.told = m;
    ++out.told_times;
  };
  h.on_data = [&](uint64_t, dc::shared_bytes b) {
    if (!out.told) out.data_before_meta = true;
    out.bytes.append(b.view());
    ++out.data_calls;
  };
  h.on_done = [&](dc::result<dc::file_meta> r) { out.done.emplace(r); };
  (void)c.download(id, std::move(h));
  EXPECT_TRUE(drive(c, [&] { return out.done.has_value(); }));
  return out;
}

// `got` is `file` fetched whole: told once, before any byte, then `bytes`.
void expect_fetched(const fetched_by_id& got, const dc::file_meta& file,
                    const std::string& bytes) {
  ASSERT_TRUE(got.done.has_value());
  ASSERT_OK(*got.done);
  EXPECT_EQ(**got.done, file);
  EXPECT_EQ(got.told, file);
  EXPECT_EQ(got.told_times, 1);
  EXPECT_FALSE(got.data_before_meta);
  EXPECT_TRUE(got.bytes == bytes);
}

TEST_F(AsyncConnection, TransfersResumeWhenTheirRepliesAreLost) {
  start();
  std::string stored = random_bytes(1 << 20, 15);
  auto kept = store("stored.bin", stored);
  ASSERT_OK(kept);
  std::string id = kept->file.id;
  auto opens = std::make_shared<int>(0);
  auto c = open_losing(endpoint(), 400ms, 12, opens);
  ASSERT_OK(c);
  auto& conn = **c;

  // An upload (64 KiB chunks, window 4) and a download at once; replies
  // stop after the twelfth until the socket is replaced.
  std::string bytes = random_bytes(1 << 20, 16);
  pusher up{conn, {bytes}, "resumed-", false};
  std::string got;
  std::optional<dc::result<dc::file_meta>> fetched;
  dc::download_handlers d;
  d.on_data = [&](uint64_t, dc::shared_bytes b) { got.append(b.view()); };
  d.on_done = [&](dc::result<dc::file_meta> r) { fetched.emplace(r); };
  (void)conn.download(id, std::move(d));
  ASSERT_TRUE(drive(conn, [&] { return up.step() && conn.pending() == 0; }));
  EXPECT_EQ(*opens, 2);  // one stall: one new socket
  ASSERT_OK(*up.results[0]);
  EXPECT_GE((*up.results[0])->resumes, 1u);
  EXPECT_EQ((*up.results[0])->file.id, candidate_id(bytes, 0));
  ASSERT_TRUE(fetched.has_value());
  ASSERT_OK(*fetched);
  EXPECT_TRUE(got == stored);
}

TEST_F(AsyncConnection, ADownloadWhoseFirstReplyIsLostAsksAgain) {
  start();
  std::string stored = random_bytes(300000, 18);
  auto up = store("stored.bin", stored);
  ASSERT_OK(up);
  std::string id = up->file.id;
  // Nothing comes back until the socket is replaced: the download's first
  // range (the one asking for the metadata) times out first.
  auto opens = std::make_shared<int>(0);
  auto c = open_losing(endpoint(), 300ms, 0, opens);
  ASSERT_OK(c);
  auto got = fetch_by_id(**c, id);
  EXPECT_EQ(*opens, 2);
  expect_fetched(got, up->file, stored);
}

// Passes every message, noting each request's op in `ops` ("download+meta"
// for a download asking for the metadata); with `strip_meta`, takes `meta`
// out of download replies, as a server older than the key answers.
class op_channel final : public wrapping_channel {
 public:
  op_channel(std::unique_ptr<channel> inner, bool strip_meta,
             std::shared_ptr<std::vector<std::string>> ops)
      : wrapping_channel(std::move(inner)),
        strip_meta_(strip_meta),
        ops_(std::move(ops)) {}

  dc::result<void> send(const frames& message,
                        clock::time_point deadline) override {
    auto req = schema::decode_request(message);
    if (auto* r = std::get_if<schema::request>(&req)) {
      auto* d = std::get_if<schema::download_request>(&r->body);
      ops_->push_back(std::string{schema::op_name(r->body)} +
                      (d && d->meta ? "+meta" : ""));
      if (d && r->rid) download_rids_.insert(*r->rid);
    }
    return inner_->send(message, deadline);
  }
  dc::result<std::optional<frames>> receive(
      clock::time_point deadline) override {
    auto got = inner_->receive(deadline);
    if (!strip_meta_ || !got || !got->has_value()) return got;
    auto rep = schema::decode_reply(**got, "download");
    auto* r = std::get_if<schema::reply>(&rep);
    if (!r || !r->rid || !download_rids_.count(*r->rid)) return got;
    if (auto* d = std::get_if<schema::download_reply>(&r->body); d && d->meta) {
      d->meta.reset();
      **got = schema::encode_reply(*r);
    }
    return got;
  }

 private:
  bool strip_meta_;
  std::shared_ptr<std::vector<std::string>> ops_;
  std::set<uint64_t> download_rids_;
};

// A connection to `endpoint` through an op_channel.
std::unique_ptr<dc::async_connection> open_noting(
    const std::string& endpoint, bool strip_meta,
    std::shared_ptr<std::vector<std::string>> ops) {
  dc::options o;
  o.endpoint = endpoint;
  o.timeout = 10s;
  auto inner = dc::detail::make_zmq_channel(o);
  EXPECT_TRUE(inner.ok());
  if (!inner) return nullptr;
  std::vector<std::unique_ptr<channel>> chs;
  chs.push_back(std::make_unique<op_channel>(std::move(*inner), strip_meta,
                                             std::move(ops)));
  auto c = dc::async_connection::open(o, std::move(chs));
  EXPECT_TRUE(c.ok()) << dc::to_string(c.error());
  return c ? std::move(*c) : nullptr;
}

TEST_F(AsyncConnection, DownloadsByIdWithoutAStatOrAPingMetadataFirst) {
  start();
  std::string small = random_bytes(4096, 31);
  std::string large = random_bytes(300000, 32);  // five 64 KiB ranges
  auto up_small = store("small.bin", small);
  auto up_large = store("large.bin", large);
  ASSERT_OK(up_small);
  ASSERT_OK(up_large);
  auto ops = std::make_shared<std::vector<std::string>>();
  auto c = open_noting(endpoint(), false, ops);
  ASSERT_TRUE(c);

  // A small file: one request, nothing before it.
  auto got = fetch_by_id(*c, up_small->file.id);
  expect_fetched(got, up_small->file, small);
  EXPECT_EQ(*ops, std::vector<std::string>{"download+meta"});

  // A file of several ranges: the first asks for the metadata, the others
  // follow at the server's chunk_max.
  ops->clear();
  got = fetch_by_id(*c, up_large->file.id);
  expect_fetched(got, up_large->file, large);
  EXPECT_EQ(got.data_calls, 5);
  std::vector<std::string> want{"download+meta", "download", "download",
                                "download", "download"};
  EXPECT_EQ(*ops, want);
}

TEST_F(AsyncConnection, DownloadsAnEmptyFileByIdAndFailsAnUnknownOne) {
  start();
  auto ops = std::make_shared<std::vector<std::string>>();
  auto c = open_noting(endpoint(), false, ops);
  ASSERT_TRUE(c);
  auto up = upload_all(*c, "empty.bin", "");
  ASSERT_OK(up);
  ops->clear();
  auto got = fetch_by_id(*c, up->file.id);
  ASSERT_TRUE(got.done.has_value());
  ASSERT_OK(*got.done);
  EXPECT_EQ((*got.done)->size, 0u);
  EXPECT_EQ(got.told, up->file);
  EXPECT_EQ(got.data_calls, 0);
  EXPECT_EQ(*ops, std::vector<std::string>{"download+meta"});

  ops->clear();
  got = fetch_by_id(*c, "000000000000");
  ASSERT_TRUE(got.done.has_value());
  ASSERT_FALSE(*got.done);
  EXPECT_EQ(got.done->error().code, dc::errc::not_found);
  EXPECT_EQ(got.done->error().source, dc::error_source::server);
  EXPECT_EQ(got.told_times, 0);
  EXPECT_EQ(got.data_calls, 0);
  EXPECT_EQ(*ops, std::vector<std::string>{"download+meta"});
}

TEST_F(AsyncConnection, ADownloadByIdAsksStatWhenTheServerGivesNoMeta) {
  start();
  std::string small = random_bytes(4096, 33);
  std::string large = random_bytes(300000, 34);
  std::string empty;
  auto ops = std::make_shared<std::vector<std::string>>();
  auto c = open_noting(endpoint(), true, ops);
  ASSERT_TRUE(c);
  for (const std::string* bytes : {&small, &large, &empty}) {
    auto up = upload_all(*c, "old-server.bin", *bytes);
    ASSERT_OK(up);
    ops->clear();
    auto got = fetch_by_id(*c, up->file.id);
    expect_fetched(got, up->file, *bytes);
    // The first range is kept: stat, then only the ranges after it.
    ASSERT_GE(ops->size(), 2u);
    EXPECT_EQ((*ops)[0], "download+meta");
    EXPECT_EQ((*ops)[1], "stat");
    EXPECT_EQ(ops->size(),
              2 + (bytes->size() > 65536 ? bytes->size() / 65536 : 0));
  }
}

TEST_F(AsyncConnection, ACallbacksExceptionLeavesProcessAndTheOthersGoOn) {
  start();
  std::string bytes = random_bytes(300000, 17);
  auto c = open_async(endpoint());
  ASSERT_TRUE(c);
  auto up = upload_all(*c, "t.bin", bytes);
  ASSERT_OK(up);
  std::vector<std::string> got(3);
  std::vector<std::optional<dc::result<dc::file_meta>>> done(3);
  bool thrown = false;
  for (size_t i = 0; i < 3; ++i) {
    dc::download_handlers h;
    h.on_data = [&, i](uint64_t, dc::shared_bytes b) {
      got[i].append(b.view());
      if (i == 0 && !thrown) {
        thrown = true;
        throw std::runtime_error("receiver failed");
      }
    };
    h.on_done = [&, i](dc::result<dc::file_meta> r) { done[i].emplace(r); };
    (void)c->download(up->file.id, std::move(h));
  }
  int caught = 0;
  auto end = clock::now() + 30s;
  while (c->pending() > 0 && clock::now() < end) {
    try {
      c->run_once(100ms);
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "receiver failed");
      ++caught;
    }
  }
  EXPECT_EQ(caught, 1);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(done[i].has_value()) << i;
    ASSERT_OK(*done[i]);
    EXPECT_TRUE(got[i] == bytes) << i;
  }
}

// Loses the replies to `stat` requests (by rid, learnt as they are sent)
// and passes every other reply: a server that answers pings but never a
// stat, so it is never silent for a whole timeout.
class stat_losing_channel final : public wrapping_channel {
 public:
  explicit stat_losing_channel(std::unique_ptr<channel> inner)
      : wrapping_channel(std::move(inner)) {}

  dc::result<void> send(const frames& message,
                        clock::time_point deadline) override {
    auto req = schema::decode_request(message);
    if (auto* r = std::get_if<schema::request>(&req);
        r && r->rid && std::holds_alternative<schema::stat_request>(r->body))
      stat_rids_.insert(*r->rid);
    return inner_->send(message, deadline);
  }
  dc::result<std::optional<frames>> receive(
      clock::time_point deadline) override {
    while (true) {
      auto got = inner_->receive(deadline);
      if (!got || !got->has_value()) return got;
      auto rid = peek_rid(std::string_view{
          reinterpret_cast<const char*>((**got)[0].data()), (**got)[0].size()});
      if (!rid || !stat_rids_.count(*rid)) return got;
      ++lost;
    }
  }

  int lost = 0;

 private:
  std::set<uint64_t> stat_rids_;
};

TEST(AsyncSeveralServers, AStatRetriedAfterATimeoutGoesToAnotherServer) {
  temp_dir root;
  std::array<std::optional<test_depotd>, 2> servers;
  dc::options o;
  for (size_t i = 0; i < servers.size(); ++i) {
    depotd_options d;
    d.root = root / "store";
    d.log = root / ("depotd-" + std::to_string(i) + ".log");
    servers[i].emplace(d);
    o.endpoints.push_back(servers[i]->endpoint());
  }
  o.timeout = 400ms;
  std::string id;
  {
    auto plain = dc::async_connection::open(o);
    ASSERT_OK(plain);
    auto up = upload_all(**plain, "stat-me.bin", random_bytes(5000, 19));
    ASSERT_OK(up);
    id = up->file.id;
  }
  auto chs = dc::detail::make_zmq_channels(o);
  ASSERT_OK(chs);
  auto lossy = std::make_unique<stat_losing_channel>(std::move((*chs)[0]));
  auto* server0 = lossy.get();
  (*chs)[0] = std::move(lossy);
  auto opened = dc::async_connection::open(o, std::move(*chs));
  ASSERT_OK(opened);
  auto& c = **opened;
  // Both connected and answering.
  std::set<std::string> answered;
  for (int i = 0; i < 50 && answered.size() < 2; ++i) {
    c.ping([&](dc::result<dc::server_info> r) {
      ASSERT_OK(r);
      answered.insert(r->endpoint);
    });
    ASSERT_TRUE(drive(c, [&] { return c.pending() == 0; }));
  }
  ASSERT_EQ(answered.size(), 2u);
  // Stats, each followed by two pings: requests go in turn, so every other
  // stat lands on server 0, which answers the pings sent after it (it is
  // not silent when the stat times out) and, in turn, would get its retry
  // too. Every retry must go to server 1 all the same.
  std::vector<std::optional<dc::result<dc::file_meta>>> stats(8);
  int pongs = 0;
  for (auto& stat : stats) {
    c.stat(id,
           [&](dc::result<dc::file_meta> r) { stat.emplace(std::move(r)); });
    for (int i = 0; i < 2; ++i)
      c.ping([&](dc::result<dc::server_info> r) {
        EXPECT_OK(r);
        ++pongs;
      });
  }
  ASSERT_TRUE(drive(
      c, [&] { return c.pending() == 0; }, 20s));
  EXPECT_EQ(pongs, 16);
  for (auto& stat : stats) {
    ASSERT_TRUE(stat.has_value());
    ASSERT_OK(*stat);
    EXPECT_EQ((*stat)->id, id);
  }
  EXPECT_GE(server0->lost, 1);
}

TEST(AsyncSeveralServers, KeepsServingWhenOneOfThemStopsAnswering) {
  temp_dir root;
  std::array<std::optional<test_depotd>, 2> servers;
  std::vector<std::string> endpoints;
  for (size_t i = 0; i < servers.size(); ++i) {
    depotd_options o;
    o.flags = small_chunks;
    o.root = root / "store";
    o.log = root / ("depotd-" + std::to_string(i) + ".log");
    servers[i].emplace(o);
    endpoints.push_back(servers[i]->endpoint());
  }
  dc::options o;
  o.endpoints = endpoints;
  o.timeout = 500ms;
  auto opened = dc::async_connection::open(o);
  ASSERT_OK(opened);
  auto& c = **opened;
  std::string bytes = random_bytes(1 << 20, 12);
  auto stored = upload_all(c, "shared.bin", bytes);
  ASSERT_OK(stored);

  // Both answer: pings go round-robin over them.
  std::set<std::string> answered;
  for (int i = 0; i < 4; ++i)
    c.ping([&](dc::result<dc::server_info> r) {
      ASSERT_OK(r);
      answered.insert(r->endpoint);
    });
  ASSERT_TRUE(drive(c, [&] { return c.pending() == 0; }));
  EXPECT_EQ(answered.size(), 2u);

  // One stops (its connections stay up; it just does not answer): stateless
  // requests and ranges go to the other, and so does a new upload.
  ASSERT_TRUE(pause_process(servers[0]->pid()));
  int stats = 0;
  for (int i = 0; i < 6; ++i)
    c.stat(stored->file.id, [&](dc::result<dc::file_meta> r) {
      EXPECT_OK(r);
      ++stats;
    });
  std::string got;
  std::optional<dc::result<dc::file_meta>> fetched;
  dc::download_handlers d;
  d.on_data = [&](uint64_t, dc::shared_bytes b) { got.append(b.view()); };
  d.on_done = [&](dc::result<dc::file_meta> r) { fetched.emplace(r); };
  (void)c.download(stored->file.id, std::move(d));
  std::string fresh = random_bytes(300000, 13);
  pusher up{c, {fresh}, "fresh-", true};
  bool finished = drive(
      c, [&] { return up.step() && c.pending() == 0; }, 20s);
  ::kill(servers[0]->pid(), SIGCONT);
  ASSERT_TRUE(finished);
  EXPECT_EQ(stats, 6);
  ASSERT_TRUE(fetched.has_value());
  ASSERT_OK(*fetched);
  EXPECT_TRUE(got == bytes);
  ASSERT_OK(*up.results[0]);
  EXPECT_EQ((*up.results[0])->file.id, candidate_id(fresh, 0));
}

}  // namespace
}  // namespace depot::test
