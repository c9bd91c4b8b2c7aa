#pragma once

// The one codec between ZeroMQ frames and the typed messages of
// schema/messages.hpp, as docs/protocol.md defines them. Decoders never throw:
// malformed input of any kind becomes a decode_failure. All functions are
// pure and safe to call from any thread.
//
// Key order of encoded headers (pinned by the golden-byte tests):
//   requests: "op", "rid" (if set), then the op's keys in docs/protocol.md's
//             order, optional ones omitted when unset ("offset" of download
//             and "limit" of list are always written);
//   replies:  "rid" (if set), "ok", then the reply's keys in docs/protocol.md's
//             order; error replies: "error", "message", "next" (if set);
//   metadata: "id", "name", "size", "sha256", "mime", "created", "refs".

#include "schema/buffer.hpp"
#include "schema/errc.hpp"
#include "schema/messages.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace depot::schema {

/// Largest request header frame; larger ones are rejected before parsing.
inline constexpr size_t max_request_header_bytes = 8 * 1024;

/// Largest reply header frame (a list reply of 1000 metadata maps fits).
inline constexpr size_t max_reply_header_bytes = 4 * 1024 * 1024;

/// Longest upload token in bytes (docs/protocol.md: at most 64 characters).
inline constexpr size_t max_token_bytes = 64;

/// Why frames could not be decoded. `rid` is the request's id whenever the
/// header decoded as a map holding a uint `rid`, so the reply can echo it.
struct decode_failure {
  std::optional<uint64_t> rid;
  errc code = errc::bad_request;
  std::string message;
};

/// The wire name of a request's operation ("upload", "chunk", ...,
/// "delete", "list", "ping").
std::string_view op_name(const request_body& body);

/// Decodes a request from the frames after the ZeroMQ envelope (routing id
/// and REQ delimiter already stripped): frame 0 the header, frame 1 the
/// payload of a `chunk`. Checks in docs/protocol.md's order: header decoding
/// (bad_request), `v` (unsupported_version), `op` (unknown_op), frame count
/// and the op's keys (bad_request). Every string of a decoded request is
/// valid UTF-8 and a `mime` a media type (schema/validate.hpp); other input
/// is a bad_request. A chunk's payload is shared, not copied.
std::variant<request, decode_failure> decode_request(
    const std::vector<buffer>& frames);

/// The error reply that answers `failure` (its rid, code and message).
reply failure_reply(const decode_failure& failure);

/// Encodes a reply: the header frame, plus the payload frame (the same
/// buffer, not copied) for a download_reply. An error_reply's message is
/// written through escape_text: valid UTF-8 without control characters,
/// whatever request bytes it quotes.
std::vector<buffer> encode_reply(const reply& r);

/// Encodes a request for a client: the header frame (without "v", which
/// defaults to 1), plus the payload frame (not copied) for a chunk_request.
std::vector<buffer> encode_request(const request& r);

/// Decodes the reply to a request whose op was `op` (see op_name; the shape
/// of a reply depends on it). `"ok": false` gives an error_reply, with
/// errc::internal for an error code this version does not know. A reply to
/// `chunk` holding `file` is a chunk_done_reply. A download reply's payload
/// is shared, not copied. An `op` this codec does not know gives a failure
/// with errc::internal; a malformed reply one with errc::bad_request.
std::variant<reply, decode_failure> decode_reply(
    const std::vector<buffer>& frames, std::string_view op);

}  // namespace depot::schema
