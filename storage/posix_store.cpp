#include "storage/posix_store.hpp"

#include "logging/log.hpp"
#include "schema/validate.hpp"
#include "storage/group_commit.hpp"
#include "storage/io_error.hpp"
#include "storage/journal.hpp"
#include "storage/layout.hpp"
#include "storage/object_table.hpp"
#include "storage/posix_instance.hpp"
#include "storage/posix_reader.hpp"
#include "storage/shard_dirs.hpp"
#include "storage/staging_area.hpp"
#include "storage/temp_file.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

namespace depot::storage {
namespace {

using schema::errc;
using schema::expected;
using schema::file_meta;
using schema::make_error;

caf::error malformed_id() {
  return make_error(errc::bad_request, "malformed file id");
}

// The store's parts, each in its own file; this class wires them together
// and answers reads, deletes and listings.
class posix_store final : public store {
 public:
  explicit posix_store(posix_store_options opts)
      : opts_(std::move(opts)),
        fs_(opts_.fs),
        root_(opts_.root),
        dirs_(*fs_, root_) {}

  // A clean stop leaves nothing to recover: the instance directory goes,
  // unless operations are still open (then recovery finishes them).
  ~posix_store() override { retire(); }

  caf::error open();

  expected<std::unique_ptr<staging_file>> create_staging() override;
  std::unique_ptr<staged_batch> stage(
      std::vector<commit_request> requests) override;
  caf::error barrier() override;
  expected<file_meta> stat(const std::string& id) override;
  expected<std::unique_ptr<object_reader>> open(const std::string& id) override;
  expected<uint64_t> remove(const std::string& id) override;
  expected<list_page> list(const std::optional<std::string>& after,
                           size_t limit) override;

 private:
  void retire();
  // The names in `dir` (none if it does not exist), and with `symlinks` the
  // symlinks among them.
  caf::error list_names(const std::string& dir, std::vector<std::string>* out,
                        std::vector<std::string>* symlinks = nullptr);
  // io_error (logged) if the bytes of `id` are among `symlinks` (their
  // directory's: planted, the store never makes one); reading them is
  // refused anyway.
  caf::error refuse_linked_bytes(const std::string& id,
                                 const std::vector<std::string>& symlinks);
  // Whether a symlink planted at the metadata of `id` is why it failed.
  bool linked_meta(const std::string& id);
  // Collection of a deleted object that failed (a full disk, say): its
  // journal entry `op` stays open (a restart recovers it) and it is retried
  // at the start of every later delete and upload until it succeeds.
  void defer_collect(const std::string& id, uint64_t op);
  void collect_deferred();

  posix_store_options opts_;
  std::shared_ptr<file_system> fs_;
  std::string root_;
  shard_dirs dirs_;
  std::unique_ptr<posix_instance> instance_;
  fresh_claims claims_;
  std::atomic<uint64_t> barriers_begun_{0};
  std::mutex deferred_mutex_;
  std::vector<std::pair<std::string, uint64_t>> deferred_;  // id, op
};

caf::error posix_store::open() {
  file_status st;
  int err = fs_->stat(root_, &st);
  if (err == ENOENT) {
    err = fs_->mkdir(root_);
    if (err && err != EEXIST) return io_failure(err, "mkdir", root_);
    err = fs_->stat(root_, &st);
  }
  if (err) return io_failure(err, "stat", root_);
  if (st.is_symlink)
    return make_error(errc::io_error,
                      "store root " + root_ + " is a symlink; refusing it");
  if (!st.is_dir)
    return make_error(errc::io_error,
                      "store root " + root_ + " is not a directory");
  auto instance = posix_instance::open(*fs_, root_, dirs_);
  if (!instance) return instance.error();
  instance_ = std::move(*instance);
  return {};
}

void posix_store::retire() {
  if (!instance_) return;
  collect_deferred();
  {
    std::lock_guard<std::mutex> guard{deferred_mutex_};
    if (!deferred_.empty()) return;
  }
  instance_->retire();
}

expected<std::unique_ptr<staging_file>> posix_store::create_staging() {
  std::string path = instance_->staging().next_path("d.");
  std::unique_ptr<writable_file> file;
  if (int err = fs_->create_exclusive(path, false, &file))
    return io_failure(err, "create", path);
  return std::unique_ptr<staging_file>{std::make_unique<posix_staging>(
      fs_, path, std::move(file), opts_.direct_io)};
}

std::unique_ptr<staged_batch> posix_store::stage(
    std::vector<commit_request> requests) {
  collect_deferred();
  group_commit_parts parts{*fs_,
                           root_,
                           instance_->objects(),
                           dirs_,
                           instance_->staging(),
                           claims_,
                           opts_.max_candidates,
                           opts_.id_bits,
                           opts_.group_sync_max_bytes,
                           barriers_begun_};
  return stage_batch(parts, std::move(requests));
}

caf::error posix_store::barrier() {
  barriers_begun_.fetch_add(1);
  if (int e = fs_->sync_fs(root_)) return io_failure(e, "syncfs", root_);
  return {};
}

caf::error posix_store::list_names(const std::string& dir,
                                   std::vector<std::string>* out,
                                   std::vector<std::string>* symlinks) {
  int err = fs_->list_dir(dir, out, symlinks);
  if (err == ENOENT) {
    out->clear();
    if (symlinks) symlinks->clear();
    return {};
  }
  if (err) return io_failure(err, "list", dir);
  return {};
}

caf::error posix_store::refuse_linked_bytes(
    const std::string& id, const std::vector<std::string>& symlinks) {
  auto p = paths_of(root_, id);
  if (std::find(symlinks.begin(), symlinks.end(), p.rest) == symlinks.end())
    return {};
  auto path = p.content();
  log::error("store: a file's bytes are a symlink; refused",
             {{"id", id}, {"path", path}});
  return make_error(errc::io_error, path + " is a symlink; refused");
}

bool posix_store::linked_meta(const std::string& id) {
  auto path = paths_of(root_, id).meta();
  file_status st;
  return fs_->stat(path, &st) == 0 && st.is_symlink;
}

expected<file_meta> posix_store::stat(const std::string& id) {
  if (!schema::is_file_id(id)) return malformed_id();
  std::vector<std::string> names, symlinks;
  if (auto err = list_names(paths_of(root_, id).dir, &names, &symlinks))
    return err;
  auto live = instance_->objects().find_live(id, names);
  if (!live) return live.error();
  if (auto err = refuse_linked_bytes(id, symlinks)) return err;
  return to_file_meta(id, live->meta, live->refs.size());
}

expected<std::unique_ptr<object_reader>> posix_store::open(
    const std::string& id) {
  if (!schema::is_file_id(id)) return malformed_id();
  auto p = paths_of(root_, id);
  std::unique_ptr<readable_file> f;
  int err = fs_->open_read(p.content(), &f);
  if (err == ENOENT || err == ENOTDIR)
    return make_error(errc::not_found, "no file " + id);
  if (err) return io_failure(err, "open", p.content());
  return std::unique_ptr<object_reader>{
      std::make_unique<posix_reader>(std::move(f), p.content())};
}

expected<uint64_t> posix_store::remove(const std::string& id) {
  if (!schema::is_file_id(id)) return malformed_id();
  collect_deferred();
  auto p = paths_of(root_, id);
  for (;;) {
    std::vector<std::string> names;
    if (auto err = list_names(p.dir, &names)) return err;
    auto live = instance_->objects().find_live(id, names);
    if (!live) return live.error();
    uint64_t op = instance_->log().begin(id, "-");
    std::string removed;
    for (auto& r : live->refs) {
      int err = fs_->unlink(p.dir + "/" + r);
      if (err == 0) {
        removed = r;
        break;
      }
      if (err != ENOENT) {
        instance_->log().end(op);
        return io_failure(err, "unlink", p.dir + "/" + r);
      }
    }
    if (removed.empty()) {  // every one we saw was taken by concurrent deletes
      instance_->log().end(op);
      continue;
    }
    // The delete is answered only once it is durable. If it cannot be made
    // so, or the references left cannot be counted, the reference comes
    // back (a name, as every reference: no new space) and the error says
    // nothing was deleted.
    int err = fs_->sync_dir(p.dir);
    const char* what = "fsync";
    if (!err && (err = fs_->list_dir(p.dir, &names))) what = "list";
    if (err) {
      if (fs_->link(p.meta(), p.dir + "/" + removed) == 0) {
        instance_->log().end(op);
        return io_failure(err, what, p.dir);
      }
      // Gone for good: answered as done, the rest left to collection.
      log::warn(
          "store: delete done, but the reference could not be restored "
          "after a failure",
          {{"id", id},
           {"op", what},
           {"path", p.dir},
           {"error", std::strerror(err)}});
      defer_collect(id, op);
      if (fs_->list_dir(p.dir, &names) != 0) return 0;
      return count_prefixed(names, p.ref_prefix(live->meta.gen));
    }
    size_t left = count_prefixed(names, p.ref_prefix(live->meta.gen));
    if (left == 0) {
      if (auto e = instance_->objects().collect(id, "")) {
        // The delete happened; only the space is not reclaimed yet.
        log::warn("store: delete done, its space not reclaimed yet",
                  {{"id", id}, {"error", schema::message_of(e)}});
        defer_collect(id, op);
        return left;
      }
    }
    instance_->log().end(op);
    return left;
  }
}

void posix_store::defer_collect(const std::string& id, uint64_t op) {
  std::lock_guard<std::mutex> guard{deferred_mutex_};
  deferred_.emplace_back(id, op);
}

void posix_store::collect_deferred() {
  std::vector<std::pair<std::string, uint64_t>> todo;
  {
    std::lock_guard<std::mutex> guard{deferred_mutex_};
    if (deferred_.empty()) return;
    todo.swap(deferred_);
  }
  for (auto& [id, op] : todo) {
    if (instance_->objects().collect(id, "")) {
      defer_collect(id, op);
      continue;
    }
    instance_->log().end(op);
    log::info("store: space of a deleted file reclaimed", {{"id", id}});
  }
}

// Shard directories are walked in byte order, skipping whole shards before
// `after`; we look one file ahead to know whether there are more.
expected<list_page> posix_store::list(const std::optional<std::string>& after,
                                      size_t limit) {
  if (after && !schema::is_file_id(*after))
    return make_error(errc::bad_request, "malformed file id in after");
  list_page page;
  if (limit == 0) return page;  // else `next` below would read no file
  std::string from = after ? *after : std::string{};
  // A planted symlink where a shard directory should be is skipped (the
  // file system logged it), not followed.
  auto listing = [&](const std::string& path, std::vector<std::string>* out,
                     std::vector<std::string>* symlinks =
                         nullptr) -> caf::error {
    int err = fs_->list_dir(path, out, symlinks);
    if (err == ENOENT || err == ELOOP || err == ENOTDIR) {
      out->clear();
      if (symlinks) symlinks->clear();
      return {};
    }
    if (err) return io_failure(err, "list", path);
    return {};
  };
  auto sorted_shards = [&](const std::string& path,
                           std::vector<std::string>* out) -> caf::error {
    if (auto err = listing(path, out)) return err;
    out->erase(
        std::remove_if(out->begin(), out->end(),
                       [](const std::string& n) { return !is_id_part(n, 2); }),
        out->end());
    std::sort(out->begin(), out->end());
    return {};
  };
  std::vector<std::string> l1s, l2s, names, symlinks;
  if (auto err = sorted_shards(root_, &l1s)) return err;
  for (auto& a : l1s) {
    if (!from.empty() && a < from.substr(0, 2)) continue;
    if (auto err = sorted_shards(root_ + "/" + a, &l2s)) return err;
    for (auto& b : l2s) {
      std::string shard = a + b;
      if (!from.empty() && shard < from.substr(0, shard_digits)) continue;
      if (auto err = listing(root_ + "/" + a + "/" + b, &names, &symlinks))
        return err;
      std::vector<std::string> ids;
      for (auto& n : names)
        if (is_id_part(n, schema::file_id_length - shard_digits) &&
            shard + n > from)
          ids.push_back(shard + n);
      std::sort(ids.begin(), ids.end());
      for (auto& id : ids) {
        auto live = instance_->objects().find_live(id, names);
        if (!live) {
          if (schema::code_of(live.error()) == errc::not_found) continue;
          if (linked_meta(id)) continue;  // logged by the file system
          return live.error();
        }
        if (refuse_linked_bytes(id, symlinks)) continue;  // logged
        if (page.files.size() == limit) {
          page.next = page.files.back().id;
          return page;
        }
        page.files.push_back(to_file_meta(id, live->meta, live->refs.size()));
      }
    }
  }
  return page;
}

}  // namespace

expected<std::shared_ptr<store>> open_posix_store(posix_store_options options) {
  if (!options.fs) options.fs = posix_file_system_beneath(options.root);
  if (options.max_candidates < 16)
    return make_error(errc::internal, "max_candidates must be at least 16");
  if (options.id_bits && (*options.id_bits < 1 || *options.id_bits > 128))
    return make_error(errc::internal, "id_bits must be within 1..128");
  auto s = std::make_shared<posix_store>(std::move(options));
  if (auto err = s->open()) return err;
  return std::shared_ptr<store>{std::move(s)};
}

}  // namespace depot::storage
