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

// A clean stop leaves nothing to recover: the next start finds an empty
// staging area and logs no recovery.
TEST(CleanStop, LeavesNothingForTheNextStartToRecover) {
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
