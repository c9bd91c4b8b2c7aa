#include "client/channel.hpp"
#include "schema/codec.hpp"

#include <zmq.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>

namespace depot::client::detail {
namespace {

// Frames this small are copied: ZeroMQ stores them inline anyway, and an
// empty frame may have no data pointer to hand over.
constexpr size_t copy_below = 64;

// Room for header frames on top of the largest payload we ask for.
constexpr uint64_t header_room = 64 * 1024;

long remaining_ms(clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock::now());
  return std::max<long>(0, static_cast<long>(left.count()));
}

error zmq_failure(const std::string& what, const zmq::error_t& e) {
  return {errc::io_error, what + ": " + e.what(), error_source::local};
}

class zmq_channel final : public channel {
 public:
  zmq_channel(const options& opts, std::string endpoint,
              std::shared_ptr<zmq::context_t> context)
      : endpoint_(std::move(endpoint)),
        timeout_(opts.timeout),
        max_message_(std::max<uint64_t>(opts.max_frame_bytes,
                                        schema::max_reply_header_bytes) +
                     header_room),
        context_(std::move(context)) {}

  ~zmq_channel() override {
    // Linger is 0: closing never blocks, and then neither does the context
    // (terminated with the last channel that shares it).
    socket_.reset();
  }

  void* zmq_socket() override {
    return socket_ ? static_cast<void*>(*socket_) : nullptr;
  }

  result<void> open() override {
    socket_.reset();
    try {
      zmq::socket_t s{*context_, zmq::socket_type::dealer};
      s.set(zmq::sockopt::linger, 0);
      s.set(zmq::sockopt::immediate, 1);
      s.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(max_message_));
      try {
        s.connect(endpoint_);
      } catch (const zmq::error_t& e) {
        return error{errc::bad_request,
                     "cannot connect to '" + endpoint_ + "': " + e.what(),
                     error_source::local};
      }
      socket_.emplace(std::move(s));
    } catch (const zmq::error_t& e) {
      return zmq_failure("cannot create a ZeroMQ socket", e);
    }
    return {};
  }

  result<void> send(const frames& message,
                    clock::time_point deadline) override {
    if (!socket_) return error{errc::internal, "channel is not open"};
    // With ZMQ_IMMEDIATE the socket is writable only once connected.
    if (!wait_for(ZMQ_POLLOUT, deadline))
      return error{
          errc::io_error,
          "no connection to " + endpoint_ + " within " + seconds_text(),
          error_source::timeout};
    try {
      for (size_t i = 0; i < message.size(); ++i) {
        auto flags = i + 1 < message.size() ? zmq::send_flags::sndmore
                                            : zmq::send_flags::none;
        zmq::message_t frame = to_message(message[i]);
        // Only the first frame can be refused: ZeroMQ takes the rest of a
        // multipart message atomically once it took the first.
        if (!socket_->send(frame, flags | zmq::send_flags::dontwait))
          return error{errc::io_error,
                       "send to " + endpoint_ + " would block after polling",
                       error_source::local};
      }
    } catch (const zmq::error_t& e) {
      return zmq_failure("send to " + endpoint_ + " failed", e);
    }
    return {};
  }

  result<std::optional<frames>> receive(clock::time_point deadline) override {
    if (!socket_) return error{errc::internal, "channel is not open"};
    if (!wait_for(ZMQ_POLLIN, deadline)) return std::optional<frames>{};
    frames out;
    try {
      while (true) {
        auto msg = std::make_shared<zmq::message_t>();
        if (!socket_->recv(*msg, zmq::recv_flags::dontwait)) {
          // Polled readable but nothing whole arrived: treat as no message.
          if (out.empty()) return std::optional<frames>{};
          return error{errc::io_error, "truncated multipart message",
                       error_source::local};
        }
        bool more = msg->more();
        auto* data = static_cast<const std::byte*>(msg->data());
        size_t size = msg->size();
        out.emplace_back(std::shared_ptr<const void>{std::move(msg)}, data,
                         size);
        if (!more) break;
      }
    } catch (const zmq::error_t& e) {
      return zmq_failure("receive from " + endpoint_ + " failed", e);
    }
    return std::optional<frames>{std::move(out)};
  }

 private:
  // True once `events` are ready on the socket; false at the deadline.
  bool wait_for(short events, clock::time_point deadline) {
    while (true) {
      zmq::pollitem_t item{static_cast<void*>(*socket_), 0, events, 0};
      int rc = zmq_poll(&item, 1, remaining_ms(deadline));
      if (rc > 0 && (item.revents & events)) return true;
      if (rc < 0 && zmq_errno() != EINTR) return false;
      if (rc == 0 && clock::now() >= deadline) return false;
    }
  }

  static zmq::message_t to_message(const schema::buffer& b) {
    if (b.empty()) return zmq::message_t{};
    if (b.size() < copy_below) return zmq::message_t{b.data(), b.size()};
    // The heap copy of the buffer keeps the bytes alive until ZeroMQ's I/O
    // thread is done with them and calls the free function.
    auto* keep = new schema::buffer(b);
    return zmq::message_t{
        const_cast<std::byte*>(b.data()), b.size(),
        [](void*, void* hint) { delete static_cast<schema::buffer*>(hint); },
        keep};
  }

  std::string seconds_text() const {
    auto ms = timeout_.count();
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s"
                          : std::to_string(ms) + " ms";
  }

  std::string endpoint_;
  std::chrono::milliseconds timeout_;
  uint64_t max_message_;
  std::shared_ptr<zmq::context_t> context_;
  std::optional<zmq::socket_t> socket_;
};

}  // namespace

result<std::unique_ptr<channel>> make_zmq_channel(const options& opts) {
  try {
    return std::unique_ptr<channel>{
        std::make_unique<zmq_channel>(opts, endpoint_list(opts).front(),
                                      std::make_shared<zmq::context_t>(1))};
  } catch (const zmq::error_t& e) {
    return zmq_failure("cannot create a ZeroMQ context", e);
  }
}

result<std::vector<std::unique_ptr<channel>>> make_zmq_channels(
    const options& opts) {
  try {
    auto context = std::make_shared<zmq::context_t>(1);
    std::vector<std::unique_ptr<channel>> out;
    for (const std::string& endpoint : endpoint_list(opts))
      out.push_back(std::make_unique<zmq_channel>(opts, endpoint, context));
    return out;
  } catch (const zmq::error_t& e) {
    return zmq_failure("cannot create a ZeroMQ context", e);
  }
}

std::vector<std::string> endpoint_list(const options& opts) {
  if (!opts.endpoints.empty()) return opts.endpoints;
  return {opts.endpoint};
}

std::vector<size_t> wait_ready(const std::vector<channel*>& chs,
                               ready_for for_what, clock::time_point deadline) {
  short events = for_what == ready_for::sending ? ZMQ_POLLOUT : ZMQ_POLLIN;
  std::vector<zmq::pollitem_t> items;
  std::vector<size_t> index;  // items[k] polls chs[index[k]]
  for (size_t i = 0; i < chs.size(); ++i) {
    if (void* s = chs[i]->zmq_socket()) {
      items.push_back({s, 0, events, 0});
      index.push_back(i);
    }
  }
  std::vector<size_t> ready;
  while (true) {
    long wait = remaining_ms(deadline);
    if (items.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait));
      return ready;
    }
    int rc = zmq_poll(items.data(), static_cast<int>(items.size()), wait);
    if (rc > 0) {
      for (size_t k = 0; k < items.size(); ++k)
        if (items[k].revents & events) ready.push_back(index[k]);
      if (!ready.empty()) return ready;
    }
    if (rc < 0 && zmq_errno() != EINTR) return ready;
    if (clock::now() >= deadline) return ready;
  }
}

}  // namespace depot::client::detail
