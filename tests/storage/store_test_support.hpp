#pragma once

// Helpers shared by the store tests: a store in a temp dir (optionally on
// the fault-injecting file system), puts and gets, and what is on disk.

#include "storage/fault_fs.hpp"
#include "storage/naming.hpp"
#include "storage/posix_store.hpp"
#include "testkit/gtest_status.hpp"
#include "testkit/temp_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

namespace depot::storage {

namespace fs = std::filesystem;
using schema::errc;

// The two ways a commit is made durable: one syncfs per barrier (small
// batches), or file by file (large ones).
inline constexpr uint64_t per_file = 0;
inline constexpr uint64_t whole_fs = uint64_t{64} << 20;

inline std::shared_ptr<store> open_store(
    const std::string& root, std::shared_ptr<file_system> fsys = nullptr,
    std::optional<unsigned> bits = std::nullopt,
    uint64_t group_bytes = whole_fs) {
  auto s = open_posix_store({root, bits, 16, std::move(fsys), group_bytes});
  if (!s) ADD_FAILURE() << schema::message_of(s.error());
  return s ? *s : nullptr;
}

inline schema::expected<commit_result> put(store& s, const std::string& content,
                                           const std::string& name = "a.txt") {
  auto staged = s.create_staging();
  if (!staged) return staged.error();
  for (size_t i = 0; i < content.size(); i += 1000) {
    size_t n = std::min<size_t>(1000, content.size() - i);
    if (auto err = (*staged)->append(
            reinterpret_cast<const std::byte*>(content.data() + i), n))
      return err;
  }
  return s.commit(std::move(*staged),
                  {name, "text/plain",
                   sha256::of(content.data(), content.size()), 1700000000000});
}

inline std::string get(store& s, const std::string& id) {
  std::string out;
  std::vector<std::byte> buf(777);
  for (uint64_t off = 0;;) {
    auto r = s.read(id, off, buf.size(), buf.data());
    if (!r) return "<" + schema::message_of(r.error()) + ">";
    out.append(reinterpret_cast<const char*>(buf.data()), r->bytes);
    off += r->bytes;
    if (off >= r->file_size) return out;
  }
}

// Every file under the store's shards (not its staging area).
inline std::set<std::string> shard_files(const std::string& root) {
  std::set<std::string> out;
  for (auto& e : fs::recursive_directory_iterator(root)) {
    auto rel = fs::relative(e.path(), root).string();
    if (rel.rfind(".staging", 0) == 0 || e.is_directory()) continue;
    out.insert(rel);
  }
  return out;
}

inline size_t staging_files(const std::string& root) {
  size_t n = 0;
  for (auto& e : fs::recursive_directory_iterator(root + "/.staging"))
    if (e.is_regular_file() &&
        e.path().filename().string().rfind("journal", 0) &&
        e.path().filename() != "lock")
      ++n;
  return n;
}

struct faulty_store {
  explicit faulty_store(uint64_t group_bytes = per_file)
      : s(open_store(dir.path(), fsys, std::nullopt, group_bytes)) {}
  test::temp_dir dir;
  std::shared_ptr<fault_fs> fsys =
      std::make_shared<fault_fs>(posix_file_system());
  std::shared_ptr<store> s;
};

inline commit_request staged(store& s, const std::string& content,
                             const std::string& name) {
  auto st = s.create_staging();
  EXPECT_TRUE(st);
  EXPECT_FALSE((*st)->append(reinterpret_cast<const std::byte*>(content.data()),
                             content.size()));
  return {std::move(*st),
          {name, "text/plain", sha256::of(content.data(), content.size()), 1}};
}

// Content whose first candidate under `bits` is that of `other`.
inline std::string colliding_with(const std::string& other, unsigned bits) {
  auto target = candidate_id(sha256::of(other.data(), other.size()), 0, bits);
  for (int i = 0;; ++i) {
    std::string c = "collider " + std::to_string(i);
    if (c != other &&
        candidate_id(sha256::of(c.data(), c.size()), 0, bits) == target)
      return c;
  }
}

// Two batches sharing one barrier, as the namer pipelines them.
inline std::vector<commit_request> two(store& s, const std::string& tag) {
  std::vector<commit_request> b;
  b.push_back(staged(s, tag + " one", tag + "1"));
  b.push_back(staged(s, tag + " two", tag + "2"));
  return b;
}

}  // namespace depot::storage
