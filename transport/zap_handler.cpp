#include "transport/zap_handler.hpp"

#include "logging/log.hpp"
#include "transport/rate_limited_log.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <string_view>

namespace depot::transport {
namespace {

// RFC 27's request: version, request id, domain, address, routing id,
// mechanism, then the mechanism's credentials (CURVE: the 32-byte key).
constexpr size_t request_frames = 7;
constexpr size_t curve_key_bytes = 32;

std::string_view view(const zmq::message_t& m) {
  return {m.data<char>(), m.size()};
}

}  // namespace

zap_handler::zap_handler(zmq::context_t& context)
    : socket_(context, zmq::socket_type::rep) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind("inproc://zeromq.zap.01");
}

void zap_handler::answer_pending(const curve::key_ring& clients) {
  for (;;) {
    request_.clear();
    zmq::message_t part;
    if (!socket_.recv(part, zmq::recv_flags::dontwait)) return;
    bool more = part.more();
    request_.push_back(std::move(part));
    while (more && request_.size() <= request_frames) {
      zmq::message_t next;
      if (!socket_.recv(next, zmq::recv_flags::dontwait)) break;
      more = next.more();
      request_.push_back(std::move(next));
    }
    while (more) {  // more frames than any request has: drain, answer 500
      zmq::message_t extra;
      if (!socket_.recv(extra, zmq::recv_flags::dontwait)) break;
      more = extra.more();
      request_.emplace_back();
    }
    std::string_view status = "500";
    std::string_view text = "malformed ZAP request";
    std::string user;
    if (request_.size() == request_frames && view(request_[0]) == "1.0") {
      std::string_view domain = view(request_[2]);
      std::string_view address = view(request_[3]);
      std::string_view mechanism = view(request_[5]);
      const zmq::message_t& key = request_[6];
      char z85[41] = {};
      if (domain != zap_domain || mechanism != "CURVE" ||
          key.size() != curve_key_bytes) {
        status = "400";
        text = "not a CURVE client of depot";
      } else if (const curve::client_key* c =
                     zmq_z85_encode(z85, key.data<uint8_t>(), curve_key_bytes)
                         ? clients.find(z85)
                         : nullptr) {
        status = "200";
        text = "OK";
        user = z85;
        log::debug("depot transport: CURVE client admitted",
                   {{"client", c->name},
                    {"key", user},
                    {"role", curve::to_string(c->role)},
                    {"addr", address}});
      } else {
        status = "400";
        text = "unknown key";
        warn_limited("curve: unknown key",
                     "refused a CURVE client whose key is not in "
                     "--curve-clients: " +
                         std::string{z85} + " from " + std::string{address},
                     {{"key", std::string_view{z85}}, {"addr", address}});
      }
    }
    // Reply: version, request id, status code, status text, user id,
    // metadata (none). A malformed request may lack the request id: echo
    // what there is, an empty frame else.
    zmq::message_t request_id;
    if (request_.size() > 1) request_id.copy(request_[1]);
    const auto more_flag = zmq::send_flags::sndmore | zmq::send_flags::dontwait;
    try {
      socket_.send(zmq::buffer(std::string_view{"1.0"}), more_flag);
      socket_.send(request_id, more_flag);
      socket_.send(zmq::buffer(status), more_flag);
      socket_.send(zmq::buffer(text), more_flag);
      socket_.send(zmq::buffer(user), more_flag);
      socket_.send(zmq::message_t{}, zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      log::error("depot transport: cannot answer a ZAP request",
                 {{"error", e.what()}});
      return;
    }
  }
}

}  // namespace depot::transport
