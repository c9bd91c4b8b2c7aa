#include "storage/rados/rados_store.hpp"

#include "logging/log.hpp"
#include "schema/validate.hpp"
#include "storage/naming.hpp"
#include "storage/rados/index.hpp"
#include "storage/rados/leases.hpp"
#include "storage/rados/rados_io.hpp"
#include "storage/rados/striped.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>

namespace depot::storage {

namespace {

using schema::errc;
using schema::expected;
using schema::make_error;
using namespace depot::storage::rados;

// A compare-and-swap that keeps losing to concurrent changes of the same
// file gives up after this many tries (busy: the client may retry).
constexpr int max_swaps = 1000;

caf::error busy_entry(const std::string& id) {
  return make_error(errc::busy, "file " + id +
                                    " keeps changing under concurrent "
                                    "requests; try again");
}

caf::error corrupt_entry(const std::string& id) {
  return make_error(errc::io_error,
                    "the index entry of " + id + " does not decode (corrupt)");
}

// One entry read for `id`: nullopt when absent, else the error as stat
// would answer it.
expected<std::optional<read_entry>> find(rados_ioctx_t io,
                                         const std::string& id) {
  std::optional<read_entry> e;
  int r = get_entry(io, id, &e);
  if (r == -EBADMSG) return corrupt_entry(id);
  if (r < 0) return rados_failure(r, "read index of", id);
  return e;
}

// What a dead instance (or this one, at close) left under a lease key:
// its data objects stay if the recorded id's entry references them (the
// commit got through; the delete did not), else they go.
bool reclaim_token(rados_ioctx_t io, const std::string& key,
                   const std::string& value) {
  // "PARTS ID" (an upload's own token: the key) or "PARTS ID TOKEN".
  uint64_t parts = 0;
  auto space = value.find(' ');
  auto [end, ec] = std::from_chars(
      value.data(), value.data() + std::min(space, value.size()), parts);
  if (space == std::string::npos || ec != std::errc{} ||
      end != value.data() + space) {
    log::warn("RADOS lease entry malformed; dropped",
              {{"key", key}, {"value", value}});
    return true;
  }
  std::string id = value.substr(space + 1);
  std::string token = key;
  if (auto second = id.find(' '); second != std::string::npos) {
    token = id.substr(second + 1);
    id.resize(second);
  }
  if (id != "-") {
    std::optional<read_entry> e;
    int r = get_entry(io, id, &e);
    if (r < 0 && r != -EBADMSG) return false;
    if (r == 0 && e && e->decoded.meta.gen == token) return true;
  }
  return remove_data(io, token, parts) == 0;
}

// A batch of uploads being committed: see the header and store::stage.
class rados_batch final : public staged_batch {
 public:
  rados_batch(std::shared_ptr<backend> b, const rados_store_options& o,
              std::vector<commit_request> requests)
      : b_(std::move(b)), opts_(o) {
    std::map<std::string, std::string> lease;
    for (auto& r : requests) {
      upload u;
      u.info = std::move(r.info);
      auto* s = dynamic_cast<striped_staging*>(r.staged.get());
      if (!s || &s->owner() != b_.get()) {
        u.err = make_error(errc::internal,
                           "a staging file of another store was committed");
      } else {
        r.staged.release();
        u.staged.reset(s);
        u.err = b_->leases->holds(s->token());
        entry e;
        e.meta = {u.info.name, s->size(),         to_hex(u.info.sha256),
                  u.info.mime, u.info.created_ms, s->token()};
        e.refs = 1;
        e.stripe = b_->stripe;
        u.value = encode_entry(e);
        u.meta = e.meta;
        u.id = candidate(u, 0);
        if (!u.err) lease[s->token()] = lease_value(s->parts(), u.id);
      }
      uploads_.push_back(std::move(u));
    }
    // One lease update records the whole batch (parts and first candidate),
    // then what each upload still holds in RAM is written, all at once.
    caf::error lease_err = b_->leases->note(lease);
    for (auto& u : uploads_)
      if (!u.err && lease_err) u.err = lease_err;
    for (auto& u : uploads_)
      if (!u.err) u.err = u.staged->flush();
    for (auto& u : uploads_)
      if (!u.err) u.err = u.staged->drain();
  }

  bool needs_barrier() const override { return false; }

  void place(const caf::error&) override {
    std::vector<upload*> pending;
    for (auto& u : uploads_)
      if (!u.err) u.err = b_->leases->holds(u.staged->token());
    for (auto& u : uploads_)
      if (!u.err) pending.push_back(&u);
    // Rounds of claims, all in flight at once; what a claim finds taken is
    // resolved (dedup, collision) before the next round.
    for (int round = 0; !pending.empty(); ++round) {
      if (round == max_swaps) {
        for (auto* u : pending) u->err = busy_entry(u->id);
        break;
      }
      std::vector<write_op> ops(pending.size());
      std::vector<completion> done(pending.size());
      std::vector<int> started(pending.size());
      for (size_t i = 0; i < pending.size(); ++i) {
        add_claim(ops[i], pending[i]->id, pending[i]->value);
        started[i] = ops[i].start(b_->objects->io(),
                                  shard_object(pending[i]->id), done[i]);
      }
      std::vector<upload*> again;
      for (size_t i = 0; i < pending.size(); ++i) {
        auto& u = *pending[i];
        int r = started[i] < 0 ? started[i] : done[i].wait();
        if (r == 0) {
          u.result = commit_result{to_file_meta(u.id, u.meta, 1), false, u.k};
        } else if (r == -ECANCELED) {
          if (resolve_taken(u)) again.push_back(&u);
        } else {
          u.err = rados_failure(r, "claim", u.id);
        }
      }
      pending = std::move(again);
    }
  }

  commit_results settle(const caf::error&) override {
    commit_results results;
    std::vector<std::string> committed;
    for (auto& u : uploads_) {
      if (u.err) {
        results.emplace_back(u.err);
        continue;
      }
      // A fresh claim keeps its data objects; a dedup's go with its staging
      // file (its destructor removes them and forgets the token).
      if (!u.result->dedup) {
        committed.push_back(u.staged->token());
        u.staged->release();
      }
      results.emplace_back(std::move(*u.result));
    }
    if (auto err = b_->leases->forget(committed))
      log::warn(
          "RADOS: committed uploads' lease entries left for recovery",
          {{"uploads", committed.size()}, {"error", schema::message_of(err)}});
    uploads_.clear();
    return results;
  }

 private:
  struct upload {
    std::unique_ptr<striped_staging> staged;
    commit_info info;
    caf::error err;
    std::string value;  ///< our entry, as claimed
    stored_meta meta;   ///< what `value` holds
    uint32_t k = 0;     ///< the naming candidate tried
    std::string id;     ///< candidate k's id
    std::optional<commit_result> result;
  };

  std::string candidate(const upload& u, uint32_t k) const {
    return candidate_id(u.info.sha256, k, opts_.id_bits);
  }

  // The claim of u.id found it taken: adds a reference if it holds the same
  // content, else moves on to the next candidate. Whether to claim again.
  bool resolve_taken(upload& u) {
    auto io = b_->objects->io();
    for (int swap = 0; swap < max_swaps; ++swap) {
      auto found = find(io, u.id);
      if (!found) {
        u.err = found.error();
        return false;
      }
      if (!*found) return true;  // deleted meanwhile: claim it afresh
      const entry& e = (*found)->decoded;
      if (e.meta.sha256 == to_hex(u.info.sha256) &&
          e.meta.size == u.staged->size()) {
        entry joined = e;
        ++joined.refs;
        int r = swap_entry(io, u.id, (*found)->raw, encode_entry(joined));
        if (r == -ECANCELED) continue;  // changed meanwhile: look again
        if (r < 0) {
          u.err = rados_failure(r, "add a reference to", u.id);
          return false;
        }
        u.result =
            commit_result{to_file_meta(u.id, e.meta, joined.refs), true, u.k};
        return false;
      }
      // A collision: the next candidate, recorded under the lease first.
      if (++u.k >= opts_.max_candidates) {
        u.err = make_error(errc::name_exhausted,
                           "all " + std::to_string(opts_.max_candidates) +
                               " naming candidates hold other content");
        return false;
      }
      u.id = candidate(u, u.k);
      if (auto err = b_->leases->note(
              {{u.staged->token(), lease_value(u.staged->parts(), u.id)}})) {
        u.err = err;
        return false;
      }
      return true;
    }
    u.err = busy_entry(u.id);
    return false;
  }

  std::shared_ptr<backend> b_;
  const rados_store_options& opts_;
  std::vector<upload> uploads_;
};

class rados_store final : public store {
 public:
  rados_store(std::shared_ptr<backend> b, rados_store_options o)
      : b_(std::move(b)), opts_(std::move(o)) {}

  expected<std::unique_ptr<staging_file>> create_staging() override {
    return std::unique_ptr<staging_file>{new striped_staging(b_)};
  }

  std::unique_ptr<staged_batch> stage(
      std::vector<commit_request> requests) override {
    return std::make_unique<rados_batch>(b_, opts_, std::move(requests));
  }

  // librados acknowledges a write once every replica has it.
  caf::error barrier() override { return {}; }

  expected<schema::file_meta> stat(const std::string& id) override {
    auto e = live(id);
    if (!e) return e.error();
    return to_file_meta(id, e->decoded.meta, e->decoded.refs);
  }

  expected<std::unique_ptr<object_reader>> open(
      const std::string& id) override {
    auto e = live(id);
    if (!e) return e.error();
    const entry& d = e->decoded;
    return std::unique_ptr<object_reader>{
        new striped_reader(b_, id, d.meta.gen, d.meta.size, d.stripe)};
  }

  expected<uint64_t> remove(const std::string& id) override {
    auto io = b_->objects->io();
    for (int swap = 0; swap < max_swaps; ++swap) {
      auto e = live(id);
      if (!e) return e.error();
      const entry& d = e->decoded;
      if (d.refs > 1) {
        entry less = d;
        --less.refs;
        int r = swap_entry(io, id, e->raw, encode_entry(less));
        if (r == -ECANCELED) continue;
        if (r < 0) return rados_failure(r, "take a reference from", id);
        return less.refs;
      }
      // The last reference: the lease records the data objects before the
      // entry goes, so that they go too whatever happens to this process.
      // Under a key of this delete's own: concurrent deletes of the same
      // file each keep their record until their own outcome is known.
      std::string key = b_->leases->new_token();
      if (auto err =
              b_->leases->note({{key, lease_value(d.parts(), id, d.meta.gen)}}))
        return err;
      int r = remove_entry(io, id, e->raw);
      if (r == -ECANCELED) {  // changed meanwhile: the entry keeps its data
        b_->leases->forget({key});
        continue;
      }
      if (r < 0) {
        b_->leases->forget({key});
        return rados_failure(r, "remove", id);
      }
      if (int rr = remove_data(io, d.meta.gen, d.parts()); rr < 0)
        log::warn("RADOS: a deleted file's data is left for recovery",
                  {{"id", id},
                   {"error", schema::message_of(
                                 rados_failure(rr, "remove data of", id))}});
      else
        b_->leases->forget({key});
      return uint64_t{0};
    }
    return busy_entry(id);
  }

  expected<list_page> list(const std::optional<std::string>& after,
                           size_t limit) override {
    if (after && !schema::is_file_id(*after))
      return make_error(errc::bad_request, "malformed file id in after");
    list_page page;
    if (limit == 0) return page;
    auto io = b_->objects->io();
    // One entry past the page tells whether there is a next one.
    size_t want = limit + 1;
    std::vector<std::pair<std::string, entry>> found;
    size_t first = after ? shard_index((*after)[0]) : 0;
    for (size_t s = first; s < shard_count && found.size() < want; ++s) {
      std::string from = after && s == first ? *after : std::string{};
      for (;;) {
        omap_page got;
        std::string object = shard_object_at(s);
        if (int r = omap_range(io, object, from, want - found.size(), &got);
            r < 0)
          return rados_failure(r, "list", object);
        for (auto& [id, value] : got.values) {
          from = id;
          entry e;
          if (!decode_entry(value, &e)) {
            log::warn(
                "RADOS: an index entry does not decode; left out of list",
                {{"id", id}, {"error", schema::message_of(corrupt_entry(id))}});
            continue;
          }
          found.emplace_back(id, std::move(e));
        }
        if (!got.more || found.size() >= want) break;
      }
    }
    for (auto& [id, e] : found) {
      if (page.files.size() == limit) {
        page.next = page.files.back().id;
        break;
      }
      page.files.push_back(to_file_meta(id, e.meta, e.refs));
    }
    return page;
  }

 private:
  expected<read_entry> live(const std::string& id) {
    if (!schema::is_file_id(id))
      return make_error(errc::bad_request, "malformed file id");
    auto e = find(b_->objects->io(), id);
    if (!e) return e.error();
    if (!*e) return make_error(errc::not_found, "no file " + id);
    return std::move(**e);
  }

  std::shared_ptr<backend> b_;
  rados_store_options opts_;
};

}  // namespace

expected<std::shared_ptr<store>> open_rados_store(rados_store_options o) {
  if (o.max_candidates < 16)
    return make_error(errc::internal, "max_candidates must be at least 16");
  if (o.id_bits && (*o.id_bits < 1 || *o.id_bits > 128))
    return make_error(errc::internal, "id_bits must be within 1..128");
  if (o.stripe_bytes < 4096 || o.stripe_bytes > (uint64_t{64} << 20))
    return make_error(errc::internal, "stripe must be within 4 KiB..64 MiB");
  if (o.write_window < 1)
    return make_error(errc::internal, "the write window must not be empty");
  if (o.pool.empty())
    return make_error(errc::internal, "the RADOS store needs a pool");
  auto p = pool::connect(o.conf, o.id, o.pool, o.ns);
  if (!p) return p.error();
  auto b = std::make_shared<backend>();
  b->objects = *p;
  b->stripe = o.stripe_bytes;
  b->first_write = std::min(o.first_write, o.stripe_bytes);
  b->write_window = o.write_window;
  auto io = b->objects->io();
  auto keeper = lease_keeper::start(
      b->objects, o.lease,
      [io](const std::string& token, const std::string& value) {
        return reclaim_token(io, token, value);
      });
  if (!keeper) return keeper.error();
  b->leases = std::move(*keeper);
  log::info("RADOS store opened", {{"where", b->objects->where()},
                                   {"stripe", b->stripe},
                                   {"lease_ms", o.lease}});
  return std::shared_ptr<store>{
      std::make_shared<rados_store>(std::move(b), std::move(o))};
}

}  // namespace depot::storage
