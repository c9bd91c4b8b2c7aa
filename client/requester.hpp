#pragma once

// Internal to the client library: requests out, replies matched back by rid.
// Built on a channel; used by every operation of a connection. Not thread
// safe.

#include "client/channel.hpp"
#include "client/client.hpp"
#include "schema/messages.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string_view>

namespace depot::client::detail {

/// A reply to one of our requests. `body` may be a schema::error_reply: the
/// caller decides what a server error means for it.
struct incoming {
  uint64_t rid = 0;
  schema::reply_body body;
};

/// The error value of a server's error reply.
error server_error(const schema::error_reply& r);

/// A local error that names a reply this client did not expect.
error unexpected_reply(std::string_view op);

/// Sends requests with increasing rids and hands back the replies to the
/// ones still awaited; other replies (stale ones, after a timeout or a
/// reconnect) are dropped.
class requester {
 public:
  requester(options opts, std::unique_ptr<channel> ch);

  /// (Re)opens the channel; every awaited rid is forgotten.
  result<void> open();

  /// Sends `body` under a fresh rid and returns that rid.
  result<uint64_t> send(schema::request_body body);

  /// The next reply to an awaited rid; a timeout error (error_source::timeout)
  /// if none arrives by `deadline`. A reply that does not decode is an error
  /// (bad_request, source local).
  result<incoming> wait(clock::time_point deadline);

  /// One request and its reply within options::timeout; forgets every other
  /// awaited rid first. A server error reply becomes the error.
  result<schema::reply_body> call(schema::request_body body);

  /// Forgets every awaited rid: their replies will be dropped.
  void forget_all() { awaited_.clear(); }

  /// Forgets one awaited rid.
  void forget(uint64_t rid) { awaited_.erase(rid); }

  /// How many replies are awaited.
  size_t awaited() const { return awaited_.size(); }

  /// now + options::timeout.
  clock::time_point deadline() const { return clock::now() + opts_.timeout; }

  const options& opts() const { return opts_; }

 private:
  options opts_;
  std::unique_ptr<channel> channel_;
  uint64_t next_rid_ = 1;
  std::map<uint64_t, std::string_view> awaited_;  // rid -> op
};

}  // namespace depot::client::detail
