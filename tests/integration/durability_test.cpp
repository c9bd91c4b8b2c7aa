// What survives the server: clean restarts (SIGTERM), crashes (SIGKILL) in
// the middle of uploads and right after completions, and storage failures
// (io_error on a full file system).

#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <thread>
#include <vector>

namespace depot::test {
namespace {

namespace fs = std::filesystem;

// Entries under ROOT/.staging that are not the live instance's own lock and
// journals: temp files of uploads (d.*, m.*, x.*), instance dirs of dead
// servers, half-formed instance dirs (*.tmp).
std::vector<std::string> staging_leftovers(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::path staging = fs::path(root) / ".staging";
  std::vector<fs::path> instances;
  for (auto& e : fs::directory_iterator(staging, ec))
    instances.push_back(e.path());
  if (instances.size() > 1)
    for (auto& p : instances)
      out.push_back(p.filename().string() + " (one of several instances)");
  for (auto& inst : instances) {
    if (!fs::is_directory(inst)) {
      out.push_back(inst.filename().string());
      continue;
    }
    for (auto& e : fs::directory_iterator(inst, ec)) {
      std::string name = e.path().filename().string();
      if (name == "lock" || name.rfind("journal.", 0) == 0) continue;
      out.push_back(inst.filename().string() + "/" + name);
    }
  }
  return out;
}

// Temp files of uploads under ROOT/.staging (any instance).
int staging_temp_files(const std::string& root) {
  int n = 0;
  std::error_code ec;
  for (auto it =
           fs::recursive_directory_iterator(fs::path(root) / ".staging", ec);
       !ec && it != fs::recursive_directory_iterator(); ++it) {
    std::string name = it->path().filename().string();
    if (it->is_regular_file() && name != "lock" &&
        name.rfind("journal.", 0) != 0)
      ++n;
  }
  return n;
}

// Uploads here that pass ram_threshold send one chunk at a time: pipelined
// chunks across the switch to streaming can meet a spurious `busy` (see
// Chunk.ClientWithinItsWindowNeverSeesBusyAcrossTheRamThreshold), which is
// not what these tests are about.
upload_options one_at_a_time() {
  upload_options o;
  o.window = 1;
  return o;
}

// Sends chunks 0..n-1 (none last) of `content` in `chunk`-byte pieces and
// waits for every ack.
void send_partial(wire_client& c, const std::string& token,
                  const std::string& content, uint64_t chunk, uint64_t n) {
  for (uint64_t seq = 0; seq < n; ++seq) {
    auto r = c.call(
        make_chunk(token, seq, false,
                   std::string_view(content).substr(seq * chunk, chunk)));
    ASSERT_EQ(code(r), "ok") << "seq " << seq << ": " << describe(r);
  }
}

TEST(Restart, KeepsFilesAndMetadata) {
  test_depotd d({"--chunk-max", "65536", "--ram-threshold", "65536"});
  std::vector<std::string> contents = {"small one", "",
                                       random_bytes(700000, 41)};
  std::vector<schema::file_meta> before;
  std::vector<schema::file_meta> listed_before;
  std::string shared_id;
  {
    wire_client c(d.endpoint());
    for (auto& content : contents) store_content(c, content, one_at_a_time());
    // One with two references, one reference deleted again, one deleted.
    shared_id = store_content(c, "shared").id;
    store_content(c, "shared");
    store_content(c, "shared");
    ASSERT_EQ(
        as<schema::delete_reply>(c.call(schema::delete_request{shared_id}))
            .refs,
        2u);
    auto gone = store_content(c, "deleted before the restart");
    ASSERT_EQ(
        as<schema::delete_reply>(c.call(schema::delete_request{gone.id})).refs,
        0u);
    listed_before = list_all(c);
  }
  ASSERT_EQ(listed_before.size(), 4u);
  EXPECT_EQ(d.stop(), 0);
  d.restart();
  wire_client c(d.endpoint());
  EXPECT_EQ(list_all(c), listed_before);
  for (auto& f : listed_before) {
    EXPECT_EQ(as<schema::stat_reply>(stat_of(c, f.id)).file, f);
  }
  for (auto& content : contents)
    EXPECT_EQ(download_all(c, candidate_id(content, 0)), content);
  EXPECT_EQ(as<schema::stat_reply>(stat_of(c, shared_id)).file.refs, 2u);
  EXPECT_EQ(code(stat_of(c, candidate_id("deleted before the restart", 0))),
            "not_found");
  // And the store goes on working: dedup against a file from before.
  auto again = as<schema::chunk_done_reply>(upload_content(c, "small one"));
  EXPECT_TRUE(again.dedup);
  EXPECT_EQ(again.file.refs, 2u);
}

TEST(Restart, UploadInProgressIsUnknownAfterward) {
  test_depotd d({"--chunk-max", "1000"});
  std::string token;
  std::string content = random_bytes(5000, 42);
  {
    wire_client c(d.endpoint());
    token = begin_upload(c);
    send_partial(c, token, content, 1000, 3);
  }
  EXPECT_EQ(d.stop(), 0);
  d.restart();
  wire_client c(d.endpoint());
  EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
            "unknown_upload");
  EXPECT_EQ(
      code(c.call(make_chunk(token, 3, false, content.substr(3000, 1000)))),
      "unknown_upload");
  EXPECT_TRUE(list_all(c).empty());
  EXPECT_EQ(staging_leftovers(d.root()), std::vector<std::string>{});
}

TEST(Shutdown, SigtermExitsZeroWithinFiveSecondsWhileUploadsAreInProgress) {
  test_depotd d(
      {"--chunk-max", "262144", "--window", "8", "--ram-threshold", "262144"});
  std::vector<std::unique_ptr<wire_client>> clients;
  std::string content = random_bytes(8 * 262144, 43);
  for (int i = 0; i < 3; ++i) {
    clients.push_back(d.client());
    auto token = begin_upload(*clients.back());
    // A window of chunks in flight, replies never read.
    for (uint64_t seq = 0; seq < 8; ++seq)
      clients.back()->send(
          make_chunk(token, seq, false,
                     std::string_view(content).substr(seq * 262144, 262144)));
  }
  auto start = std::chrono::steady_clock::now();
  int status = d.stop(std::chrono::seconds(10));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(status, 0);
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST(Shutdown, SigintExitsZero) {
  test_depotd d;
  ASSERT_GT(d.pid(), 0);
  ::kill(d.pid(), SIGINT);
  // stop() sends SIGTERM as well; the exit status must still be 0.
  EXPECT_EQ(d.stop(), 0);
}

TEST(Crash, KillDuringRamHeldUploadLeavesNothingAfterRestart) {
  test_depotd d({"--chunk-max", "65536"});  // ram threshold: 4 MiB
  std::string token;
  std::string content = random_bytes(5 * 65536, 44);
  schema::file_meta kept;
  {
    wire_client c(d.endpoint());
    kept = store_content(c, "completed before the crash");
    token = begin_upload(c);
    send_partial(c, token, content, 65536, 4);
  }
  d.kill9();
  d.restart();
  wire_client c(d.endpoint());
  auto files = list_all(c);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0], kept);
  EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
            "unknown_upload");
  EXPECT_EQ(code(stat_of(c, candidate_id(content, 0))), "not_found");
  EXPECT_EQ(staging_leftovers(d.root()), std::vector<std::string>{});
}

TEST(Crash, KillDuringStreamingUploadLeavesNoStagingFilesAfterRestart) {
  DEPOT_POSIX_STORE_ONLY();
  test_depotd d(
      {"--chunk-max", "65536", "--ram-threshold", "65536", "--window", "4"});
  std::string token;
  std::string content = random_bytes(12 * 65536, 45);
  {
    wire_client c(d.endpoint());
    token = begin_upload(c);
    send_partial(c, token, content, 65536, 10);
  }
  // Past the RAM threshold the upload streams to a staging file.
  EXPECT_GT(staging_temp_files(d.root()), 0)
      << "expected a staging file before the crash";
  d.kill9();
  d.restart();
  wire_client c(d.endpoint());
  EXPECT_TRUE(list_all(c).empty());
  EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
            "unknown_upload");
  EXPECT_EQ(staging_leftovers(d.root()), std::vector<std::string>{});
  EXPECT_EQ(staging_temp_files(d.root()), 0);
}

TEST(Crash, KillDuringSeveralUploadsLeavesOnlyCompletedFiles) {
  test_depotd d(
      {"--chunk-max", "65536", "--ram-threshold", "131072", "--window", "4"});
  std::vector<schema::file_meta> completed;
  {
    std::vector<std::unique_ptr<wire_client>> clients;
    for (int i = 0; i < 3; ++i) {
      clients.push_back(d.client());
      completed.push_back(store_content(
          *clients.back(), random_bytes(200000, 460 + i), one_at_a_time()));
    }
    // Then uploads in every state: RAM-held, streaming, chunks unacknowledged.
    for (int i = 0; i < 3; ++i) {
      auto token = begin_upload(*clients[i]);
      std::string content = random_bytes(20 * 65536, 470 + i);
      const uint64_t acked = 1 + 4 * static_cast<uint64_t>(i);
      send_partial(*clients[i], token, content, 65536, acked);
      for (uint64_t seq = acked; seq < acked + 4; ++seq)
        clients[i]->send(
            make_chunk(token, seq, false,
                       std::string_view(content).substr(seq * 65536, 65536)));
    }
    d.kill9();
  }
  d.restart();
  wire_client c(d.endpoint());
  auto files = list_all(c);
  std::sort(completed.begin(), completed.end(),
            [](auto& a, auto& b) { return a.id < b.id; });
  EXPECT_EQ(files, completed);
  EXPECT_EQ(staging_leftovers(d.root()), std::vector<std::string>{});
}

TEST(Crash, KillRightAfterAnAcknowledgedCompletionKeepsTheFile) {
  test_depotd d({"--chunk-max", "65536", "--ram-threshold", "65536"});
  std::string small = "acknowledged, then killed";
  std::string large = random_bytes(600000, 47);
  schema::file_meta small_meta, large_meta, dedup_meta;
  {
    wire_client c(d.endpoint());
    small_meta = store_content(c, small);
    large_meta = store_content(c, large, one_at_a_time());
    dedup_meta = as<schema::chunk_done_reply>(upload_content(c, small)).file;
    d.kill9();  // at once, no pause
  }
  ASSERT_EQ(dedup_meta.refs, 2u);
  d.restart();
  wire_client c(d.endpoint());
  EXPECT_EQ(as<schema::stat_reply>(stat_of(c, large_meta.id)).file, large_meta);
  EXPECT_EQ(as<schema::stat_reply>(stat_of(c, small_meta.id)).file, dedup_meta)
      << "both references survive";
  EXPECT_EQ(download_all(c, small_meta.id), small);
  EXPECT_EQ(download_all(c, large_meta.id), large);
}

TEST(Crash, KillRightAfterEachOfManyCompletionsKeepsThemAll) {
  test_depotd d;
  for (int round = 0; round < 3; ++round) {
    std::string content = "round " + std::to_string(round) + " " +
                          random_bytes(3000, 480 + round);
    schema::file_meta f;
    {
      wire_client c(d.endpoint());
      f = store_content(c, content);
      d.kill9();
    }
    d.restart();
    wire_client c(d.endpoint());
    EXPECT_EQ(as<schema::stat_reply>(stat_of(c, f.id)).file, f)
        << "round " << round;
    EXPECT_EQ(download_all(c, f.id), content);
    EXPECT_EQ(list_all(c).size(), static_cast<size_t>(round + 1));
  }
}

// A tmpfs of `bytes` mounted on `dir` for the lifetime of the object
// (needs root and mount rights: ok() says whether it worked).
class tmpfs_mount {
 public:
  tmpfs_mount(const std::string& dir, uint64_t bytes) : dir_(dir) {
    std::string opts = "size=" + std::to_string(bytes);
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) == 0)
      mounted_ = true;
    else
      error_ = std::strerror(errno);
  }
  ~tmpfs_mount() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  tmpfs_mount(const tmpfs_mount&) = delete;
  tmpfs_mount& operator=(const tmpfs_mount&) = delete;
  bool ok() const { return mounted_; }
  const std::string& error() const { return error_; }
  uint64_t free_bytes() const {
    struct statvfs s {};
    ::statvfs(dir_.c_str(), &s);
    return uint64_t{s.f_bavail} * s.f_frsize;
  }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

// Uploads more than a 1 MiB file system holds and checks the io_error
// contract: an io_error reply, nothing partial visible, space given back,
// the server goes on serving.
void expect_io_error_on_full_disk(std::vector<std::string> flags) {
  temp_dir parent;
  std::string mnt = parent / "mnt";
  fs::create_directory(mnt);
  tmpfs_mount m(mnt, 1 << 20);
  if (!m.ok())
    GTEST_SKIP() << "cannot mount a tmpfs (" << m.error()
                 << "): io_error untested";
  depotd_options options;
  options.flags = std::move(flags);
  options.root = mnt + "/root";
  test_depotd d(std::move(options));
  wire_client c(d.endpoint());
  uint64_t free_before = m.free_bytes();
  std::string content = random_bytes(2 << 20, 49);
  auto r = upload_content(c, content, one_at_a_time());
  EXPECT_EQ(code(r), "io_error") << describe(r);
  if (auto* e = std::get_if<schema::error_reply>(&r.body)) {
    EXPECT_FALSE(e->message.empty());
  }
  // Nothing partial visible.
  EXPECT_TRUE(list_all(c).empty());
  EXPECT_EQ(code(stat_of(c, candidate_id(content, 0))), "not_found");
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(mnt + "/root", ec);
       !ec && it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = fs::relative(it->path(), mnt + "/root").string();
    if (rel.rfind(".staging", 0) == 0) continue;
    EXPECT_FALSE(it->is_regular_file() && it->file_size() > 0)
        << "left behind: " << rel << " (" << it->file_size() << " bytes)";
  }
  EXPECT_EQ(staging_temp_files(mnt + "/root"), 0);
  // The space came back: at most a few pages of directories and journals.
  EXPECT_GE(m.free_bytes() + 64 * 1024, free_before);
  // The server goes on serving, and small files fit again.
  EXPECT_EQ(code(c.call(schema::ping_request{})), "ok");
  auto f = store_content(c, "small enough");
  EXPECT_EQ(download_all(c, f.id), "small enough");
}

TEST(IoError, RamHeldUploadOverTheFreeSpaceFailsCleanly) {
  DEPOT_POSIX_STORE_ONLY();
  expect_io_error_on_full_disk({"--chunk-max", "65536"});  // 4 MiB in RAM
}

TEST(IoError, StreamingUploadOverTheFreeSpaceFailsCleanly) {
  DEPOT_POSIX_STORE_ONLY();
  expect_io_error_on_full_disk(
      {"--chunk-max", "65536", "--ram-threshold", "65536"});
}

}  // namespace
}  // namespace depot::test
