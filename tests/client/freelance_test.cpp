// Several depotd processes serving one store (one shared --root), one
// connection to all of them (zguide's Freelance pattern): requests are
// spread, a server that stops answering is skipped, an upload whose server
// dies starts over on another, and the CLI takes several servers.

#include "client/channel.hpp"
#include "client/client.hpp"
#include "schema/codec.hpp"
#include "tests/client/support.hpp"
#include "tests/client/wrapping_channel.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace depot::test {
namespace {

using client::detail::channel;
using client::detail::clock;
using client::detail::frames;

// Keeps uploads in the servers' RAM (no staging files): these tests are
// about where requests go.
const std::vector<std::string> server_flags{
    "--chunk-max", "65536", "--window", "4", "--ram-threshold", "67108864"};

// What one server's channel carried, shared with the test.
struct traffic {
  std::map<std::string, int> ops;  // requests sent, by op
  int attempts = 0;  // requests the client tried to send, sent or not
  int replies = 0;   // messages received
};

// A ZeroMQ channel that counts what goes through it.
class counting_channel final : public wrapping_channel {
 public:
  counting_channel(std::unique_ptr<channel> inner,
                   std::shared_ptr<traffic> seen)
      : wrapping_channel(std::move(inner)), seen_(std::move(seen)) {}

  client::result<void> send(const frames& message,
                            clock::time_point deadline) override {
    ++seen_->attempts;
    auto sent = inner_->send(message, deadline);
    auto decoded = schema::decode_request(message);
    if (auto* r = std::get_if<schema::request>(&decoded); r && sent)
      ++seen_->ops[std::string{schema::op_name(r->body)}];
    return sent;
  }

  client::result<std::optional<frames>> receive(
      clock::time_point deadline) override {
    auto got = inner_->receive(deadline);
    if (got && got->has_value()) ++seen_->replies;
    return got;
  }

 private:
  std::shared_ptr<traffic> seen_;
};

// Three depotd processes on one root, each on a port it picked.
class Freelance : public ::testing::Test {
 protected:
  void SetUp() override {
    for (size_t i = 0; i < servers_.size(); ++i) {
      depotd_options o;
      o.flags = server_flags;
      o.root = root_ / "store";
      o.log = root_ / ("depotd-" + std::to_string(i) + ".log");
      servers_[i].emplace(o);
    }
  }

  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (const auto& s : servers_) out.push_back(s->endpoint());
    return out;
  }

  // A connection to all three servers that counts each one's traffic.
  client::connection connect(std::chrono::milliseconds timeout,
                             unsigned retries = 3) {
    client::options o;
    o.endpoints = endpoints();
    o.timeout = timeout;
    o.retries = retries;
    std::vector<std::unique_ptr<channel>> chs;
    for (size_t i = 0; i < servers_.size(); ++i) {
      client::options one = o;
      one.endpoints = {o.endpoints[i]};
      auto inner = client::detail::make_zmq_channel(one);
      EXPECT_TRUE(inner.ok());
      traffic_[i] = std::make_shared<traffic>();
      chs.push_back(
          std::make_unique<counting_channel>(std::move(*inner), traffic_[i]));
    }
    auto c = client::connection::open(o, std::move(chs));
    EXPECT_TRUE(c.ok()) << client::to_string(c.error());
    return std::move(*c);
  }

  // Requests the client sent server `s`.
  int requests_to(size_t s) const {
    int n = 0;
    for (const auto& [op, count] : traffic_[s]->ops) n += count;
    return n;
  }

  void upload_survives(const std::function<void(size_t)>& halt);

  std::string write_file(const std::string& name, const std::string& bytes) {
    std::string path = dir_ / name;
    write_bytes(path, bytes);
    return path;
  }

  temp_dir root_;
  temp_dir dir_;
  std::array<std::optional<test_depotd>, 3> servers_;
  std::array<std::shared_ptr<traffic>, 3> traffic_;
};

// Bytes the kernel moved on the server's established TCP connections, as
// `ss` reports them: {sent and acknowledged, received}. nullopt when `ss`
// cannot tell (not installed, or a kernel without these counters).
std::optional<std::pair<uint64_t, uint64_t>> server_tcp_bytes(
    const std::string& endpoint) {
  std::string port = endpoint.substr(endpoint.rfind(':') + 1);
  std::string command =
      "ss -tinH state established '( sport = :" + port + " )' 2>/dev/null";
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return std::nullopt;
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p))
    out.append(buf.data(), n);
  ::pclose(p);
  auto sum = [&](const std::string& key) -> std::optional<uint64_t> {
    std::optional<uint64_t> total;
    for (size_t at = out.find(key); at != std::string::npos;
         at = out.find(key, at + 1)) {
      total = total.value_or(0) + std::stoull(out.substr(at + key.size()));
    }
    return total;
  };
  auto sent = sum(" bytes_acked:");
  auto received = sum(" bytes_received:");
  if (!sent || !received) return std::nullopt;
  return std::make_pair(*sent, *received);
}

TEST_F(Freelance, SpreadsUploadsAndDownloadsOverEveryServer) {
  auto conn = connect(std::chrono::seconds(5));
  std::vector<std::string> contents;
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    contents.push_back(random_bytes(256 * 1024 + i, 100 + i));
    auto up =
        conn.upload_file(write_file("f" + std::to_string(i), contents.back()));
    ASSERT_OK(up);
    EXPECT_EQ(up->file.sha256, sha256_hex(contents.back()));
    EXPECT_EQ(up->restarts, 0u);
    ids.push_back(up->file.id);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    std::ostringstream out;
    ASSERT_OK(conn.download(ids[i], out));
    EXPECT_TRUE(out.str() == contents[i]) << "file " << i << " differs";
    ASSERT_OK(conn.stat(ids[i]));
  }

  // The client sent each server uploads, chunks and ranges...
  for (size_t s = 0; s < traffic_.size(); ++s) {
    EXPECT_GE(traffic_[s]->ops["upload"], 1) << "server " << s;
    EXPECT_GE(traffic_[s]->ops["chunk"], 4) << "server " << s;
    EXPECT_GE(traffic_[s]->ops["download"], 1) << "server " << s;
    EXPECT_GE(traffic_[s]->replies, 6) << "server " << s;
  }
  // ...and each server took chunks and sent ranges: its own kernel counts
  // what went over its connections (a chunk or a range is 64 KiB).
  for (size_t s = 0; s < servers_.size(); ++s) {
    auto bytes = server_tcp_bytes(servers_[s]->endpoint());
    if (!bytes) {
      std::cerr << "note: `ss` gives no byte counts here; the server-side "
                   "check is skipped\n";
      break;
    }
    std::cerr << "server " << s << ": sent " << bytes->first << " received "
              << bytes->second << " bytes\n";
    EXPECT_GE(bytes->first, 64u * 1024) << "server " << s << " sent";
    EXPECT_GE(bytes->second, 64u * 1024) << "server " << s << " received";
  }
}

// stat, download and upload against three servers; every one must succeed.
void exercise(client::connection& conn, const std::string& id,
              const std::string& bytes, const temp_dir& dir, int round) {
  auto st = conn.stat(id);
  ASSERT_OK(st);
  EXPECT_EQ(st->size, bytes.size());
  std::ostringstream out;
  ASSERT_OK(conn.download(id, out));
  EXPECT_TRUE(out.str() == bytes) << "round " << round;
  std::string fresh = random_bytes(150 * 1024, 1000 + round);
  std::string path = dir / ("up-" + std::to_string(round));
  write_bytes(path, fresh);
  auto up = conn.upload_file(path);
  ASSERT_OK(up);
  EXPECT_EQ(up->file.sha256, sha256_hex(fresh));
}

TEST_F(Freelance, KeepsServingWhileOneServerIsStoppedThenKilledAndUsesItAgain) {
  auto conn = connect(std::chrono::milliseconds(500));
  std::string bytes = random_bytes(512 * 1024, 7);
  auto up = conn.upload_file(write_file("base", bytes));
  ASSERT_OK(up);
  int round = 0;
  for (int i = 0; i < 3; ++i) exercise(conn, up->file.id, bytes, dir_, round++);

  // SIGSTOP: its connections stay up, it just does not answer; requests
  // still get served by the others. (That a server in back-off is tried
  // again once the back-off ends is what the restart below checks: how
  // many tries fit in this window depends on the machine's speed.)
  int tried_before = traffic_[1]->attempts;
  ASSERT_TRUE(pause_process(servers_[1]->pid()));
  auto until = clock::now() + std::chrono::milliseconds(4000);
  int rounds = 0;
  while (clock::now() < until || rounds < 3) {
    exercise(conn, up->file.id, bytes, dir_, round++);
    if (HasFatalFailure()) return;
    ++rounds;
  }
  EXPECT_GE(traffic_[1]->attempts - tried_before, 1)
      << "the stopped server was never tried";

  // SIGKILL: its connections go away.
  servers_[1]->kill9();
  until = clock::now() + std::chrono::milliseconds(1500);
  for (rounds = 0; clock::now() < until || rounds < 3; ++rounds) {
    exercise(conn, up->file.id, bytes, dir_, round++);
    if (HasFatalFailure()) return;
  }

  // Back on the same port: once its back-off is over it gets requests, and
  // answers them, again.
  servers_[1]->restart();
  int replies_before = traffic_[1]->replies;
  auto limit = clock::now() + std::chrono::seconds(10);
  while (traffic_[1]->replies == replies_before && clock::now() < limit) {
    exercise(conn, up->file.id, bytes, dir_, round++);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(traffic_[1]->replies, replies_before)
      << "the restarted server was never used again";
}

// Uploads 4 MiB; once 1 MiB is acknowledged, `halt` is applied to the server
// holding the upload. The upload must complete on another server, whole.
void Freelance::upload_survives(const std::function<void(size_t)>& halt) {
  auto conn = connect(std::chrono::milliseconds(500), 2);
  std::string bytes = random_bytes(4 << 20, 42);  // 64 chunks
  std::string path = write_file("big", bytes);
  std::optional<size_t> halted;
  std::vector<client::progress> seen;
  client::upload_options uo;
  uo.on_progress = [&](const client::progress& p) {
    seen.push_back(p);
    if (halted || p.done < (1u << 20)) return;
    // The server the chunks went to is the one holding the upload.
    for (size_t s = 0; s < traffic_.size(); ++s) {
      if (traffic_[s]->ops["chunk"] > 0) {
        halted = s;
        halt(s);
        return;
      }
    }
  };
  auto up = conn.upload_file(path, uo);
  ASSERT_TRUE(halted.has_value()) << "no server got chunks";
  ASSERT_OK(up);
  EXPECT_EQ(up->restarts, 1u);
  EXPECT_EQ(up->file.size, bytes.size());
  EXPECT_EQ(up->file.sha256, sha256_hex(bytes));
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().done, bytes.size());

  // Another server holds the whole content.
  for (size_t s = 0; s < servers_.size(); ++s) {
    if (s == *halted) continue;
    client::options o;
    o.endpoint = servers_[s]->endpoint();
    auto one = client::connection::open(o);
    ASSERT_OK(one);
    std::string down = dir_ / ("down-" + std::to_string(s));
    ASSERT_OK(one->download_file(up->file.id, down));
    std::string got = read_text(down);
    EXPECT_EQ(sha256_hex(got), sha256_hex(bytes)) << "server " << s;
  }
}

TEST_F(Freelance, AnUploadWhoseServerIsKilledStartsOverOnAnotherServer) {
  upload_survives([&](size_t s) { servers_[s]->kill9(); });
}

TEST_F(Freelance, AnUploadWhoseServerStopsAnsweringStartsOverOnAnotherServer) {
  upload_survives(
      [&](size_t s) { ASSERT_TRUE(pause_process(servers_[s]->pid())); });
}

TEST_F(Freelance, AnUploadEndedByAThrowingCallbackLeavesLaterCallsSpread) {
  auto conn = connect(std::chrono::seconds(5));
  std::string bytes = random_bytes(1 << 20, 77);
  auto first = conn.upload_file(write_file("kept", bytes));
  ASSERT_OK(first);
  client::upload_options uo;
  uo.on_progress = [](const client::progress& p) {
    if (p.done > 0) throw std::runtime_error("cancelled by the user");
  };
  EXPECT_THROW((void)conn.upload_file(write_file("thrown", bytes + "x"), uo),
               std::runtime_error);
  std::array<int, 3> before;
  for (size_t s = 0; s < 3; ++s) before[s] = traffic_[s]->ops["stat"];
  for (int i = 0; i < 6; ++i) ASSERT_OK(conn.stat(first->file.id));
  int servers_asked = 0;
  for (size_t s = 0; s < 3; ++s)
    servers_asked += traffic_[s]->ops["stat"] > before[s] ? 1 : 0;
  EXPECT_EQ(servers_asked, 3) << "calls stayed pinned to the upload's server";
}

TEST_F(Freelance, ADeleteThatTimedOutIsNotSentToAnotherServer) {
  auto conn = connect(std::chrono::milliseconds(500));
  std::string bytes = random_bytes(1000, 9);
  auto first = conn.upload_file(write_file("one", bytes));
  ASSERT_OK(first);
  auto second = conn.upload_file(write_file("two", bytes));
  ASSERT_OK(second);
  EXPECT_EQ(second->file.refs, 2u);

  // Every server stopped but one: a delete sent to a stopped one times
  // out and is not sent again, so at most one reference goes per call.
  ASSERT_TRUE(pause_process(servers_[0]->pid()));
  ASSERT_TRUE(pause_process(servers_[1]->pid()));
  int timeouts = 0;
  uint64_t refs = 2;
  for (int i = 0; i < 3 && refs > 0; ++i) {
    int deletes_before = traffic_[0]->ops["delete"] +
                         traffic_[1]->ops["delete"] +
                         traffic_[2]->ops["delete"];
    auto r = conn.remove(first->file.id);
    int deletes = traffic_[0]->ops["delete"] + traffic_[1]->ops["delete"] +
                  traffic_[2]->ops["delete"] - deletes_before;
    EXPECT_EQ(deletes, 1) << "one delete call sent " << deletes << " requests";
    if (r) {
      EXPECT_EQ(*r, refs - 1);
      refs = *r;
    } else {
      EXPECT_EQ(r.error().source, client::error_source::timeout);
      ++timeouts;
    }
  }
  EXPECT_GE(timeouts, 1) << "no delete went to a stopped server";
  ::kill(servers_[0]->pid(), SIGCONT);
  ::kill(servers_[1]->pid(), SIGCONT);
  // The stopped servers now take the deletes they had queued: the
  // references end where the calls that timed out may have left them.
  auto st = conn.stat(first->file.id);
  if (st) {
    EXPECT_LE(st->refs, refs);
  }
}

TEST_F(Freelance, TheCliTakesACommaListInDepotServerAndARepeatedServerFlag) {
  std::string list = servers_[0]->endpoint() + "," + servers_[1]->endpoint() +
                     "," + servers_[2]->endpoint();
  std::string bytes = random_bytes(300 * 1024, 5);
  write_bytes(dir_ / "cli.bin", bytes);
  cli_run up = run_cli(dir_, list, {"upload", dir_ / "cli.bin"});
  ASSERT_EQ(up.status, 0) << up.err;
  std::string id = up.out.substr(0, 12);

  // Two of the three gone: both forms still reach the third.
  servers_[0]->kill9();
  servers_[1]->kill9();
  cli_run st = run_cli(dir_, list, {"--timeout", "2", "stat", id});
  EXPECT_EQ(st.status, 0) << st.err;
  cli_run down = run_cli(
      dir_, list, {"--timeout", "2", "download", id, "-o", dir_ / "env.down"});
  EXPECT_EQ(down.status, 0) << down.err;
  EXPECT_TRUE(read_text(dir_ / "env.down") == bytes);

  cli_run flags =
      run_cli(dir_, "",
              {"--server", servers_[0]->endpoint(), "--server",
               servers_[1]->endpoint(), "-s", servers_[2]->endpoint(),
               "--timeout", "2", "download", id, "-o", dir_ / "flag.down"});
  EXPECT_EQ(flags.status, 0) << flags.err;
  EXPECT_TRUE(read_text(dir_ / "flag.down") == bytes);

  cli_run ping = run_cli(
      dir_, "",
      {"--json", "--server",
       servers_[0]->endpoint() + "," + servers_[2]->endpoint(), "ping"});
  EXPECT_EQ(ping.status, 0) << ping.err;
  EXPECT_NE(ping.out.find(servers_[2]->endpoint()), std::string::npos)
      << ping.out;

  // Only dead servers: a timeout, not a hang.
  cli_run dead =
      run_cli(dir_, servers_[0]->endpoint() + "," + servers_[1]->endpoint(),
              {"--timeout", "0.5", "stat", id});
  EXPECT_EQ(dead.status, 1);
  EXPECT_NE(dead.err.find("timeout"), std::string::npos) << dead.err;
}

}  // namespace
}  // namespace depot::test
