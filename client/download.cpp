#include "client/transfers.hpp"
#include "storage/sha256.hpp"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

namespace depot::client::detail {
namespace {

struct range {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Keeps `depth` ranged reads in flight at consecutive offsets and writes the
// replies in order. A reply shorter than asked (the server's chunk_max is
// smaller than `range`) leaves a gap that is asked for at once.
class fetcher {
 public:
  fetcher(requester& rq, const file_meta& meta, uint64_t range, sink& out,
          const download_options& opts)
      : rq_(rq),
        meta_(meta),
        range_(std::max<uint64_t>(range, 1)),
        depth_(std::clamp(rq.opts().download_depth, 1u, 64u)),
        out_(out),
        opts_(opts) {}

  result<file_meta> run() {
    report(opts_.on_progress, {0, meta_.size});
    while (written_ < meta_.size) {
      if (auto filled = fill(); !filled && !timed_out(filled))
        return fail(filled);
      auto in = rq_.wait(rq_.deadline());
      if (!in) {
        // With several servers, one whose handshake failed is one that
        // stalled: its ranges are asked of the others.
        bool stalled =
            in.error().source == error_source::timeout ||
            (in.error().source == error_source::handshake && rq_.servers() > 1);
        if (!stalled) return fail(in);
        if (auto r = resume(std::move(in).error()); !r) return fail(r);
        continue;
      }
      stalls_ = 0;
      auto it = in_flight_.find(in->rid);
      if (it == in_flight_.end()) continue;
      range asked = it->second;
      in_flight_.erase(it);
      if (auto* e = std::get_if<schema::error_reply>(&in->body))
        return fail(server_error(*e));
      auto* d = std::get_if<schema::download_reply>(&in->body);
      if (!d) return fail(unexpected_reply("download"));
      if (auto took = take(asked, *d); !took) return fail(took);
    }
    rq_.forget_all();
    std::string digest = storage::to_hex(hash_.finish());
    if (digest != meta_.sha256)
      return error{errc::checksum_mismatch,
                   "file " + meta_.id + " has SHA-256 " + digest +
                       " but its metadata says " + meta_.sha256,
                   error_source::local};
    if (auto committed = out_.commit(); !committed)
      return std::move(committed).error();
    report(opts_.on_progress, {meta_.size, meta_.size});
    return meta_;
  }

 private:
  template <class R>
  static bool timed_out(const R& r) {
    return !r && r.error().source == error_source::timeout;
  }

  template <class R>
  error fail(R&& r) {
    rq_.forget_all();
    return std::forward<R>(r).error();
  }

  error fail(error e) {
    rq_.forget_all();
    return e;
  }

  result<void> ask(range r) {
    auto rid = rq_.send(schema::download_request{meta_.id, r.offset, r.length});
    if (!rid) {
      // Still owed: asked again on resume.
      unsent_.push_back(r);
      return std::move(rid).error();
    }
    in_flight_.emplace(*rid, r);
    return {};
  }

  result<void> fill() {
    while (!unsent_.empty() && in_flight_.size() < depth_) {
      range r = unsent_.front();
      unsent_.erase(unsent_.begin());
      if (auto asked = ask(r); !asked) return asked;
    }
    while (in_flight_.size() < depth_ && next_offset_ < meta_.size) {
      range r{next_offset_, std::min(range_, meta_.size - next_offset_)};
      next_offset_ += r.length;
      if (auto asked = ask(r); !asked) return asked;
    }
    return {};
  }

  result<void> take(range asked, const schema::download_reply& d) {
    if (d.size != meta_.size || d.offset != asked.offset ||
        d.data.size() > asked.length || (d.data.empty() && asked.length > 0))
      return error{
          errc::internal,
          "the server answered a read of " + std::to_string(asked.length) +
              " bytes at offset " + std::to_string(asked.offset) + " of file " +
              meta_.id + " (size " + std::to_string(meta_.size) + ") with " +
              std::to_string(d.data.size()) + " bytes at offset " +
              std::to_string(d.offset) + " of size " + std::to_string(d.size),
          error_source::local};
    if (d.data.size() < asked.length) {
      // The server's ranges are smaller than ours: use its size from now on.
      range_ = d.data.size();
      unsent_.push_back(
          {asked.offset + d.data.size(), asked.length - d.data.size()});
    }
    ready_.emplace(asked.offset, d.data);
    while (!ready_.empty() && ready_.begin()->first == written_) {
      const schema::buffer& b = ready_.begin()->second;
      if (auto w = out_.write(b.data(), b.size()); !w) return w;
      hash_.update(b.data(), b.size());
      written_ += b.size();
      ready_.erase(ready_.begin());
    }
    report(opts_.on_progress, {written_, meta_.size});
    return {};
  }

  // After a timeout: a new socket (with several servers: for those that did
  // not answer, which also go into back-off), and every read in flight
  // asked again, of the live servers.
  result<void> resume(error why) {
    if (++stalls_ > rq_.opts().retries) {
      why.message = "download stalled: " + why.message + " (tried " +
                    std::to_string(stalls_) + " times)";
      return why;
    }
    if (auto opened = rq_.stalled(); !opened) return opened;
    for (auto& [rid, r] : in_flight_) unsent_.push_back(r);
    in_flight_.clear();
    std::sort(
        unsent_.begin(), unsent_.end(),
        [](const range& a, const range& b) { return a.offset < b.offset; });
    return {};
  }

  requester& rq_;
  const file_meta& meta_;
  uint64_t range_;
  size_t depth_;
  sink& out_;
  const download_options& opts_;

  storage::sha256 hash_;
  uint64_t written_ = 0;                      // bytes handed to out_, in order
  uint64_t next_offset_ = 0;                  // first byte never asked for
  std::map<uint64_t, range> in_flight_;       // rid -> range
  std::vector<range> unsent_;                 // owed, to ask (again)
  std::map<uint64_t, schema::buffer> ready_;  // offset -> bytes
  unsigned stalls_ = 0;
};

}  // namespace

result<file_meta> run_download(requester& rq, const file_meta& meta,
                               uint64_t range, sink& out,
                               const download_options& opts) {
  return fetcher{rq, meta, range, out, opts}.run();
}

}  // namespace depot::client::detail
