// Attacks on depotd from outside its protocol: symlinks planted inside its
// root, which it must never follow out of the root; a full disk, on which
// deleting must still work; restarts, which must find nothing to recover
// after a clean stop.

#include "testkit/child_process.hpp"
#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/temp_dir.hpp"
#include "testkit/wire.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <vector>

namespace depot::test {
namespace {

namespace fs = std::filesystem;

std::set<std::string> everything_in(const std::string& dir) {
  std::set<std::string> out;
  for (auto& e : fs::recursive_directory_iterator(dir))
    out.insert(fs::relative(e.path(), dir).string());
  return out;
}

depotd_options on_root(const std::string& root) {
  depotd_options o;
  o.root = root;
  return o;
}

TEST(PlantedSymlinks,
     AnUploadUnderALinkedShardIsAnIoErrorAndWritesNothingOutside) {
  DEPOT_POSIX_STORE_ONLY();
  temp_dir root, outside;
  std::string content = "not to be written elsewhere";
  std::string id = candidate_id(content, 0);
  fs::create_directory_symlink(outside.path(), root / id.substr(0, 2));
  test_depotd d(on_root(root.path()));
  wire_client c(d.endpoint());
  EXPECT_EQ(code(upload_content(c, content)), "io_error");
  EXPECT_TRUE(everything_in(outside.path()).empty());
  EXPECT_NE(d.log().find(root / id.substr(0, 2)), std::string::npos)
      << "the log names the path";
}

TEST(PlantedSymlinks, BytesBehindALinkAreNeitherServedNorStatNorListed) {
  DEPOT_POSIX_STORE_ONLY();
  temp_dir root, outside;
  std::string content = "stored, then moved out";
  std::string id = candidate_id(content, 0);
  {
    test_depotd d(on_root(root.path()));
    wire_client c(d.endpoint());
    store_content(c, content);
  }
  std::string shard = id.substr(0, 2) + "/" + id.substr(2, 2);
  fs::rename(root / shard, outside / "moved");
  fs::create_directory_symlink(outside / "moved", root / shard);
  // A file link beside real shards, with no metadata.
  std::ofstream{outside / "secret"} << "outside bytes";
  fs::create_directories(root / "fi/le");
  fs::create_symlink(outside / "secret", root / "fi/le/Symlink1");
  auto before = everything_in(outside.path());
  test_depotd d(on_root(root.path()));
  wire_client c(d.endpoint());
  EXPECT_EQ(code(stat_of(c, id)), "io_error");
  EXPECT_EQ(code(c.call(schema::download_request{id, 0, std::nullopt})),
            "io_error");
  EXPECT_NE(
      code(c.call(schema::download_request{"fileSymlink1", 0, std::nullopt})),
      "ok");
  EXPECT_EQ(code(c.call(schema::delete_request{id})), "io_error");
  EXPECT_TRUE(list_all(c).empty());
  EXPECT_EQ(everything_in(outside.path()), before);
}

TEST(PlantedSymlinks, DepotdRefusesToStartOnALinkedStagingDirectory) {
  DEPOT_POSIX_STORE_ONLY();
  temp_dir dir, outside;
  fs::create_directory(dir / "root");
  fs::create_directory_symlink(outside.path(), dir / "root/.staging");
  spawn_options o;
  o.log = dir / "log";
  pid_t pid = spawn_child({depotd_binary(), "--listen", "tcp://127.0.0.1:0",
                           "--root", dir / "root"},
                          o);
  ASSERT_GT(pid, 0);
  auto rc = wait_for_exit(pid, std::chrono::seconds(10));
  if (!rc) kill_child(pid);
  ASSERT_TRUE(rc) << "depotd started";
  EXPECT_NE(*rc, 0);
  auto log = read_file(dir / "log");
  EXPECT_NE(log.find("symlink"), std::string::npos) << log;
  EXPECT_TRUE(everything_in(outside.path()).empty());
}

uint64_t free_bytes(const std::string& dir) {
  struct statvfs s {};
  ::statvfs(dir.c_str(), &s);
  return uint64_t{s.f_bavail} * s.f_frsize;
}

// Deleting is how an operator frees space: on a full file system the delete
// of a file's last reference succeeds and its space comes back at once.
TEST(FullDisk, DeletingTheLastReferenceOnAFullDiskFreesItsSpace) {
  DEPOT_POSIX_STORE_ONLY();
  temp_dir parent;
  std::string mnt = parent / "mnt";
  fs::create_directory(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=2097152") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs: full disk untested";
  struct unmount {
    std::string dir;
    ~unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } unmount_later{mnt};
  depotd_options o;
  o.root = mnt + "/root";
  test_depotd d(o);
  wire_client c(d.endpoint());
  std::string content = random_bytes(512 << 10, 7);
  auto f = store_content(c, content);
  {  // fill the file system up
    std::ofstream filler{mnt + "/filler", std::ios::binary};
    std::string block(4096, 'f');
    while (free_bytes(mnt) > 0 && filler.write(block.data(), block.size()))
      filler.flush();
  }
  ASSERT_LT(free_bytes(mnt), 4096u);
  auto r = c.call(schema::delete_request{f.id});
  ASSERT_EQ(code(r), "ok") << describe(r);
  EXPECT_EQ(std::get<schema::delete_reply>(r.body).refs, 0u);
  EXPECT_EQ(code(stat_of(c, f.id)), "not_found");
  EXPECT_EQ(code(c.call(schema::delete_request{f.id})), "not_found");
  EXPECT_GE(free_bytes(mnt), uint64_t{512} << 10) << "its space came back";
  fs::remove(mnt + "/filler");
  auto again = store_content(c, content);
  EXPECT_EQ(again.refs, 1u);
}

// A script that runs depotd under strace, killing it (SIGKILL) at the first
// call of `syscalls` on `paths` (a directory matches *at calls made in it).
std::string under_strace(const temp_dir& dir, const std::string& name,
                         const std::string& syscalls,
                         const std::vector<std::string>& paths) {
  std::string script = dir / name;
  std::ofstream out{script};
  out << "#!/bin/sh\nexec strace -f -qq -o /dev/null";
  for (auto& p : paths) out << " -P '" << p << "'";
  out << " -e trace=" << syscalls << " -e inject=" << syscalls
      << ":signal=KILL '" << depotd_binary() << "' \"$@\"\n";
  out.close();
  fs::permissions(script, fs::perms::owner_all);
  return script;
}

// The report's reproduction: killed at the link() that creates NAME.dead
// while deleting the last reference, then killed again at the unlink() of
// the bytes during the recovery of that at start-up: the next start leaves
// the file fully gone (or fully there), and storing it again is prompt.
TEST(CrashedRecovery, ADeleteKilledTwiceIsFinishedByTheNextStart) {
  DEPOT_POSIX_STORE_ONLY();
  if (std::system("strace -V >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "no strace";
  temp_dir root, scripts;
  std::string content = "killed at link, then at unlink";
  std::string id = candidate_id(content, 0);
  std::string dir = root / (id.substr(0, 2) + "/" + id.substr(2, 2));
  std::vector<std::string> paths = {dir, dir + "/" + id.substr(4),
                                    dir + "/" + id.substr(4) + ".dead"};
  {
    test_depotd d(on_root(root.path()));
    wire_client c(d.endpoint());
    store_content(c, content);
  }
  {
    depotd_options o = on_root(root.path());
    o.binary = under_strace(scripts, "kill-at-link", "link,linkat", paths);
    test_depotd d(o);
    wire_client c(d.endpoint());
    c.send(schema::delete_request{id});
    EXPECT_EQ(d.stop(std::chrono::seconds(5)), 128 + SIGKILL);
  }
  {
    depotd_options o = on_root(root.path());
    o.binary = under_strace(scripts, "kill-at-unlink", "unlink,unlinkat",
                            {paths[0], paths[1]});
    o.ready_limit = std::chrono::seconds(3);
    EXPECT_THROW(test_depotd{o}, std::runtime_error) << "not killed";
  }
  test_depotd d(on_root(root.path()));
  wire_client c(d.endpoint());
  auto st = stat_of(c, id);
  if (code(st) == "ok") {
    EXPECT_EQ(download_all(c, id), content);
  } else {
    EXPECT_EQ(code(st), "not_found");
    EXPECT_EQ(code(c.call(schema::download_request{id, 0, std::nullopt})),
              "not_found");
  }
  EXPECT_FALSE(fs::exists(paths[2])) << "a delete left stuck";
  auto start = std::chrono::steady_clock::now();
  auto r = upload_content(c, content);
  EXPECT_EQ(code(r), "ok") << describe(r);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(download_all(c, id), content);
}

// A clean stop leaves nothing to recover: the next start finds an empty
// staging area and logs no recovery.
TEST(CleanStop, LeavesNothingForTheNextStartToRecover) {
  DEPOT_POSIX_STORE_ONLY();
  test_depotd d;
  wire_client c(d.endpoint());
  auto f = store_content(c, "survives a clean stop");
  ASSERT_EQ(d.stop(), 0);
  std::vector<std::string> left;
  for (auto& e : fs::directory_iterator(d.root() + "/.staging"))
    left.push_back(e.path().filename().string());
  EXPECT_TRUE(left.empty()) << left.front();
  d.restart();
  wire_client again(d.endpoint());
  EXPECT_EQ(download_all(again, f.id), "survives a clean stop");
  EXPECT_EQ(d.log().find("recovered dead instance"), std::string::npos)
      << d.log();
}

}  // namespace
}  // namespace depot::test
