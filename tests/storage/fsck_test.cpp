// depotd fsck's checker (storage/fsck.hpp) on a store built by uploading
// real files, with each kind of damage planted: the exact report, the
// repair, and a second run that finds nothing.

#include "storage/fsck.hpp"

#include "storage/journal.hpp"
#include "storage/layout.hpp"
#include "storage/posix_instance.hpp"
#include "storage/shard_dirs.hpp"
#include "testkit/planted_meta.hpp"
#include "tests/storage/store_test_support.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sys/stat.h>

namespace depot::storage {
namespace {

// What a healthy file looks like on disk, to check repair left it alone.
struct disk_state {
  uint64_t inode = 0;
  int64_t mtime_ns = 0;
  uint64_t size = 0;
  bool operator==(const disk_state& o) const {
    return inode == o.inode && mtime_ns == o.mtime_ns && size == o.size;
  }
};

std::map<std::string, disk_state> snapshot(const std::string& root,
                                           const std::string& id) {
  std::map<std::string, disk_state> out;
  auto p = paths_of(root, id);
  for (auto& e : fs::directory_iterator(p.dir)) {
    auto name = e.path().filename().string();
    if (name.compare(0, p.rest.size(), p.rest) != 0) continue;
    struct stat st {};
    ::lstat(e.path().c_str(), &st);
    out[name] = {st.st_ino,
                 int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec,
                 static_cast<uint64_t>(st.st_size)};
  }
  return out;
}

void write_file(const std::string& path, const std::string& bytes) {
  fs::remove(path);
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

class Fsck : public ::testing::Test {
 protected:
  // Three files stored, one of them twice (two references).
  void SetUp() override {
    auto s = open_store(root());
    ASSERT_TRUE(s);
    for (auto& c : contents_) {
      auto r = put(*s, c);
      ASSERT_OK(r);
      ids_.push_back(r->file.id);
    }
    ASSERT_OK(put(*s, contents_[0]));
  }

  const std::string& root() const { return dir_.path(); }

  fsck_report run(bool repair = false) {
    fsck_options o;
    o.root = root();
    o.repair = repair;
    auto r = run_fsck(o);
    EXPECT_OK(r);
    return r ? *r : fsck_report{};
  }

  // The one finding of a run, which must have exactly one.
  fsck_finding only(const fsck_report& r) {
    if (r.findings.size() != 1)
      for (auto& f : r.findings)
        ADD_FAILURE() << fsck_kind_name(f.kind) << " " << f.id << " " << f.path
                      << ": " << f.detail << " -> " << f.action;
    return r.findings.empty() ? fsck_finding{} : r.findings.front();
  }

  object_paths paths(size_t i) const { return paths_of(root(), ids_[i]); }

  // Repairs, checks every finding was repaired, the healthy files (all but
  // `damaged`) were not touched, and a second run is clean. `kept`: the
  // damaged file is repaired in place (else it is quarantined).
  fsck_report repair_and_recheck(std::optional<size_t> damaged,
                                 bool kept = false) {
    std::map<size_t, std::map<std::string, disk_state>> before;
    for (size_t i = 0; i < ids_.size(); ++i)
      if (i != damaged) before[i] = snapshot(root(), ids_[i]);
    auto r = run(true);
    EXPECT_GT(r.total(), 0u);
    EXPECT_EQ(r.unrepaired(), 0u);
    for (auto& f : r.findings)
      EXPECT_TRUE(f.repaired) << f.path << ": " << f.action;
    for (auto& [i, files] : before)
      EXPECT_EQ(snapshot(root(), ids_[i]), files) << ids_[i] << " touched";
    auto again = run();
    EXPECT_EQ(again.total(), 0u);
    for (auto& f : again.findings)
      ADD_FAILURE() << "still: " << fsck_kind_name(f.kind) << " " << f.path;
    // The store still serves the healthy files, and ignores .quarantine.
    auto s = open_store(root());
    for (auto& [i, files] : before) EXPECT_EQ(get(*s, ids_[i]), contents_[i]);
    if (damaged && kept) {
      EXPECT_EQ(get(*s, ids_[*damaged]), contents_[*damaged]);
    }
    auto page = s->list(std::nullopt, 100);
    EXPECT_OK(page);
    if (page) {
      EXPECT_EQ(page->files.size(), before.size() + (damaged && kept));
    }
    return r;
  }

  // The one quarantine directory of `id`, checked to hold `names`.
  void expect_quarantined(const std::string& id,
                          const std::vector<std::string>& names) {
    std::vector<fs::path> dirs;
    for (auto& e : fs::directory_iterator(root() + "/.quarantine"))
      if (e.path().filename().string().rfind(id + ".", 0) == 0)
        dirs.push_back(e.path());
    ASSERT_EQ(dirs.size(), 1u);
    for (auto& n : names)
      EXPECT_TRUE(fs::exists(dirs[0] / n)) << n << " not in " << dirs[0];
    auto s = open_store(root());
    auto st = s->stat(id);
    ASSERT_FALSE(st);
    EXPECT_EQ(schema::code_of(st.error()), errc::not_found);
  }

  std::string ref_of(size_t i) const {
    auto p = paths(i);
    for (auto& e : fs::directory_iterator(p.dir)) {
      auto n = e.path().filename().string();
      if (n.rfind(p.rest + ".r.", 0) == 0) return n;
    }
    return {};
  }

  test::temp_dir dir_;
  std::vector<std::string> contents_{std::string(300000, 'x') + "first",
                                     "the second file", "a third one"};
  std::vector<std::string> ids_;
};

TEST_F(Fsck, ACleanStoreHasNoFindings) {
  auto r = run();
  EXPECT_EQ(r.total(), 0u);
  EXPECT_EQ(r.objects, 3u);
  uint64_t bytes = 0;
  for (auto& c : contents_) bytes += c.size();
  EXPECT_EQ(r.bytes, bytes);
  EXPECT_EQ(r.in_flight, 0u);
}

TEST_F(Fsck, AFlippedByteIsCorruptAndQuarantinedWithItsMetadataAndRefs) {
  auto p = paths(0);
  {
    fs::permissions(p.content(), fs::perms::owner_write, fs::perm_options::add);
    std::fstream f(p.content(),
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1234);
    f.put('y');
  }
  auto f = only(run());
  EXPECT_EQ(f.kind, fsck_kind::corrupt);
  EXPECT_EQ(f.id, ids_[0]);
  EXPECT_NE(f.detail.find("sha256 mismatch"), std::string::npos) << f.detail;
  std::string ref = ref_of(0);
  auto r = repair_and_recheck(0);
  EXPECT_NE(only(r).action.find(".quarantine/" + ids_[0] + "."),
            std::string::npos);
  expect_quarantined(ids_[0], {p.rest, p.rest + ".meta", ref});
}

TEST_F(Fsck, ATruncatedFileIsCorrupt) {
  fs::resize_file(paths(0).content(), 1000);
  auto f = only(run());
  EXPECT_EQ(f.kind, fsck_kind::corrupt);
  EXPECT_EQ(f.id, ids_[0]);
  EXPECT_NE(f.detail.find("size mismatch (stored 1000 bytes"),
            std::string::npos)
      << f.detail;
  repair_and_recheck(0);
  expect_quarantined(ids_[0], {paths(0).rest});
}

TEST_F(Fsck, BytesWithoutMetadataAreOrphans) {
  fs::remove(paths(1).meta());
  auto f = only(run());
  EXPECT_EQ(f.kind, fsck_kind::orphan_bytes);
  EXPECT_EQ(f.id, ids_[1]);
  EXPECT_EQ(f.path, ids_[1].substr(0, 2) + "/" + ids_[1].substr(2, 2) + "/" +
                        paths(1).rest);
  repair_and_recheck(1);
  expect_quarantined(ids_[1], {paths(1).rest});
}

TEST_F(Fsck, MetadataWithoutBytesIsMissingBytes) {
  fs::remove(paths(2).content());
  auto f = only(run());
  EXPECT_EQ(f.kind, fsck_kind::missing_bytes);
  EXPECT_EQ(f.id, ids_[2]);
  repair_and_recheck(2);
  expect_quarantined(ids_[2], {paths(2).rest + ".meta"});
}

TEST_F(Fsck, UndecodableMetadataIsBadMeta) {
  write_file(paths(1).meta(), "not msgpack at all");
  auto f = only(run());
  EXPECT_EQ(f.kind, fsck_kind::bad_meta);
  EXPECT_EQ(f.id, ids_[1]);
  repair_and_recheck(1);
  expect_quarantined(ids_[1], {paths(1).rest, paths(1).rest + ".meta"});
}

TEST_F(Fsck, AFileStoredUnderAnIdNotANamingCandidateIsMisnamed) {
  auto p = paths(1);
  std::string other = ids_[1].substr(0, 11) + (ids_[1][11] == 'z' ? 'y' : 'z');
  auto q = paths_of(root(), other);
  for (auto& e : fs::directory_iterator(p.dir)) {
    auto n = e.path().filename().string();
    if (n.rfind(p.rest, 0) == 0)
      fs::rename(e.path(), q.dir + "/" + q.rest + n.substr(p.rest.size()));
  }
  ids_[1] = other;
  auto f = only(run());
  EXPECT_EQ(f.kind, fsck_kind::misnamed);
  EXPECT_EQ(f.id, other);
  repair_and_recheck(1);
  expect_quarantined(other, {q.rest, q.rest + ".meta"});
}

TEST_F(Fsck, AReferenceOfAnotherGenerationIsRemoved) {
  auto p = paths(0);
  std::string stale = p.dir + "/" + p.rest + ".r.0123456789abcdef.x-1";
  fs::create_hard_link(p.meta(), stale);
  auto f = only(run());
  EXPECT_EQ(f.kind, fsck_kind::bad_refs);
  EXPECT_EQ(f.id, ids_[0]);
  EXPECT_NE(f.detail.find("generation 0123456789abcdef"), std::string::npos);
  auto before = snapshot(root(), ids_[0]);
  repair_and_recheck(0, true);
  EXPECT_FALSE(fs::exists(stale));
  before.erase(fs::path(stale).filename().string());
  EXPECT_EQ(snapshot(root(), ids_[0]), before) << "the object itself touched";
  EXPECT_EQ(open_store(root())->stat(ids_[0])->refs, 2u);
}

TEST_F(Fsck, AReferenceThatIsNoLinkToMetadataIsReplacedByOne) {
  auto p = paths(1);
  std::string ref = p.dir + "/" + ref_of(1);
  write_file(ref, "a separate file, not a link");
  auto f = only(run());
  EXPECT_EQ(f.kind, fsck_kind::bad_refs);
  EXPECT_EQ(f.path.substr(6), fs::path(ref).filename().string());
  repair_and_recheck(1, true);
  struct stat a {
  }, b{};
  ::stat(ref.c_str(), &a);
  ::stat(p.meta().c_str(), &b);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(open_store(root())->stat(ids_[1])->refs, 1u);
}

// What a deduplicating upload's reference is: a link to the metadata that
// upload wrote, a file of its own. A copy of the metadata is the same.
TEST_F(Fsck, AReferenceHoldingACopyOfTheMetadataIsNoFinding) {
  auto p = paths(1);
  std::string ref = p.dir + "/" + ref_of(1);
  std::string meta = test::file_bytes(p.meta());
  write_file(ref, meta);
  EXPECT_EQ(run().total(), 0u);
}

TEST_F(Fsck, AnObjectWithoutReferencesIsQuarantined) {
  auto p = paths(2);
  std::string ref = ref_of(2);
  fs::remove(p.dir + "/" + ref);
  auto f = only(run());
  EXPECT_EQ(f.kind, fsck_kind::bad_refs);
  EXPECT_EQ(f.id, ids_[2]);
  EXPECT_NE(f.detail.find("no reference entry"), std::string::npos);
  repair_and_recheck(2);
  expect_quarantined(ids_[2], {p.rest, p.rest + ".meta"});
}

TEST_F(Fsck, TheStagingDirectoryOfADeadInstanceIsRecovered) {
  std::string dead = root() + "/.staging/0123456789abcdef";
  fs::create_directories(dead);
  write_file(dead + "/lock", "0123456789abcdef");
  write_file(dead + "/d.7", "half an upload");
  auto f = only(run());
  EXPECT_EQ(f.kind, fsck_kind::stale_staging);
  EXPECT_EQ(f.path, ".staging/0123456789abcdef");
  repair_and_recheck(std::nullopt);
  EXPECT_FALSE(fs::exists(dead));
}

// A claim cut short by its instance's death (metadata and reference in
// place, bytes not yet): reported with what recovery will do, and repair
// lets the store's recovery roll it back rather than quarantining it.
TEST_F(Fsck, AnUnfinishedClaimOfADeadInstanceIsRolledBackByRecovery) {
  auto p = paths(2);
  std::string ref = ref_of(2);
  fs::remove(p.content());
  std::string dead = root() + "/.staging/0123456789abcdef";
  fs::create_directories(dead);
  write_file(dead + "/lock", "0123456789abcdef");
  write_file(dead + "/journal.1", "B 1 " + ids_[2] + " " + ref + "\n");
  auto r = run();
  ASSERT_EQ(r.total(), 2u);
  EXPECT_EQ(r.by_kind[size_t(fsck_kind::stale_staging)], 1u);
  EXPECT_EQ(r.by_kind[size_t(fsck_kind::missing_bytes)], 1u);
  for (auto& f : r.findings) {
    if (f.kind == fsck_kind::missing_bytes) {
      EXPECT_NE(f.detail.find("recovery rolls it back"), std::string::npos);
    }
  }
  auto repaired = run(true);
  auto f = only(repaired);
  EXPECT_EQ(f.kind, fsck_kind::stale_staging);
  EXPECT_TRUE(f.repaired);
  EXPECT_FALSE(fs::exists(p.meta()));
  EXPECT_FALSE(fs::exists(root() + "/.quarantine"));
  EXPECT_EQ(run().total(), 0u);
}

// A clean stop cut short between removing its lock and its directory.
TEST_F(Fsck, AnEmptyInstanceDirectoryWithoutItsLockIsRemoved) {
  std::string dir = root() + "/.staging/00112233445566ff";
  fs::create_directories(dir);
  auto f = only(run());
  EXPECT_EQ(f.kind, fsck_kind::stale_staging);
  EXPECT_NE(f.detail.find("without its lock"), std::string::npos);
  repair_and_recheck(std::nullopt);
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(Fsck, ADeleteMarkerOfADeadInstanceIsStaleAndCollected) {
  auto p = paths(0);
  write_file(p.dead(), "0123456789abcdef");
  auto f = only(run());
  EXPECT_EQ(f.kind, fsck_kind::stale_tombstone);
  EXPECT_EQ(f.id, ids_[0]);
  auto before = snapshot(root(), ids_[0]);
  repair_and_recheck(0, true);
  before.erase(p.rest + ".dead");
  EXPECT_EQ(snapshot(root(), ids_[0]), before);
  EXPECT_FALSE(fs::exists(p.dead()));
  EXPECT_EQ(get(*open_store(root()), ids_[0]), contents_[0]);
}

// A delete that died deciding, its last reference already gone: repair
// lets the store decide it, and the object goes, as its delete meant.
TEST_F(Fsck, AStaleMarkerOfAnUnreferencedObjectCompletesItsDelete) {
  auto p = paths(2);
  fs::remove(p.dir + "/" + ref_of(2));
  write_file(p.dead(), "0123456789abcdef");
  auto r = run();
  ASSERT_EQ(r.total(), 2u);
  EXPECT_EQ(r.by_kind[size_t(fsck_kind::stale_tombstone)], 1u);
  EXPECT_EQ(r.by_kind[size_t(fsck_kind::bad_refs)], 1u);
  for (auto& f : r.findings) EXPECT_EQ(f.id, ids_[2]);
  repair_and_recheck(2);
  EXPECT_FALSE(fs::exists(p.content()));
  EXPECT_FALSE(fs::exists(p.meta()));
  EXPECT_FALSE(fs::exists(root() + "/.quarantine"));
}

// A repair that fails says so, counts as unrepaired, and leaves the
// object where it was; the next run repairs it.
TEST_F(Fsck, AFailedMoveIsReportedUnrepairedAndMovesNothing) {
  auto p = paths(1);
  fs::resize_file(p.content(), 3);
  auto before = snapshot(root(), ids_[1]);
  auto faulty = std::make_shared<fault_fs>(posix_file_system_beneath(root()));
  faulty->inject({fs_op::rename, EIO, "/.quarantine/", 0, 100});
  fsck_options o;
  o.root = root();
  o.repair = true;
  o.fs = faulty;
  auto r = run_fsck(o);
  ASSERT_OK(r);
  EXPECT_EQ(r->unrepaired(), 1u);
  auto f = only(*r);
  EXPECT_EQ(f.kind, fsck_kind::corrupt);
  EXPECT_FALSE(f.repaired);
  EXPECT_NE(f.action.find("not repaired: cannot move"), std::string::npos)
      << f.action;
  EXPECT_EQ(snapshot(root(), ids_[1]), before);
  repair_and_recheck(1);
}

TEST_F(Fsck, NamesTheStoreNeverMakesAreStraysMovedAside) {
  auto p = paths(1);
  write_file(p.dir + "/" + p.rest + ".tmp", "junk");
  write_file(root() + "/notes.txt", "an operator's notes");
  auto r = run();
  ASSERT_EQ(r.findings.size(), 2u);
  for (auto& f : r.findings) EXPECT_EQ(f.kind, fsck_kind::stray);
  repair_and_recheck(1, true);
  EXPECT_FALSE(fs::exists(root() + "/notes.txt"));
  size_t moved = 0;
  for (auto& e : fs::recursive_directory_iterator(root() + "/.quarantine"))
    moved += e.is_regular_file();
  EXPECT_EQ(moved, 2u);
}

// What a live instance is working on is in flight: neither reported nor
// repaired. Here a live instance's journal has an operation open on an
// object whose bytes are not there yet, and a live delete marks another.
TEST_F(Fsck, WhatALiveInstanceIsWorkingOnIsSkippedAndLeftAlone) {
  shard_dirs dirs{*posix_file_system(), root()};
  auto live = posix_instance::open(*posix_file_system(), root(), dirs);
  ASSERT_OK(live);
  live.value()->log().begin(ids_[1], "-");
  auto p1 = paths(1);
  fs::rename(p1.content(),
             root() + "/.staging/" + (*live)->staging().instance() + "/d.1");
  fs::create_hard_link((*live)->staging().lock_path(), paths(2).dead());
  auto before1 = snapshot(root(), ids_[1]);
  auto before2 = snapshot(root(), ids_[2]);
  for (bool repair : {false, true}) {
    auto r = run(repair);
    EXPECT_EQ(r.total(), 0u);
    for (auto& f : r.findings) ADD_FAILURE() << f.path << ": " << f.detail;
    EXPECT_EQ(r.in_flight, 2u);
  }
  EXPECT_EQ(snapshot(root(), ids_[1]), before1);
  EXPECT_EQ(snapshot(root(), ids_[2]), before2);
}

TEST_F(Fsck, ARootThatIsMissingOrNotADirectoryIsAnError) {
  fsck_options o;
  o.root = root() + "/missing";
  EXPECT_FALSE(run_fsck(o));
  write_file(root() + "/file", "x");
  o.root = root() + "/file";
  EXPECT_FALSE(run_fsck(o));
}

}  // namespace
}  // namespace depot::storage
