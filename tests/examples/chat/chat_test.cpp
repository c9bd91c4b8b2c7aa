// The chat relay of examples/chat/ as real processes: depotd, chat_server
// and chat_client drivers (their stdin a FIFO the test writes commands to,
// their stdout the event lines the test waits for).

#include "client/client.hpp"
#include "examples/chat/chat_wire.hpp"
#include "testkit/child_process.hpp"
#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/temp_dir.hpp"

#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace depot::test {
namespace {

namespace dc = depot::client;
using namespace std::chrono_literals;
using fields = std::vector<std::string>;

// A value of /proc/PID/status ("VmRSS", "VmHWM"), bytes; 0 if unreadable.
uint64_t proc_status_bytes(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0)
      return std::stoull(line.substr(key.size() + 1)) << 10;
  return 0;
}

// Every event line printed so far to `path`, split into fields.
std::vector<fields> events_in(const std::string& path) {
  std::vector<fields> out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) out.push_back(chat::split_event(line));
  return out;
}

// The first line of `text` containing `part` ("" if none).
std::string line_with(const std::string& text, const std::string& part) {
  size_t at = text.find(part);
  if (at == std::string::npos) {
    ADD_FAILURE() << "no line with \"" << part << "\" in:\n" << text;
    return {};
  }
  size_t b = text.rfind('\n', at);
  b = b == std::string::npos ? 0 : b + 1;
  return text.substr(b, text.find('\n', at) - b);
}

// The number right after `prefix` in `line`, -1 if none.
long number_after(const std::string& line, const std::string& prefix) {
  size_t at = line.find(prefix);
  if (at == std::string::npos) return -1;
  at += prefix.size();
  size_t end = line.find_first_not_of("0123456789", at);
  if (end == at) return -1;
  return std::stol(line.substr(at, end - at));
}

// A child process (chat_server or chat_client), killed if still running.
class child {
 public:
  child(const temp_dir& dir, const std::string& name,
        std::vector<std::string> argv, const std::string& stdin_path = {})
      : out_(dir / (name + ".out")), log_(dir / (name + ".log")) {
    spawn_options o;
    o.out = out_;
    o.log = log_;
    o.in = stdin_path;
    o.death_signal = SIGKILL;
    pid_ = spawn_child(argv, o);
    if (pid_ < 0) ADD_FAILURE() << "cannot start " << argv[0];
  }
  ~child() {
    if (pid_ > 0) kill_child(pid_);
    if (::testing::Test::HasFailure())
      std::cerr << "---- " << log_ << " ----\n" << read_file(log_);
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& log() const { return log_; }

  // The first event line matching `match`, waiting up to `limit`.
  std::optional<fields> wait_for(
      const std::function<bool(const fields&)>& match,
      std::chrono::milliseconds limit = 60s) {
    auto end = std::chrono::steady_clock::now() + limit;
    for (;;) {
      for (auto& f : events_in(out_))
        if (match(f)) return f;
      if (std::chrono::steady_clock::now() > end) return std::nullopt;
      std::this_thread::sleep_for(20ms);
    }
  }

  // The first event whose leading fields are `prefix`.
  std::optional<fields> wait_for(const fields& prefix,
                                 std::chrono::milliseconds limit = 60s) {
    return wait_for(
        [&](const fields& f) {
          if (f.size() < prefix.size()) return false;
          for (size_t i = 0; i < prefix.size(); ++i)
            if (f[i] != prefix[i]) return false;
          return true;
        },
        limit);
  }

  // Waits up to `limit` for it to exit; its status, or nullopt.
  std::optional<int> wait_exit(std::chrono::milliseconds limit) {
    auto r = wait_for_exit(pid_, limit);
    if (r) pid_ = -1;
    return r;
  }

  // SIGTERM, then its exit status (SIGKILL after 10 s).
  std::optional<int> stop() {
    auto r = stop_child(pid_, 10s);
    pid_ = -1;
    return r;
  }

 private:
  std::string out_, log_;
  pid_t pid_ = -1;
};

// The test's end of a FIFO: made and opened read-write (so that neither
// this open nor the child's blocks) before the child opens it for reading.
struct fifo_end {
  fifo_end(const temp_dir& dir, const std::string& name)
      : path(dir / (name + ".in")) {
    if (::mkfifo(path.c_str(), 0600) != 0) ADD_FAILURE() << "mkfifo " << path;
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  }
  ~fifo_end() {
    if (fd >= 0) ::close(fd);
  }
  fifo_end(const fifo_end&) = delete;
  fifo_end& operator=(const fifo_end&) = delete;

  std::string path;
  int fd = -1;
};

// A chat_client whose stdin is a FIFO the test writes commands to.
class chat_user : private fifo_end, public child {
 public:
  chat_user(const temp_dir& dir, const std::string& server,
            const std::string& user)
      : chat_user(dir, server, user, session_name(user)) {}

  // Sends one command line.
  void command(const std::string& line) {
    std::string l = line + "\n";
    ASSERT_EQ(::write(fd, l.data(), l.size()), static_cast<ssize_t>(l.size()));
  }

  // Ends its input: it leaves once its transfers are done.
  void close_input() {
    ::close(fd);
    fd = -1;
  }

 private:
  chat_user(const temp_dir& dir, const std::string& server,
            const std::string& user, const std::string& session)
      : fifo_end(dir, session),
        child(dir, session,
              {CHAT_CLIENT_PATH, "--server", server, "--user", user},
              fifo_end::path) {}

  // USER-N: a session's files (USER-N.in, .out, .log) are its own, also
  // when the same user logs in again later.
  static std::string session_name(const std::string& user) {
    static std::map<std::string, int> sessions;
    return user + "-" + std::to_string(sessions[user]++);
  }
};

class ChatRelay : public ::testing::Test {
 protected:
  // depotd with 256 KiB chunks and a window of 2 (512 KiB per upload: less
  // than the 4 pieces of 256 KiB a chat client may have in flight, so that
  // depot's window fills and the chat server must hold pieces back), then
  // the chat server.
  void SetUp() override {
    depotd_options o;
    o.ipc = true;
    o.flags = {"--chunk-max", "262144", "--window", "2"};
    depot_.emplace(o);
    chat_endpoint_ = "ipc://" + (dir_ / "chat.sock");
    std::vector<std::string> argv{CHAT_SERVER_PATH, "--listen", chat_endpoint_,
                                  "--depot", depot_->endpoint()};
    argv.insert(argv.end(), server_flags_.begin(), server_flags_.end());
    server_ = std::make_unique<child>(dir_, "chat_server", argv);
    ASSERT_TRUE(server_->wait_for(
        [](const fields& f) {
          return f[0].rfind("chat_server listening on", 0) == 0;
        },
        10s));
  }

  void TearDown() override {
    if (server_ && server_->pid() > 0) {
      auto status = server_->stop();
      EXPECT_EQ(status, std::optional<int>(0)) << "chat_server on SIGTERM";
    }
  }

  std::unique_ptr<chat_user> login(const std::string& user) {
    auto u = std::make_unique<chat_user>(dir_, chat_endpoint_, user);
    EXPECT_TRUE(u->wait_for({"ok", "login", user}, 10s)) << user;
    return u;
  }

  dc::file_meta stat(const std::string& id) {
    dc::options o;
    o.endpoint = depot_->endpoint();
    auto c = dc::connection::open(o);
    EXPECT_TRUE(c.ok());
    auto m = c->stat(id);
    EXPECT_TRUE(m.ok()) << dc::to_string(m.error());
    return m ? *m : dc::file_meta{};
  }

  std::vector<std::string> server_flags_;  // extra chat_server flags
  temp_dir dir_;
  std::optional<test_depotd> depot_;
  std::string chat_endpoint_;
  std::unique_ptr<child> server_;
};

TEST_F(ChatRelay,
       AFileReachesAnOnlineAndAnOfflineMemberWhileTheRelayHoldsLittle) {
  constexpr size_t file_size = 20 << 20;
  const std::string content = random_bytes(file_size, 18);
  const std::string photo = dir_ / "photo.bin";
  {
    std::ofstream out(photo, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
  }
  const uint64_t baseline = proc_status_bytes(server_->pid(), "VmRSS");

  // C joins the room, then leaves: it is offline when the file comes.
  {
    auto carol = login("carol");
    carol->command("join team");
    ASSERT_TRUE(carol->wait_for({"ok", "join", "team"}));
    carol->close_input();
    ASSERT_EQ(carol->wait_exit(10s), std::optional<int>(0));
  }
  auto alice = login("alice");
  auto bob = login("bob");
  alice->command("join team");
  bob->command("join team");
  ASSERT_TRUE(alice->wait_for({"ok", "join", "team"}));
  ASSERT_TRUE(bob->wait_for({"ok", "join", "team"}));

  // The whole relay: up through the chat server into depot, down to B.
  alice->command("sendfile #team " + photo);
  auto stored = alice->wait_for({"stored", "1"});
  ASSERT_TRUE(stored);
  const std::string id = (*stored)[2];
  EXPECT_EQ((*stored)[3], std::to_string(file_size));
  EXPECT_EQ((*stored)[4], "0");  // new content
  auto offer = bob->wait_for({"file", "alice", "#team"});
  ASSERT_TRUE(offer);
  EXPECT_EQ(*offer, (fields{"file", "alice", "#team", "photo.bin",
                            std::to_string(file_size),
                            "application/octet-stream", id}));
  bob->command("fetch " + id + " " + (dir_ / "bob.bin"));
  ASSERT_TRUE(bob->wait_for({"fetched", "1", id}));
  EXPECT_TRUE(read_file(dir_ / "bob.bin") == content);

  // C logs in later: the offer waited; C fetches the same bytes.
  auto carol = login("carol");
  ASSERT_TRUE(carol->wait_for({"file", "alice", "#team", "photo.bin"}));
  carol->command("pending");
  ASSERT_TRUE(carol->wait_for({"pending", id, "alice", "photo.bin"}));
  carol->command("fetch " + id + " " + (dir_ / "carol.bin"));
  ASSERT_TRUE(carol->wait_for({"fetched", "1", id}));
  EXPECT_TRUE(read_file(dir_ / "carol.bin") == content);

  // The flow control at work: the chat server held at most the 4 pieces
  // it gave credit for, while depot's window was full; the fetches at most
  // one range beyond the receiver's credit.
  const std::string log = read_file(server_->log());
  const std::string up_line =
      line_with(log, "stored " + id + " (20971520 bytes) from alice: ");
  std::cout << up_line << "\n";
  EXPECT_EQ(number_after(up_line, "from alice: "), 80);  // pieces
  EXPECT_LE(number_after(up_line, "at most "), 4);
  EXPECT_GT(number_after(up_line, "window full "), 0);
  for (const std::string user : {"bob", "carol"}) {
    const std::string line =
        line_with(log, "fetch of " + id + " by " + user + " done: ");
    std::cout << line << "\n";
    EXPECT_EQ(number_after(line, "done: "), 80);  // ranges
    EXPECT_LE(number_after(line, "at most "), 1);
  }

  // 20 MiB went in and 40 MiB out; the relay held a few windows' worth.
  const uint64_t peak = proc_status_bytes(server_->pid(), "VmHWM");
  const uint64_t growth = peak > baseline ? peak - baseline : 0;
  std::cout << "chat_server RSS: " << (baseline >> 10) << " KiB at start, peak "
            << (peak >> 10) << " KiB (growth " << (growth >> 10)
            << " KiB) relaying a " << (file_size >> 20)
            << " MiB file to two receivers\n";
  RecordProperty("chat_server_rss_growth", std::to_string(growth));
  // What it may hold by design: an upload's 4 pieces of 256 KiB (credit)
  // of which depot's window holds 2; a fetch's 4 ranges in flight (the
  // download's depth) + 1 held + 4 sent and not yet taken by the receiver
  // (credit): ~3.3 MiB. Measured ~4 MiB of growth; 8 MiB leaves room for
  // ZeroMQ's buffers and the allocator, and is far below the 20 MiB file
  // (60 MiB relayed).
  EXPECT_RSS_LT(growth, uint64_t{8} << 20);

  // The same file again, to B directly: the same id, one more reference.
  alice->command("sendfile bob " + photo);
  auto again = alice->wait_for({"stored", "2"});
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)[2], id);
  EXPECT_EQ((*again)[4], "1");  // deduplicated
  ASSERT_TRUE(bob->wait_for({"file", "alice", "bob", "photo.bin"}));
  EXPECT_EQ(stat(id).refs, 2u);

  // B forwards it to another room: only the id travels, refs unchanged;
  // the room's member gets it and can fetch it.
  carol->command("join pets");
  bob->command("join pets");
  ASSERT_TRUE(carol->wait_for({"ok", "join", "pets"}));
  ASSERT_TRUE(bob->wait_for({"ok", "join", "pets"}));
  bob->command("forward " + id + " #pets");
  ASSERT_TRUE(bob->wait_for({"ok", "forward", id}));
  auto forwarded = carol->wait_for({"file", "bob", "#pets"});
  ASSERT_TRUE(forwarded);
  EXPECT_EQ(forwarded->back(), id);
  EXPECT_EQ(stat(id).refs, 2u);
  carol->command("fetch " + id + " " + (dir_ / "carol2.bin"));
  ASSERT_TRUE(carol->wait_for({"fetched", "2", id}));
  EXPECT_TRUE(read_file(dir_ / "carol2.bin") == content);

  for (auto* u : {alice.get(), bob.get(), carol.get()}) {
    u->close_input();
    EXPECT_EQ(u->wait_exit(10s), std::optional<int>(0));
    EXPECT_FALSE(u->wait_for({"error"}, 0ms).has_value())
        << read_file(u->out());
  }
}

TEST_F(ChatRelay, ATextToAnOfflineUserIsDeliveredOnLogin) {
  auto alice = login("alice");
  alice->command("send dave are you there?");
  ASSERT_TRUE(alice->wait_for({"ok", "text", "dave"}));
  alice->command("send dave\ttabs\\and more");
  ASSERT_TRUE(alice->wait_for(
      [](const fields& f) { return f.size() == 3 && f[0] == "ok"; }));
  auto dave = login("dave");
  auto first = dave->wait_for({"msg", "alice", "dave", "are you there?"});
  ASSERT_TRUE(first);
  ASSERT_TRUE(dave->wait_for({"msg", "alice", "dave", "tabs\\and more"}));
  // Online now: the next one comes at once.
  alice->command("send dave hi again");
  ASSERT_TRUE(dave->wait_for({"msg", "alice", "dave", "hi again"}, 10s));
}

// A raw DEALER: what a hostile or broken client can send.
class raw_peer {
 public:
  explicit raw_peer(const std::string& endpoint)
      : socket_(ctx_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, 10000);
    socket_.connect(endpoint);
  }
  void send(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i)
      socket_.send(zmq::buffer(frames[i]), i + 1 < frames.size()
                                               ? zmq::send_flags::sndmore
                                               : zmq::send_flags::none);
  }
  fields receive() {
    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(socket_, std::back_inserter(parts))) return {};
    fields out;
    for (auto& p : parts) out.push_back(p.to_string());
    return out;
  }

 private:
  zmq::context_t ctx_;
  zmq::socket_t socket_;
};

TEST_F(ChatRelay, BadInputGetsAnErrorAndTheServerCarriesOn) {
  raw_peer p(chat_endpoint_);
  p.send({"text", "bob", "hi"});
  EXPECT_EQ(p.receive(), (fields{"error", "text", "", "not logged in"}));
  p.send({"login", "has space"});
  EXPECT_EQ(p.receive().at(1), "login");
  p.send({"login", "mallory"});
  EXPECT_EQ(p.receive(), (fields{"ok", "login", "mallory"}));
  p.send({"bogus"});
  EXPECT_EQ(p.receive().at(0), "error");
  p.send({"text", "bob"});  // a field missing
  EXPECT_EQ(p.receive().at(0), "error");
  p.send(fields(20, "text"));  // too many frames
  EXPECT_EQ(p.receive().at(0), "error");
  p.send({"text", "#nowhere", "hi"});  // not a member
  EXPECT_EQ(p.receive(), (fields{"error", "text", "#nowhere",
                                 "not a member (join it first)"}));
  p.send({"fetch", "1", "rbWeBrTIp1Js", "4"});  // never offered to mallory
  EXPECT_EQ(p.receive().at(0), "error");
  p.send({"forward", "rbWeBrTIp1Js", "bob"});
  EXPECT_EQ(p.receive().at(0), "error");
  p.send({"file_chunk", "9", "bytes"});  // no such upload
  EXPECT_EQ(p.receive(),
            (fields{"error", "file_chunk", "9", "no such upload"}));
  p.send({"file_begin", "x", "bob", "a.txt", "3", ""});
  EXPECT_EQ(p.receive().at(0), "error");
  p.send({"file_begin", "3", "bad#name", "a.txt", "3", ""});
  EXPECT_EQ(p.receive(),
            (fields{"error", "file_begin", "3", "not a valid user or #room"}));

  // Pieces past the credit granted: the upload is dropped, not buffered.
  // depotd is stopped, so that it takes none of them and gives no credit
  // back.
  ASSERT_TRUE(pause_process(depot_->pid()));
  p.send({"file_begin", "1", "bob", "a.txt", "", ""});
  EXPECT_EQ(p.receive(), (fields{"credit", "1", "4"}));
  for (int i = 0; i < 5; ++i) p.send({"file_chunk", "1", std::string(10, 'x')});
  fields f = p.receive();
  ::kill(depot_->pid(), SIGCONT);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0], "error");
  EXPECT_EQ(f[2], "1");
  EXPECT_EQ(f[3], "bad_request: aborted");

  // A well-behaved user still gets through.
  auto bob = login("bob");
  p.send({"text", "bob", "still here"});
  EXPECT_TRUE(bob->wait_for({"msg", "mallory", "bob", "still here"}, 10s));
}

class ChatRelayIdle : public ChatRelay {
 protected:
  void SetUp() override {
    server_flags_ = {"--idle-timeout", "1"};
    ChatRelay::SetUp();
  }
};

TEST_F(ChatRelayIdle, ASenderThatStopsMidFileLosesTheUploadAndNothingIsStored) {
  raw_peer p(chat_endpoint_);
  p.send({"login", "mallory"});
  ASSERT_EQ(p.receive(), (fields{"ok", "login", "mallory"}));
  p.send({"file_begin", "1", "mallory", "half.bin", "1000000", ""});
  ASSERT_EQ(p.receive(), (fields{"credit", "1", "4"}));
  p.send({"file_chunk", "1", std::string(1000, 'x')});
  EXPECT_EQ(p.receive(), (fields{"credit", "1", "1"}));
  // Nothing more comes: after the idle timeout (1 s, checked every second)
  // the upload is given up (depot is told to drop it).
  auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(p.receive(),
            (fields{"error", "file", "1", "bad_request: aborted"}));
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 5s);
  p.send({"file_chunk", "1", "late"});
  EXPECT_EQ(p.receive(),
            (fields{"error", "file_chunk", "1", "no such upload"}));
  dc::options o;
  o.endpoint = depot_->endpoint();
  auto c = dc::connection::open(o);
  ASSERT_TRUE(c.ok());
  auto listed = c->list_page({}, 10);
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->files.empty());
}

}  // namespace
}  // namespace depot::test
