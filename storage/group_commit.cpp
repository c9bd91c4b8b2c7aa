#include "storage/group_commit.hpp"

#include "storage/io_error.hpp"
#include "storage/layout.hpp"
#include "storage/meta_file.hpp"
#include "storage/naming.hpp"
#include "storage/temp_file.hpp"

#include <algorithm>

namespace depot::storage {
namespace {

using schema::errc;
using schema::expected;
using schema::file_meta;
using schema::make_error;

// One upload of a batch.
struct batch_item {
  std::unique_ptr<staging_file> owner;
  posix_staging* staging = nullptr;  // owner, as what this store made
  commit_info info;
  stored_meta meta;
  std::optional<temp_file> meta_temp;
  caf::error err;
  std::optional<placement> placed;
  uint32_t collisions = 0;  // candidates held by other content
};

class posix_batch final : public staged_batch {
 public:
  posix_batch(const group_commit_parts& parts,
              std::vector<commit_request> requests);

  bool needs_barrier() const override {
    return whole_fs_ && std::any_of(items_.begin(), items_.end(),
                                    [](auto& it) { return !it.err; });
  }
  void place(const caf::error& barrier_failure) override;
  commit_results settle(const caf::error& barrier_failure) override;

 private:
  void place_item(batch_item& it);
  expected<file_meta> settle_item(const placement& pl,
                                  const caf::error& barrier_failure);

  // The barrier the caller owes before this step: internal if none began
  // since the last step wrote something (what it wrote would not be
  // durable), else the caller's `barrier_failure`.
  caf::error owed_barrier(const caf::error& barrier_failure) const;

  group_commit_parts parts_;
  std::vector<batch_item> items_;
  bool whole_fs_ = true;        // barriers by syncfs, else flushes file by file
  uint64_t written_after_ = 0;  // barriers begun when the last step ended
};

caf::error posix_batch::owed_barrier(const caf::error& barrier_failure) const {
  if (barrier_failure || !needs_barrier()) return barrier_failure;
  if (parts_.barriers_begun.load() == written_after_)
    return make_error(errc::internal, "a batch step without its barrier");
  return {};
}

posix_batch::posix_batch(const group_commit_parts& parts,
                         std::vector<commit_request> requests)
    : parts_(parts) {
  uint64_t total = 0;
  items_.resize(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    auto& it = items_[i];
    it.owner = std::move(requests[i].staged);
    it.info = std::move(requests[i].info);
    // A checked cast: the staging file must come from this store.
    it.staging = dynamic_cast<posix_staging*>(it.owner.get());
    if (it.staging == nullptr)
      it.err = make_error(errc::internal, "commit of a foreign staging file");
    else
      total += it.staging->size();
  }
  whole_fs_ = total <= parts_.whole_fs_max_bytes;
  // Bytes and metadata written; flushed now only file by file.
  for (auto& it : items_) {
    if (it.err) continue;
    if ((it.err = it.staging->finish(!whole_fs_))) continue;
    it.meta = {it.info.name, it.staging->size(), to_hex(it.info.sha256),
               it.info.mime, it.info.created_ms, random_hex(16)};
    it.meta_temp.emplace(parts_.fs, parts_.staging.next_path("m."));
    it.err = it.meta_temp->write(encode_meta(it.meta), !whole_fs_);
  }
  written_after_ = parts_.barriers_begun.load();
}

void posix_batch::place(const caf::error& barrier_failure) {
  auto failure = owed_barrier(barrier_failure);
  for (auto& it : items_) {
    if (it.err) continue;
    if (failure)
      it.err = failure;
    else
      place_item(it);
  }
  written_after_ = parts_.barriers_begun.load();
}

// Under the first candidate id that is free or holds the same content.
void posix_batch::place_item(batch_item& it) {
  for (uint32_t k = 0; k < parts_.max_candidates; ++k) {
    std::string id = candidate_id(it.info.sha256, k, parts_.id_bits);
    auto r =
        parts_.objects.place_under(id, *it.staging, *it.meta_temp, it.meta);
    if (!r) {
      it.err = r.error();
      return;
    }
    if (r->how != placed::collision) {
      parts_.claims.note(*r);
      it.placed = std::move(*r);
      return;
    }
    ++it.collisions;
  }
  it.err = make_error(errc::name_exhausted,
                      "all " + std::to_string(parts_.max_candidates) +
                          " naming candidates hold other content");
}

// The placements made durable (by the barrier before, or here file by
// file); only then is anything acknowledged.
commit_results posix_batch::settle(const caf::error& barrier_failure) {
  auto failure = owed_barrier(barrier_failure);
  commit_results out;
  for (auto& it : items_) {
    if (it.err) {
      out.emplace_back(it.err);
      continue;
    }
    if (!it.placed) {
      out.emplace_back(make_error(errc::internal, "batch settled unplaced"));
      continue;
    }
    auto file = settle_item(*it.placed, failure);
    if (file) {
      out.emplace_back(commit_result{
          std::move(*file), it.placed->how == placed::dedup, it.collisions});
    } else {
      parts_.objects.roll_back(*it.placed);
      out.emplace_back(file.error());
    }
    it.placed.reset();
  }
  return out;
}

expected<file_meta> posix_batch::settle_item(
    const placement& pl, const caf::error& barrier_failure) {
  bool alone = pl.how == placed::stored && parts_.claims.settle_alone(pl.id);
  if (whole_fs_ && barrier_failure) return barrier_failure;
  if (!whole_fs_) {
    auto dir = paths_of(parts_.root, pl.id).dir;
    if (int err = parts_.fs.sync_dir(dir)) return io_failure(err, "fsync", dir);
  }
  if (auto err = parts_.dirs.make_durable(pl.id, whole_fs_)) return err;
  auto file = alone ? expected<file_meta>{to_file_meta(pl.id, pl.meta, 1)}
                    : parts_.objects.describe(pl.id, pl.meta);
  if (!file) return file;
  // Past the seal a crash leaves the file stored: only then is it ours to
  // acknowledge.
  if (auto err = parts_.objects.seal(pl)) return err;
  return file;
}

}  // namespace

void fresh_claims::note(const placement& pl) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (pl.how == placed::stored) {
    joined_[pl.id] = false;
  } else if (auto c = joined_.find(pl.id); c != joined_.end()) {
    c->second = true;
  }
}

bool fresh_claims::settle_alone(const std::string& id) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto c = joined_.find(id);
  if (c == joined_.end()) return false;
  bool joined = c->second;
  joined_.erase(c);
  return !joined;
}

std::unique_ptr<staged_batch> stage_batch(
    const group_commit_parts& parts, std::vector<commit_request> requests) {
  return std::make_unique<posix_batch>(parts, std::move(requests));
}

}  // namespace depot::storage
