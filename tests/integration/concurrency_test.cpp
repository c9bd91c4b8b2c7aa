// Several clients at once over real sockets: interleaved pipelined uploads
// and downloads, each on its own socket and thread.

#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

namespace depot::test {
namespace {

// Runs body(i, client, error) for i in [0, n) on n threads at once, each
// with its own wire_client to `endpoint`. Returns each thread's error: what
// its body set, else what it threw, else "".
template <class Body>
std::vector<std::string> run_clients(const std::string& endpoint, int n,
                                     Body body) {
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      try {
        wire_client c(endpoint);
        body(i, c, errors[i]);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

TEST(MultiClient, InterleavedPipelinedUploadsAreAllCorrect) {
  // Files of 3 MiB stay under the default ram_threshold (4 MiB); streaming
  // uploads have their own test below.
  test_depotd d({"--chunk-max", "131072", "--window", "4"});
  const int clients = 4;
  std::vector<std::string> contents;
  for (int i = 0; i < clients; ++i)
    contents.push_back(random_bytes((3 << 20) + 1000 * i, 60 + i));
  std::vector<schema::file_meta> files(clients);
  auto errors = run_clients(
      d.endpoint(), clients, [&](int i, wire_client& c, std::string& error) {
        upload_options o;
        o.name = "client-" + std::to_string(i);
        o.declare = i % 2 == 0;  // half of them declare size and sha256
        auto r = upload_content(c, contents[i], o);
        files[i] = as<schema::chunk_done_reply>(r).file;
        if (download_all(c, files[i].id) != contents[i])
          error = "download differs";
      });
  std::set<std::string> ids;
  for (int i = 0; i < clients; ++i) {
    EXPECT_EQ(errors[i], "") << "client " << i;
    EXPECT_EQ(files[i].size, contents[i].size());
    EXPECT_EQ(files[i].sha256, sha256_hex(contents[i]));
    EXPECT_EQ(files[i].id, candidate_id(contents[i], 0));
    EXPECT_EQ(files[i].name, "client-" + std::to_string(i));
    ids.insert(files[i].id);
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(clients));
  wire_client c(d.endpoint());
  EXPECT_EQ(list_all(c).size(), static_cast<size_t>(clients));
}

TEST(MultiClient, ConcurrentStreamingUploadsAreAllCorrect) {
  // Past ram_threshold every upload streams to its own staging file. One
  // chunk in flight per client: with more, the switch to streaming can give
  // a spurious busy, covered by
  // Chunk.ClientWithinItsWindowNeverSeesBusyAcrossTheRamThreshold.
  test_depotd d(
      {"--chunk-max", "131072", "--window", "4", "--ram-threshold", "262144"});
  const int clients = 4;
  std::vector<std::string> contents;
  for (int i = 0; i < clients; ++i)
    contents.push_back(random_bytes((2 << 20) + 777 * i, 160 + i));
  auto errors = run_clients(
      d.endpoint(), clients, [&](int i, wire_client& c, std::string& error) {
        upload_options o;
        o.window = 1;
        o.declare = true;
        auto f = as<schema::chunk_done_reply>(upload_content(c, contents[i], o))
                     .file;
        if (f.sha256 != sha256_hex(contents[i])) error = "sha256 differs";
        if (download_all(c, f.id) != contents[i]) error = "download differs";
      });
  for (int i = 0; i < clients; ++i) EXPECT_EQ(errors[i], "") << "client " << i;
  wire_client c(d.endpoint());
  EXPECT_EQ(list_all(c).size(), static_cast<size_t>(clients));
}

TEST(MultiClient, OneSocketInterleavesSeveralUploads) {
  test_depotd d({"--chunk-max", "65536", "--window", "4"});
  wire_client c(d.endpoint());
  const int uploads = 3;
  std::vector<std::string> contents;
  std::vector<std::string> tokens;
  for (int i = 0; i < uploads; ++i) {
    contents.push_back(random_bytes(10 * 65536 + 17 * i, 70 + i));
    tokens.push_back(begin_upload(c, "interleaved-" + std::to_string(i)));
  }
  // Round robin: seq s of every upload, then s+1, keeping each within its
  // window (4 in flight) by taking replies in batches.
  const uint64_t chunks = 11;
  std::vector<uint64_t> last_rids(uploads);
  for (uint64_t s = 0; s < chunks; s += 4) {
    std::vector<uint64_t> rids;
    for (uint64_t seq = s; seq < std::min(chunks, s + 4); ++seq)
      for (int i = 0; i < uploads; ++i) {
        uint64_t off = seq * 65536;
        auto part = std::string_view(contents[i])
                        .substr(off, std::min<uint64_t>(
                                         65536, contents[i].size() - off));
        uint64_t rid =
            c.send(make_chunk(tokens[i], seq, seq + 1 == chunks, part));
        if (seq + 1 == chunks)
          last_rids[i] = rid;
        else
          rids.push_back(rid);
      }
    for (auto rid : rids) ASSERT_EQ(code(c.receive(rid)), "ok");
  }
  for (int i = 0; i < uploads; ++i) {
    auto done = as<schema::chunk_done_reply>(c.receive(last_rids[i]));
    EXPECT_EQ(done.file.sha256, sha256_hex(contents[i]));
    EXPECT_EQ(download_all(c, done.file.id), contents[i]);
  }
}

TEST(MultiClient, DownloadsWhileOthersUpload) {
  test_depotd d({"--chunk-max", "131072", "--window", "4"});
  std::string stored = random_bytes(2 << 20, 80);
  schema::file_meta f;
  {
    wire_client c(d.endpoint());
    f = store_content(c, stored);
  }
  auto errors = run_clients(
      d.endpoint(), 4, [&](int i, wire_client& c, std::string& error) {
        if (i % 2 == 0) {
          for (int k = 0; k < 3; ++k)
            if (download_all(c, f.id, 0, 4) != stored)
              error = "download differs";
        } else {
          std::string mine = random_bytes(2 << 20, 90 + i);
          auto g = store_content(c, mine);
          if (download_all(c, g.id) != mine) error = "own download differs";
        }
      });
  for (int i = 0; i < 4; ++i) EXPECT_EQ(errors[i], "") << "client " << i;
}

}  // namespace
}  // namespace depot::test
