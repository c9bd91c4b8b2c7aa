// Transfers that lose their replies or their server halfway, against a real
// depotd: a reconnect (new socket, new routing id) continues an upload from
// upload_status's `next`; a server restart makes it start over; a download
// asks again for the ranges it lost.

#include "client/channel.hpp"
#include "client/client.hpp"
#include "schema/codec.hpp"
#include "tests/client/support.hpp"
#include "tests/client/wrapping_channel.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <utility>

namespace depot::test {
namespace {

// Keeps uploads in the server's RAM mode (no switch to a staging file), so
// that these tests are about resuming only; Connection.RoundTripsFilesLarger
// ThanTheServersRamThreshold covers the switch.
const std::vector<std::string> ram_only{"--ram-threshold", "67108864"};

std::vector<std::string> flags(std::vector<std::string> f) {
  f.insert(f.end(), ram_only.begin(), ram_only.end());
  return f;
}

using client::detail::channel;
using client::detail::clock;
using client::detail::frames;

// What a tapped channel saw, shared with the test.
struct tap_log {
  std::vector<std::string> ops;      // every request sent, by op
  std::vector<uint64_t> seqs;        // seq of every chunk sent
  std::vector<size_t> seq_op_index;  // index into ops of each seq
  int opens = 0;
  int received = 0;         // replies passed on
  int drop_after = -1;      // lose every reply after this many...
  int drop_until_open = 0;  // ...until the n-th open()
  int dropped = 0;
};

// A ZeroMQ channel that records requests and loses replies on cue: after
// `drop_after` replies it drops every incoming message until the socket is
// replaced, as a network that loses a connection would.
class tapped_channel final : public wrapping_channel {
 public:
  tapped_channel(std::unique_ptr<channel> inner, std::shared_ptr<tap_log> log)
      : wrapping_channel(std::move(inner)), log_(std::move(log)) {}

  client::result<void> open() override {
    ++log_->opens;
    return inner_->open();
  }

  client::result<void> send(const frames& message,
                            clock::time_point deadline) override {
    auto decoded = schema::decode_request(message);
    if (auto* r = std::get_if<schema::request>(&decoded)) {
      log_->ops.emplace_back(schema::op_name(r->body));
      if (auto* c = std::get_if<schema::chunk_request>(&r->body)) {
        log_->seqs.push_back(c->seq);
        log_->seq_op_index.push_back(log_->ops.size() - 1);
      }
    }
    return inner_->send(message, deadline);
  }

  client::result<std::optional<frames>> receive(
      clock::time_point deadline) override {
    while (true) {
      auto got = inner_->receive(deadline);
      if (!got || !got->has_value()) return got;
      bool losing = log_->drop_after >= 0 &&
                    log_->received >= log_->drop_after &&
                    log_->opens < log_->drop_until_open;
      if (!losing) {
        ++log_->received;
        return got;
      }
      ++log_->dropped;
    }
  }

 private:
  std::shared_ptr<tap_log> log_;
};

client::connection tapped(const std::string& endpoint,
                          std::shared_ptr<tap_log> log,
                          std::chrono::milliseconds timeout) {
  client::options o;
  o.endpoint = endpoint;
  o.timeout = timeout;
  auto inner = client::detail::make_zmq_channel(o);
  EXPECT_TRUE(inner.ok());
  auto c = client::connection::open(
      o, std::make_unique<tapped_channel>(std::move(*inner), std::move(log)));
  EXPECT_TRUE(c.ok()) << client::to_string(c.error());
  return std::move(*c);
}

client::connection plain(const std::string& endpoint) {
  client::options o;
  o.endpoint = endpoint;
  auto c = client::connection::open(o);
  EXPECT_TRUE(c.ok());
  return std::move(*c);
}

// A ZeroMQ channel that flips one byte of the first chunk's payload on its
// way to the server, as a fault between the client's reading and the
// server's hashing would.
class corrupting_channel final : public wrapping_channel {
 public:
  explicit corrupting_channel(std::unique_ptr<channel> inner)
      : wrapping_channel(std::move(inner)) {}
  client::result<void> send(const frames& message,
                            clock::time_point deadline) override {
    auto decoded = schema::decode_request(message);
    auto* r = std::get_if<schema::request>(&decoded);
    if (done_ || !r ||
        !std::holds_alternative<schema::chunk_request>(r->body) ||
        message.size() < 2 || message[1].empty())
      return inner_->send(message, deadline);
    done_ = true;
    std::vector<std::byte> bytes(message[1].data(),
                                 message[1].data() + message[1].size());
    bytes[bytes.size() / 2] ^= std::byte{0x5a};
    frames changed = message;
    changed[1] = schema::buffer::from_vector(std::move(bytes));
    return inner_->send(changed, deadline);
  }
  client::result<std::optional<frames>> receive(
      clock::time_point deadline) override {
    return inner_->receive(deadline);
  }

 private:
  bool done_ = false;
};

TEST(UploadVerification, BytesChangedOnTheWayFailTheUploadAndItsCopyIsRemoved) {
  depotd server{flags({"--chunk-max", "65536", "--window", "4"})};
  ASSERT_TRUE(server.start());
  temp_dir dir;
  write_bytes(dir / "file", random_bytes(300000, 23));
  client::options o;
  o.endpoint = server.endpoint();
  auto inner = client::detail::make_zmq_channel(o);
  ASSERT_OK(inner);
  auto conn = client::connection::open(
      o, std::make_unique<corrupting_channel>(std::move(*inner)));
  ASSERT_OK(conn);
  auto up = conn->upload_file(dir / "file");
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.error().code, client::errc::checksum_mismatch);
  EXPECT_EQ(up.error().source, client::error_source::local);
  EXPECT_NE(up.error().message.find("was removed"), std::string::npos)
      << up.error().message;
  auto check = plain(server.endpoint());
  auto page = check.list_page(std::nullopt, 10);
  ASSERT_OK(page);
  EXPECT_TRUE(page->files.empty()) << "the corrupted copy is still stored";
}

TEST(UploadResume, ContinuesFromNextAfterAReconnect) {
  depotd server{flags({"--chunk-max", "65536", "--window", "4"})};
  ASSERT_TRUE(server.start());
  temp_dir dir;
  std::string bytes = random_bytes(4 << 20, 21);  // 64 chunks
  write_bytes(dir / "file", bytes);

  auto log = std::make_shared<tap_log>();
  log->drop_after = 1 + 10;  // the `upload` reply and ten chunk acks
  log->drop_until_open = 2;  // until the first reconnect
  auto conn = tapped(server.endpoint(), log, std::chrono::milliseconds(500));
  auto up = conn.upload_file(dir / "file");
  ASSERT_OK(up);
  EXPECT_EQ(up->file.sha256, sha256_hex(bytes));
  EXPECT_EQ(up->file.size, bytes.size());
  EXPECT_GE(up->resumes, 1u);
  EXPECT_EQ(up->restarts, 0u);

  EXPECT_GT(log->dropped, 0) << "the tap never lost a reply";
  EXPECT_EQ(log->opens, 2) << "one socket at the start, one after the timeout";
  EXPECT_EQ(std::count(log->ops.begin(), log->ops.end(), "upload"), 1)
      << "the upload was begun again instead of resumed";
  auto status_at = std::find(log->ops.begin(), log->ops.end(), "upload_status");
  ASSERT_NE(status_at, log->ops.end());
  EXPECT_EQ(std::count(log->seqs.begin(), log->seqs.end(), 0u), 1)
      << "chunk 0 was sent twice: the upload started over";
  // The first chunk after upload_status continues where the server stood.
  size_t status_index = static_cast<size_t>(status_at - log->ops.begin());
  for (size_t i = 0; i < log->seqs.size(); ++i) {
    if (log->seq_op_index[i] > status_index) {
      EXPECT_GE(log->seqs[i], 10u);
      break;
    }
  }

  auto check = plain(server.endpoint());
  std::ostringstream out;
  ASSERT_OK(check.download(up->file.id, out));
  EXPECT_TRUE(out.str() == bytes);
}

TEST(UploadResume, StartsOverWhenTheServerRestartsMidUpload) {
  temp_dir sock;
  depotd server{flags({"--chunk-max", "65536", "--window", "4"}),
                "ipc://" + sock / "depot.sock"};
  ASSERT_TRUE(server.start());
  temp_dir dir;
  std::string bytes = random_bytes(12 << 20, 22);  // 192 chunks
  write_bytes(dir / "file", bytes);

  client::options o;
  o.endpoint = server.endpoint();
  o.timeout = std::chrono::seconds(2);
  auto conn = client::connection::open(o);
  ASSERT_OK(conn);
  bool restarted = false;
  ::testing::AssertionResult restart_ok = ::testing::AssertionSuccess();
  client::upload_options uo;
  uo.on_progress = [&](const client::progress& p) {
    if (!restarted && p.done >= (2u << 20)) {
      restarted = true;
      restart_ok = server.restart();
    }
  };
  auto up = conn->upload_file(dir / "file", uo);
  ASSERT_TRUE(restarted);
  ASSERT_TRUE(restart_ok);
  ASSERT_OK(up);
  EXPECT_EQ(up->restarts, 1u);
  EXPECT_EQ(up->file.sha256, sha256_hex(bytes));

  std::string down = dir / "down";
  ASSERT_OK(conn->download_file(up->file.id, down));
  EXPECT_TRUE(read_text(down) == bytes);
}

TEST(DownloadResume, AsksAgainForTheRangesItLost) {
  depotd server{flags({"--chunk-max", "65536"})};
  ASSERT_TRUE(server.start());
  temp_dir dir;
  std::string bytes = random_bytes(3 << 20, 23);
  write_bytes(dir / "file", bytes);
  auto uploader = plain(server.endpoint());
  auto up = uploader.upload_file(dir / "file");
  ASSERT_OK(up);

  auto log = std::make_shared<tap_log>();
  log->drop_after = 2 + 5;  // stat, ping, five ranges
  log->drop_until_open = 2;
  auto conn = tapped(server.endpoint(), log, std::chrono::milliseconds(500));
  std::string down = dir / "down";
  ASSERT_OK(conn.download_file(up->file.id, down));
  EXPECT_GT(log->dropped, 0);
  EXPECT_EQ(log->opens, 2);
  EXPECT_TRUE(read_text(down) == bytes);
}

TEST(UploadResume, FailsWithATimeoutWhenTheServerIsGone) {
  depotd server{flags({"--chunk-max", "65536", "--window", "2"})};
  ASSERT_TRUE(server.start());
  temp_dir dir;
  write_bytes(dir / "file", random_bytes(4 << 20, 24));
  client::options o;
  o.endpoint = server.endpoint();
  o.timeout = std::chrono::milliseconds(300);
  o.retries = 2;
  auto conn = client::connection::open(o);
  ASSERT_OK(conn);
  bool stopped = false;
  client::upload_options uo;
  uo.on_progress = [&](const client::progress& p) {
    if (!stopped && p.done > 0) {
      stopped = true;
      server.stop();
    }
  };
  auto up = conn->upload_file(dir / "file", uo);
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.error().source, client::error_source::timeout);
}

}  // namespace
}  // namespace depot::test
