// The `depot` CLI against a real depotd: human and JSON output, exit
// statuses, --help.

#include "tests/client/mini_json.hpp"
#include "tests/client/support.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace depot::test {
namespace {

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.emplace(std::vector<std::string>{"--chunk-max", "262144"});
    ASSERT_TRUE(server_->start());
  }

  cli_run depot(const std::vector<std::string>& args,
                const std::string& in = {}) {
    return run_cli(dir_, server_->endpoint(), args, in);
  }

  // Runs with --json and parses stdout; fails the test on a bad document.
  json::value depot_json(std::vector<std::string> args, int want_status = 0) {
    args.insert(args.begin(), "--json");
    cli_run r = depot(args);
    EXPECT_EQ(r.status, want_status) << r.err;
    try {
      return json::parse(r.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what() << " in: " << r.out;
      return {};
    }
  }

  temp_dir dir_;
  std::optional<depotd> server_;
};

TEST_F(Cli, UploadsListsDownloadsAndRemovesWithJsonOutput) {
  std::string small = "hello depot\n";
  std::string big = random_bytes((3 << 20) + 17, 31);
  write_bytes(dir_ / "hello.txt", small);
  write_bytes(dir_ / "big.bin", big);
  write_bytes(dir_ / "empty", "");

  json::value up = depot_json(
      {"upload", dir_ / "hello.txt", dir_ / "big.bin", dir_ / "empty"});
  ASSERT_EQ(up.arr().size(), 3u);
  EXPECT_EQ(up.arr()[0]["file"]["id"].str(), "rbWeBrTIp1Js");
  EXPECT_EQ(up.arr()[0]["file"]["name"].str(), "hello.txt");
  EXPECT_EQ(up.arr()[0]["file"]["size"].number(), small.size());
  EXPECT_EQ(up.arr()[0]["dedup"].boolean(), false);
  EXPECT_EQ(up.arr()[1]["file"]["sha256"].str(), sha256_hex(big));
  EXPECT_EQ(up.arr()[2]["file"]["id"].str(), "nciB6WIL2fIa");
  for (const char* key :
       {"id", "name", "size", "sha256", "mime", "created", "refs"})
    EXPECT_TRUE(up.arr()[1]["file"].has(key)) << key;
  std::string big_id = up.arr()[1]["file"]["id"].str();

  json::value ls = depot_json({"ls"});
  ASSERT_EQ(ls["files"].arr().size(), 3u);
  EXPECT_TRUE(ls["next"].is_null());
  json::value page = depot_json({"ls", "--limit", "2"});
  EXPECT_EQ(page["files"].arr().size(), 2u);
  EXPECT_FALSE(page["next"].is_null());
  json::value all = depot_json({"ls", "--limit", "1", "--all"});
  EXPECT_EQ(all["files"].arr().size(), 3u);

  json::value st = depot_json({"stat", big_id});
  EXPECT_EQ(st["size"].number(), big.size());
  EXPECT_EQ(st["refs"].number(), 1u);

  std::string out = dir_ / "big.down";
  json::value down = depot_json({"download", big_id, "-o", out});
  EXPECT_EQ(down["path"].str(), out);
  EXPECT_TRUE(read_text(out) == big);

  json::value rm = depot_json({"rm", big_id});
  EXPECT_EQ(rm["id"].str(), big_id);
  EXPECT_EQ(rm["refs"].number(), 0u);

  json::value gone = depot_json({"stat", big_id}, 1);
  EXPECT_EQ(gone["error"].str(), "not_found");
  EXPECT_FALSE(gone["message"].str().empty());
}

TEST_F(Cli, PrintsHumanOutputAndNoProgressBarWhenNotATerminal) {
  write_bytes(dir_ / "notes.txt", "some notes\n");
  cli_run up = depot({"upload", dir_ / "notes.txt"});
  ASSERT_EQ(up.status, 0) << up.err;
  EXPECT_EQ(up.err, "");
  std::string id = up.out.substr(0, 12);
  EXPECT_NE(up.out.find("notes.txt"), std::string::npos) << up.out;

  cli_run ls = depot({"ls"});
  ASSERT_EQ(ls.status, 0) << ls.err;
  EXPECT_NE(ls.out.find(id), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("notes.txt"), std::string::npos) << ls.out;

  cli_run st = depot({"stat", id});
  ASSERT_EQ(st.status, 0) << st.err;
  EXPECT_NE(st.out.find("sha256   " + sha256_hex("some notes\n")),
            std::string::npos)
      << st.out;

  // Without -o: the stored name, in the working directory (the temp dir).
  std::filesystem::remove(dir_ / "notes.txt");
  cli_run down = depot({"download", id});
  ASSERT_EQ(down.status, 0) << down.err;
  EXPECT_EQ(down.err, "");
  EXPECT_EQ(read_text(dir_ / "notes.txt"), "some notes\n");
  cli_run again = depot({"download", id});
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  cli_run forced = depot({"download", id, "--force"});
  EXPECT_EQ(forced.status, 0) << forced.err;
  // -o DIR: the stored name inside DIR.
  std::filesystem::create_directory(dir_ / "sub");
  cli_run into = depot({"download", id, "-o", dir_ / "sub"});
  EXPECT_EQ(into.status, 0) << into.err;
  EXPECT_EQ(read_text(dir_ / "sub/notes.txt"), "some notes\n");

  cli_run to_stdout = depot({"download", id, "-o", "-"});
  ASSERT_EQ(to_stdout.status, 0) << to_stdout.err;
  EXPECT_EQ(to_stdout.out, "some notes\n");

  cli_run rm = depot({"rm", id});
  ASSERT_EQ(rm.status, 0) << rm.err;
  EXPECT_NE(rm.out.find("deleted " + id), std::string::npos) << rm.out;

  cli_run ping = depot({"ping"});
  EXPECT_EQ(ping.status, 0) << ping.err;
  EXPECT_NE(ping.out.find("protocol 1"), std::string::npos) << ping.out;
}

TEST_F(Cli, UploadsStandardInputUnderTheGivenName) {
  std::string bytes = random_bytes(300000, 32);
  write_bytes(dir_ / "input", bytes);
  cli_run up = depot({"--json", "upload", "-", "--name", "from-stdin.bin",
                      "--mime", "application/x-test"},
                     dir_ / "input");
  ASSERT_EQ(up.status, 0) << up.err;
  json::value v = json::parse(up.out);
  EXPECT_EQ(v.arr()[0]["file"]["name"].str(), "from-stdin.bin");
  EXPECT_EQ(v.arr()[0]["file"]["mime"].str(), "application/x-test");
  EXPECT_EQ(v.arr()[0]["file"]["sha256"].str(), sha256_hex(bytes));
}

TEST_F(Cli, ExitsWithOneAndTheServersCodeOnNotFound) {
  for (const char* cmd : {"stat", "rm", "download"}) {
    cli_run r = depot({cmd, "AAAAAAAAAAAA"});
    EXPECT_EQ(r.status, 1) << cmd;
    EXPECT_NE(r.err.find("error: not_found: "), std::string::npos)
        << cmd << ": " << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "AAAAAAAAAAAA"));
  }
}

TEST_F(Cli, ExitsWithOneWhenAnUploadFails) {
  cli_run r = depot({"upload", dir_ / "no-such-file"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("io_error"), std::string::npos) << r.err;
}

TEST_F(Cli, TakesTheServerFromTheFlagOverTheEnvironment) {
  // DEPOT_SERVER points nowhere; --server wins.
  std::string nowhere = "tcp://127.0.0.1:" + std::to_string(free_tcp_port());
  cli_run r = run_cli(dir_, nowhere, {"--server", server_->endpoint(), "ping"});
  EXPECT_EQ(r.status, 0) << r.err;
  cli_run t = run_cli(dir_, nowhere, {"--timeout", "0.3", "ping"});
  EXPECT_EQ(t.status, 1);
  EXPECT_NE(t.err.find("error: timeout: "), std::string::npos) << t.err;
}

TEST(CliUsage, HelpForEveryCommandAndExitTwoOnMisuse) {
  temp_dir dir;
  for (std::vector<std::string> args : {std::vector<std::string>{"--help"},
                                        {"upload", "--help"},
                                        {"download", "--help"},
                                        {"stat", "--help"},
                                        {"rm", "--help"},
                                        {"ls", "--help"},
                                        {"ping", "--help"}}) {
    cli_run r = run_cli(dir, "", args);
    EXPECT_EQ(r.status, 0) << args[0];
    EXPECT_NE(r.out.find("Usage:"), std::string::npos) << args[0] << r.out;
  }
  EXPECT_EQ(run_cli(dir, "", {}).status, 2);
  EXPECT_EQ(run_cli(dir, "", {"frobnicate"}).status, 2);
  EXPECT_EQ(run_cli(dir, "", {"stat"}).status, 2);
  EXPECT_EQ(run_cli(dir, "", {"ls", "--limit", "0"}).status, 2);
  EXPECT_EQ(run_cli(dir, "", {"upload", "a", "b", "--name", "x"}).status, 2);
}

}  // namespace
}  // namespace depot::test
