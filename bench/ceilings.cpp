#include "bench/ceilings.hpp"

#include "bench/wire.hpp"
#include "schema/codec.hpp"
#include "schema/messages.hpp"
#include "storage/sha256.hpp"
#include "testkit/content.hpp"

#include <zmq.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace depot::bench {
namespace {

[[noreturn]] void fail_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

// A token as long as depot's, so headers have the size they have there.
const std::string token(32, 'T');

// A ROUTER on its own thread and context answering every message with
// `reply`, until destroyed.
class echo_router {
 public:
  explicit echo_router(std::string reply) : reply_(std::move(reply)) {
    auto endpoint = bound_.get_future();
    thread_ = std::thread([this] { run(); });
    try {
      endpoint_ = endpoint.get();  // rethrows a bind failure
    } catch (...) {
      thread_.join();
      throw;
    }
  }

  ~echo_router() {
    stop_ = true;
    thread_.join();
  }

  echo_router(const echo_router&) = delete;
  echo_router& operator=(const echo_router&) = delete;

  const std::string& endpoint() const { return endpoint_; }

 private:
  void run() {
    zmq::context_t ctx(1);
    zmq::socket_t s(ctx, zmq::socket_type::router);
    try {
      s.set(zmq::sockopt::linger, 0);
      s.bind("tcp://127.0.0.1:*");
      bound_.set_value(s.get(zmq::sockopt::last_endpoint));
    } catch (...) {
      bound_.set_exception(std::current_exception());
      return;
    }
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    std::vector<zmq::message_t> msgs;
    while (!stop_) {
      zmq::poll(&item, 1, std::chrono::milliseconds(50));
      for (;;) {
        msgs.clear();
        if (!zmq::recv_multipart(s, std::back_inserter(msgs),
                                 zmq::recv_flags::dontwait))
          break;
        s.send(msgs.front(), zmq::send_flags::sndmore);
        s.send(zmq::buffer(reply_), zmq::send_flags::none);
      }
    }
  }

  std::string reply_;
  std::promise<std::string> bound_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string encoded_reply(const schema::reply& r) {
  auto frames = schema::encode_reply(r);
  return std::string(frames.front().view());
}

}  // namespace

measure transport_bulk(const std::vector<std::byte>& block, uint64_t total,
                       size_t chunk, size_t window) {
  echo_router router(
      encoded_reply({1, schema::chunk_reply{token, 1, 1 << 20}}));
  zmq::context_t ctx(1);
  auto s = test::connect_socket(ctx, router.endpoint());
  const size_t slots = block.size() / chunk;
  if (slots == 0)
    throw std::runtime_error("chunk larger than the content block");

  auto run = [&](uint64_t bytes) {
    const uint64_t n = (bytes + chunk - 1) / chunk;
    uint64_t sent = 0, acked = 0;
    auto t0 = steady::now();
    while (acked < n) {
      while (sent < n && sent - acked < window) {
        schema::request r{sent, schema::chunk_request{token, sent, false, {}}};
        s.send(test::header_frame(r), zmq::send_flags::sndmore);
        size_t len = static_cast<size_t>(
            std::min<uint64_t>(chunk, bytes - sent * chunk));
        // Constant message: sent from `block` without a copy.
        auto* data =
            const_cast<std::byte*>(block.data() + (sent % slots) * chunk);
        s.send(zmq::message_t(data, len, nullptr, nullptr),
               zmq::send_flags::none);
        ++sent;
      }
      receive(s, "transport ceiling");
      ++acked;
    }
    return measure{static_cast<double>(bytes), seconds_since(t0)};
  };
  run(std::min<uint64_t>(total, 64 * mib));
  return run(total);
}

measure transport_tiny(int clients, uint64_t ops, double cap_s) {
  echo_router router(encoded_reply({1, schema::stat_reply{}}));
  zmq::context_t ctx(1);
  std::vector<zmq::socket_t> sockets;
  for (int i = 0; i < clients; ++i)
    sockets.push_back(test::connect_socket(ctx, router.endpoint()));
  const auto header = [] {
    auto frames = schema::encode_request(
        {1, schema::download_request{"0123456789ab", 0, {}}});
    return std::string(frames.front().view());
  }();
  auto start = [&](size_t i) {
    sockets[i].send(zmq::buffer(header), zmq::send_flags::none);
  };
  auto on_reply = [](size_t, std::vector<zmq::message_t>) {
    return step::done;
  };
  // Warm-up: connections established, buffers allocated.
  drive_clients(sockets, std::min<uint64_t>(ops, 1000), cap_s, start, on_reply);
  return drive_clients(sockets, ops, cap_s, start, on_reply);
}

measure sha256_rate(const std::vector<std::byte>& block, uint64_t total,
                    size_t piece) {
  storage::sha256 h;
  auto t0 = steady::now();
  uint64_t done = 0;
  size_t at = 0;
  while (done < total) {
    check_stop();
    size_t len = static_cast<size_t>(std::min<uint64_t>(piece, total - done));
    if (at + len > block.size()) at = 0;
    h.update(block.data() + at, len);
    at += len;
    done += len;
  }
  auto d = h.finish();
  (void)d;
  return {static_cast<double>(total), seconds_since(t0)};
}

measure write_fsync(const std::string& dir, const std::vector<std::byte>& block,
                    uint64_t total, size_t piece) {
  const std::string path = dir + "/write-fsync.tmp";
  auto t0 = steady::now();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail_errno("open " + path);
  uint64_t done = 0;
  size_t at = 0;
  try {
    while (done < total) {
      check_stop();
      size_t len = static_cast<size_t>(std::min<uint64_t>(piece, total - done));
      if (at + len > block.size()) at = 0;
      ssize_t w = ::write(fd, block.data() + at, len);
      if (w < 0) {
        if (errno == EINTR) continue;
        fail_errno("write " + path);
      }
      at += static_cast<size_t>(w);
      done += static_cast<uint64_t>(w);
    }
    if (::fsync(fd) != 0) fail_errno("fsync " + path);
  } catch (...) {
    ::close(fd);
    ::unlink(path.c_str());
    throw;
  }
  ::close(fd);
  double seconds = seconds_since(t0);
  ::unlink(path.c_str());
  return {static_cast<double>(total), seconds};
}

measure small_file_fsync(const std::string& dir, int threads, uint64_t count,
                         double cap_s) {
  const std::string sub = dir + "/small-fsync-" + std::to_string(threads);
  if (::mkdir(sub.c_str(), 0755) != 0) fail_errno("mkdir " + sub);
  int dfd = ::open(sub.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) fail_errno("open " + sub);

  std::atomic<uint64_t> next{0}, done{0};
  std::atomic<bool> failed{false};
  std::string error;
  std::mutex error_mutex;
  auto t0 = steady::now();
  auto worker = [&] {
    test::rng r;
    std::vector<std::byte> data(4096);
    r.fill(data.data(), data.size());
    for (;;) {
      uint64_t i = next.fetch_add(1);
      if (i >= count || failed || stop_requested || seconds_since(t0) >= cap_s)
        return;
      test::stamp(data.data(), i, r.next());
      std::string name = "f" + std::to_string(i);
      int fd = ::openat(dfd, name.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      bool ok = fd >= 0 && ::write(fd, data.data(), data.size()) == 4096 &&
                ::fsync(fd) == 0;
      int err = errno;
      if (fd >= 0) ::close(fd);
      ok = ok && ::fsync(dfd) == 0;
      if (!ok) {
        std::lock_guard lock(error_mutex);
        error = "4 KiB file in " + sub + ": " + std::strerror(err);
        failed = true;
        return;
      }
      ++done;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  double seconds = seconds_since(t0);

  // The files stay until the run's temp dir goes at the end: deleting
  // thousands of inodes now would slow depot's own file creation in the
  // parts that follow (ext4 without a journal skips inodes freed in the
  // last minutes, scanning past each of them: see bench/README.md).
  ::close(dfd);
  if (failed) throw std::runtime_error(error);
  check_stop();
  return {static_cast<double>(done.load()), seconds};
}

}  // namespace depot::bench
