#include "client/client.hpp"

#include "client/async.hpp"
#include "client/async_engine.hpp"
#include "client/channel.hpp"
#include "client/local_io.hpp"
#include "schema/validate.hpp"

#include <algorithm>
#include <exception>
#include <istream>
#include <ostream>
#include <utility>

namespace depot::client {

namespace {

// Carries an exception thrown by a user's progress callback past the
// catch-all of guarded(), to be rethrown unchanged at the API boundary.
struct callback_failure {
  std::exception_ptr thrown;
};

// Calls `fn` (if set) with `p`; its exceptions leave as callback_failure.
void report(const progress_fn& fn, progress p) {
  if (!fn) return;
  try {
    fn(p);
  } catch (...) {
    throw callback_failure{std::current_exception()};
  }
}

// Runs `body`; no exception leaves except a progress callback's own. The
// rest (bad_alloc, a library's bug) becomes an internal error.
template <class F>
auto guarded(F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const callback_failure& f) {
    std::rethrow_exception(f.thrown);
  } catch (const std::exception& e) {
    return error{errc::internal, std::string{"client failure: "} + e.what(),
                 error_source::local};
  } catch (...) {
    return error{errc::internal, "client failure: unknown exception",
                 error_source::local};
  }
}

std::string last_part(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  auto slash = p.find_last_of('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

}  // namespace

// --- error ------------------------------------------------------------------

std::string_view error::code_name() const {
  switch (source) {
    case error_source::timeout:
      return "timeout";
    case error_source::handshake:
      return "handshake_failed";
    default:
      return schema::to_string(code);
  }
}

std::string to_string(const error& e) {
  return std::string{e.code_name()} + ": " + e.message;
}

// --- connection --------------------------------------------------------------
//
// Every call runs on the asynchronous engine (async.hpp): it queues its
// request or transfer there and drives run_once() until the completion
// callback has run. A progress callback that throws leaves through
// run_once(); the transfer it belonged to is given up on the way out.

namespace {

// Long enough not to spin, short enough to notice nothing: run_once returns
// as soon as anything arrives or a timeout falls due.
constexpr std::chrono::milliseconds max_idle_wait{1000};

// Queues a request with `start` and waits for its callback's result.
template <class T, class Start>
result<T> await(async_connection& ac, Start start) {
  std::optional<result<T>> out;
  start([&out](result<T> r) { out.emplace(std::move(r)); });
  while (!out) ac.run_once(max_idle_wait);
  return std::move(*out);
}

}  // namespace

struct connection::impl {
  explicit impl(std::unique_ptr<async_connection> a) : ac(std::move(a)) {}

  // One attempt: one token, from `upload` to the stored file. `began` tells
  // whether the server issued a token.
  result<upload_result> upload_once(detail::source& src,
                                    const upload_options& opts, bool& began) {
    std::optional<result<upload_result>> out;
    upload_handlers h;
    h.on_progress = [&](uint64_t acked) {
      report(opts.on_progress, {acked, src.size});
    };
    h.on_done = [&](result<upload_result> r) { out.emplace(std::move(r)); };
    upload_spec spec{opts.name, src.size, src.sha256, opts.mime};
    auto up = ac->begin_upload(std::move(spec), std::move(h));
    // Left by an exception (a progress callback's): give the upload up.
    struct abort_at_exit {
      upload_stream& up;
      ~abort_at_exit() {
        if (!up.done()) up.abort();
      }
    } guard{*up};
    std::optional<shared_bytes> ahead;
    bool finished = false;
    // Not zero-filled: read() overwrites what it returns. With the CLI's
    // mallopt settings the blocks come back from the heap, already faulted
    // in.
    auto read_piece = [&](uint64_t n) -> result<shared_bytes> {
      std::shared_ptr<std::byte[]> bytes{new std::byte[n]};
      auto got = src.read(bytes.get(), n);
      if (!got) return std::move(got).error();
      return shared_bytes{bytes, bytes.get(), *got};
    };
    while (!out) {
      // Reads one piece ahead, so that the last piece goes as the last
      // chunk (no empty chunk after it).
      while (!finished && !out && up->chunk_max() > 0 &&
             up->room() >= up->chunk_max()) {
        if (!ahead) {
          auto first = read_piece(up->chunk_max());
          if (!first) return std::move(first).error();
          ahead = std::move(*first);
        }
        auto following = read_piece(up->chunk_max());
        if (!following) return std::move(following).error();
        (void)up->write(std::move(*ahead));
        if (following->empty()) {
          up->finish();
          finished = true;
          ahead.reset();
        } else {
          ahead = std::move(*following);
        }
      }
      if (out) break;
      ac->run_once(max_idle_wait);
    }
    began = up->chunk_max() > 0;
    return std::move(*out);
  }

  result<upload_result> upload(detail::source& src,
                               const upload_options& opts) {
    upload_result stats;
    report(opts.on_progress, {0, src.size});
    unsigned moves = 0;  // start-overs on another server
    const size_t servers = detail::endpoint_list(ac->settings()).size();
    while (true) {
      bool began = false;
      auto r = upload_once(src, opts, began);
      if (r) {
        if (auto verified = verify(src, *r); !verified)
          return std::move(verified).error();
        r->restarts = stats.restarts;
        r->resumes += stats.resumes;
        report(opts.on_progress, {r->file.size, r->file.size});
        return r;
      }
      if (r.error().source == error_source::timeout && began && servers > 1 &&
          moves + 1 < servers && src.rewind()) {
        // The server that held the upload stopped answering (it is in
        // back-off now): start over on another one.
        ++moves;
        ++stats.restarts;
        report(opts.on_progress, {0, src.size});
        continue;
      }
      if (r.error().code != errc::unknown_upload ||
          r.error().source != error_source::server)
        return r;
      // The server lost the upload (it restarted, or the token idled out):
      // start over from the first byte if the source can be read again.
      if (stats.restarts >= max_restarts || !src.rewind()) {
        error e = std::move(r).error();
        e.message += stats.restarts >= max_restarts
                         ? " (the upload was started over " +
                               std::to_string(stats.restarts) + " times)"
                         : " (the input cannot be read again to start over)";
        return e;
      }
      ++stats.restarts;
      report(opts.on_progress, {0, src.size});
    }
  }

  result<file_meta> download(std::string_view id, detail::sink* out,
                             const std::string* path,
                             const download_options& opts) {
    std::optional<result<file_meta>> done;
    std::optional<error> local;  // the sink's failure, which ends it
    std::unique_ptr<detail::sink> file;
    std::shared_ptr<download_stream> d;
    uint64_t size = 0;
    download_handlers h;
    h.on_meta = [&](const file_meta& meta) {
      size = meta.size;
      if (path) {
        auto opened = detail::open_file_sink(*path, opts.overwrite);
        if (!opened) {
          local = std::move(opened).error();
          return d->cancel();
        }
        file = std::move(*opened);
        out = file.get();
      }
      report(opts.on_progress, {0, size});
    };
    h.on_data = [&](uint64_t offset, shared_bytes bytes) {
      if (auto w = out->write(bytes.data(), bytes.size()); !w) {
        local = std::move(w).error();
        return d->cancel();
      }
      report(opts.on_progress, {offset + bytes.size(), size});
    };
    h.on_done = [&](result<file_meta> r) { done.emplace(std::move(r)); };
    d = ac->download(id, std::move(h));
    struct cancel_at_exit {
      download_stream& d;
      ~cancel_at_exit() {
        if (!d.done()) d.cancel();
      }
    } guard{*d};
    while (!done) ac->run_once(max_idle_wait);
    if (local) return std::move(*local);
    if (!*done) return std::move(*done);
    if (auto committed = out->commit(); !committed)
      return std::move(committed).error();
    report(opts.on_progress, {size, size});
    return std::move(*done);
  }

  // End-to-end check of a source read once (client/README.md, "Uploads
  // read a regular file once"): the digest the server computed must be the one
  // of the bytes read and sent, and the file must not have changed meanwhile.
  // If either fails, the reference this upload just created is taken away again
  // (the stored content is not the file), and the error says whether that
  // worked.
  result<void> verify(detail::source& src, const upload_result& r) {
    std::optional<error> bad;
    if (auto sent = src.read_digest(); sent && *sent != r.file.sha256) {
      bad = error{errc::checksum_mismatch,
                  "the server stored SHA-256 " + r.file.sha256 +
                      ", the bytes sent have " + *sent,
                  error_source::local};
    } else if (auto same = src.check_unchanged(); !same) {
      bad = std::move(same).error();
    }
    if (!bad) return {};
    auto removed =
        await<uint64_t>(*ac, [&](auto done) { ac->remove(r.file.id, done); });
    if (removed)
      bad->message += "; the stored copy " + r.file.id + " was removed";
    else
      bad->message += "; the stored copy " + r.file.id +
                      " could not be removed: " + to_string(removed.error());
    return std::move(*bad);
  }

  // docs/protocol.md: a server restart loses uploads in progress. Starting
  // over more often than this means something else is wrong.
  static constexpr unsigned max_restarts = 2;

  std::unique_ptr<async_connection> ac;
};

connection::connection(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
connection::connection(connection&&) noexcept = default;
connection& connection::operator=(connection&&) noexcept = default;
connection::~connection() = default;

result<connection> connection::open(options opts) {
  return guarded([&]() -> result<connection> {
    auto chs = detail::make_zmq_channels(opts);
    if (!chs) return std::move(chs).error();
    return open(std::move(opts), std::move(*chs));
  });
}

result<connection> connection::open(options opts,
                                    std::unique_ptr<detail::channel> ch) {
  std::vector<std::unique_ptr<detail::channel>> chs;
  chs.push_back(std::move(ch));
  return open(std::move(opts), std::move(chs));
}

result<connection> connection::open(
    options opts, std::vector<std::unique_ptr<detail::channel>> chs) {
  return guarded([&]() -> result<connection> {
    auto ac = async_connection::open(std::move(opts), std::move(chs));
    if (!ac) return std::move(ac).error();
    return connection{std::make_unique<impl>(std::move(*ac))};
  });
}

const options& connection::settings() const { return impl_->ac->settings(); }

result<void> connection::reconnect() {
  return guarded([&] { return detail_engine(*impl_->ac).open_all(); });
}

result<server_info> connection::ping() {
  return guarded([&] {
    return await<server_info>(*impl_->ac,
                              [&](auto done) { impl_->ac->ping(done); });
  });
}

result<file_meta> connection::stat(std::string_view id) {
  return guarded([&] {
    return await<file_meta>(*impl_->ac,
                            [&](auto done) { impl_->ac->stat(id, done); });
  });
}

result<uint64_t> connection::remove(std::string_view id) {
  return guarded([&] {
    return await<uint64_t>(*impl_->ac,
                           [&](auto done) { impl_->ac->remove(id, done); });
  });
}

result<page> connection::list_page(std::optional<std::string> after,
                                   uint64_t limit) {
  return guarded([&] {
    return await<page>(*impl_->ac, [&](auto done) {
      impl_->ac->list_page(std::move(after), limit, done);
    });
  });
}

listing connection::list(uint64_t page_size) {
  return listing{this, page_size};
}

result<upload_result> connection::upload_file(const std::string& path,
                                              upload_options opts) {
  return guarded([&]() -> result<upload_result> {
    if (opts.name.empty()) opts.name = last_part(path);
    if (auto problem = schema::check_name(opts.name))
      return error{errc::bad_request, "bad name: " + *problem,
                   error_source::local};
    auto src = detail::open_file_source(path);
    if (!src) return std::move(src).error();
    return impl_->upload(**src, opts);
  });
}

result<upload_result> connection::upload(std::istream& in,
                                         upload_options opts) {
  return guarded([&]() -> result<upload_result> {
    if (auto problem = schema::check_name(opts.name))
      return error{errc::bad_request, "bad name: " + *problem,
                   error_source::local};
    auto src = detail::open_stream_source(in);
    if (!src) return std::move(src).error();
    return impl_->upload(**src, opts);
  });
}

result<file_meta> connection::download_file(std::string_view id,
                                            const std::string& path,
                                            download_options opts) {
  return guarded([&] { return impl_->download(id, nullptr, &path, opts); });
}

result<file_meta> connection::download(std::string_view id, std::ostream& out,
                                       download_options opts) {
  return guarded([&] {
    auto sink = detail::make_stream_sink(out);
    return impl_->download(id, sink.get(), nullptr, opts);
  });
}

// --- listing
// -------------------------------------------------------------------

result<std::optional<file_meta>> listing::next() {
  while (pos_ == buffered_.size()) {
    if (done_) return std::optional<file_meta>{};
    auto p = conn_->list_page(after_, page_size_);
    if (!p) {
      done_ = true;
      buffered_.clear();
      pos_ = 0;
      return std::move(p).error();
    }
    buffered_ = std::move(p->files);
    pos_ = 0;
    after_ = std::move(p->next);
    done_ = !after_.has_value();
  }
  return std::optional<file_meta>{std::move(buffered_[pos_++])};
}

listing::iterator& listing::iterator::operator++() {
  if (!owner_) return *this;
  if (current_ && !current_->ok()) {  // an error ends the iteration
    owner_ = nullptr;
    current_.reset();
    return *this;
  }
  auto n = owner_->next();
  if (!n) {
    current_.emplace(std::move(n).error());
  } else if (!n->has_value()) {
    owner_ = nullptr;
    current_.reset();
  } else {
    current_.emplace(std::move(**n));
  }
  return *this;
}

}  // namespace depot::client
