#include "client/requester.hpp"

#include "schema/codec.hpp"

#include <string>
#include <utility>

namespace depot::client::detail {
namespace {

std::string duration_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s"
                        : std::to_string(ms) + " ms";
}

}  // namespace

error server_error(const schema::error_reply& r) {
  return {r.code, r.message, error_source::server};
}

error unexpected_reply(std::string_view op) {
  return {errc::internal,
          "the server's reply to '" + std::string{op} +
              "' is of an unexpected kind",
          error_source::local};
}

requester::requester(options opts, std::unique_ptr<channel> ch)
    : opts_(std::move(opts)), channel_(std::move(ch)) {}

result<void> requester::open() {
  awaited_.clear();
  return channel_->open();
}

result<uint64_t> requester::send(schema::request_body body) {
  uint64_t rid = next_rid_++;
  std::string_view op = schema::op_name(body);
  schema::request req{rid, std::move(body)};
  auto sent = channel_->send(schema::encode_request(req), deadline());
  if (!sent) return std::move(sent).error();
  awaited_.emplace(rid, op);
  return rid;
}

result<incoming> requester::wait(clock::time_point deadline) {
  while (true) {
    auto got = channel_->receive(deadline);
    if (!got) return std::move(got).error();
    if (!got->has_value())
      return error{errc::io_error,
                   "no reply from " + opts_.endpoint + " within " +
                       duration_text(opts_.timeout),
                   error_source::timeout};
    const frames& message = **got;
    if (awaited_.empty()) continue;
    // A reply's shape depends on its op, known only from its rid: decode
    // with any awaited op first (the rid is read even when the rest does not
    // fit), then again with the right one if they differ.
    std::string_view guess = awaited_.begin()->second;
    auto decoded = schema::decode_reply(message, guess);
    std::optional<uint64_t> rid =
        std::holds_alternative<schema::reply>(decoded)
            ? std::get<schema::reply>(decoded).rid
            : std::get<schema::decode_failure>(decoded).rid;
    if (!rid) continue;
    auto it = awaited_.find(*rid);
    if (it == awaited_.end()) continue;  // stale: its wait is over
    std::string_view op = it->second;
    awaited_.erase(it);
    if (op != guess) decoded = schema::decode_reply(message, op);
    if (auto* failure = std::get_if<schema::decode_failure>(&decoded))
      return error{
          errc::bad_request,
          "malformed reply to '" + std::string{op} + "': " + failure->message,
          error_source::local};
    return incoming{*rid, std::move(std::get<schema::reply>(decoded).body)};
  }
}

result<schema::reply_body> requester::call(schema::request_body body) {
  // One request at a time: whatever else was awaited (left by a call that
  // ended early) is stale now.
  awaited_.clear();
  auto rid = send(std::move(body));
  if (!rid) return std::move(rid).error();
  auto until = deadline();
  while (true) {
    auto in = wait(until);
    if (!in) {
      forget(*rid);
      return std::move(in).error();
    }
    if (in->rid != *rid) continue;  // an older request's late reply
    if (auto* e = std::get_if<schema::error_reply>(&in->body))
      return server_error(*e);
    return std::move(in->body);
  }
}

}  // namespace depot::client::detail
