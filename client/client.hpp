#pragma once

// depot::client: the C++ client of depot, the file server (docs/protocol.md).
//
//   auto conn = depot::client::connection::open({"tcp://127.0.0.1:5570"});
//   if (!conn) { std::cerr << to_string(conn.error()) << "\n"; return 1; }
//   auto up = conn->upload_file("cat.jpg");
//   if (up) std::cout << up->file.id << "\n";
//
// Errors are values: every call returns a result<T> holding either the value
// or an `error` with docs/protocol.md's code and message. No exception leaves
// a call, except one thrown by a progress callback (it propagates unchanged).
//
// Thread safety: a connection is NOT safe for concurrent use. Use it from one
// thread at a time (it may move between threads); give each thread its own
// connection. Distinct connections share nothing. Progress callbacks run on
// the calling thread, inside the call.
//
// This header and the two it includes (schema/errc.hpp, schema/file_meta.hpp,
// installed beside it as depot/client/schema/) are the library's whole public
// API and include only the standard library.

#include "schema/errc.hpp"
#include "schema/file_meta.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace depot::client {

/// docs/protocol.md's error codes (bad_request, not_found, ...).
using schema::errc;

/// docs/protocol.md's file metadata map: id, name, size, sha256, mime, created,
/// refs.
using file_meta = schema::file_meta;

/// The endpoint `deploy/dev.sh run` starts depotd on.
inline constexpr const char* default_endpoint = "tcp://127.0.0.1:5570";

/// Who reported an error: the server, this side, nobody in time, or the
/// security handshake.
enum class error_source : uint8_t {
  server,     ///< the server's error reply; `code` and `message` are its own
  local,      ///< found on this side: a local file, a bad argument, a reply
              ///< that does not verify (checksum_mismatch), a broken reply
  timeout,    ///< no connection or no reply within options::timeout (code
              ///< io_error)
  handshake,  ///< ZeroMQ's security handshake with the server failed (code
              ///< unauthorized): the server refused this client's key, the
              ///< server's public key is wrong, or one side uses CURVE and
              ///< the other does not. The message says which, and names the
              ///< server. Reported as soon as ZeroMQ reports it, not after
              ///< the timeout.
};

/// A failed call: docs/protocol.md's code, a sentence for humans, and who
/// reported it.
struct error {
  errc code = errc::internal;
  std::string message;
  error_source source = error_source::local;

  /// The code's wire spelling ("not_found"), "timeout" for a timeout, or
  /// "handshake_failed" for a failed handshake.
  std::string_view code_name() const;
};

/// "CODE: message", e.g. "not_found: no file with id 0123456789ab", or
/// "handshake_failed: CURVE handshake with tcp://127.0.0.1:5570 failed: the
/// server refused this client's key (ZAP status 400)".
std::string to_string(const error& e);

/// A value or an error. Accessing value() of an error result (or error() of
/// a value) is a programming error: it throws std::bad_variant_access.
template <class T>
class [[nodiscard]] result {
 public:
  /// A success holding `value`.
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  /// A failure.
  result(::depot::client::error e) : v_(std::in_place_index<1>, std::move(e)) {}

  /// True if the call succeeded.
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  /// The value (precondition: ok()).
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// Why the call failed.
  const ::depot::client::error& error() const& { return std::get<1>(v_); }
  ::depot::client::error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, ::depot::client::error> v_;
};

/// A result without a value: success, or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  /// A success.
  result() = default;
  /// A failure.
  result(::depot::client::error e) : e_(std::move(e)) {}

  /// True if the call succeeded.
  bool ok() const noexcept { return !e_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }

  /// Why the call failed (precondition: !ok()).
  const ::depot::client::error& error() const& { return e_.value(); }
  ::depot::client::error&& error() && { return std::move(e_).value(); }

 private:
  std::optional<::depot::client::error> e_;
};

/// How a connection talks to the server (or servers).
struct options {
  /// A ZeroMQ endpoint: tcp://HOST:PORT or ipc://PATH. Used when `endpoints`
  /// is empty.
  std::string endpoint = default_endpoint;
  /// How long any single request may wait for the connection and for its
  /// reply. Uploads and downloads apply it to each step (each reply), not to
  /// the whole transfer. With several servers, a stateless request that
  /// times out is sent again to another server, each try with its own
  /// timeout; a server that timed out is skipped for a back-off of this
  /// long, doubling with each further timeout in a row, at most 8 times it.
  std::chrono::milliseconds timeout{10000};
  /// Uploads and downloads: how many times in a row a timed-out step is
  /// retried on a fresh socket (a new routing id) before the call fails (or,
  /// for an upload with several servers, starts over on another server).
  unsigned retries = 3;
  /// Downloads: how many range requests are kept in flight (1 to 64: depotd
  /// answers `busy` to a client with more than 64 ranges unwritten).
  unsigned download_depth = 8;
  /// Largest frame accepted from the server (ZMQ_MAXMSGSIZE, plus room for
  /// headers); download ranges and upload chunks are cut to it.
  uint64_t max_frame_bytes = uint64_t{16} << 20;
  /// Several servers of one store (depotd processes sharing a storage root);
  /// if not empty it wins over `endpoint`. See connection for how requests
  /// are spread over them and what happens when one stops answering.
  /// (After the fields above, so that positional initializers written before
  /// it still compile; new fields go after it.)
  std::vector<std::string> endpoints;
  /// CURVE (docs/protocol.md, "Security (CURVE)"): the path of the server's
  /// public certificate file (ZeroMQ's certificate format, as `depot keygen`
  /// writes it; a secret certificate is accepted too, only its public key
  /// is used). Empty, with `curve_key` empty too: no security (ZeroMQ's
  /// NULL mechanism), for a server without --curve-secret-key. The same
  /// server key is used for every endpoint (servers of one store share it).
  std::string curve_server_key;
  /// CURVE: the path of this client's secret certificate file (public and
  /// secret key; the file must not be readable or writable by group or
  /// others). Both CURVE fields or neither: one without the other is a
  /// bad_request from connection::open. Both files are read once, by open.
  std::string curve_key;
};

/// How far a transfer is: bytes done (for uploads, acknowledged by the
/// server) out of `total` (unknown for uploads of unseekable streams).
struct progress {
  uint64_t done = 0;
  std::optional<uint64_t> total;
};

/// Called on the calling thread as a transfer advances (at least at its
/// start and end). It may start over at 0 when an upload must be restarted.
using progress_fn = std::function<void(const progress&)>;

/// What to upload under which name.
struct upload_options {
  /// The file's name on the server (1 to 255 bytes of UTF-8, no '/', no
  /// control characters). upload_file() defaults it to the path's last part.
  std::string name;
  /// The content type; empty lets the server detect it.
  std::string mime;
  /// Progress reports; may be empty.
  progress_fn on_progress;
};

/// A completed upload.
struct upload_result {
  file_meta file;         ///< the stored file (its `id` is what to hand on)
  bool dedup = false;     ///< the content was stored already; refs went up
  unsigned resumes = 0;   ///< times it continued from upload_status's `next`
  unsigned restarts = 0;  ///< times it started over (server lost the upload)
};

/// How to download.
struct download_options {
  /// download_file(): replace an existing file at the path; if false, fail
  /// with io_error instead (the check is atomic, at the final rename).
  bool overwrite = true;
  /// Progress reports; may be empty.
  progress_fn on_progress;
};

/// The server's answer to `ping`.
struct server_info {
  uint64_t version = 0;                     ///< protocol version (1)
  std::string server;                       ///< the server's name and version
  uint64_t chunk_max = 0;                   ///< largest chunk or download range
  std::chrono::microseconds round_trip{0};  ///< measured by this ping
  std::string endpoint;                     ///< the server that answered
};

/// One page of `list`: `next` is the `after` of the following page, or
/// nullopt after the last.
struct page {
  std::vector<file_meta> files;
  std::optional<std::string> next;
};

class connection;

/// Every stored file, fetched page by page as it is iterated:
///   for (auto& f : conn.list()) { if (!f) { fail(f.error()); break; } use(*f);
///   }
/// An error ends the iteration after it is yielded. Borrows the connection:
/// it must outlive the listing, stay where it is (not be moved from), and
/// not be used for anything else while the listing is iterated.
class listing {
 public:
  /// The next file, nullopt after the last one.
  result<std::optional<file_meta>> next();

  /// An input iterator yielding result<file_meta>.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = result<file_meta>;
    using difference_type = std::ptrdiff_t;
    using pointer = value_type*;
    using reference = value_type&;

    /// The end iterator.
    iterator() = default;
    /// The current file, or the error that ends the listing.
    reference operator*() { return *current_; }
    pointer operator->() { return &*current_; }
    /// Fetches the next file (a request when a page is used up).
    iterator& operator++();
    /// Iterators are equal when both are at the end.
    bool operator==(const iterator& o) const { return owner_ == o.owner_; }
    bool operator!=(const iterator& o) const { return owner_ != o.owner_; }

   private:
    friend class listing;
    explicit iterator(listing* owner) : owner_(owner) { ++*this; }
    listing* owner_ = nullptr;
    std::optional<value_type> current_;
  };

  /// Starts iterating: fetches the first file. Call once per listing.
  iterator begin() { return iterator{this}; }
  /// The end.
  iterator end() { return {}; }

 private:
  friend class connection;
  listing(connection* conn, uint64_t page_size)
      : conn_(conn), page_size_(page_size) {}

  connection* conn_;
  uint64_t page_size_;
  std::vector<file_meta> buffered_;
  size_t pos_ = 0;
  std::optional<std::string> after_;
  bool done_ = false;
};

namespace detail {
class channel;
}

/// A connection to one depot server, or to several servers of one store:
/// one ZeroMQ DEALER socket per server. Requests carry increasing `rid`s; a
/// reply whose rid is not awaited (one that came after its timeout) is
/// dropped. Not thread safe (see the top of this file). Every call runs on
/// an async_connection (async.hpp) and waits for its completion.
///
/// Several servers (options::endpoints; zguide's Freelance pattern): each
/// request goes to the next live server in turn whose socket is connected,
/// so a server that is down (not connected) costs no wait. A server that
/// lets a request time out without sending anything else meanwhile is put
/// in back-off (options::timeout) and its socket replaced; any message from
/// it ends the back-off. With every server in back-off, all are tried. Per
/// operation:
///  - ping, stat, list_page: a timeout sends the request again to the next
///    live server (one try per server) before the call fails;
///  - downloads: ranges are spread over the live servers, each matched by
///    rid; ranges a server did not answer are asked of the others;
///  - uploads: every request of one upload goes to the server that issued
///    its token. If that server stops answering (options::retries timed-out
///    resumes), the upload starts over from byte 0 on another server
///    (upload_result::restarts counts it; progress goes back to 0), at most
///    once per other server. A server that was only stalled and had taken
///    the last chunk may still complete it later: one more reference then;
///  - remove (delete, not idempotent): a request that could be sent to no
///    server is an error as ever; once sent, a timeout is reported as it is
///    (the reference may or may not be gone) and never sent elsewhere.
/// With one server everything behaves as with a single DEALER socket.
///
/// CURVE (options::curve_server_key, options::curve_key): each socket's
/// handshake is watched (ZeroMQ's socket monitor). A request that waits for
/// a server whose last handshake failed fails at once with
/// error_source::handshake instead of waiting for the timeout. With several
/// servers, one whose handshake failed is skipped and put in back-off as if
/// it had timed out (a stateless request goes to another); only when every
/// server refused does the call fail, with the handshake error. A
/// connection whose key the server revokes later gets the server's
/// `unauthorized` reply (error_source::server), and a key of role `read`
/// gets `forbidden` for uploads and deletes.
class connection {
 public:
  /// Sets up the sockets and connects them (ZeroMQ connects in the
  /// background: a server that is down is noticed by the first call, as a
  /// timeout; a failed CURVE handshake too, as error_source::handshake).
  /// Reads the CURVE certificates if options::curve_server_key and curve_key
  /// are set. Errors (all local): bad_request for an endpoint ZeroMQ rejects
  /// or an empty one, or for one CURVE field set without the other;
  /// bad_request naming the file for a certificate that cannot be read, does
  /// not parse, lacks the secret key (curve_key), or is readable by group or
  /// others (curve_key); io_error if no socket can be made.
  static result<connection> open(options opts);

  /// For tests: talks through `ch` (e.g. a fault-injecting channel).
  static result<connection> open(options opts,
                                 std::unique_ptr<detail::channel> ch);

  /// For tests: talks through `chs`, one per endpoint of options::endpoints
  /// (or of options::endpoint), in order.
  static result<connection> open(
      options opts, std::vector<std::unique_ptr<detail::channel>> chs);

  /// Movable (not while a listing borrows it), not copyable.
  connection(connection&&) noexcept;
  connection& operator=(connection&&) noexcept;
  /// Closes the socket at once (linger 0): requests in flight are dropped.
  ~connection();

  /// Health check; also how large a chunk or range may be.
  result<server_info> ping();

  /// One file's metadata. Errors: bad_request for a malformed id (not sent),
  /// not_found.
  result<file_meta> stat(std::string_view id);

  /// Takes one reference away (docs/protocol.md `delete`); the file is gone
  /// when none is left. Returns the references remaining. Never retried once
  /// sent, not even on another server: after a timeout the reference may or
  /// may not have been taken (with several servers, it is sent only to a
  /// server whose socket is connected, so a server that is down is skipped).
  result<uint64_t> remove(std::string_view id);

  /// One page of ids greater than `after`, at most `limit` (1 to 1000).
  result<page> list_page(std::optional<std::string> after, uint64_t limit);

  /// Every stored file, in pages of `page_size` (1 to 1000).
  listing list(uint64_t page_size = 100);

  /// Uploads the file at `path`, reading it once: a regular file's size is
  /// declared and its SHA-256 computed while it is sent, then compared with
  /// the digest the server returns; if they differ (checksum_mismatch,
  /// source local) or the file changed meanwhile (io_error "PATH changed
  /// while it was uploaded": size, mtime or ctime moved), the reference the
  /// upload created is removed again and the error says whether that
  /// worked. Chunks are pipelined up to the server's window. After a
  /// timeout the socket is replaced and the upload resumes from
  /// upload_status's `next`; if the server lost the upload (a restart:
  /// unknown_upload) it starts over, at most twice. A `busy` server is asked
  /// again after growing pauses (with a halved window), until they add up to
  /// options::timeout without progress. Errors: io_error for the local
  /// file, the server's codes (too_large, busy, ...), a timeout.
  result<upload_result> upload_file(const std::string& path,
                                    upload_options opts = {});

  /// Uploads what `in` yields until its end; opts.name is required. A
  /// seekable stream is read twice (size and SHA-256 are declared, and the
  /// upload can start over); an unseekable one once, declaring neither, and
  /// it cannot start over after a server restart (unknown_upload then).
  result<upload_result> upload(std::istream& in, upload_options opts);

  /// Downloads file `id` to `path`: its size and SHA-256 from the first
  /// range's reply (from `stat` if the server does not give them), then
  /// pipelined ranged reads written in order to a temp file beside `path`
  /// (`path.depot-tmp-XXXXXX`), verified, flushed to disk and renamed onto
  /// `path`. On any failure the temp file is removed and `path` untouched.
  /// The temp file is written with O_DIRECT where the file system allows
  /// (it does not stay in the page cache). An existing `path` that is not a
  /// regular file or directory (/dev/null, a FIFO) is written into directly,
  /// never replaced, even before the verification ends.
  /// Errors: not_found, checksum_mismatch (source local), io_error, timeout.
  result<file_meta> download_file(std::string_view id, const std::string& path,
                                  download_options opts = {});

  /// Downloads file `id` into `out`, verifying its SHA-256 at the end. The
  /// bytes are written as they arrive: on checksum_mismatch or any other
  /// failure, `out` has already received part of them.
  result<file_meta> download(std::string_view id, std::ostream& out,
                             download_options opts = {});

  /// Replaces the sockets (each server sees a new routing id). Requests in
  /// flight are forgotten. Calls do this themselves when they need to.
  result<void> reconnect();

  /// The options this connection was opened with.
  const options& settings() const;

 private:
  struct impl;
  explicit connection(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace depot::client
