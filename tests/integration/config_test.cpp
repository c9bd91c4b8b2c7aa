// depotd's settings (depotd/config.hpp): the command line wins over
// DEPOTD_<FLAG> variables, which win over the --config file, which wins over
// the defaults; an unknown key or a bad value is an error naming the key and
// its line (or the variable); --print-config prints what is in effect and
// reads back; SIGHUP applies a new log level and says what waits for a
// restart. Real depotd processes.

#include "testkit/child_process.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/temp_dir.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace depot::test {
namespace {

using namespace std::chrono_literals;

struct run_result {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs depotd to its end (it must end within 10 s).
run_result run_depotd(const std::vector<std::string>& flags,
                      const std::vector<std::string>& env = {}) {
  temp_dir dir;
  std::vector<std::string> argv{depotd_binary()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  spawn_options so;
  so.out = dir / "out";
  so.log = dir / "err";
  so.in = "/dev/null";
  so.env = env;
  pid_t pid = spawn_child(argv, so);
  if (pid < 0) return {};
  auto status = wait_for_exit(pid, 10s);
  if (!status) kill_child(pid);
  return {status.value_or(-1), read_file(dir / "out"), read_file(dir / "err")};
}

void write(const std::string& path, const std::string& text) {
  std::ofstream{path} << text;
}

// The line `key = ...` of --print-config's output, without its comment.
std::string setting_line(const std::string& config, const std::string& key) {
  size_t at = config.find("\n" + key + " = ");
  if (at == std::string::npos) return "(missing)";
  std::string line = config.substr(at + 1, config.find('\n', at + 1) - at - 1);
  return line;
}

TEST(Config, CommandLineBeatsEnvironmentBeatsFileBeatsDefault) {
  DEPOT_ONCE_NOT_PER_STORE();
  temp_dir dir;
  write(dir / "depotd.toml",
        "# depot\n"
        "window = 4\n"
        "chunk_max = 65536          # underscores work too\n"
        "log-level = \"debug\"\n"
        "listen = [\"tcp://127.0.0.1:0\", \"ipc://" +
            dir / "d.sock" +
            "\"]\n"
            "max-uploads = 7\n"
            "insecure = true\n");
  auto r = run_depotd(
      {"--config", dir / "depotd.toml", "--print-config", "--window", "6"},
      {"DEPOTD_WINDOW=5", "DEPOTD_LOG_LEVEL=warn", "DEPOTD_MAX_UPLOADS=9"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(setting_line(r.out, "window"), "window = 6  # command line");
  EXPECT_EQ(setting_line(r.out, "log-level"),
            "log-level = \"warn\"  # DEPOTD_LOG_LEVEL");
  EXPECT_EQ(setting_line(r.out, "max-uploads"),
            "max-uploads = 9  # DEPOTD_MAX_UPLOADS");
  EXPECT_EQ(setting_line(r.out, "chunk-max"),
            "chunk-max = 65536  # " + dir / "depotd.toml" + ":3");
  EXPECT_EQ(setting_line(r.out, "listen"),
            "listen = [\"tcp://127.0.0.1:0\", \"ipc://" + dir / "d.sock" +
                "\"]  # " + dir / "depotd.toml" + ":5");
  EXPECT_EQ(setting_line(r.out, "insecure"),
            "insecure = true  # " + dir / "depotd.toml" + ":7");
  EXPECT_EQ(setting_line(r.out, "store"), "store = \"posix\"  # default");
  EXPECT_EQ(setting_line(r.out, "root"), "root = \"./data\"  # default");

  // The config file given by $DEPOTD_CONFIG; a list from a variable.
  r = run_depotd({"--print-config"},
                 {"DEPOTD_CONFIG=" + dir / "depotd.toml",
                  "DEPOTD_LISTEN=tcp://127.0.0.1:1 tcp://127.0.0.1:2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(setting_line(r.out, "window"),
            "window = 4  # " + dir / "depotd.toml" + ":2");
  EXPECT_EQ(setting_line(r.out, "listen"),
            "listen = [\"tcp://127.0.0.1:1\", \"tcp://127.0.0.1:2\"]  # "
            "DEPOTD_LISTEN");
}

TEST(Config, TheFileSettingsTakeEffectInTheServer) {
  temp_dir dir;
  write(dir / "depotd.toml",
        "chunk-max = 65536\nroot = \"" + dir / "store" + "\"\n");
  depotd_options o;
  o.root = dir / "ignored";  // the kit's --root; the file's root loses to it
  o.flags = {"--config", dir / "depotd.toml"};
  o.env = {"DEPOTD_WINDOW=3"};
  test_depotd d{o};
  auto c = d.client();
  auto pong = as<schema::ping_reply>(c->call(schema::ping_request{}));
  EXPECT_EQ(pong.chunk_max, 65536u);
  EXPECT_NE(d.log().find("window=3 "), std::string::npos);
  EXPECT_NE(d.log().find("configuration: " + dir / "depotd.toml"),
            std::string::npos);
}

TEST(Config, ErrorsNameTheKeyAndTheLineOrTheVariable) {
  DEPOT_ONCE_NOT_PER_STORE();
  temp_dir dir;
  struct bad_file {
    std::string text;
    std::string error;
  };
  const std::string f = dir / "bad.toml";
  std::vector<bad_file> cases{
      {"window = 4\n\nchunk-mx = 3\n",
       f + ":3: unknown key 'chunk-mx' (did you mean chunk-max?)"},
      {"# x\nchunk-max = 0\n",
       f + ":2: key 'chunk-max': --chunk-max: Value 0 not in range"},
      {"store = \"nfs\"\n", f + ":1: key 'store': --store: nfs not in"},
      {"window = 3\nwindow = 4\n",
       f + ":2: key 'window' set twice (first on line 1)"},
      {"window = 3\nwindow_ = 4\nchunk_max = 5\nchunk-max = 6\n",
       f + ":2: unknown key 'window_'"},
      {"chunk_max = 65536\nchunk-max = 65536\n",
       f + ":2: key 'chunk-max' set twice (first on line 1)"},
      {"[server]\nwindow = 3\n", f + ":1: sections are not used: [server]"},
      {"window = 3\njust words\n",
       f + ":2: expected `key = value`, found: just words"},
      {"root = \"/srv/depot\n", f + ":1: key 'root': unterminated string"},
      {"window = [1, 2]\n", f + ":1: key 'window' takes one value"},
      {"config = \"other.toml\"\n",
       f + ":1: 'config' cannot be set in a config file"},
      {"rados-lease = 1\n", f + ":1: key 'rados-lease': --rados-lease"},
      {"listen = \"tcp://0.0.0.0:5570\"\n",
       f + ":1: key 'listen': --listen: refusing to listen on "
           "tcp://0.0.0.0:5570 without CURVE"},
  };
  for (const auto& [text, error] : cases) {
    write(f, text);
    auto r = run_depotd({"--config", f});
    EXPECT_EQ(r.status, 2) << text;
    EXPECT_NE(r.err.find("depotd: " + error), std::string::npos)
        << "file:\n"
        << text << "stderr:\n"
        << r.err;
  }
  auto r = run_depotd({"--config", dir / "missing.toml"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(dir / "missing.toml" + ": No such file or directory"),
            std::string::npos)
      << r.err;
  r = run_depotd({}, {"DEPOTD_WINDOW=many"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("environment variable DEPOTD_WINDOW: --window"),
            std::string::npos)
      << r.err;
  r = run_depotd({}, {"DEPOTD_WINDWO=4"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("environment variable DEPOTD_WINDWO names no depotd "
                       "flag (did you mean window?)"),
            std::string::npos)
      << r.err;
  // A bad value the command line overrides is never read.
  write(f, "window = 0\n");
  r = run_depotd({"--config", f, "--window", "2", "--print-config"});
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(Config, PrintConfigReadsBack) {
  DEPOT_ONCE_NOT_PER_STORE();
  temp_dir dir;
  auto first = run_depotd({"--print-config", "--listen", "tcp://127.0.0.1:0",
                           "--root", dir / "a \"quoted\" root", "--window", "9",
                           "--idle-timeout", "5", "--insecure"});
  ASSERT_EQ(first.status, 0) << first.err;
  write(dir / "printed.toml", first.out);
  auto second =
      run_depotd({"--config", dir / "printed.toml", "--print-config"});
  ASSERT_EQ(second.status, 0) << second.err;
  // Same settings; only the sources differ (the file's lines now).
  auto values = [](const std::string& text) {
    std::string out;
    size_t at = 0;
    while (at < text.size()) {
      size_t end = text.find('\n', at);
      std::string line = text.substr(at, end - at);
      at = end == std::string::npos ? text.size() : end + 1;
      if (line.empty() || line[0] == '#') continue;
      out += line.substr(0, line.find("  # ")) + "\n";
    }
    return out;
  };
  EXPECT_EQ(values(first.out), values(second.out));
  EXPECT_NE(values(first.out).find("window = 9\n"), std::string::npos);
  EXPECT_NE(values(first.out).find("idle-timeout = 5\n"), std::string::npos);
  EXPECT_NE(second.out.find("window = 9  # " + dir / "printed.toml:"),
            std::string::npos);
}

TEST(Config, SighupAppliesTheLogLevelAndNamesWhatNeedsARestart) {
  temp_dir dir;
  const std::string f = dir / "depotd.toml";
  write(f, "log-level = \"info\"\n");
  depotd_options o;
  o.flags = {"--config", f};
  test_depotd d{o};
  auto c = d.client();
  // A `list` is logged at debug only.
  auto listed = [&] {
    size_t before = d.log().size();
    EXPECT_EQ(code(c->call(schema::list_request{})), "ok");
    // The line, if any, is written before the reply is sent.
    return d.log().find("[debug] list", before) != std::string::npos;
  };
  EXPECT_FALSE(listed());

  write(f, "log-level = \"debug\"\nwindow = 3\n");
  size_t before = d.log().size();
  reload(d);
  std::string log = d.log().substr(before);
  EXPECT_NE(log.find("SIGHUP: log-level = \"debug\" (" + f +
                     ":1), was "
                     "\"info\""),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("SIGHUP: window = 3 (" + f +
                     ":2) takes effect at the next start; still 16"),
            std::string::npos)
      << log;
  EXPECT_TRUE(listed()) << "no debug line after SIGHUP set log-level debug";

  // A broken file changes nothing.
  write(f, "log-level = \"warn\"\nwindw = 3\n");
  before = d.log().size();
  reload(d);
  log = d.log().substr(before);
  EXPECT_NE(log.find("SIGHUP: nothing changed, the configuration has an "
                     "error: depotd: " +
                     f + ":2: unknown key 'windw'"),
            std::string::npos)
      << log;
  EXPECT_TRUE(listed()) << "still at debug";

  // Back to info: debug lines stop.
  write(f, "log-level = \"info\"\n");
  reload(d);
  EXPECT_FALSE(listed());
  EXPECT_EQ(as<schema::ping_reply>(c->call(schema::ping_request{})).chunk_max,
            1048576u);
}

}  // namespace
}  // namespace depot::test
