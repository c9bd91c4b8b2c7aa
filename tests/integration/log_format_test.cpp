// README "Logs": depotd --log-format json writes one JSON object per line
// (logging/log.hpp), with the fields of each operation; text, the default,
// carries the same fields as key=value; any other format is refused. Real
// depotd processes over loopback; every line of their output is read back
// by Python's json module (tests/logging/json_lines.hpp).

#include "testkit/child_process.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/temp_dir.hpp"
#include "testkit/wire_client.hpp"
#include "tests/logging/json_lines.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace depot::test {
namespace {

using namespace std::chrono_literals;
namespace jl = json_lines;

// Waits up to 5 s until every one of `needles` is in d's log.
void await_log(const depotd_process& d,
               const std::vector<std::string>& needles) {
  for (int i = 0; i < 500; ++i) {
    std::string log = d.log();
    bool all = true;
    for (const auto& n : needles) all = all && log.find(n) != std::string::npos;
    if (all) return;
    std::this_thread::sleep_for(10ms);
  }
  ADD_FAILURE() << "depotd did not log all of what was expected";
}

// The lines whose msg is `msg`.
std::vector<jl::line> with_msg(const jl::result& r, const std::string& msg) {
  std::vector<jl::line> out;
  for (const auto& l : r.lines) {
    auto it = l.find("msg");
    if (it != l.end() && it->second.value == msg) out.push_back(l);
  }
  return out;
}

const std::string& value_of(const jl::line& l, const std::string& key) {
  static const std::string none = "(missing)";
  auto it = l.find(key);
  return it == l.end() ? none : it->second.value;
}

const std::string& type_of(const jl::line& l, const std::string& key) {
  static const std::string none = "(missing)";
  auto it = l.find(key);
  return it == l.end() ? none : it->second.type;
}

TEST(LogFormat, JsonWritesEveryLineAsJsonWithEachOperationsFields) {
  test_depotd d({"--log-format", "json", "--log-level", "debug",
                 "--max-uploads-per-client", "1"});
  wire_client c(d.endpoint());
  // An upload held open, a second one refused (busy, rate-limited line),
  // then the first aborted.
  std::string held = begin_upload(c, "held.bin");
  schema::upload_request second;
  second.name = "refused.bin";
  auto refused = c.call(second);
  EXPECT_EQ(code(refused), "busy") << describe(refused);
  EXPECT_EQ(code(c.call(schema::abort_request{held})), "ok");
  // An upload, its download, a stat, a delete, a request that is no request.
  std::string content(10000, 'x');
  for (size_t i = 0; i < content.size(); ++i) content[i] = char(i * 7);
  auto meta = store_content(c, content);
  EXPECT_EQ(download_all(c, meta.id, 4096), content);
  EXPECT_EQ(code(stat_of(c, meta.id)), "ok");
  auto deleted = c.call(schema::delete_request{meta.id});
  EXPECT_EQ(as<schema::delete_reply>(deleted).refs, 0u);
  c.send_frames({"\xc1 not msgpack\n\"{"});
  EXPECT_FALSE(c.receive_frames().empty());
  await_log(d, {"\"upload stored\"", "\"file deleted\"", "\"upload aborted\"",
                "request refused\"", "busy: uploads per client"});

  auto r = jl::check_file(d.log_path());
  ASSERT_EQ(r.error, "") << d.log();
  ASSERT_GE(r.lines.size(), 8u);

  auto serving = r.lines[0];
  for (const auto& l : r.lines)
    if (value_of(l, "msg").rfind("depotd serving on ", 0) == 0) serving = l;
  EXPECT_EQ(value_of(serving, "msg"), "depotd serving on " + d.endpoint());
  EXPECT_EQ(type_of(serving, "chunk_max"), "int");
  EXPECT_EQ(type_of(serving, "threads"), "int");
  if (test_store() == "posix") {
    EXPECT_EQ(value_of(serving, "store"), "posix");
    EXPECT_EQ(value_of(serving, "root"), d.root());
  }

  auto stored = with_msg(r, "upload stored");
  ASSERT_EQ(stored.size(), 1u) << d.log();
  const auto& up = stored[0];
  EXPECT_EQ(value_of(up, "level"), "info");
  EXPECT_EQ(value_of(up, "id"), meta.id);
  EXPECT_EQ(type_of(up, "bytes"), "int");
  EXPECT_EQ(value_of(up, "bytes"), "10000");
  EXPECT_EQ(type_of(up, "dedup"), "bool");
  EXPECT_EQ(value_of(up, "dedup"), "False");
  EXPECT_EQ(type_of(up, "duration_ms"), "float");
  EXPECT_EQ(type_of(up, "token"), "str");
  EXPECT_EQ(value_of(up, "token").size(), 32u) << "128 bits in hex";
  EXPECT_EQ(value_of(up, "peer").size(), 10u) << "a 5-byte routing id in hex";
  EXPECT_EQ(type_of(up, "key"), "(missing)") << "no CURVE, no key";

  auto aborted = with_msg(r, "upload aborted");
  ASSERT_EQ(aborted.size(), 1u) << d.log();
  EXPECT_EQ(value_of(aborted[0], "token"), held);
  EXPECT_EQ(value_of(aborted[0], "reason"), "client");
  EXPECT_EQ(value_of(aborted[0], "peer"), value_of(up, "peer"))
      << "one connection, one peer";
  EXPECT_NE(value_of(aborted[0], "token"), value_of(up, "token"));

  auto deletes = with_msg(r, "file deleted");
  ASSERT_EQ(deletes.size(), 1u);
  EXPECT_EQ(value_of(deletes[0], "id"), meta.id);
  EXPECT_EQ(type_of(deletes[0], "refs"), "int");
  EXPECT_EQ(value_of(deletes[0], "refs"), "0");

  uint64_t downloaded = 0;
  for (const auto& l : with_msg(r, "download")) {
    EXPECT_EQ(value_of(l, "level"), "debug");
    EXPECT_EQ(value_of(l, "id"), meta.id);
    downloaded += std::stoull(value_of(l, "bytes"));
  }
  EXPECT_EQ(downloaded, content.size());
  auto stats = with_msg(r, "stat");
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(value_of(stats[0], "size"), "10000");

  auto bad = with_msg(r, "depot transport: request refused");
  ASSERT_EQ(bad.size(), 1u) << d.log();
  EXPECT_EQ(type_of(bad[0], "code"), "str");
  EXPECT_EQ(type_of(bad[0], "error"), "str");

  auto busy = with_msg(
      r,
      "busy: uploads per client: a client reached --max-uploads-per-client; "
      "its new uploads refused");
  ASSERT_EQ(busy.size(), 1u) << d.log();
  EXPECT_EQ(value_of(busy[0], "level"), "warn");
  EXPECT_EQ(value_of(busy[0], "cause"), "busy: uploads per client");
  EXPECT_EQ(type_of(busy[0], "occurrences"), "int");
  EXPECT_EQ(value_of(busy[0], "occurrences"), "1");
}

TEST(LogFormat, TextIsTheDefaultAndCarriesTheSameFields) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto meta = store_content(c, "some text content");
  await_log(d, {"upload stored id=" + meta.id});
  std::string log = d.log();
  auto at = log.find("] [info] upload stored id=" + meta.id + " token=");
  ASSERT_NE(at, std::string::npos) << log;
  std::string line = log.substr(at, log.find('\n', at) - at);
  EXPECT_NE(line.find(" bytes=17 dedup=false duration_ms="), std::string::npos)
      << line;
  EXPECT_NE(line.find(" peer="), std::string::npos) << line;
  EXPECT_EQ(log.find("{\"time\""), std::string::npos) << "no json in text";
}

TEST(LogFormat, AFormatOtherThanTextOrJsonIsRefusedWithStatus2) {
  temp_dir dir;
  spawn_options o;
  o.log = dir / "log";
  pid_t pid = spawn_child({depotd_binary(), "--root", dir / "root", "--listen",
                           "tcp://127.0.0.1:0", "--log-format", "xml"},
                          o);
  ASSERT_GT(pid, 0);
  auto rc = wait_for_exit(pid, 10s);
  if (!rc) kill_child(pid);
  EXPECT_EQ(rc, 2);
  EXPECT_NE(read_file(dir / "log").find("--log-format"), std::string::npos)
      << read_file(dir / "log");
}

}  // namespace
}  // namespace depot::test
