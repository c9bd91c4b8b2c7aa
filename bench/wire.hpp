#pragma once

// The benchmark's side of the wire, on testkit/wire.hpp: waits bounded by
// `silence_limit` that also stop when the user interrupts, and a driver that
// keeps many DEALER sockets busy from one thread. Everything here throws
// std::runtime_error (or zmq::error_t) on failure.

#include "bench/report.hpp"
#include "testkit/wire.hpp"

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace depot::bench {

/// Set by SIGINT/SIGTERM; long loops check it and stop.
inline std::atomic<bool> stop_requested{false};

/// Throws if the user asked the benchmark to stop.
inline void check_stop() {
  if (stop_requested.load(std::memory_order_relaxed))
    throw std::runtime_error("interrupted");
}

/// How long any wait for a reply may last before the benchmark gives up.
inline constexpr std::chrono::seconds silence_limit{60};

using steady = std::chrono::steady_clock;

/// Seconds since `start`.
inline double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

/// Receives one multipart message, waiting at most silence_limit; throws
/// on silence or when the user asks the benchmark to stop.
inline std::vector<zmq::message_t> receive(zmq::socket_t& s,
                                           std::string_view what) {
  return test::receive_message(s, silence_limit, what, check_stop);
}

/// What a client's reply handler did with a reply (see drive_clients).
enum class step {
  done,   ///< the operation is complete
  sent,   ///< it sent the operation's next request
  retry,  ///< the server said `busy`: start the operation again a bit later
};

/// How long a client told `busy` waits before starting again.
inline constexpr std::chrono::milliseconds busy_backoff{10};

/// Runs up to `ops` operations over `sockets` from the calling thread, each
/// socket with one operation in flight, until `ops` are done or `cap_s`
/// seconds have passed (operations in flight then still finish; ones
/// waiting to retry are dropped). `start(i)` sends the first request of an
/// operation on socket i; `on_reply(i, frames)` handles a reply on socket i
/// and returns a step.
template <class Start, class OnReply>
measure drive_clients(std::vector<zmq::socket_t>& sockets, uint64_t ops,
                      double cap_s, Start start, OnReply on_reply) {
  std::vector<zmq::pollitem_t> items;
  for (auto& s : sockets) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
  // When a client told `busy` starts again (nullopt: it is not waiting).
  std::vector<std::optional<steady::time_point>> retry_at(sockets.size());
  uint64_t started = 0, done = 0;
  auto t0 = steady::now();
  for (size_t i = 0; i < sockets.size() && started < ops; ++i, ++started)
    start(i);
  auto last_progress = steady::now();
  while (done < started) {
    check_stop();
    auto wait = std::chrono::milliseconds(100);
    auto now = steady::now();
    for (size_t i = 0; i < sockets.size(); ++i) {
      if (!retry_at[i]) continue;
      if (*retry_at[i] <= now) {
        retry_at[i].reset();
        if (seconds_since(t0) < cap_s)
          start(i);
        else
          --started;  // given up: the time is over
      } else {
        wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(
                                  *retry_at[i] - now));
      }
    }
    zmq::poll(items, wait);
    bool progress = false;
    for (size_t i = 0; i < sockets.size(); ++i) {
      if (!(items[i].revents & ZMQ_POLLIN)) continue;
      for (;;) {
        std::vector<zmq::message_t> msgs;
        if (!zmq::recv_multipart(sockets[i], std::back_inserter(msgs),
                                 zmq::recv_flags::dontwait))
          break;
        progress = true;
        step next = on_reply(i, std::move(msgs));
        if (next == step::retry) {
          retry_at[i] = steady::now() + busy_backoff;
        } else if (next == step::done) {
          ++done;
          if (started < ops && seconds_since(t0) < cap_s) {
            ++started;
            start(i);
          }
        }
      }
    }
    bool waiting = std::any_of(retry_at.begin(), retry_at.end(),
                               [](const auto& t) { return t.has_value(); });
    if (progress || waiting) {
      last_progress = steady::now();
    } else if (steady::now() - last_progress > silence_limit) {
      throw std::runtime_error(
          "no reply for " + std::to_string(silence_limit.count()) + " s with " +
          std::to_string(started - done) + " operations in flight");
    }
  }
  return {static_cast<double>(done), seconds_since(t0)};
}

}  // namespace depot::bench
