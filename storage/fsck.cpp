#include "storage/fsck.hpp"

#include "storage/fsck_instances.hpp"
#include "storage/fsck_object.hpp"
#include "storage/fsck_repair.hpp"
#include "storage/io_error.hpp"
#include "storage/journal.hpp"
#include "storage/layout.hpp"
#include "storage/posix_instance.hpp"
#include "storage/shard_dirs.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <numeric>
#include <set>

namespace depot::storage {
namespace {

using schema::errc;
using schema::make_error;

// Objects that looked wrong, held until one reading of the live journals.
constexpr size_t max_suspects = 256;

// UTC, to the second: what this run's quarantine directories are named by.
std::string utc_stamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// One run: the walk of the staging area, then of the shards, one shard
// directory at a time (memory stays bounded by the largest).
class fsck_run {
 public:
  fsck_run(const fsck_options& o, std::string root, file_system& fs)
      : o_(o),
        root_(std::move(root)),
        fs_(&fs),
        dirs_(fs, root_),
        instances_(fs, root_, ""),
        examiner_(fs, root_, o_, instances_, report_) {}

  // A repairing run leaves no instance directory behind, whatever ended it.
  ~fsck_run() {
    if (own_) own_->retire();
  }

  schema::expected<fsck_report> go();

 private:
  void deliver(fsck_finding f);
  void stray(const std::string& rel, std::string detail);
  void unreadable(const std::string& rel, int err);
  // The directories of dead instances in ROOT/.staging now.
  std::vector<staging_entry> dead_instances();
  // What else is in ROOT/.staging: not instance directories.
  void staging_strays();
  void walk_shards(const std::vector<std::string>& names);
  void walk_l1(const std::string& a);
  void walk_shard(const std::string& a, const std::string& b);
  // Examines the suspects again, now that live journals are read.
  void settle_suspects();
  // The names in `dir`, sorted; false (reported unreadable) on failure.
  bool listing(const std::string& rel, std::vector<std::string>* out);

  const fsck_options& o_;
  std::string root_;
  file_system* fs_;
  shard_dirs dirs_;
  fsck_report report_;
  fsck_instances instances_;
  object_examiner examiner_;
  std::unique_ptr<posix_instance> own_;
  std::unique_ptr<fsck_repairer> repairer_;
  std::vector<object_check> suspects_;  // examined once, to settle
  std::set<std::string> recoverable_;   // ids dead instances' journals name
};

void fsck_run::deliver(fsck_finding f) {
  ++report_.by_kind[static_cast<size_t>(f.kind)];
  if (f.repaired) ++report_.repaired;
  if (o_.on_finding)
    o_.on_finding(f);
  else
    report_.findings.push_back(std::move(f));
}

void fsck_run::stray(const std::string& rel, std::string detail) {
  fsck_finding f;
  f.kind = fsck_kind::stray;
  f.path = rel;
  f.detail = std::move(detail);
  if (repairer_) repairer_->quarantine_stray(f);
  deliver(std::move(f));
}

void fsck_run::unreadable(const std::string& rel, int err) {
  fsck_finding f;
  f.kind = fsck_kind::unreadable;
  f.path = rel;
  f.detail = std::string{"cannot list: "} + std::strerror(err);
  if (repairer_) f.action = "not repaired: fsck cannot read it";
  deliver(std::move(f));
}

bool fsck_run::listing(const std::string& rel, std::vector<std::string>* out) {
  int err = fs_->list_dir(rel.empty() ? root_ : root_ + "/" + rel, out);
  if (err) {
    unreadable(rel.empty() ? "." : rel, err);
    return false;
  }
  std::sort(out->begin(), out->end());
  return true;
}

std::vector<staging_entry> fsck_run::dead_instances() {
  std::vector<staging_entry> entries, dead;
  instances_.list(&entries);
  for (auto& e : entries)
    if (e.is_dir && !e.alive) dead.push_back(e);
  return dead;
}

void fsck_run::staging_strays() {
  std::vector<staging_entry> entries;
  if (int err = instances_.list(&entries)) return unreadable(".staging", err);
  for (auto& e : entries)
    if (!e.is_dir) stray(".staging/" + e.name, "not an instance directory");
}

schema::expected<fsck_report> fsck_run::go() {
  // Dead instances as found, before a repairing instance recovers them.
  std::vector<fsck_finding> stale;
  for (auto& e : dead_instances()) {
    fsck_finding f;
    f.kind = fsck_kind::stale_staging;
    f.path = ".staging/" + e.name;
    std::string dir = root_ + "/" + f.path;
    std::vector<std::string> files;
    fs_->list_dir(dir, &files);
    if (std::find(files.begin(), files.end(), "lock") == files.end())
      // A clean stop cut short between removing its lock and its directory
      // (recovery, which needs the lock, leaves these).
      f.detail = "instance directory without its lock: " +
                 std::to_string(files.size()) + " files";
    else {
      auto open = unfinished_ops(*fs_, dir, files);
      f.detail = "staging directory of a dead instance: " +
                 std::to_string(files.size()) + " files, " +
                 std::to_string(open.size()) + " unfinished operations";
      for (auto& op : open) recoverable_.insert(op.id);
    }
    stale.push_back(std::move(f));
  }
  if (o_.repair) {
    auto own = posix_instance::open(*fs_, root_, dirs_);  // recovers them
    if (!own) return own.error();
    own_ = std::move(*own);
    instances_ = fsck_instances(*fs_, root_, own_->staging().instance());
    repairer_ = std::make_unique<fsck_repairer>(*fs_, root_, *own_, instances_,
                                                utc_stamp());
  }
  staging_strays();
  std::vector<std::string> names;
  if (int err = fs_->list_dir(root_, &names))
    return io_failure(err, "list", root_);
  std::sort(names.begin(), names.end());
  walk_shards(names);
  settle_suspects();
  if (own_) {
    // A dead instance another instance was recovering at the time is
    // gone now, or tried once more here.
    auto left = dead_instances();
    if (!left.empty()) own_->recoverer().recover_dead_instances();
    left = dead_instances();
    for (auto& f : stale) {
      bool gone = std::none_of(left.begin(), left.end(), [&](auto& e) {
        return ".staging/" + e.name == f.path;
      });
      // Without a lock nothing can be in it but what a clean stop left:
      // an empty directory goes (rmdir refuses any other).
      bool removed = !gone && fs_->rmdir(root_ + "/" + f.path) == 0;
      f.repaired = gone || removed;
      f.action = gone      ? "recovered by the store's recovery"
                 : removed ? "empty directory removed"
                           : "not repaired: its recovery is incomplete (see "
                             "the log)";
    }
  }
  for (auto& f : stale) deliver(std::move(f));
  return std::move(report_);
}

void fsck_run::walk_shards(const std::vector<std::string>& names) {
  for (auto& a : names) {
    if (a == ".staging" || a == ".quarantine" || a == "lost+found") continue;
    file_status st;
    int err = fs_->stat(root_ + "/" + a, &st);
    if (err == ENOENT) continue;
    if (is_id_part(a, 2) && err == 0 && st.is_dir && !st.is_symlink)
      walk_l1(a);
    else
      stray(a, st.is_symlink ? "a symlink (never followed)"
                             : "a name the store never makes");
  }
}

void fsck_run::walk_l1(const std::string& a) {
  std::vector<std::string> names;
  if (!listing(a, &names)) return;
  for (auto& b : names) {
    file_status st;
    int err = fs_->stat(root_ + "/" + a + "/" + b, &st);
    if (err == ENOENT) continue;
    if (is_id_part(b, 2) && err == 0 && st.is_dir && !st.is_symlink)
      walk_shard(a, b);
    else
      stray(a + "/" + b, st.is_symlink ? "a symlink (never followed)"
                                       : "a name the store never makes");
  }
}

// Every object is examined; those that look wrong are examined again after
// the live instances' journals were read, and only what still looks wrong
// and no live instance is working on is a finding.
void fsck_run::walk_shard(const std::string& a, const std::string& b) {
  std::string rel = a + "/" + b;
  std::vector<std::string> names;
  if (!listing(rel, &names)) return;
  std::map<std::string, object_entries> objects;
  std::vector<std::string> strays;
  group_entries(names, &objects, &strays);
  for (auto& s : strays) stray(rel + "/" + s, "a name the store never makes");
  for (auto& [rest, entries] : objects) {
    auto c = examiner_.examine(a + b + rest, names, nullptr);
    if (c.in_flight)
      ++report_.in_flight;
    else if (!c.clean())
      suspects_.push_back(std::move(c));
  }
  if (suspects_.size() >= max_suspects) settle_suspects();
}

// One reading of the live journals serves a batch of suspects (a journal
// may hold megabytes): memory stays bounded, and a badly damaged store
// does not cost a journal reading per object.
void fsck_run::settle_suspects() {
  if (suspects_.empty()) return;
  auto busy = instances_.busy_ids();
  std::string dir;
  std::vector<std::string> names;
  for (auto& first : suspects_) {
    if (busy.count(first.id)) {
      ++report_.in_flight;
      continue;
    }
    auto p = paths_of(root_, first.id);
    if (p.dir != dir) {
      dir = p.dir;
      if (fs_->list_dir(dir, &names) != 0) names.clear();
      std::sort(names.begin(), names.end());
    }
    auto c = examiner_.examine(first.id, names, &first);
    if (c.in_flight) ++report_.in_flight;
    if (!c.findings.empty() && repairer_) repairer_->repair_object(c);
    // Without --repair, what a dead instance's recovery would roll back
    // (with it, recovery ran before the walk).
    bool recoverable = !repairer_ && recoverable_.count(c.id);
    for (auto& f : c.findings) {
      if (recoverable)
        f.detail +=
            " (a dead instance's unfinished operation: its "
            "recovery rolls it back)";
      deliver(std::move(f));
    }
  }
  suspects_.clear();
}

}  // namespace

const char* fsck_kind_name(fsck_kind k) {
  static constexpr const char* names[fsck_kinds] = {
      "corrupt",      "misnamed",  "bad_meta",      "missing_bytes",
      "orphan_bytes", "bad_refs",  "stale_staging", "stale_tombstone",
      "stray",        "unreadable"};
  return names[static_cast<size_t>(k)];
}

uint64_t fsck_report::total() const {
  return std::accumulate(by_kind.begin(), by_kind.end(), uint64_t{0});
}

schema::expected<fsck_report> run_fsck(const fsck_options& options) {
  if (options.max_candidates < 1 || options.max_candidates > 1024)
    return make_error(errc::bad_request, "max_candidates must be 1..1024");
  if (options.id_bits && (*options.id_bits < 1 || *options.id_bits > 128))
    return make_error(errc::bad_request, "id_bits must be 1..128");
  std::string root = options.root;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  auto fs = options.fs ? options.fs : posix_file_system_beneath(root);
  file_status st;
  if (int err = fs->stat(root, &st)) return io_failure(err, "stat", root);
  if (st.is_symlink)
    return make_error(errc::io_error,
                      "store root " + root + " is a symlink; refusing it");
  if (!st.is_dir)
    return make_error(errc::io_error,
                      "store root " + root + " is not a directory");
  fsck_run run{options, root, *fs};
  return run.go();
}

}  // namespace depot::storage
