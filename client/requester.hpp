#pragma once

// Internal to the client library: requests out, replies matched back by rid.
// Built on one channel per server; used by every operation of a connection.
// Not thread safe.
//
// With several servers (zguide's Freelance pattern, model 3: one socket per
// server, the client tracks which are alive): each request goes to the next
// live server in turn whose socket is connected; a server that let a request
// time out is skipped for a back-off (options::timeout, doubling with each
// timeout in a row, at most max_back_off) and its socket is replaced; any
// message from it makes it live again. When every server is in back-off,
// they are all tried, the one whose back-off ends first first. With one
// server, none of this applies: it behaves as a single DEALER socket.
//
// A server whose handshake failed (CURVE: a refused key, a wrong server
// key, a mechanism mismatch; channel::handshake_failure) counts as one that
// timed out, without the wait: it goes into back-off with a new socket, and
// a reply awaited from it ends the wait with its error_source::handshake
// error. When the handshakes of every server failed, sending fails at once
// with that error instead of a timeout.

#include "client/channel.hpp"
#include "client/client.hpp"
#include "schema/messages.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace depot::client::detail {

/// A reply to one of our requests. `body` may be a schema::error_reply: the
/// caller decides what a server error means for it.
struct incoming {
  uint64_t rid = 0;
  schema::reply_body body;
  size_t server = 0;  ///< which server answered (index into the endpoints)
};

/// The error value of a server's error reply.
error server_error(const schema::error_reply& r);

/// A local error that names a reply this client did not expect.
error unexpected_reply(std::string_view op);

/// Whether call() may send a request again to another server after a
/// timeout.
enum class on_timeout : uint8_t {
  try_elsewhere,  ///< stateless (ping, stat, list, download): safe to repeat
  report,         ///< not idempotent (delete): the timeout is the answer
};

/// Sends requests with increasing rids and hands back the replies to the
/// ones still awaited; other replies (stale ones, after a timeout or a
/// reconnect) are dropped.
class requester {
 public:
  /// `chs` holds one channel per endpoint of endpoint_list(opts), in order
  /// (at least one).
  requester(options opts, std::vector<std::unique_ptr<channel>> chs);

  /// (Re)opens every channel; every awaited rid is forgotten.
  result<void> open();

  /// After a timeout: with one server, open(). With several, every server
  /// with an awaited rid (and the pinned one) goes into back-off and gets a
  /// new socket; every awaited rid is forgotten.
  result<void> stalled();

  /// Sends `body` under a fresh rid (to the pinned server, else to the next
  /// live one) and returns that rid. Waits up to options::timeout for a
  /// server to be connected, less when handshakes fail (a handshake error
  /// then); a request that fails here was sent nowhere.
  result<uint64_t> send(schema::request_body body);

  /// The next reply to an awaited rid, from any server; a timeout error
  /// (error_source::timeout) if none arrives by `deadline`, a handshake
  /// error (error_source::handshake) as soon as the handshake of a server
  /// with an awaited rid fails. A reply that does not decode is an error
  /// (bad_request, source local).
  result<incoming> wait(clock::time_point deadline);

  /// One request and its reply within options::timeout; forgets every other
  /// awaited rid first. A server error reply becomes the error. Unpinned and
  /// with `try_elsewhere`, a request that times out (or whose server's
  /// handshake fails) is sent again to the next live server, up to one try
  /// per server.
  result<schema::reply_body> call(schema::request_body body,
                                  on_timeout retry = on_timeout::try_elsewhere);

  /// While set, every request goes to server `s` (an upload's chunks go to
  /// the server that issued its token), in back-off or not. nullopt unpins.
  void pin(std::optional<size_t> s) { pinned_ = s; }

  /// The server whose reply call() returned last.
  size_t last_server() const { return last_server_; }

  /// How many servers there are.
  size_t servers() const { return servers_.size(); }

  /// Server `s`'s endpoint.
  const std::string& endpoint(size_t s) const { return servers_[s].endpoint; }

  /// Forgets every awaited rid: their replies will be dropped.
  void forget_all() { awaited_.clear(); }

  /// Forgets one awaited rid.
  void forget(uint64_t rid) { awaited_.erase(rid); }

  /// How many replies are awaited.
  size_t awaited() const { return awaited_.size(); }

  /// now + options::timeout.
  clock::time_point deadline() const { return clock::now() + opts_.timeout; }

  const options& opts() const { return opts_; }

  /// The longest back-off: a server that keeps timing out is tried again at
  /// least this often (if others are live; else at once).
  static constexpr unsigned max_back_off_timeouts = 8;

 private:
  struct server {
    std::unique_ptr<channel> ch;
    std::string endpoint;
    clock::time_point dead_until{};  // skipped until then
    unsigned failures = 0;           // timeouts in a row
    bool reopen = false;  // its handshake failed: a new socket before the
                          // next request to it
  };

  struct awaited_request {
    std::string_view op;
    size_t server = 0;
  };

  // Which server the next request goes to; waits until `deadline` for one
  // to be connected (several servers only).
  result<size_t> pick(clock::time_point deadline);
  // Sends `body` under a fresh rid to server `s`.
  result<uint64_t> send_to(size_t s, schema::request_body body);
  // The next message from any server, and which one it came from.
  result<std::optional<std::pair<size_t, frames>>> receive(
      clock::time_point deadline);
  // Puts server `s` into back-off, replaces its socket, forgets its rids.
  result<void> put_in_back_off(size_t s);
  // The handshake error of a server with an awaited rid whose handshake
  // failed, if any.
  std::optional<error> awaited_refusal() const;
  // "no reply from ENDPOINTS within T".
  error no_reply() const;

  options opts_;
  std::vector<server> servers_;
  size_t next_ = 0;  // round-robin position
  size_t next_rx_ = 0;
  std::optional<size_t> pinned_;
  size_t last_server_ = 0;
  uint64_t next_rid_ = 1;
  std::map<uint64_t, awaited_request> awaited_;
};

}  // namespace depot::client::detail
