#pragma once

// A client speaking docs/protocol.md over a real ZeroMQ socket, for tests: a
// DEALER (requests pipelined, replies matched by rid) or a REQ (one at a
// time), with the project's own codec (wire.hpp); raw frames can be sent for
// malformed input. Every receive gives up after reply_timeout and throws
// std::runtime_error, as does every operation below on an unexpected reply;
// GoogleTest reports that as a failure of the running test, so no test can
// hang on a server that stays silent. One thread at a time per client.

#include "schema/buffer.hpp"
#include "schema/messages.hpp"
#include "testkit/wire.hpp"

#include <zmq.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace depot::test {

/// How long a receive waits for a reply before it throws.
inline constexpr std::chrono::milliseconds reply_timeout{5000};

/// Frames as received from or sent to the socket.
using frames = std::vector<std::string>;

/// Decodes reply frames (envelope already stripped) of a request of `op`;
/// throws if they do not decode.
schema::reply decode_frames(const frames& f, std::string_view op);

/// A connected client socket. See the file comment.
class wire_client {
 public:
  /// Connects a socket of `type` (dealer or req) to `endpoint`.
  explicit wire_client(const std::string& endpoint,
                       zmq::socket_type type = zmq::socket_type::dealer);

  /// Connects a DEALER to `endpoint`, with `setup` applied before the
  /// connect (CURVE or PLAIN credentials, say).
  wire_client(const std::string& endpoint, const socket_setup& setup);

  wire_client(const wire_client&) = delete;
  wire_client& operator=(const wire_client&) = delete;

  /// Sends `body` with a fresh rid and returns that rid.
  uint64_t send(schema::request_body body);

  /// Sends `body` with the given rid (or none); a reply to a request without
  /// rid can only be taken with receive_frames().
  void send_with_rid(std::optional<uint64_t> rid, schema::request_body body);

  /// Waits for the reply carrying `rid` (replies to other pending rids that
  /// arrive first are kept for later).
  schema::reply receive(uint64_t rid);

  /// Waits for the next reply to one of the rids that are keys of `rids`
  /// (replies to other rids are kept for later); returns the rid and reply.
  template <class Map>
  std::pair<uint64_t, schema::reply> receive_any_of(const Map& rids) {
    auto deadline = std::chrono::steady_clock::now() + reply_timeout;
    for (;;) {
      for (auto it = ready_.begin(); it != ready_.end(); ++it) {
        if (rids.count(it->first) == 0) continue;
        std::pair<uint64_t, schema::reply> out{it->first,
                                               std::move(it->second)};
        ready_.erase(it);
        return out;
      }
      take_one(deadline,
               "one of " + std::to_string(rids.size()) + " pending rids");
    }
  }

  /// Sends `body` and waits for its reply.
  schema::reply call(schema::request_body body);

  /// Sends raw frames (nothing added; a DEALER adds no delimiter).
  void send_frames(const frames& f);

  /// The next message that matched no pending rid (raw frames, envelope
  /// stripped by the socket), waiting at most reply_timeout.
  frames receive_frames();

  /// Requests sent whose reply has not been taken yet.
  size_t pending() const { return pending_.size() + ready_.size(); }

  /// The socket, for options.
  zmq::socket_t& socket() { return socket_; }

 private:
  wire_client(const std::string& endpoint, zmq::socket_type type,
              const socket_setup& setup);

  // Receives one message and files it under its rid (decoded) or as
  // unmatched (raw). Throws once `deadline` passes.
  void take_one(std::chrono::steady_clock::time_point deadline,
                const std::string& waiting_for);

  zmq::context_t context_{1};
  zmq::socket_t socket_;
  uint64_t next_rid_ = 1;
  std::map<uint64_t, std::string> pending_;  // rid → op, reply not received yet
  std::map<uint64_t, schema::reply> ready_;  // received, not taken yet
  std::deque<frames> unmatched_;
};

/// What upload_content does.
struct upload_options {
  std::string name = "file.bin";      ///< the upload's `name`
  std::optional<uint64_t> size;       ///< declared size; none by default
  std::optional<std::string> sha256;  ///< declared hex SHA-256; none by default
  std::optional<std::string> mime;    ///< declared type; none: depotd detects
  uint64_t chunk = 0;    ///< bytes per chunk; 0: the server's chunk_max
  uint64_t window = 0;   ///< chunks in flight; 0: the server's window
  bool declare = false;  ///< declare size and sha256 computed from the content
};

/// Uploads `content` with pipelined chunks and returns the reply to the last
/// chunk (or the first error reply, which ends the upload). Every ack of a
/// chunk that is not the last is checked (seq, received) as it arrives, and
/// every chunk in flight behind the reply returned must be answered too
/// (docs/protocol.md: never silence); throws if not.
schema::reply upload_content(wire_client& c, std::string_view content,
                             upload_options o = {});

/// Uploads `content` and returns the stored file's metadata; throws unless
/// the upload completed.
schema::file_meta store_content(wire_client& c, std::string_view content,
                                upload_options o = {});

/// Downloads all of file `id` with `in_flight` pipelined range requests of
/// `range` bytes (0: the server's default length). Throws on any error reply.
std::string download_all(wire_client& c, const std::string& id,
                         uint64_t range = 0, size_t in_flight = 4);

/// `stat` of `id`: the reply, ok or not.
schema::reply stat_of(wire_client& c, const std::string& id);

/// Every stored file, following `next` across pages of `limit`.
std::vector<schema::file_meta> list_all(wire_client& c, uint64_t limit = 1000);

/// A chunk request (payload copied into a fresh buffer).
schema::chunk_request make_chunk(const std::string& token, uint64_t seq,
                                 bool last, std::string_view data);

/// Begins an upload and returns its token; throws unless the server agreed.
std::string begin_upload(wire_client& c, schema::upload_request req);

/// Begins an upload of `name` with nothing declared.
std::string begin_upload(wire_client& c, const std::string& name = "file.bin");

}  // namespace depot::test
