// depot::client against a real depotd: round trips, listing, errors.

#include "client/client.hpp"
#include "tests/client/support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace depot::test {
namespace {

using client::errc;
using client::error_source;

class Connection : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.emplace(
        std::vector<std::string>{"--chunk-max", "262144", "--window", "8"});
    ASSERT_TRUE(server_->start());
    client::options o;
    o.endpoint = server_->endpoint();
    o.timeout = std::chrono::seconds(10);
    auto c = client::connection::open(o);
    ASSERT_OK(c);
    conn_.emplace(std::move(*c));
  }

  // Uploads `bytes` from a file named `name`; returns the result.
  client::upload_result put(const std::string& bytes, const std::string& name) {
    std::string path = dir_ / name;
    write_bytes(path, bytes);
    auto up = conn_->upload_file(path);
    EXPECT_TRUE(up.ok()) << client::to_string(up.error());
    return up ? *up : client::upload_result{};
  }

  // Uploads, checks the metadata, lists, downloads, compares, removes.
  void round_trip(const std::string& bytes, const std::string& name) {
    std::vector<client::progress> seen;
    std::string path = dir_ / name;
    write_bytes(path, bytes);
    client::upload_options uo;
    uo.on_progress = [&](const client::progress& p) { seen.push_back(p); };
    auto up = conn_->upload_file(path, uo);
    ASSERT_OK(up);
    EXPECT_EQ(up->file.name, name);
    EXPECT_EQ(up->file.size, bytes.size());
    EXPECT_EQ(up->file.sha256, sha256_hex(bytes));
    EXPECT_EQ(up->file.refs, 1u);
    EXPECT_FALSE(up->dedup);
    EXPECT_EQ(up->resumes, 0u);
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.front().done, 0u);
    EXPECT_EQ(seen.back().done, bytes.size());
    ASSERT_TRUE(seen.back().total.has_value());
    EXPECT_EQ(*seen.back().total, bytes.size());

    bool listed = false;
    for (auto& f : conn_->list()) {
      ASSERT_OK(f);
      if (f->id == up->file.id) {
        listed = true;
        EXPECT_EQ(*f, up->file);
      }
    }
    EXPECT_TRUE(listed);

    std::string out = dir_ / (name + ".down");
    seen.clear();
    client::download_options dopts;
    dopts.on_progress = [&](const client::progress& p) { seen.push_back(p); };
    auto down = conn_->download_file(up->file.id, out, dopts);
    ASSERT_OK(down);
    EXPECT_EQ(*down, up->file);
    EXPECT_TRUE(read_text(out) == bytes) << "downloaded bytes differ";
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back().done, bytes.size());

    std::ostringstream stream;
    auto streamed = conn_->download(up->file.id, stream);
    ASSERT_OK(streamed);
    EXPECT_TRUE(stream.str() == bytes) << "streamed bytes differ";

    auto refs = conn_->remove(up->file.id);
    ASSERT_OK(refs);
    EXPECT_EQ(*refs, 0u);
    auto gone = conn_->stat(up->file.id);
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.error().code, errc::not_found);
    EXPECT_EQ(gone.error().source, error_source::server);
  }

  temp_dir dir_;
  std::optional<depotd> server_;
  std::optional<client::connection> conn_;
};

TEST_F(Connection, PingReportsTheServersChunkMax) {
  auto p = conn_->ping();
  ASSERT_OK(p);
  EXPECT_EQ(p->version, 1u);
  EXPECT_EQ(p->chunk_max, 262144u);
  EXPECT_FALSE(p->server.empty());
}

TEST_F(Connection, RoundTripsAnEmptyFile) { round_trip("", "empty.bin"); }

TEST_F(Connection, RoundTripsASmallFile) {
  round_trip("hello depot\n", "hello.txt");
}

TEST_F(Connection, RoundTripsAMultiMebibyteFile) {
  // 3 MiB + 1: 13 chunks of 256 KiB, the last one a single byte; below the
  // server's default --ram-threshold (4 MiB), so held in RAM there.
  round_trip(random_bytes((3 << 20) + 1, 7), "big.bin");
}

TEST_F(Connection, RoundTripsFilesLargerThanTheServersRamThreshold) {
  // 5 MiB + 1 crosses depotd's default --ram-threshold (4 MiB): the server
  // switches the upload from RAM to a staging file while chunks are in
  // flight. Several distinct files, since the switch races with hashing.
  for (uint32_t seed = 100; seed < 112; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    round_trip(random_bytes((5 << 20) + 1, seed),
               "large-" + std::to_string(seed));
    if (HasFailure()) break;
  }
}

TEST_F(Connection, RoundTripsAFileOfExactlyOneChunk) {
  round_trip(random_bytes(262144, 8), "one-chunk.bin");
}

TEST_F(Connection, NamesFilesAsTheProtocolSaysAndDeduplicates) {
  auto first = put("hello depot\n", "a.txt");
  EXPECT_EQ(first.file.id, "rbWeBrTIp1Js");
  auto second = put("hello depot\n", "b.txt");
  EXPECT_EQ(second.file.id, "rbWeBrTIp1Js");
  EXPECT_TRUE(second.dedup);
  EXPECT_EQ(second.file.refs, 2u);
  EXPECT_EQ(second.file.name, "a.txt");  // the first upload's name stays
  auto refs = conn_->remove("rbWeBrTIp1Js");
  ASSERT_OK(refs);
  EXPECT_EQ(*refs, 1u);
  EXPECT_OK(conn_->stat("rbWeBrTIp1Js"));
}

TEST_F(Connection, UploadsFromAStreamWithAndWithoutAKnownSize) {
  std::string bytes = random_bytes(600000, 9);
  std::istringstream seekable(bytes);
  client::upload_options uo;
  uo.name = "stream.bin";
  uo.mime = "application/x-test";
  std::optional<uint64_t> total;
  uo.on_progress = [&](const client::progress& p) { total = p.total; };
  auto up = conn_->upload(seekable, uo);
  ASSERT_OK(up);
  EXPECT_EQ(up->file.sha256, sha256_hex(bytes));
  EXPECT_EQ(up->file.mime, "application/x-test");
  EXPECT_EQ(total, bytes.size());

  // A pipe: neither size nor digest is known in advance.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::string other = random_bytes(700000, 10);
  std::thread writer{[&] {
    size_t off = 0;
    while (off < other.size()) {
      ssize_t w = ::write(fds[1], other.data() + off, other.size() - off);
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
    ::close(fds[1]);
  }};
  std::string pipe_path = "/proc/self/fd/" + std::to_string(fds[0]);
  client::upload_options po;
  po.name = "piped.bin";
  bool unknown_total = false;
  po.on_progress = [&](const client::progress& p) {
    if (!p.total) unknown_total = true;
  };
  auto piped = conn_->upload_file(pipe_path, po);
  writer.join();
  ::close(fds[0]);
  ASSERT_OK(piped);
  EXPECT_TRUE(unknown_total);
  EXPECT_EQ(piped->file.size, other.size());
  EXPECT_EQ(piped->file.sha256, sha256_hex(other));
}

TEST_F(Connection, ListsEveryFileAcrossPages) {
  std::set<std::string> ids;
  for (int i = 0; i < 7; ++i)
    ids.insert(put("file number " + std::to_string(i), "f" + std::to_string(i))
                   .file.id);
  std::set<std::string> listed;
  std::string previous;
  for (auto& f : conn_->list(2)) {  // four pages
    ASSERT_OK(f);
    EXPECT_LT(previous, f->id) << "ids come in ascending order";
    previous = f->id;
    listed.insert(f->id);
  }
  EXPECT_EQ(listed, ids);

  auto page = conn_->list_page(std::nullopt, 3);
  ASSERT_OK(page);
  EXPECT_EQ(page->files.size(), 3u);
  ASSERT_TRUE(page->next.has_value());
  auto rest = conn_->list_page(page->next, 1000);
  ASSERT_OK(rest);
  EXPECT_EQ(rest->files.size(), 4u);
  EXPECT_FALSE(rest->next.has_value());
}

TEST_F(Connection, ReportsNotFoundAndLeavesNoFileBehind) {
  std::string out = dir_ / "never";
  auto down = conn_->download_file("AAAAAAAAAAAA", out);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code, errc::not_found);
  EXPECT_EQ(down.error().code_name(), "not_found");
  EXPECT_FALSE(std::filesystem::exists(out));
  for (auto& e : std::filesystem::directory_iterator(dir_.path()))
    EXPECT_EQ(e.path().string().find(".depot-tmp-"), std::string::npos)
        << e.path();
  auto rm = conn_->remove("AAAAAAAAAAAA");
  ASSERT_FALSE(rm.ok());
  EXPECT_EQ(rm.error().code, errc::not_found);
}

TEST_F(Connection, RejectsAMalformedIdWithoutAskingTheServer) {
  auto s = conn_->stat("../etc/passwd");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, errc::bad_request);
  EXPECT_EQ(s.error().source, error_source::local);
}

TEST_F(Connection, PassesOnTheServersRejectionOfABadName) {
  std::istringstream in("x");
  client::upload_options uo;
  uo.name = "a/b";
  auto up = conn_->upload(in, uo);
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.error().code, errc::bad_request);
}

TEST_F(Connection, RefusesToOverwriteWhenAskedNotTo) {
  auto up = put("content", "c.txt");
  std::string out = dir_ / "existing";
  write_bytes(out, "old");
  client::download_options o;
  o.overwrite = false;
  auto down = conn_->download_file(up.file.id, out, o);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code, errc::io_error);
  EXPECT_EQ(read_text(out), "old");
  o.overwrite = true;
  ASSERT_OK(conn_->download_file(up.file.id, out, o));
  EXPECT_EQ(read_text(out), "content");
}

TEST_F(Connection, LetsAProgressCallbacksExceptionThrough) {
  std::string path = dir_ / "throws";
  write_bytes(path, random_bytes(1 << 20, 3));
  client::upload_options uo;
  uo.on_progress = [](const client::progress& p) {
    if (p.done > 0) throw std::runtime_error("cancelled by the user");
  };
  EXPECT_THROW((void)conn_->upload_file(path, uo), std::runtime_error);
  // The connection is still usable afterwards.
  EXPECT_OK(conn_->ping());
}

TEST_F(Connection, RoundTripsAFileWithAnUnalignedTailPastTheWriteBuffer) {
  // download_file() writes with O_DIRECT in 8 MiB steps; the last 4097
  // bytes are neither a whole step nor a whole disk block.
  round_trip(random_bytes((8 << 20) + 4097, 11), "unaligned.bin");
}

TEST_F(Connection, LeavesNoPartialFileWhenADownloadStopsMidway) {
  auto up = put(random_bytes(3 << 20, 12), "midway.bin");
  std::string out = dir_ / "midway.down";
  client::download_options o;
  o.on_progress = [](const client::progress& p) {
    if (p.done > 0) throw std::runtime_error("stopped by the user");
  };
  EXPECT_THROW((void)conn_->download_file(up.file.id, out, o),
               std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(out));
  for (auto& e : std::filesystem::directory_iterator(dir_.path()))
    EXPECT_EQ(e.path().string().find(".depot-tmp-"), std::string::npos)
        << e.path();
}

TEST_F(Connection, WritesIntoAFifoInsteadOfReplacingIt) {
  std::string bytes = random_bytes((1 << 20) + 5, 13);
  auto up = put(bytes, "to_fifo.bin");
  std::string fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] { got = read_text(fifo); });
  auto down = conn_->download_file(up.file.id, fifo);
  if (!down.ok()) {  // the reader may still wait for a writer: release it
    int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) ::close(fd);
  }
  reader.join();
  ASSERT_OK(down);
  EXPECT_TRUE(got == bytes) << "the FIFO's reader got other bytes";
  EXPECT_TRUE(std::filesystem::is_fifo(fifo));
}

TEST_F(Connection, DetectsAFileChangedWhileUploadedAndRemovesTheStoredCopy) {
  std::string path = dir_ / "changing.bin";
  write_bytes(path, random_bytes(1 << 20, 14));
  // An old modification time, so that the change below shows even within
  // one tick of the file system's clock.
  std::filesystem::last_write_time(
      path,
      std::filesystem::file_time_type::clock::now() - std::chrono::hours(24));
  bool changed = false;
  client::upload_options uo;
  uo.on_progress = [&](const client::progress& p) {
    if (p.done == 0 || changed) return;
    // Every byte was read already (the window holds the whole file): the
    // server stores what was read, the file on disk is now something else.
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.write("changed", 7);
    changed = true;
  };
  auto up = conn_->upload_file(path, uo);
  ASSERT_TRUE(changed);
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.error().code, errc::io_error);
  EXPECT_EQ(up.error().source, error_source::local);
  EXPECT_NE(up.error().message.find("changed while it was uploaded"),
            std::string::npos)
      << up.error().message;
  EXPECT_NE(up.error().message.find("was removed"), std::string::npos)
      << up.error().message;
  auto page = conn_->list_page(std::nullopt, 10);
  ASSERT_OK(page);
  EXPECT_TRUE(page->files.empty()) << "the stored copy is still listed";
}

TEST_F(Connection, UploadsAFileInOnePassWithItsDigestCheckedEndToEnd) {
  std::string bytes = random_bytes((2 << 20) + 3, 15);
  auto up = put(bytes, "once.bin");
  EXPECT_EQ(up.file.sha256, sha256_hex(bytes));
  EXPECT_EQ(up.file.size, bytes.size());
}

TEST(ConnectionWithoutServer, TimesOutWithATypedError) {
  client::options o;
  o.endpoint = "tcp://127.0.0.1:" + std::to_string(free_tcp_port());
  o.timeout = std::chrono::milliseconds(300);
  auto c = client::connection::open(o);
  ASSERT_OK(c);
  auto start = std::chrono::steady_clock::now();
  auto p = c->ping();
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().source, error_source::timeout);
  EXPECT_EQ(p.error().code_name(), "timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST(ConnectionWithoutServer, RejectsAnEndpointThatDoesNotParse) {
  client::options o;
  o.endpoint = "nonsense://";
  auto c = client::connection::open(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, errc::bad_request);
}

}  // namespace
}  // namespace depot::test
