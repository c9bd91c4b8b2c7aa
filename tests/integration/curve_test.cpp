// docs/protocol.md section 1, Security (CURVE): depotd started with
// --curve-secret-key and --curve-clients admits exactly the keys in that
// directory, checks every request against the keys of the moment (SIGHUP
// re-reads them) and their roles, counts per-client limits by key, and
// refuses to listen on a public address without CURVE unless told
// --insecure. Real depotd processes over loopback; clients are raw DEALERs
// holding keys (testkit/curve_keys.hpp).

#include "testkit/child_process.hpp"
#include "testkit/curve_keys.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

namespace depot::test {
namespace {

using namespace std::chrono_literals;

// A depotd with CURVE on: `keys` admitted, client "writer" added and used
// for the kit's own ping.
depotd_options curve_server(curve_keys& keys,
                            std::vector<std::string> more_flags = {}) {
  keys.add_client("writer");
  depotd_options o;
  o.flags = keys.flags();
  o.flags.insert(o.flags.end(), more_flags.begin(), more_flags.end());
  o.client_setup = keys.as("writer");
  return o;
}

// True if `c` gets an answer to a ping within `limit`. The ping is sent
// without waiting: after a failed handshake libzmq may have no pipe left to
// queue it on, which also means no answer.
bool answers_ping(wire_client& c, std::chrono::milliseconds limit = 1500ms) {
  auto header = header_frame({999999, schema::ping_request{}});
  if (!c.socket().send(header, zmq::send_flags::dontwait)) return false;
  zmq::pollitem_t item{c.socket().handle(), 0, ZMQ_POLLIN, 0};
  return zmq::poll(&item, 1, limit) > 0;
}

TEST(Curve, AnAdmittedKeyUploadsAndDownloads) {
  curve_keys keys;
  test_depotd d{curve_server(keys)};
  wire_client c{d.endpoint(), keys.as("writer")};
  std::string content(3 << 20, 'x');
  for (size_t i = 0; i < content.size(); i += 4096) content[i] = char(i >> 12);
  auto meta = store_content(c, content);
  EXPECT_EQ(download_all(c, meta.id), content);
  EXPECT_EQ(code(stat_of(c, meta.id)), "ok");
}

TEST(Curve, UnknownKeysNullAndPlainClientsGetNothingAndTheServerGoesOn) {
  curve_keys keys;
  test_depotd d{curve_server(keys)};
  auto unknown = curve_keys::stranger();
  wire_client stranger{d.endpoint(), keys.as(unknown)};
  wire_client null_client{d.endpoint()};
  wire_client plain{d.endpoint(), [](zmq::socket_t& s) {
                      s.set(zmq::sockopt::plain_username, "writer");
                      s.set(zmq::sockopt::plain_password, "secret");
                    }};
  // Right client key, wrong server key: the server cannot open its hello.
  wire_client wrong_server{
      d.endpoint(),
      curve_client(curve_keys::stranger().public_key, keys.client("writer"))};
  EXPECT_FALSE(answers_ping(stranger));
  EXPECT_FALSE(answers_ping(null_client, 300ms));
  EXPECT_FALSE(answers_ping(plain, 300ms));
  EXPECT_FALSE(answers_ping(wrong_server, 300ms));
  wire_client writer{d.endpoint(), keys.as("writer")};
  EXPECT_EQ(code(writer.call(schema::ping_request{})), "ok");
  auto meta = store_content(writer, "still serving");
  EXPECT_EQ(download_all(writer, meta.id), "still serving");
  EXPECT_NE(d.log().find("refused a CURVE client whose key is not in "
                         "--curve-clients: " +
                         unknown.public_key),
            std::string::npos);
}

TEST(Curve, AKeyRemovedBySighupIsRefusedOnItsOpenConnection) {
  curve_keys keys;
  keys.add_client("alice");
  test_depotd d{curve_server(keys)};
  wire_client alice{d.endpoint(), keys.as("alice")};
  auto meta = store_content(alice, "alice's file");

  keys.remove_client("alice");
  reload(d);
  EXPECT_NE(d.log().find("client key removed: alice"), std::string::npos);
  // The same connection, opened while the key was admitted.
  auto r = alice.call(schema::stat_request{meta.id});
  EXPECT_EQ(code(r), "unauthorized") << describe(r);
  EXPECT_EQ(code(alice.call(schema::ping_request{})), "unauthorized");
  // A request that does not even decode is refused as unauthorized too.
  alice.send_frames({"\x81\xa3rid\x07"});  // {"rid": 7}, no op
  EXPECT_EQ(code(decode_frames(alice.receive_frames(), "ping")),
            "unauthorized");
  // A new connection with the removed key does not get in.
  wire_client again{d.endpoint(), keys.as(keys.client("alice"))};
  EXPECT_FALSE(answers_ping(again));
  // Other keys are untouched; the file is still there.
  wire_client writer{d.endpoint(), keys.as("writer")};
  EXPECT_EQ(download_all(writer, meta.id), "alice's file");

  // Admitted again: new connections get in.
  keys.add_client("alice");
  reload(d);
  wire_client back{d.endpoint(), keys.as("alice")};
  EXPECT_EQ(code(back.call(schema::ping_request{})), "ok");
}

TEST(Curve, AReadKeyReadsButCannotChangeAnything) {
  curve_keys keys;
  keys.add_client("reader", "read");
  test_depotd d{curve_server(keys)};
  wire_client writer{d.endpoint(), keys.as("writer")};
  auto meta = store_content(writer, "for reading");
  wire_client reader{d.endpoint(), keys.as("reader")};

  EXPECT_EQ(code(reader.call(schema::ping_request{})), "ok");
  EXPECT_EQ(download_all(reader, meta.id), "for reading");
  EXPECT_EQ(code(stat_of(reader, meta.id)), "ok");
  EXPECT_EQ(code(reader.call(schema::list_request{{}, 10})), "ok");

  auto up = reader.call(schema::upload_request{"x.bin", 1, {}, {}});
  EXPECT_EQ(code(up), "forbidden") << describe(up);
  EXPECT_EQ(code(reader.call(schema::delete_request{meta.id})), "forbidden");
  // Uploads begun by a writer cannot be continued, queried or aborted
  // with a read key either.
  auto begun = as<schema::upload_reply>(
      writer.call(schema::upload_request{"y.bin", 1, {}, {}}));
  EXPECT_EQ(code(reader.call(schema::chunk_request{
                begun.upload, 0, true, schema::buffer::copy_of("y")})),
            "forbidden");
  EXPECT_EQ(code(reader.call(schema::upload_status_request{begun.upload})),
            "forbidden");
  EXPECT_EQ(code(reader.call(schema::abort_request{begun.upload})),
            "forbidden");
  // Nothing changed: one file, one reference; the writer's upload lives.
  EXPECT_EQ(as<schema::stat_reply>(stat_of(writer, meta.id)).file.refs, 1u);
  EXPECT_EQ(code(writer.call(schema::upload_status_request{begun.upload})),
            "ok");
}

TEST(Curve, PerClientLimitsCountAllConnectionsOfAKey) {
  curve_keys keys;
  keys.add_client("other");
  test_depotd d{curve_server(keys, {"--max-uploads-per-client", "2"})};
  std::vector<std::unique_ptr<wire_client>> conns;
  for (int i = 0; i < 3; ++i)
    conns.push_back(
        std::make_unique<wire_client>(d.endpoint(), keys.as("writer")));
  EXPECT_EQ(code(conns[0]->call(schema::upload_request{"a", 1, {}, {}})), "ok");
  EXPECT_EQ(code(conns[1]->call(schema::upload_request{"b", 1, {}, {}})), "ok");
  // A third connection of the same key does not escape the limit.
  auto r = conns[2]->call(schema::upload_request{"c", 1, {}, {}});
  EXPECT_EQ(code(r), "busy") << describe(r);
  // Another key has its own account.
  wire_client other{d.endpoint(), keys.as("other")};
  EXPECT_EQ(code(other.call(schema::upload_request{"d", 1, {}, {}})), "ok");
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream{path} << text;
}

// The connection guard counts what ZeroMQ holds for a connection as bytes
// received less the wire bytes of complete requests; CURVE adds 33 bytes to
// every frame. Uncounted, 10,000 pings (330 KB of it) would pass this
// --peer-memory-limit and the connection would be dropped.
TEST(Curve, ManySmallRequestsOnOneConnectionAreNotMistakenForHeldBytes) {
  curve_keys keys;
  test_depotd d{curve_server(keys, {"--peer-memory-limit", "131072"})};
  wire_client c{d.endpoint(), keys.as("writer")};
  for (int round = 0; round < 20; ++round) {
    std::map<uint64_t, int> rids;
    for (int i = 0; i < 500; ++i) rids[c.send(schema::ping_request{})] = 0;
    while (!rids.empty()) {
      auto [rid, r] = c.receive_any_of(rids);
      ASSERT_EQ(code(r), "ok");
      rids.erase(rid);
    }
    // Let the guard's once-a-second check see the connection.
    std::this_thread::sleep_for(150ms);
  }
  EXPECT_EQ(code(c.call(schema::ping_request{})), "ok");
  EXPECT_EQ(d.log().find("dropped"), std::string::npos) << d.log_tail();
}

// Runs depotd with `args` and expects it to exit at once, non-zero; returns
// its log.
std::string refused_start(const std::vector<std::string>& args) {
  temp_dir dir;
  std::vector<std::string> argv{depotd_binary(), "--root", dir / "root"};
  argv.insert(argv.end(), args.begin(), args.end());
  spawn_options o;
  o.log = dir / "log";
  pid_t pid = spawn_child(argv, o);
  EXPECT_GT(pid, 0);
  auto rc = wait_for_exit(pid, 10s);
  if (!rc) kill_child(pid);
  EXPECT_TRUE(rc) << "depotd started";
  if (rc) {
    EXPECT_NE(*rc, 0);
  }
  return read_file(dir / "log");
}

TEST(Curve, DepotdRefusesAPublicAddressWithoutCurve) {
  auto log = refused_start({"--listen", "tcp://0.0.0.0:0"});
  EXPECT_NE(log.find("refusing to listen on tcp://0.0.0.0:0 without CURVE"),
            std::string::npos)
      << log;
  log =
      refused_start({"--listen", "tcp://127.0.0.1:0", "--listen", "tcp://*:0"});
  EXPECT_NE(log.find("tcp://*:0"), std::string::npos) << log;
}

TEST(Curve, InsecureListensOnAPublicAddressAndSaysSo) {
  depotd_options o;
  o.listen = "tcp://0.0.0.0:0";
  o.flags = {"--insecure"};
  test_depotd d{o};
  EXPECT_NE(d.log().find("--insecure: listening on tcp://0.0.0.0:0 without "
                         "CURVE"),
            std::string::npos);
}

TEST(Curve, CurveListensOnAPublicAddress) {
  curve_keys keys;
  auto o = curve_server(keys);
  o.listen = "tcp://0.0.0.0:0";
  test_depotd d{o};
  EXPECT_EQ(d.log().find("--insecure"), std::string::npos);
}

TEST(Curve, BadKeyFilesStopTheStartNamingTheFile) {
  curve_keys keys;
  // The server's secret key readable by others.
  ::chmod(keys.server_secret_file().c_str(), 0644);
  auto log = refused_start(keys.flags());
  EXPECT_NE(log.find(keys.server_secret_file()), std::string::npos) << log;
  EXPECT_NE(log.find("chmod 600"), std::string::npos) << log;
  ::chmod(keys.server_secret_file().c_str(), 0600);

  // A public certificate where the secret one should be.
  log = refused_start({"--curve-secret-key", keys.clients_dir() + "/x.key",
                       "--curve-clients", keys.clients_dir()});
  EXPECT_NE(log.find("x.key"), std::string::npos) << log;

  // A client certificate that does not parse.
  write_file(keys.clients_dir() + "/broken.key",
             "curve\n    public-key = \"short\"\n");
  log = refused_start(keys.flags());
  EXPECT_NE(log.find(keys.clients_dir() + "/broken.key"), std::string::npos)
      << log;
  EXPECT_NE(log.find("line 2"), std::string::npos) << log;
  std::filesystem::remove(keys.clients_dir() + "/broken.key");

  // A role depot does not know.
  write_file(keys.clients_dir() + "/admin.key",
             curve::certificate_text(
                 curve::generate_certificate({{"role", "admin"}}), false));
  log = refused_start(keys.flags());
  EXPECT_NE(log.find("admin.key: role \"admin\""), std::string::npos) << log;
  std::filesystem::remove(keys.clients_dir() + "/admin.key");

  // No clients directory; and one flag without the other.
  log = refused_start({"--curve-secret-key", keys.server_secret_file(),
                       "--curve-clients", keys.clients_dir() + "/none"});
  EXPECT_NE(log.find(keys.clients_dir() + "/none"), std::string::npos) << log;
  log = refused_start({"--curve-secret-key", keys.server_secret_file()});
  EXPECT_NE(log.find("--curve-clients"), std::string::npos) << log;
}

}  // namespace
}  // namespace depot::test
