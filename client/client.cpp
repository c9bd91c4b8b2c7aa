#include "client/client.hpp"

#include "client/channel.hpp"
#include "client/local_io.hpp"
#include "client/requester.hpp"
#include "client/transfers.hpp"
#include "schema/validate.hpp"

#include <algorithm>
#include <exception>
#include <istream>
#include <ostream>
#include <utility>

namespace depot::client {

using detail::callback_failure;
using detail::requester;

namespace {

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

result<void> check_id(std::string_view id) {
  if (schema::is_file_id(id)) return {};
  return error{errc::bad_request,
               "'" + std::string{id.substr(0, 64)} +
                   "' is not a file id: 12 characters of [0-9A-Za-z]",
               error_source::local};
}

result<void> check_limit(uint64_t limit) {
  if (limit >= 1 && limit <= schema::max_list_limit) return {};
  return error{
      errc::bad_request,
      "list limit " + std::to_string(limit) + " is not between 1 and 1000",
      error_source::local};
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

struct connection::impl {
  impl(options o, std::vector<std::unique_ptr<detail::channel>> chs)
      : rq(std::move(o), std::move(chs)) {}

  // The server's chunk_max, asked once (ping) for sizing download ranges.
  result<uint64_t> range() {
    if (chunk_max == 0) {
      auto r = rq.call(schema::ping_request{});
      if (!r) return std::move(r).error();
      auto* p = std::get_if<schema::ping_reply>(&*r);
      if (!p) return detail::unexpected_reply("ping");
      chunk_max = p->chunk_max;
    }
    return std::clamp<uint64_t>(chunk_max, 1, rq.opts().max_frame_bytes);
  }

  result<file_meta> stat(std::string_view id) {
    if (auto ok = check_id(id); !ok) return std::move(ok).error();
    auto r = rq.call(schema::stat_request{std::string{id}});
    if (!r) return std::move(r).error();
    auto* s = std::get_if<schema::stat_reply>(&*r);
    if (!s) return detail::unexpected_reply("stat");
    return std::move(s->file);
  }

  result<file_meta> download(std::string_view id, detail::sink* out,
                             const std::string* path,
                             const download_options& opts) {
    auto meta = stat(id);
    if (!meta) return std::move(meta).error();
    auto range_bytes = range();
    if (!range_bytes) return std::move(range_bytes).error();
    std::unique_ptr<detail::sink> file;
    if (path) {
      auto opened = detail::open_file_sink(*path, opts.overwrite);
      if (!opened) return std::move(opened).error();
      file = std::move(*opened);
      out = file.get();
    }
    return detail::run_download(rq, *meta, *range_bytes, *out, opts);
  }

  requester rq;
  uint64_t chunk_max = 0;
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
    if (opts.timeout.count() <= 0)
      return error{errc::bad_request, "the timeout must be positive",
                   error_source::local};
    if (chs.empty())
      return error{errc::bad_request, "no server endpoint given",
                   error_source::local};
    for (const std::string& e : detail::endpoint_list(opts))
      if (e.empty())
        return error{errc::bad_request, "an empty server endpoint",
                     error_source::local};
    if (opts.curve_server_key.empty() != opts.curve_key.empty()) {
      auto keys = detail::read_curve_keys(opts);  // says which is missing
      if (!keys) return std::move(keys).error();
    }
    auto p = std::make_unique<impl>(std::move(opts), std::move(chs));
    if (auto opened = p->rq.open(); !opened) return std::move(opened).error();
    return connection{std::move(p)};
  });
}

const options& connection::settings() const { return impl_->rq.opts(); }

result<void> connection::reconnect() {
  return guarded([&] { return impl_->rq.open(); });
}

result<server_info> connection::ping() {
  return guarded([&]() -> result<server_info> {
    auto start = detail::clock::now();
    auto r = impl_->rq.call(schema::ping_request{});
    if (!r) return std::move(r).error();
    auto* p = std::get_if<schema::ping_reply>(&*r);
    if (!p) return detail::unexpected_reply("ping");
    impl_->chunk_max = p->chunk_max;
    return server_info{p->version, std::move(p->server), p->chunk_max,
                       std::chrono::duration_cast<std::chrono::microseconds>(
                           detail::clock::now() - start),
                       impl_->rq.endpoint(impl_->rq.last_server())};
  });
}

result<file_meta> connection::stat(std::string_view id) {
  return guarded([&] { return impl_->stat(id); });
}

result<uint64_t> connection::remove(std::string_view id) {
  return guarded([&]() -> result<uint64_t> {
    if (auto ok = check_id(id); !ok) return std::move(ok).error();
    auto r = impl_->rq.call(schema::delete_request{std::string{id}},
                            detail::on_timeout::report);
    if (!r) return std::move(r).error();
    auto* d = std::get_if<schema::delete_reply>(&*r);
    if (!d) return detail::unexpected_reply("delete");
    return d->refs;
  });
}

result<page> connection::list_page(std::optional<std::string> after,
                                   uint64_t limit) {
  return guarded([&]() -> result<page> {
    if (auto ok = check_limit(limit); !ok) return std::move(ok).error();
    if (after) {
      if (auto ok = check_id(*after); !ok) return std::move(ok).error();
    }
    auto r = impl_->rq.call(schema::list_request{std::move(after), limit});
    if (!r) return std::move(r).error();
    auto* l = std::get_if<schema::list_reply>(&*r);
    if (!l) return detail::unexpected_reply("list");
    return page{std::move(l->files), std::move(l->next)};
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
    return detail::run_upload(impl_->rq, **src, opts);
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
    return detail::run_upload(impl_->rq, **src, opts);
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
