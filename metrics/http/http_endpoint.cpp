#include "metrics/http/http_endpoint.hpp"

#include "metrics/exposition.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <httplib.h>
#include <pthread.h>
#include <sys/socket.h>
#include <thread>

namespace depot::metrics {
namespace {

// Scrapes and probes are rare and small: two threads serve them, and an
// idle keep-alive connection is let go after a second, so that stop()
// never waits long for one.
constexpr size_t serving_threads = 2;
constexpr time_t keep_alive_seconds = 1;

}  // namespace

struct http_endpoint::impl {
  httplib::Server server;
  std::thread thread;
  std::atomic<bool> returned{false};  // listen_after_bind is over
};

http_endpoint::http_endpoint(const registry& reg, const readiness& ready)
    : impl_(std::make_unique<impl>()) {
  auto& s = impl_->server;
  s.new_task_queue = [] { return new httplib::ThreadPool(serving_threads); };
  s.set_keep_alive_timeout(keep_alive_seconds);
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_payload_max_length(4096);
  // httplib's default sets SO_REUSEPORT too, which lets a second process
  // bind the same port beside a running depotd: a port in use must fail.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s.Get("/metrics", [&reg](const httplib::Request&, httplib::Response& res) {
    res.set_content(expose(reg), std::string{content_type}.c_str());
  });
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain; charset=utf-8");
  });
  s.Get("/readyz", [&ready](const httplib::Request&, httplib::Response& res) {
    auto st = ready.check();
    res.status = st.ready ? 200 : 503;
    res.set_content(st.reason + "\n", "text/plain; charset=utf-8");
  });
}

http_endpoint::~http_endpoint() { stop(); }

std::string http_endpoint::start(const listen_address& where) {
  auto& s = impl_->server;
  errno = 0;
  int port = where.port == 0 ? s.bind_to_any_port(where.host)
                             : (s.bind_to_port(where.host, where.port)
                                    ? static_cast<int>(where.port)
                                    : -1);
  if (port <= 0) {
    int err = errno;
    return "cannot bind " + where.authority() + ": " +
           (err ? std::strerror(err) : "unknown error");
  }
  port_ = static_cast<uint16_t>(port);
  impl_->thread = std::thread([this] {
    // A scraper that goes away mid-reply must cost an EPIPE, not the
    // process: SIGPIPE is blocked on this thread and on the pool's threads
    // it starts (they inherit the mask); it is thread-directed.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    impl_->server.listen_after_bind();
    impl_->returned.store(true);
  });
  return {};
}

void http_endpoint::stop() {
  if (!impl_->thread.joinable()) return;
  // listen_after_bind may not have started yet: stop() then only marks the
  // server stopped, and it would not return. Wait until it runs.
  while (!impl_->server.is_running() && !impl_->returned.load())
    std::this_thread::yield();
  impl_->server.stop();
  impl_->thread.join();
}

}  // namespace depot::metrics
