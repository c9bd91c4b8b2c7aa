// `depotd fsck`, the real binary, on roots a real depotd filled: its exit
// status, its report (text and --json), its repair, and its safety while
// depotd serves the same root with uploads in flight.

#include "testkit/child_process.hpp"
#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/wire.hpp"
#include "testkit/wire_client.hpp"
#include "tests/client/mini_json.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace depot::test {
namespace {

namespace fs = std::filesystem;

struct fsck_run {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs `depotd fsck --root ROOT ARGS...` to its end.
fsck_run run_fsck(const std::string& root,
                  const std::vector<std::string>& args = {}) {
  static std::atomic<int> counter{0};
  temp_dir dir;
  std::vector<std::string> argv{depotd_binary(), "fsck", "--root", root};
  argv.insert(argv.end(), args.begin(), args.end());
  spawn_options o;
  o.out = dir / "out";
  o.log = dir / ("err" + std::to_string(++counter));
  pid_t pid = spawn_child(argv, o);
  fsck_run r;
  if (pid < 0) return r;
  auto rc = wait_for_exit(pid, std::chrono::seconds(120));
  if (!rc) kill_child(pid);
  r.status = rc ? *rc : -1;
  r.out = read_file(o.out);
  r.err = read_file(o.log);
  return r;
}

std::string shard_dir(const std::string& root, const std::string& id) {
  return root + "/" + id.substr(0, 2) + "/" + id.substr(2, 2);
}

std::string bytes_path(const std::string& root, const std::string& id) {
  return shard_dir(root, id) + "/" + id.substr(4);
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

// The findings of a --json report: kind -> the ids (or paths) found.
std::multiset<std::pair<std::string, std::string>> findings_of(
    const json::value& doc) {
  std::multiset<std::pair<std::string, std::string>> out;
  for (auto& f : doc["findings"].arr())
    out.emplace(f["kind"].str(),
                f["id"].str().empty() ? f["path"].str() : f["id"].str());
  return out;
}

TEST(DepotdFsck, ACleanStoreExitsZeroWithTheSummaryLine) {
  DEPOT_POSIX_STORE_ONLY();
  test_depotd d;
  auto c = d.client();
  for (int i = 0; i < 3; ++i)
    store_content(*c, random_bytes(10000 + i, static_cast<uint64_t>(i)));
  auto r = run_fsck(d.root());
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("fsck: 3 files, 30.0 kB checked in ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(" s: clean\n"), std::string::npos) << r.out;
  auto j = run_fsck(d.root(), {"--json"});
  EXPECT_EQ(j.status, 0) << j.err;
  auto doc = json::parse(j.out);
  EXPECT_TRUE(doc["clean"].boolean());
  EXPECT_EQ(doc["objects"].number(), 3u);
  EXPECT_EQ(doc["bytes"].number(), 30003u);
  EXPECT_TRUE(doc["findings"].arr().empty());
}

TEST(DepotdFsck, UsageErrorsAndAnUnusableRootExitTwo) {
  DEPOT_POSIX_STORE_ONLY();
  temp_dir dir;
  spawn_options o;
  o.log = dir / "log";
  pid_t pid = spawn_child({depotd_binary(), "fsck"}, o);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(wait_for_exit(pid, std::chrono::seconds(30)), 2);
  EXPECT_EQ(run_fsck(dir / "missing").status, 2);
  EXPECT_EQ(run_fsck(dir.path(), {"--max-candidates", "3"}).status, 2);
  auto help = run_fsck(dir.path(), {"--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("POSIX store"), std::string::npos) << help.out;
}

// Damage of several kinds at once, a file name of hostile bytes among it:
// the JSON report names each, --repair repairs each, a second run is clean
// and depotd serves the healthy files as before.
TEST(DepotdFsck, DamageIsReportedRepairedAndTheSecondRunIsClean) {
  DEPOT_POSIX_STORE_ONLY();
  test_depotd d;
  auto c = d.client();
  std::vector<std::string> contents, ids;
  for (int i = 0; i < 6; ++i) {
    contents.push_back(random_bytes(5000 + 1000 * i, 100 + i));
    ids.push_back(store_content(*c, contents.back()).id);
  }
  const std::string& root = d.root();
  {  // 0: a flipped byte
    fs::permissions(bytes_path(root, ids[0]), fs::perms::owner_write,
                    fs::perm_options::add);
    std::fstream f(bytes_path(root, ids[0]),
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(17);
    f.put(static_cast<char>(contents[0][17] ^ 1));
  }
  fs::resize_file(bytes_path(root, ids[1]), 10);            // 1: truncated
  fs::remove(bytes_path(root, ids[2]) + ".meta");           // 2: no metadata
  fs::create_hard_link(bytes_path(root, ids[3]) + ".meta",  // 3: dead gen
                       bytes_path(root, ids[3]) + ".r.00000000deadbeef.x-1");
  std::string hostile = "\xff\n\"\\ evil";
  write_file(shard_dir(root, ids[4]) + "/" + hostile, "x");  // a stray
  std::string dead = root + "/.staging/fedcba9876543210";    // dead instance
  fs::create_directories(dead);
  write_file(dead + "/lock", "fedcba9876543210");
  write_file(dead + "/d.3", "an upload it never finished");

  auto check = run_fsck(root, {"--json"});
  EXPECT_EQ(check.status, 1) << check.err;
  auto doc = json::parse(check.out);
  std::multiset<std::pair<std::string, std::string>> expected{
      {"corrupt", ids[0]},
      {"corrupt", ids[1]},
      {"orphan_bytes", ids[2]},
      {"bad_refs", ids[3]},
      {"stray", ids[4].substr(0, 2) + "/" + ids[4].substr(2, 2) + "/" +
                    "\\xff\n\"\\ evil"},
      {"stale_staging", ".staging/fedcba9876543210"}};
  EXPECT_EQ(findings_of(doc), expected);
  EXPECT_FALSE(doc["clean"].boolean());
  EXPECT_EQ(doc["counts"]["corrupt"].number(), 2u);
  EXPECT_EQ(doc["unrepaired"].number(), 6u);

  auto text = run_fsck(root);
  EXPECT_EQ(text.status, 1);
  EXPECT_NE(text.out.find("corrupt  " + ids[0] + "  sha256 mismatch"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find(": 2 corrupt, 1 orphan_bytes, 1 bad_refs, 1 "
                          "stale_staging, 1 stray\n"),
            std::string::npos)
      << text.out;

  auto repair = run_fsck(root, {"--repair"});
  EXPECT_EQ(repair.status, 0) << repair.out << repair.err;
  EXPECT_NE(repair.out.find("  -> quarantined in .quarantine/" + ids[0] + "."),
            std::string::npos)
      << repair.out;
  EXPECT_NE(repair.out.find("; repaired 6\n"), std::string::npos) << repair.out;
  EXPECT_FALSE(fs::exists(dead));
  auto again = run_fsck(root);
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find(": clean\n"), std::string::npos) << again.out;

  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(code(stat_of(*c, ids[i])), "not_found") << i;
  for (int i = 3; i < 6; ++i) EXPECT_EQ(download_all(*c, ids[i]), contents[i]);
  EXPECT_EQ(list_all(*c).size(), 3u);
}

// fsck --repair again and again, for a few seconds, while depotd stores
// files (new ones, and the same content again: dedup joins) and deletes
// others (delete markers, collection): every upload acknowledged is there,
// intact, and fsck found nothing at all (the live instance's staging and
// its work in flight are not findings).
TEST(DepotdFsck, RepairWhileDepotdServesUploadsTouchesNothingLive) {
  DEPOT_POSIX_STORE_ONLY();
  test_depotd d;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<uint64_t> deleted{0};
  std::mutex mutex;
  std::map<std::string, std::string> stored;  // id -> content
  std::vector<std::thread> clients;
  for (uint64_t t = 0; t < 2; ++t)
    clients.emplace_back([&, t] {
      try {
        auto c = d.client();
        for (uint64_t i = 0; !stop; ++i) {
          auto content = random_bytes(1000 + (i % 7) * 30000,
                                      i % 4 == 0 ? i % 3 : t << 32 | i);
          auto id = store_content(*c, content).id;
          std::lock_guard<std::mutex> guard{mutex};
          stored[id] = content;
        }
      } catch (const std::exception& e) {
        ++failures;
        ADD_FAILURE() << e.what();
      }
    });
  clients.emplace_back([&] {
    try {
      auto c = d.client();
      for (uint64_t i = 0; !stop; ++i) {
        auto id =
            store_content(*c, random_bytes(2000, uint64_t{7} << 40 | i)).id;
        c->call(schema::delete_request{id});
        ++deleted;
      }
    } catch (const std::exception& e) {
      ++failures;
      ADD_FAILURE() << e.what();
    }
  });
  std::vector<fsck_run> runs;
  auto start = std::chrono::steady_clock::now();
  while (runs.size() < 5 ||
         std::chrono::steady_clock::now() - start < std::chrono::seconds(4))
    runs.push_back(run_fsck(d.root(), {"--repair", "--json"}));
  stop = true;
  for (auto& u : clients) u.join();
  EXPECT_EQ(failures, 0);
  uint64_t in_flight = 0;
  for (auto& r : runs) {
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    auto doc = json::parse(r.out);
    EXPECT_TRUE(doc["findings"].arr().empty()) << r.out;
    in_flight += doc["in_flight"].number();
  }
  std::cout << stored.size() << " files stored, " << deleted << " deleted; "
            << runs.size() << " fsck --repair runs skipped " << in_flight
            << " objects in flight\n";
  auto c = d.client();
  EXPECT_GT(stored.size(), 5u);
  for (auto& [id, content] : stored)
    EXPECT_EQ(download_all(*c, id), content) << id;
  EXPECT_EQ(list_all(*c).size(), stored.size());
  auto last = run_fsck(d.root());
  EXPECT_EQ(last.status, 0) << last.out;
  EXPECT_FALSE(fs::exists(d.root() + "/.quarantine"));
}

// A corrupt file quarantined while uploads of its content keep joining it:
// repair takes it under its marker (the joiners wait, or are in a journal
// and then it waits for the next run), the id is free again, and the next
// upload stores the right bytes under it.
TEST(DepotdFsck,
     AQuarantineRacingUploadsOfTheSameContentEndsWithTheRightBytes) {
  DEPOT_POSIX_STORE_ONLY();
  test_depotd d;
  auto c = d.client();
  std::string content = random_bytes(200000, 4242);
  std::string id = store_content(*c, content).id;
  std::string bytes = bytes_path(d.root(), id);
  fs::permissions(bytes, fs::perms::owner_write, fs::perm_options::add);
  {
    std::fstream f(bytes, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put(static_cast<char>(content[100] ^ 0x40));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<uint64_t> uploads{0};
  std::thread uploader{[&] {
    try {
      auto u = d.client();
      while (!stop) {
        EXPECT_EQ(store_content(*u, content).id, id);
        ++uploads;
      }
    } catch (const std::exception& e) {
      ++failures;
      ADD_FAILURE() << e.what();
    }
  }};
  bool quarantined = false;
  for (int i = 0; i < 100 && !quarantined; ++i) {
    // A joiner in a journal when repair has marked the object: left for
    // the next run (exit 1, "run again").
    auto r = run_fsck(d.root(), {"--repair", "--json"});
    auto doc = json::parse(r.out);
    for (auto& f : doc["findings"].arr()) {
      EXPECT_EQ(f["kind"].str(), "corrupt");
      EXPECT_EQ(f["id"].str(), id);
      if (f["repaired"].boolean())
        quarantined = true;
      else
        EXPECT_NE(f["action"].str().find("run again"), std::string::npos)
            << f["action"].str();
    }
    EXPECT_EQ(r.status, doc["unrepaired"].number() == 0 ? 0 : 1) << r.err;
  }
  stop = true;
  uploader.join();
  EXPECT_EQ(failures, 0);
  EXPECT_TRUE(quarantined);
  std::cout << uploads << " uploads of the same content meanwhile\n";
  EXPECT_EQ(store_content(*c, content).id, id);
  EXPECT_EQ(download_all(*c, id), content);
  auto last = run_fsck(d.root());
  EXPECT_EQ(last.status, 0) << last.out;
}

}  // namespace
}  // namespace depot::test
