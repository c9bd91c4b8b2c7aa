#include "testkit/wire.hpp"

#include "schema/errc.hpp"

#include <msgpack.hpp>
#include <zmq_addon.hpp>

#include <algorithm>
#include <exception>
#include <iterator>
#include <memory>

namespace depot::test {

zmq::socket_t connect_socket(zmq::context_t& ctx, const std::string& endpoint,
                             zmq::socket_type type) {
  return connect_socket(ctx, endpoint, type, {});
}

zmq::socket_t connect_socket(zmq::context_t& ctx, const std::string& endpoint,
                             zmq::socket_type type, const socket_setup& setup) {
  zmq::socket_t s(ctx, type);
  s.set(zmq::sockopt::linger, 0);
  if (setup) setup(s);
  s.connect(endpoint);
  return s;
}

zmq::message_t header_frame(const schema::request& r) {
  auto frames = schema::encode_request(r);
  return zmq::message_t(frames.front().data(), frames.front().size());
}

std::vector<schema::buffer> to_buffers(std::vector<zmq::message_t> msgs) {
  auto owner = std::make_shared<std::vector<zmq::message_t>>(std::move(msgs));
  std::vector<schema::buffer> out;
  out.reserve(owner->size());
  for (auto& m : *owner)
    out.emplace_back(owner, static_cast<const std::byte*>(m.data()), m.size());
  return out;
}

schema::reply decode_reply(std::vector<zmq::message_t> msgs,
                           std::string_view op) {
  auto decoded = schema::decode_reply(to_buffers(std::move(msgs)), op);
  if (auto* failure = std::get_if<schema::decode_failure>(&decoded))
    throw std::runtime_error("undecodable reply to " + std::string(op) + ": " +
                             failure->message);
  return std::get<schema::reply>(std::move(decoded));
}

std::optional<uint64_t> peek_rid(std::string_view header) {
  try {
    msgpack::unpack_limit limits(1000, 1000, 1 << 20, 1 << 20, 1 << 20, 16);
    auto handle =
        msgpack::unpack(header.data(), header.size(), nullptr, nullptr, limits);
    const msgpack::object& root = handle.get();
    if (root.type != msgpack::type::MAP) return std::nullopt;
    for (uint32_t i = 0; i < root.via.map.size; ++i) {
      const auto& kv = root.via.map.ptr[i];
      if (kv.key.type == msgpack::type::STR &&
          std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == "rid" &&
          kv.val.type == msgpack::type::POSITIVE_INTEGER)
        return kv.val.via.u64;
    }
  } catch (const std::exception&) {
    // Not msgpack, or past the limits: no rid to match.
  }
  return std::nullopt;
}

std::vector<zmq::message_t> receive_message(
    zmq::socket_t& s, std::chrono::milliseconds limit, std::string_view what,
    const std::function<void()>& between_polls) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  for (;;) {
    if (between_polls) between_polls();
    std::vector<zmq::message_t> msgs;
    if (zmq::recv_multipart(s, std::back_inserter(msgs),
                            zmq::recv_flags::dontwait))
      return msgs;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      throw std::runtime_error("no reply within " +
                               std::to_string(limit.count()) +
                               " ms while waiting for " + std::string(what));
    zmq::poll(&item, 1, std::min(left, std::chrono::milliseconds(100)));
  }
}

std::string code(const schema::reply& r) {
  if (auto* e = std::get_if<schema::error_reply>(&r.body))
    return std::string(schema::to_string(e->code));
  return "ok";
}

std::string describe(const schema::reply& r) {
  static constexpr const char* names[] = {
      "upload_reply",        "chunk_reply",  "chunk_done_reply",
      "upload_status_reply", "abort_reply",  "download_reply",
      "stat_reply",          "delete_reply", "list_reply",
      "ping_reply",          "error_reply"};
  static_assert(std::size(names) == std::variant_size_v<schema::reply_body>);
  std::string out = names[r.body.index()];
  if (auto* e = std::get_if<schema::error_reply>(&r.body))
    out += " " + std::string(schema::to_string(e->code)) + ": " + e->message;
  return out;
}

std::optional<uint64_t> error_next(const schema::reply& r) {
  if (auto* e = std::get_if<schema::error_reply>(&r.body)) return e->next;
  return std::nullopt;
}

}  // namespace depot::test
