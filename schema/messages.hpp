#pragma once

// The typed form of every request and reply in docs/protocol.md. Past the
// codec (schema/codec.hpp) nothing handles raw msgpack: these structs are the
// vocabulary of transport/, actors/ and client/. Standard library only.

#include "schema/buffer.hpp"
#include "schema/errc.hpp"
#include "schema/file_meta.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace depot::schema {

/// The protocol version this code speaks.
inline constexpr uint64_t protocol_version = 1;

// --- requests
// -----------------------------------------------------------------

/// `upload`: begin an upload. `sha256` is normalized to lowercase.
struct upload_request {
  std::string name;
  std::optional<uint64_t> size;
  std::optional<std::string> sha256;
  std::optional<std::string> mime;
};

/// `chunk`: one piece of an upload; `data` is frame 2, never copied.
struct chunk_request {
  std::string upload;
  uint64_t seq = 0;
  bool last = false;
  buffer data;
};

/// `upload_status`: where an upload stands.
struct upload_status_request {
  std::string upload;
};

/// `abort`: give an upload up.
struct abort_request {
  std::string upload;
};

/// `download`: read a range. An absent `length` means chunk_max; `meta`
/// asks for the file's metadata in the reply too.
struct download_request {
  std::string file;
  uint64_t offset = 0;
  std::optional<uint64_t> length;
  bool meta = false;
};

/// `stat`: one file's metadata.
struct stat_request {
  std::string file;
};

/// `delete`: take one reference away.
struct delete_request {
  std::string file;
};

/// `list`: a page of ids after `after`. `limit` is already checked (not 0)
/// and cut to max_list_limit by the decoder.
struct list_request {
  std::optional<std::string> after;
  uint64_t limit = 100;
};

/// `ping`: a health check.
struct ping_request {};

inline constexpr uint64_t default_list_limit = 100;
inline constexpr uint64_t max_list_limit = 1000;

using request_body =
    std::variant<upload_request, chunk_request, upload_status_request,
                 abort_request, download_request, stat_request, delete_request,
                 list_request, ping_request>;

/// A decoded request: the client's `rid` (if any) and the operation.
struct request {
  std::optional<uint64_t> rid;
  request_body body;
};

// --- replies
// ------------------------------------------------------------------

/// Reply to `upload`.
struct upload_reply {
  std::string upload;  ///< the token
  uint64_t chunk_max = 0;
  uint64_t window = 0;
};

/// Reply to a chunk that is not the last (also to a re-acked retry).
struct chunk_reply {
  std::string upload;
  uint64_t seq = 0;
  uint64_t received = 0;
};

/// Reply to the last chunk, sent once the file is durable.
struct chunk_done_reply {
  std::string upload;
  uint64_t seq = 0;
  file_meta file;
  bool dedup = false;
};

/// Reply to `upload_status`; `file` once the upload has completed.
struct upload_status_reply {
  std::string upload;
  uint64_t next = 0;
  uint64_t received = 0;
  std::optional<file_meta> file;
};

/// Reply to `abort`: `{"ok": true}`.
struct abort_reply {};

/// Reply to `download`; `data` travels as frame 2. `meta` when the request
/// asked for it (and the server knows the key).
struct download_reply {
  std::string file;
  uint64_t offset = 0;
  uint64_t size = 0;  ///< the whole file's size
  bool eof = false;
  buffer data;
  std::optional<file_meta> meta = std::nullopt;
};

/// Reply to `stat`.
struct stat_reply {
  file_meta file;
};

/// Reply to `delete`.
struct delete_reply {
  uint64_t refs = 0;
};

/// Reply to `list`; `next` is nil when there are no more.
struct list_reply {
  std::vector<file_meta> files;
  std::optional<std::string> next;
};

/// Reply to `ping`.
struct ping_reply {
  uint64_t version = protocol_version;
  std::string server;
  uint64_t chunk_max = 0;
};

/// A failed request: `{"ok": false, "error", "message"}`, plus `next` on
/// `out_of_order`.
struct error_reply {
  errc code = errc::internal;
  std::string message;
  std::optional<uint64_t> next;
};

using reply_body =
    std::variant<upload_reply, chunk_reply, chunk_done_reply,
                 upload_status_reply, abort_reply, download_reply, stat_reply,
                 delete_reply, list_reply, ping_reply, error_reply>;

/// A reply: the request's `rid` echoed (if it had one) and the body.
struct reply {
  std::optional<uint64_t> rid;
  reply_body body;
};

}  // namespace depot::schema
