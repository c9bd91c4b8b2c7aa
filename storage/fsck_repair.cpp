#include "storage/fsck_repair.hpp"

#include "schema/error.hpp"
#include "storage/layout.hpp"

#include <cerrno>
#include <cstring>

namespace depot::storage {
namespace {

std::string reason(int err) { return std::strerror(err); }

void mark(fsck_finding& f, bool repaired, const std::string& action) {
  f.repaired = repaired;
  f.action = repaired ? action : "not repaired: " + action;
}

}  // namespace

fsck_repairer::fsck_repairer(file_system& fs, std::string root,
                             posix_instance& own, fsck_instances& instances,
                             std::string stamp)
    : fs_(&fs),
      root_(std::move(root)),
      own_(&own),
      instances_(&instances),
      stamp_(std::move(stamp)) {}

bool fsck_repairer::quarantine_dir(const std::string& name, std::string* dir,
                                   std::string* why) {
  std::string top = root_ + "/.quarantine";
  int err = fs_->mkdir(top);
  if (err && err != EEXIST) {
    *why = "cannot make .quarantine: " + reason(err);
    return false;
  }
  for (int n = 1; n < 100; ++n) {
    *dir = top + "/" + name + "." + stamp_ +
           (n == 1 ? "" : "-" + std::to_string(n));
    err = fs_->mkdir(*dir);
    if (err == 0) return true;
    if (err != EEXIST) break;
  }
  *why = "cannot make a directory in .quarantine: " + reason(err);
  return false;
}

void fsck_repairer::repair_object(object_check& c) {
  auto p = paths_of(root_, c.id);
  for (auto& f : c.findings) {
    if (f.kind != fsck_kind::stale_tombstone) continue;
    // As a stuck joiner does: the store decides the delete the marker
    // began, taking the marker over under its dead owner's lock.
    uint64_t op = own_->log().begin(c.id, "-");
    auto err = own_->objects().collect(c.id, "");
    if (!err) own_->log().end(op);  // else left for recovery
    file_status st;
    bool gone = fs_->stat(p.dead(), &st) == ENOENT;
    mark(f, gone,
         gone ? "delete decided by the store's collect"
              : (err ? schema::message_of(err) : "the marker is still there"));
  }
  if (c.quarantine) {
    std::string action;
    bool ok = quarantine(c, &action);
    for (auto& f : c.findings)
      if (f.kind != fsck_kind::stale_tombstone) mark(f, ok, action);
    return;
  }
  fix_refs(c);
}

bool fsck_repairer::quarantine(const object_check& c, std::string* action) {
  auto p = paths_of(root_, c.id);
  uint64_t op = own_->log().begin(c.id, "-");
  int err = fs_->link(own_->staging().lock_path(), p.dead());
  if (err) {
    own_->log().end(op);
    *action = err == EEXIST ? "a delete of it is deciding now; run again"
                            : "cannot mark it: " + reason(err);
    return false;
  }
  bool ok = false;
  if (instances_->busy_ids().count(c.id))
    *action = "a live instance started work on it; run again";
  else
    ok = take_marked(c, action);
  fs_->unlink(p.dead());
  own_->log().end(op);
  return ok;
}

// Under our marker, nobody joins the object any more, and whoever was
// joining was in a journal: what is seen now is what gets moved.
bool fsck_repairer::take_marked(const object_check& c, std::string* action) {
  auto p = paths_of(root_, c.id);
  std::vector<std::string> names;
  if (int err = fs_->list_dir(p.dir, &names)) {
    *action = "cannot list " + p.dir + ": " + reason(err);
    return false;
  }
  std::map<std::string, object_entries> now;
  std::vector<std::string> strays;
  group_entries(with_prefix(names, p.rest), &now, &strays);
  const object_entries& e = now[p.rest];
  if (!e.bytes && !e.meta && e.refs.empty()) {
    *action = "gone meanwhile";
    return true;
  }
  auto same = [&](bool was, bool is, const std::string& path,
                  const file_status& before) {
    if (was != is) return false;
    if (!is || before.inode == 0) return true;
    file_status st;
    return fs_->stat(path, &st) == 0 && st.inode == before.inode;
  };
  if (!same(c.entries.meta, e.meta, p.meta(), c.meta_st) ||
      !same(c.entries.bytes, e.bytes, p.content(), c.bytes_st)) {
    *action = "changed meanwhile; run again";
    return false;
  }
  std::string dir;
  if (!quarantine_dir(c.id, &dir, action)) return false;
  // Bytes first and metadata last, as a delete removes them: whatever is
  // seen meanwhile has metadata for its bytes.
  std::vector<std::string> order;
  if (e.bytes) order.push_back(p.rest);
  order.insert(order.end(), e.refs.begin(), e.refs.end());
  if (e.meta) order.push_back(p.rest + ".meta");
  for (auto& name : order) {
    int err = fs_->rename_exclusive(p.dir + "/" + name, dir + "/" + name);
    if (err && err != ENOENT) {
      fs_->rmdir(dir);  // if nothing was moved yet
      *action = "cannot move " + name + ": " + reason(err);
      return false;
    }
  }
  fs_->sync_dir(dir);
  fs_->sync_dir(p.dir);
  *action = "quarantined in " + dir.substr(root_.size() + 1);
  return true;
}

void fsck_repairer::fix_refs(object_check& c) {
  auto p = paths_of(root_, c.id);
  auto finding_of = [&](const std::string& ref) -> fsck_finding* {
    std::string rel = (p.dir + "/" + ref).substr(root_.size() + 1);
    for (auto& f : c.findings)
      if (f.path == rel) return &f;
    return nullptr;
  };
  for (auto& ref : c.drop_refs) {
    int err = fs_->unlink(p.dir + "/" + ref);
    if (auto* f = finding_of(ref))
      mark(*f, err == 0 || err == ENOENT,
           err == 0 || err == ENOENT ? "removed" : reason(err));
  }
  for (auto& ref : c.relink_refs) {
    std::string path = p.dir + "/" + ref;
    std::string temp = own_->staging().next_path("x.");
    file_status st;
    int err = fs_->stat(path, &st);
    if (err == 0) err = fs_->link(p.meta(), temp);
    // One rename: the entry is counted throughout.
    if (err == 0 && (err = fs_->rename(temp, path))) fs_->unlink(temp);
    if (auto* f = finding_of(ref))
      mark(*f, err == 0 || err == ENOENT,
           err == 0        ? "replaced by a link to the metadata"
           : err == ENOENT ? "gone meanwhile"
                           : reason(err));
  }
  fs_->sync_dir(p.dir);
}

void fsck_repairer::quarantine_stray(fsck_finding& f) {
  std::string why;
  if (stray_dir_.empty() && !quarantine_dir("stray", &stray_dir_, &why)) {
    stray_dir_.clear();
    return mark(f, false, why);
  }
  std::string flat = f.path;
  for (auto& ch : flat)
    if (ch == '/') ch = '%';
  int err =
      fs_->rename_exclusive(root_ + "/" + f.path, stray_dir_ + "/" + flat);
  mark(f, err == 0 || err == ENOENT,
       err == 0        ? "moved to " + stray_dir_.substr(root_.size() + 1)
       : err == ENOENT ? "gone meanwhile"
                       : reason(err));
}

}  // namespace depot::storage
