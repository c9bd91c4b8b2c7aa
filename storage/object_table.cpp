#include "storage/object_table.hpp"

#include "logging/log.hpp"
#include "storage/file_digest.hpp"
#include "storage/io_error.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

namespace depot::storage {
namespace {

using schema::errc;
using schema::expected;
using schema::file_meta;
using schema::make_error;

constexpr auto dead_wait_limit = std::chrono::seconds(30);
constexpr auto dead_recover_after = std::chrono::seconds(2);

// Each retry means another process made progress, so place_under ends in
// practice; the bound is a safety net.
constexpr int max_place_attempts = 1000;

}  // namespace

object_table::object_table(file_system& fs, std::string root, journal& log,
                           staging_area& staging, shard_dirs& dirs,
                           std::function<void()> recover_dead)
    : fs_(&fs),
      root_(std::move(root)),
      log_(&log),
      staging_(&staging),
      dirs_(&dirs),
      recover_dead_(std::move(recover_dead)) {}

expected<placement> object_table::place_under(const std::string& id,
                                              posix_staging& data,
                                              temp_file& meta_temp,
                                              const stored_meta& m) {
  for (int attempt = 0; attempt < max_place_attempts; ++attempt) {
    auto r = claim(id, data, meta_temp, m);
    if (!r) return r.error();
    if (*r) return std::move(**r);
  }
  return make_error(errc::busy, "id " + id + " keeps changing; retry");
}

// A reference is a name, not a file: a hard link to our metadata temp
// file, so taking one allocates no inode (a third fewer per stored file).
expected<placement> object_table::add_ref(placed how, const std::string& id,
                                          const stored_meta& m,
                                          const std::string& link_from) {
  auto p = paths_of(root_, id);
  std::string name = p.ref_prefix(m.gen) + staging_->instance() + "-" +
                     std::to_string(staging_->next_number());
  std::string ref_path = p.dir + "/" + name;
  uint64_t op = log_->begin(id, name);
  if (int err = fs_->link(link_from, ref_path)) {
    log_->end(op);
    return io_failure(err, "link", ref_path);
  }
  return placement{how, id, m, op, std::move(ref_path)};
}

object_table::try_result object_table::claim(const std::string& id,
                                             posix_staging& data,
                                             temp_file& meta_temp,
                                             const stored_meta& m) {
  if (auto err = dirs_->ensure(id)) return err;
  auto p = paths_of(root_, id);
  // Our reference exists before our claim, so that nobody ever sees this
  // incarnation with no references while we are still working on it.
  auto pl = add_ref(placed::stored, id, m, meta_temp.path());
  if (!pl) return pl.error();
  int err = meta_temp.move_to(p.meta());
  if (err == 0) {
    // The id is ours. Content ⇒ metadata always holds: the bytes go last.
    err = data.move_to(p.content());
    if (err == EEXIST) err = settle_bytes(p, data, m);
    if (err) {
      roll_back(*pl);
      return io_failure(err, "rename", p.content());
    }
    return {std::move(*pl)};
  }
  if (err != EEXIST) {
    roll_back(*pl);
    return io_failure(err, "rename", p.meta());
  }
  // Someone holds the id; our reference carries a generation that never
  // became visible, so it counts for nothing and just goes.
  err = fs_->unlink(pl->ref_path);
  if (err && err != ENOENT) return io_failure(err, "unlink", pl->ref_path);
  log_->end(pl->op);
  stored_meta existing;
  err = read_meta(p, &existing);
  if (err == ENOENT) return {std::nullopt};  // deleted meanwhile
  if (err) return io_failure(err, "read", p.meta());
  if (existing.sha256 != m.sha256) {
    placement collided;
    collided.how = placed::collision;
    collided.id = id;
    return {std::move(collided)};
  }
  return join(id, data, meta_temp.path(), existing);
}

// Bytes already at an id we just claimed: those of a joiner that moved its
// (identical) bytes in before us, which stay; or bytes left without
// metadata (damage, or a tool's half-done work), which must not be served
// as ours: ours replace them. Rare, so hashing them is fine.
int object_table::settle_bytes(const object_paths& p, posix_staging& data,
                               const stored_meta& m) {
  std::vector<std::byte> buffer(size_t{1} << 20);
  digest d{};
  uint64_t size = 0;
  int err = digest_of_file(*fs_, p.content(), &buffer, &d, &size);
  if (err == ENOENT) return data.replace(p.content());  // gone meanwhile
  if (err) return err;
  if (size == m.size && to_hex(d) == m.sha256) return 0;
  log::warn(
      "store: bytes without metadata replaced by the upload that claimed "
      "the id",
      {{"path", p.content()}, {"bytes", size}, {"sha256", to_hex(d)}});
  return data.replace(p.content());
}

object_table::try_result object_table::join(const std::string& id,
                                            posix_staging& data,
                                            const std::string& meta_temp,
                                            const stored_meta& existing) {
  auto p = paths_of(root_, id);
  auto pl = add_ref(placed::dedup, id, existing, meta_temp);
  if (!pl) return pl.error();
  // A deleter of the last reference creates `.dead` and then counts
  // references; we created our reference and now look for `.dead`. One of
  // us sees the other. If the deleter went first, wait for its decision.
  if (auto err = wait_while_dying(id)) {
    roll_back(*pl);
    return err;
  }
  stored_meta now;
  int err = read_meta(p, &now);
  if (err == ENOENT || (err == 0 && now.gen != existing.gen)) {
    roll_back(*pl);
    return {std::nullopt};
  }
  if (err) {
    roll_back(*pl);
    return io_failure(err, "read", p.meta());
  }
  // The claimer may not have moved its bytes in yet; ours are the same.
  err = data.move_to(p.content());
  if (err && err != EEXIST) {
    roll_back(*pl);
    return io_failure(err, "rename", p.content());
  }
  return {std::move(*pl)};
}

void object_table::roll_back(const placement& pl) {
  int unlink_err = fs_->unlink(pl.ref_path);
  auto collected = collect(pl.id, "");
  // Still inconsistent: the journal entry stays open for recovery.
  if ((unlink_err == 0 || unlink_err == ENOENT) && !collected) log_->end(pl.op);
}

caf::error object_table::wait_while_dying(const std::string& id) {
  auto p = paths_of(root_, id);
  auto start = std::chrono::steady_clock::now();
  bool recovered = false;
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    file_status st;
    int err = fs_->stat(p.dead(), &st);
    if (err == ENOENT) return {};
    if (err) return io_failure(err, "stat", p.dead());
    auto waited = std::chrono::steady_clock::now() - start;
    if (!recovered && waited > dead_recover_after) {
      recover_dead_();  // the deleter may have died
      // A marker of a dead instance that no journal names any more (left by
      // an older version): decided here, from what is on disk.
      uint64_t op = log_->begin(id, "-");
      if (!collect(id, "")) log_->end(op);
      recovered = true;
    }
    if (waited > dead_wait_limit)
      return make_error(errc::busy, "a delete of this content is stuck; retry");
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(50000));
  }
}

// The lock of a dead instance `owner`, taken, if `owner` names an instance
// that is not alive: ENOENT (its directory is gone) leaves `*held` empty.
// False while it lives (its lock is held: by it, or by whoever recovers
// it, who then decides) or is no instance name.
bool object_table::lock_if_dead(const std::string& owner,
                                std::unique_ptr<file_lock>* held) {
  if (owner == staging_->instance() || !is_instance_name(owner)) return false;
  int err = fs_->try_lock(root_ + "/.staging/" + owner + "/lock", false, held);
  return err == 0 || err == ENOENT;
}

caf::error object_table::collect(const std::string& id,
                                 const std::string& dead_owner) {
  auto p = paths_of(root_, id);
  // A marker is ours to take over if its owner is the dead instance being
  // recovered (whose lock our caller holds), or any other dead instance,
  // whose lock we then hold until done: a recovery that died halfway
  // leaves a marker naming itself, and whoever comes next finishes it.
  std::unique_ptr<file_lock> owner_lock;
  auto owned_by_dead = [&] {
    std::string owner;
    if (fs_->read_small(p.dead(), 64, &owner) != 0) return false;
    if (!dead_owner.empty() && owner == dead_owner) return true;
    return lock_if_dead(owner, &owner_lock);
  };
  auto drop_orphan_marker = [&] {
    if (owned_by_dead()) fs_->unlink(p.dead());
  };
  stored_meta m;
  int err = read_meta(p, &m);
  if (err == ENOENT) {
    drop_orphan_marker();
    return {};
  }
  if (err) return io_failure(err, "read", p.meta());
  std::vector<std::string> names;
  if ((err = fs_->list_dir(p.dir, &names)))
    return io_failure(err, "list", p.dir);
  if (count_prefixed(names, p.ref_prefix(m.gen)) > 0) {
    drop_orphan_marker();
    return {};
  }
  // The marker names its owner from the instant it exists: a link to our
  // lock file, which holds our name, so that marking needs no new inode
  // or data block (a delete must work on a full disk). Past the link
  // limit, a copy is written aside and linked instead.
  err = fs_->link(staging_->lock_path(), p.dead());
  if (err == EMLINK) {
    temp_file marker{*fs_, staging_->next_path("x.")};
    if (auto failure = marker.write(staging_->instance(), false))
      return failure;
    err = fs_->link(marker.path(), p.dead());
  }
  if (err == EEXIST) {
    if (!owned_by_dead()) return {};  // another live deleter decides
  } else if (err) {
    return io_failure(err, "link", p.dead());
  }
  // From here a failure takes the marker back: the decision is undone, and
  // a later collect (or a joiner, who restores missing bytes) decides anew.
  auto undo = [&](int e, const char* what, const std::string& path) {
    fs_->unlink(p.dead());
    return io_failure(e, what, path);
  };
  if ((err = fs_->list_dir(p.dir, &names))) return undo(err, "list", p.dir);
  if (count_prefixed(names, p.ref_prefix(m.gen)) > 0) {
    fs_->unlink(p.dead());  // a joiner came in time: the file lives on
    return {};
  }
  // Bytes first, metadata last: content ⇒ metadata holds throughout.
  err = fs_->unlink(p.content());
  if (err && err != ENOENT) return undo(err, "unlink", p.content());
  err = fs_->unlink(p.meta());
  if (err && err != ENOENT) return undo(err, "unlink", p.meta());
  err = fs_->sync_dir(p.dir);
  fs_->unlink(p.dead());
  if (err) return io_failure(err, "fsync", p.dir);
  return {};
}

expected<live_object> object_table::find_live(
    const std::string& id, const std::vector<std::string>& names) {
  auto p = paths_of(root_, id);
  live_object live;
  int err = read_meta(p, &live.meta);
  if (err == ENOENT) return make_error(errc::not_found, "no file " + id);
  if (err) return io_failure(err, "read", p.meta());
  if (std::find(names.begin(), names.end(), p.rest) == names.end())
    return make_error(errc::not_found, "no file " + id);
  live.refs = with_prefix(names, p.ref_prefix(live.meta.gen));
  if (live.refs.empty()) return make_error(errc::not_found, "no file " + id);
  return live;
}

expected<file_meta> object_table::describe(const std::string& id,
                                           const stored_meta& m) {
  auto p = paths_of(root_, id);
  std::vector<std::string> names;
  if (int err = fs_->list_dir(p.dir, &names))
    return io_failure(err, "list", p.dir);
  return to_file_meta(id, m, count_prefixed(names, p.ref_prefix(m.gen)));
}

int object_table::read_meta(const object_paths& p, stored_meta* out) {
  std::string bytes;
  if (int err = fs_->read_small(p.meta(), max_meta_bytes, &bytes)) return err;
  return decode_meta(bytes, out) ? 0 : EBADMSG;
}

}  // namespace depot::storage
