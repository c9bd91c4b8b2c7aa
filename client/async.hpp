#pragma once

// depot::client, asynchronous and streaming: many requests and transfers in
// flight on one connection, driven from the caller's event loop.
//
//   namespace dc = depot::client;
//   auto conn = dc::async_connection::open({"tcp://127.0.0.1:5570"});
//   if (!conn) return fail(conn.error());
//   dc::upload_handlers h;
//   h.on_writable = [&] { push_more(); };  // room in the window again
//   h.on_done = [&](dc::result<dc::upload_result> r) { if (r) use(r->file); };
//   auto up = (*conn)->begin_upload({"cat.jpg"}, std::move(h));
//   up->write(dc::shared_bytes::from(std::move(piece)));  // false: no room
//   up->finish();
//   while ((*conn)->run_once(std::chrono::milliseconds{100})) {}
//
// No hidden threads. Calls such as ping() or write() only queue work and
// return at once; process() (or run_once(), which waits and then processes)
// does the I/O: it sends what is queued, takes every reply waiting, matches
// replies to requests by rid, fires timeouts and retries, and runs the
// completion callbacks, on the calling thread, inside that call. A caller
// with its own event loop polls fd() for readability, sleeps at most
// next_timeout(), and calls process() when either says so.
//
// Thread safety: an async_connection and every handle it gives out are used
// by one thread at a time (the one that calls process()). Callbacks may call
// any method of the connection and its handles, including starting new
// requests, except process() and run_once(); they must not destroy the
// connection. An exception thrown by a
// callback propagates out of process() / run_once() unchanged; the library's
// own state is updated before each callback runs, so the connection stays
// usable.
//
// Errors and timeouts are per request and per transfer: one request's timeout,
// one transfer's error, never fails another (except that a server silent for
// a whole timeout is given a new socket, see async_connection).
//
// Like client.hpp (which it includes), this header includes only the standard
// library.

#include "client.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace depot::client {

/// An immutable run of bytes with shared ownership of whatever holds them.
/// Copying one copies a pointer, never the bytes. Upload data is handed to
/// the library as shared_bytes and passed to ZeroMQ without copying; download
/// data is delivered as shared_bytes that keep the received ZeroMQ frame
/// alive (no copy either). The bytes must not change while any copy lives.
class shared_bytes {
 public:
  /// No bytes.
  shared_bytes() = default;
  /// Views `size` bytes at `data`, kept alive by `owner` (may be null if the
  /// caller guarantees the bytes outlive every copy).
  shared_bytes(std::shared_ptr<const void> owner, const std::byte* data,
               size_t size)
      : owner_(std::move(owner)), data_(data), size_(size) {}

  /// Takes `s` over (moved, not copied).
  static shared_bytes from(std::string s);
  /// Takes `v` over (moved, not copied).
  static shared_bytes from(std::vector<std::byte> v);
  /// Copies `text` (for small pieces and tests).
  static shared_bytes copy_of(std::string_view text);

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// The bytes as characters.
  std::string_view view() const {
    return {reinterpret_cast<const char*>(data_), size_};
  }
  /// `length` bytes from `offset` on, sharing the same owner (no copy).
  shared_bytes slice(size_t offset, size_t length) const {
    return {owner_, data_ + offset, length};
  }
  /// What keeps the bytes alive.
  const std::shared_ptr<const void>& owner() const { return owner_; }

 private:
  std::shared_ptr<const void> owner_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

/// What a streaming upload declares when it begins (docs/protocol.md 5.1).
struct upload_spec {
  /// The file's name on the server (1 to 255 bytes of UTF-8, no '/', no
  /// control characters; checked before anything is sent).
  std::string name;
  /// The total, if known: declared, and checked by the server at the end
  /// (size_mismatch); also lets the server reserve less memory.
  std::optional<uint64_t> size;
  /// SHA-256 of the content as 64 hex digits, if known: the server then
  /// refuses content that does not match (checksum_mismatch).
  std::optional<std::string> sha256;
  /// The content type; empty lets the server detect it.
  std::string mime;
};

/// Callbacks of a streaming upload; any may be empty. All run on the thread
/// that calls process(), inside it.
struct upload_handlers {
  /// The upload has room for more bytes again (upload_stream::room() > 0)
  /// after write() refused or room() was 0; also once when the server has
  /// begun the upload (before that, room() is 0). Not called after on_done.
  std::function<void()> on_writable;
  /// Bytes the server has acknowledged so far (after each acknowledgement).
  std::function<void(uint64_t acknowledged)> on_progress;
  /// Exactly once: the stored file (with dedup and the resume/restart
  /// counts), or why the upload failed. After it, the handle is inert.
  std::function<void(result<upload_result>)> on_done;
};

/// A streaming upload in progress (async_connection::begin_upload). The
/// caller pushes bytes with write() as they arrive from elsewhere, then
/// finish(). The upload holds what it was given until the server has
/// acknowledged it (it may need to send it again after a timeout), at most
/// window × chunk_max bytes (the server's figures); write() refuses more.
///
/// Each write() becomes one or more chunks (cut at chunk_max, never copied),
/// so pieces near chunk_max make the fewest round trips. Chunks beyond the
/// server's window wait in the upload until earlier ones are acknowledged.
///
/// Retries as connection::upload does: after a timeout the upload asks
/// upload_status and resends from `next` what it still holds; a `busy` chunk
/// is sent again after a growing pause with a halved window. If the server
/// lost the upload (unknown_upload: a restart, an idle timeout), the bytes
/// already acknowledged are gone from this side and the upload fails with
/// that error (source server); it never starts over by itself.
///
/// The handle may be dropped at any time: the upload goes on and on_done
/// still runs. Once the connection is destroyed, the handle's methods do
/// nothing (write() returns false).
class upload_stream {
 public:
  virtual ~upload_stream() = default;

  /// Hands `bytes` to the upload, if they fit: true if taken (the upload now
  /// shares ownership of them), false if bytes.size() > room() (nothing
  /// taken; wait for on_writable: a piece larger than window × chunk_max is
  /// never taken), after finish() or abort(), or once the upload ended. An
  /// empty write is taken and does nothing.
  virtual bool write(shared_bytes bytes) = 0;

  /// Bytes write() would take now: window × chunk_max less what the upload
  /// holds; 0 until the server has begun the upload, and after it ended.
  virtual uint64_t room() const = 0;

  /// room() > 0.
  bool writable() const { return room() > 0; }

  /// No more bytes: the last chunk goes out once everything before it did.
  /// on_done follows with the stored file. Calling it twice does nothing.
  virtual void finish() = 0;

  /// Gives the upload up: the server is asked to drop it (docs/protocol.md
  /// `abort`; its reply is not awaited) and on_done runs with a local
  /// bad_request error "aborted" from within abort(). Does nothing once
  /// on_done ran. After finish() the server may already have stored the file.
  virtual void abort() = 0;

  /// Payload bytes the upload holds now (written, not yet acknowledged, and
  /// the last chunk until the upload completes): never more than
  /// window × chunk_max.
  virtual uint64_t held_bytes() const = 0;

  /// Bytes the server has acknowledged.
  virtual uint64_t acknowledged() const = 0;

  /// The server's chunk_max and window for this upload (0 until it began).
  virtual uint64_t chunk_max() const = 0;
  virtual uint64_t window() const = 0;

  /// True once on_done has run (or is running).
  virtual bool done() const = 0;
};

/// Callbacks of a streaming download; any may be empty. All run on the
/// thread that calls process(), inside it.
struct download_handlers {
  /// Once, first: the file's metadata (from the first range's reply, or from
  /// `stat` with a server that does not give it there), before any data.
  std::function<void(const file_meta&)> on_meta;
  /// The file's bytes in order, range by range: `offset` is where `bytes`
  /// start in the file (the previous call's offset + size). The bytes may be
  /// kept (they share the received ZeroMQ frame). Not called while paused.
  std::function<void(uint64_t offset, shared_bytes bytes)> on_data;
  /// Exactly once: the metadata once every byte was delivered and the
  /// SHA-256 matched, or why the download failed (not_found,
  /// checksum_mismatch with source local, a timeout, ...). After a failure,
  /// some of the bytes may have been delivered already.
  std::function<void(result<file_meta>)> on_done;
};

/// A streaming download in progress (async_connection::download). It keeps
/// at most options::download_depth ranges of chunk_max bytes in flight and
/// holds the replies that arrive ahead of the one due (so it holds at most
/// depth × chunk_max bytes). Ranges a server did not answer in time are
/// asked again (options::retries times in a row), of another server if
/// there are several.
///
/// The handle may be dropped at any time: the download goes on and on_done
/// still runs.
class download_stream {
 public:
  virtual ~download_stream() = default;

  /// Stops delivering data and asking for more ranges until resume() (ranges
  /// already asked for are still received and held, within the bound above).
  /// Callable from on_data.
  virtual void pause() = 0;

  /// Delivers what is held and asks for more, from the next process() on.
  virtual void resume() = 0;

  /// True between pause() and resume().
  virtual bool paused() const = 0;

  /// Gives the download up: on_done runs with a local bad_request error
  /// "cancelled" from within cancel(); replies still coming are dropped.
  /// Does nothing once on_done ran.
  virtual void cancel() = 0;

  /// Bytes delivered to on_data so far.
  virtual uint64_t delivered() const = 0;

  /// Payload bytes received and not yet delivered (held by the download).
  virtual uint64_t held_bytes() const = 0;

  /// True once on_done has run (or is running).
  virtual bool done() const = 0;
};

namespace detail {
class channel;
class engine;
}  // namespace detail

/// A connection to one depot server, or to several servers of one store
/// (options::endpoints): one ZeroMQ DEALER socket per server, every request
/// under its own rid, any number in flight. Not movable (handles point to
/// it); not copyable. See the top of this file for the threading rules.
///
/// Timeouts: every request (each chunk, each range, each plain request) must
/// be answered within options::timeout of being queued (the wait for a
/// connection included). A request that times out fails alone (plain
/// requests: a timeout error, error_source::timeout; transfers retry as
/// described at upload_stream and download_stream). Only when a server has
/// sent nothing at all for a whole timeout while a reply from it was
/// awaited is its socket replaced (a new routing id, as the protocol's
/// reconnect): the other requests awaiting it then fail or retry as if
/// timed out.
///
/// Several servers: plain stateless requests (ping, stat, list_page) and
/// download ranges go round-robin over the servers that are live and
/// connected; a timed-out one is asked again of the next server (one try
/// per server) and its silent server is skipped for a back-off
/// (options::timeout, doubling, at most 8 times it). An upload stays on the
/// server that issued its token; if that server stops answering the upload
/// fails with the timeout (it does not start over elsewhere: the bytes
/// acknowledged are no longer held). remove() is never sent twice.
///
/// CURVE handshakes (options::curve_*) are watched: requests waiting for a
/// server whose handshake failed fail at once with error_source::handshake
/// (several servers: stateless ones go to another server).
class async_connection {
 public:
  /// Sets up the sockets and connects them (in the background). Errors as
  /// connection::open: bad_request for an empty or unparsable endpoint, a
  /// non-positive timeout or half of the CURVE settings; certificate
  /// errors; io_error if no socket or epoll instance can be made.
  static result<std::unique_ptr<async_connection>> open(options opts);

  /// For tests and the synchronous layer: talks through `chs`, one channel
  /// per endpoint of options::endpoints (or options::endpoint), in order.
  static result<std::unique_ptr<async_connection>> open(
      options opts, std::vector<std::unique_ptr<detail::channel>> chs);

  async_connection(const async_connection&) = delete;
  async_connection& operator=(const async_connection&) = delete;
  /// Closes the sockets at once (linger 0). Callbacks of requests and
  /// transfers still in progress are not called; their handles go inert.
  ~async_connection();

  // --- event-loop integration ---------------------------------------------

  /// A file descriptor that turns readable when process() may have work
  /// (a reply arrived, a socket connected, a handshake ended). It stays the
  /// same for the connection's life even when sockets are replaced. Poll it
  /// for readability only and never read it; it is edge-like: always call
  /// process() when it is readable or next_timeout() has passed.
  int fd() const;

  /// How long the caller may wait on fd() before calling process(): 0 when
  /// work is ready now (queued requests that can be sent, replies already
  /// received), the time to the nearest timeout or retry otherwise, nullopt
  /// when nothing at all is pending.
  std::optional<std::chrono::milliseconds> next_timeout() const;

  /// Does everything that can be done now without blocking: sends what is
  /// queued, receives every reply waiting, matches them by rid, fires
  /// timeouts and retries, and runs the callbacks. Returns at once when
  /// there is nothing to do.
  void process();

  /// Waits on fd() for at most min(max_wait, next_timeout()), then
  /// process(). True if anything is still pending afterwards.
  bool run_once(std::chrono::milliseconds max_wait);

  /// Requests and transfers in progress (queued, in flight, or holding
  /// data).
  size_t pending() const;

  // --- plain requests -----------------------------------------------------
  // Each queues one request; `done` runs exactly once, from process() (or
  // from the call itself when the arguments are refused locally, e.g. a
  // malformed id: bad_request, source local, nothing sent).

  /// Health check; also tells chunk_max.
  void ping(std::function<void(result<server_info>)> done);

  /// One file's metadata. not_found if it is not stored.
  void stat(std::string_view id, std::function<void(result<file_meta>)> done);

  /// Takes one reference away (docs/protocol.md `delete`); the references
  /// left. Never sent twice: after a timeout the reference may or may not be
  /// gone.
  void remove(std::string_view id, std::function<void(result<uint64_t>)> done);

  /// One page of files with ids greater than `after`, at most `limit` (1 to
  /// 1000).
  void list_page(std::optional<std::string> after, uint64_t limit,
                 std::function<void(result<page>)> done);

  // --- streaming transfers -------------------------------------------------

  /// Begins an upload (the `upload` request is queued at once). The spec is
  /// checked first: a bad name, size or sha256 ends the upload with a local
  /// bad_request from within this call (on_done runs before it returns).
  /// `busy` to the `upload` request is retried after growing pauses for up
  /// to options::timeout. See upload_stream.
  std::shared_ptr<upload_stream> begin_upload(upload_spec spec,
                                              upload_handlers handlers);

  /// Downloads file `id`: the first range is asked with the file's metadata
  /// (docs/protocol.md `download` key `meta`; no `stat` or `ping` first),
  /// on_meta runs with it, then the other ranges follow in order (see
  /// download_stream), verified against the SHA-256 at the end. A server
  /// that does not give the metadata is asked `stat` (the first range is
  /// kept). A reply whose metadata is not of this file, or whose size is
  /// not the range's file size, fails it (internal, source local). A
  /// malformed id ends it with a local bad_request from within this call.
  std::shared_ptr<download_stream> download(std::string_view id,
                                            download_handlers handlers);

  /// Downloads the file `known` describes (from upload_result::file, a
  /// listing or an earlier stat): the ranges go out at once, without asking
  /// for the metadata (a `ping` first if chunk_max is not known yet). on_meta
  /// runs with `known` from the next process(); the bytes are verified
  /// against known.sha256 and every range's file size against known.size
  /// (checksum_mismatch or internal, source local, if they differ). A
  /// malformed id or sha256 ends it with a local bad_request from within
  /// this call.
  std::shared_ptr<download_stream> download(const file_meta& known,
                                            download_handlers handlers);

  /// The options this connection was opened with.
  const options& settings() const;

  /// Internal.
  struct impl;

 private:
  friend detail::engine& detail_engine(async_connection& c);
  explicit async_connection(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace depot::client
