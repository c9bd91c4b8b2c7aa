// CURVE end to end: the client library and the `depot` CLI against a real
// depotd started with --curve-secret-key and --curve-clients (docs/
// protocol.md, "Security (CURVE)"): admitted keys work, refused handshakes
// are reported as such and promptly, roles and revocation, `depot keygen`,
// and certificates shared with pyzmq.

#include "schema/codec.hpp"
#include "testkit/curve_keys.hpp"
#include "tests/client/mini_json.hpp"
#include "tests/client/support.hpp"
#include "transport/curve/certificate.hpp"

#include <gtest/gtest.h>
#include <zmq.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <signal.h>
#include <sstream>
#include <sys/stat.h>
#include <thread>

#ifndef DEPOT_CURVE_INTEROP_PY
#error "DEPOT_CURVE_INTEROP_PY must name tests/client/curve_interop.py"
#endif

namespace depot::test {
namespace {

namespace dc = depot::client;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// The timeout of the clients below: a handshake failure must be reported
// well within it.
constexpr auto client_timeout = 5000ms;
constexpr auto prompt = 2000ms;

// Writes a new key pair as `base`.key / `base`.key_secret.
curve::certificate make_keys(const std::string& base,
                             std::map<std::string, std::string> metadata = {}) {
  curve::certificate cert = curve::generate_certificate(std::move(metadata));
  std::string why;
  if (!curve::write_certificate_files(base, cert, &why))
    throw std::runtime_error(why);
  return cert;
}

unsigned file_mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// The keys of one test: the server's pair, the directory of admitted client
// certificates, and client pairs (alice and carol: write, reader: read,
// stranger: not admitted, probe: admitted, used to see that depotd is up).
class keys {
 public:
  keys() {
    fs::create_directory(clients());
    server_ = make_keys(dir_ / "server", {{"name", "server"}});
    for (const char* name : {"alice", "carol", "probe"}) add(name, "", true);
    add("reader", "read", true);
    add("stranger", "", false);
  }

  // Makes key pair `name`, admitted (its public certificate copied into
  // clients()) if `admit`.
  void add(const std::string& name, const std::string& role, bool admit) {
    std::map<std::string, std::string> meta{{"name", name}};
    if (!role.empty()) meta["role"] = role;
    certs_[name] = make_keys(dir_ / name, meta);
    if (admit) this->admit(name);
  }

  void admit(const std::string& name) {
    fs::copy_file(dir_ / (name + ".key"), clients() + "/" + name + ".key");
  }

  void revoke(const std::string& name) {
    fs::remove(clients() + "/" + name + ".key");
  }

  std::string server_public() const { return dir_ / "server.key"; }
  std::string server_secret() const { return dir_ / "server.key_secret"; }
  std::string secret(const std::string& name) const {
    return dir_ / (name + ".key_secret");
  }
  std::string clients() const { return dir_ / "clients"; }
  const temp_dir& dir() const { return dir_; }

  // The testkit's socket setup of a client holding key `name`.
  socket_setup as(const std::string& name) const {
    return curve_client(server_.public_key, certs_.at(name));
  }

  // Options of a client `name` of the server(s) at `endpoints`.
  dc::options client(const std::vector<std::string>& endpoints,
                     const std::string& name) const {
    dc::options o;
    o.endpoints = endpoints;
    o.timeout = client_timeout;
    o.curve_server_key = server_public();
    o.curve_key = secret(name);
    return o;
  }

 private:
  temp_dir dir_;
  curve::certificate server_;
  std::map<std::string, curve::certificate> certs_;
};

// A CURVE depotd on `k`'s keys (`server_secret` and `clients` if given
// instead); the testkit's own sockets hold the `probe` key.
depotd_options curve_depotd(const keys& k, std::string root = {},
                            std::string server_secret = {},
                            std::string clients = {}) {
  depotd_options o;
  o.flags = {"--curve-secret-key",
             server_secret.empty() ? k.server_secret() : server_secret,
             "--curve-clients", clients.empty() ? k.clients() : clients};
  o.root = std::move(root);
  o.client_setup = k.as("probe");
  return o;
}

// How long `f` took.
template <class F>
clock_type::duration timed(F&& f) {
  auto start = clock_type::now();
  f();
  return clock_type::now() - start;
}

::testing::AssertionResult is_handshake_error(const dc::error& e,
                                              const std::string& says) {
  if (e.source != dc::error_source::handshake)
    return ::testing::AssertionFailure()
           << "not a handshake error: " << dc::to_string(e);
  if (e.code != dc::errc::unauthorized)
    return ::testing::AssertionFailure()
           << "code is not unauthorized: " << dc::to_string(e);
  if (dc::to_string(e).rfind("handshake_failed: ", 0) != 0)
    return ::testing::AssertionFailure()
           << "to_string does not start with handshake_failed: "
           << dc::to_string(e);
  if (e.message.find(says) == std::string::npos)
    return ::testing::AssertionFailure()
           << "'" << e.message << "' does not say '" << says << "'";
  return ::testing::AssertionSuccess();
}

class Curve : public ::testing::Test {
 protected:
  void SetUp() override { server_.emplace(curve_depotd(keys_)); }

  dc::options client(const std::string& name) const {
    return keys_.client({server_->endpoint()}, name);
  }

  // A connection as `name`; fails the test if it cannot be opened.
  dc::connection connect(const std::string& name) {
    auto c = dc::connection::open(client(name));
    if (!c) throw std::runtime_error(dc::to_string(c.error()));
    return std::move(*c);
  }

  // Uploads `bytes` as `name` through `conn`; returns the id.
  std::string upload(dc::connection& conn, const std::string& bytes,
                     const std::string& name) {
    std::istringstream in(bytes);
    dc::upload_options uo;
    uo.name = name;
    auto up = conn.upload(in, uo);
    if (!up) throw std::runtime_error(dc::to_string(up.error()));
    return up->file.id;
  }

  keys keys_;
  temp_dir work_;
  std::optional<test_depotd> server_;
};

TEST_F(Curve, AnAdmittedKeyUploadsDownloadsAndStats) {
  auto conn = connect("alice");
  std::string big = random_bytes((2 << 20) + 5, 7);
  write_bytes(work_ / "big.bin", big);
  auto up = conn.upload_file(work_ / "big.bin");
  ASSERT_OK(up);
  EXPECT_EQ(up->file.sha256, sha256_hex(big));
  auto st = conn.stat(up->file.id);
  ASSERT_OK(st);
  EXPECT_EQ(st->size, big.size());
  EXPECT_EQ(st->sha256, sha256_hex(big));
  ASSERT_OK(conn.download_file(up->file.id, work_ / "big.down"));
  EXPECT_TRUE(read_text(work_ / "big.down") == big);
  auto ping = conn.ping();
  ASSERT_OK(ping);
  EXPECT_EQ(ping->endpoint, server_->endpoint());
}

TEST_F(Curve, AWrongServerKeyFailsTheHandshakePromptly) {
  make_keys(keys_.dir() / "impostor");
  dc::options o = client("alice");
  o.curve_server_key = keys_.dir() / "impostor.key";
  auto conn = dc::connection::open(o);
  ASSERT_OK(conn);
  std::optional<dc::result<dc::server_info>> ping;
  auto took = timed([&] { ping.emplace(conn->ping()); });
  ASSERT_FALSE(*ping);
  EXPECT_TRUE(
      is_handshake_error(ping->error(),
                         "the server closed the connection during the CURVE "
                         "handshake: is the server's public key right"));
  EXPECT_NE(ping->error().message.find(server_->endpoint()), std::string::npos)
      << ping->error().message;
  EXPECT_LT(took, prompt);
}

TEST_F(Curve, AnUnknownClientKeyIsRefused) {
  auto conn = dc::connection::open(client("stranger"));
  ASSERT_OK(conn);
  std::optional<dc::result<dc::server_info>> ping;
  auto took = timed([&] { ping.emplace(conn->ping()); });
  ASSERT_FALSE(*ping);
  EXPECT_TRUE(is_handshake_error(
      ping->error(), "the server refused this client's key (ZAP status 400)"));
  EXPECT_EQ(dc::to_string(ping->error()),
            "handshake_failed: CURVE handshake with " + server_->endpoint() +
                " failed: the server refused this client's key (ZAP status "
                "400)");
  EXPECT_LT(took, prompt);
  // Every later call says the same, at once.
  std::optional<dc::result<dc::file_meta>> st;
  took = timed([&] { st.emplace(conn->stat("rbWeBrTIp1Js")); });
  ASSERT_FALSE(*st);
  EXPECT_TRUE(is_handshake_error(st->error(), "refused"));
  EXPECT_LT(took, prompt);
  // Uploads too.
  std::istringstream in("some bytes");
  dc::upload_options uo;
  uo.name = "x";
  auto up = conn->upload(in, uo);
  ASSERT_FALSE(up);
  EXPECT_TRUE(is_handshake_error(up.error(), "refused"));
}

TEST_F(Curve, ANullClientMeetsAMechanismMismatchAndTheServerStaysHealthy) {
  dc::options o;
  o.endpoint = server_->endpoint();
  o.timeout = client_timeout;
  auto conn = dc::connection::open(o);
  ASSERT_OK(conn);
  std::optional<dc::result<dc::server_info>> ping;
  auto took = timed([&] { ping.emplace(conn->ping()); });
  ASSERT_FALSE(*ping);
  EXPECT_TRUE(is_handshake_error(ping->error(), "mechanism mismatch"));
  EXPECT_NE(ping->error().message.find("this client uses no security (NULL)"),
            std::string::npos)
      << ping->error().message;
  EXPECT_LT(took, prompt);
  // An admitted client still gets in.
  auto alice = connect("alice");
  EXPECT_OK(alice.ping());
}

TEST_F(Curve, APlainClientGetsNothingAndTheServerStaysHealthy) {
  zmq::context_t ctx;
  zmq::socket_t s{ctx, zmq::socket_type::dealer};
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::plain_username, "alice");
  s.set(zmq::sockopt::plain_password, "secret");
  s.connect(server_->endpoint());
  auto message = schema::encode_request({1, schema::ping_request{}});
  ASSERT_EQ(message.size(), 1u);
  (void)s.send(zmq::const_buffer{message[0].data(), message[0].size()},
               zmq::send_flags::dontwait);
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  EXPECT_EQ(zmq::poll(&item, 1, 1000ms), 0) << "a PLAIN client got a reply";
  auto alice = connect("alice");
  EXPECT_OK(alice.ping());
}

TEST_F(Curve, ACurveClientOfANullServerMeetsAMechanismMismatch) {
  depotd plain;
  ASSERT_TRUE(plain.start());
  auto conn = dc::connection::open(keys_.client({plain.endpoint()}, "alice"));
  ASSERT_OK(conn);
  std::optional<dc::result<dc::server_info>> ping;
  auto took = timed([&] { ping.emplace(conn->ping()); });
  ASSERT_FALSE(*ping);
  // Whichever side sees the mismatch first: the client, or the server,
  // which then hangs up.
  EXPECT_TRUE(
      is_handshake_error(
          ping->error(),
          "mechanism mismatch: this client uses CURVE but the server does "
          "not") ||
      is_handshake_error(ping->error(), "does the server use CURVE?"))
      << dc::to_string(ping->error());
  EXPECT_LT(took, prompt);
}

TEST_F(Curve, OneKeyOptionWithoutTheOtherIsALocalBadRequest) {
  dc::options o = client("alice");
  o.curve_key.clear();
  auto c = dc::connection::open(o);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().source, dc::error_source::local);
  EXPECT_EQ(c.error().code, dc::errc::bad_request);
  EXPECT_NE(c.error().message.find("not this client's secret certificate"),
            std::string::npos)
      << c.error().message;

  o = client("alice");
  o.curve_server_key.clear();
  c = dc::connection::open(o);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().source, dc::error_source::local);
  EXPECT_EQ(c.error().code, dc::errc::bad_request);
  EXPECT_NE(c.error().message.find("not the server's public key"),
            std::string::npos)
      << c.error().message;
}

TEST_F(Curve, UnreadableOrExposedCertificatesAreLocalErrorsNamingTheFile) {
  std::string secret = keys_.secret("alice");
  ASSERT_EQ(::chmod(secret.c_str(), 0644), 0);
  auto c = dc::connection::open(client("alice"));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().source, dc::error_source::local);
  EXPECT_NE(c.error().message.find(secret), std::string::npos)
      << c.error().message;
  EXPECT_NE(c.error().message.find("0644"), std::string::npos)
      << c.error().message;

  dc::options o = client("alice");
  o.curve_key = keys_.dir() / "alice.key";  // public only
  c = dc::connection::open(o);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().source, dc::error_source::local);
  EXPECT_NE(c.error().message.find("alice.key"), std::string::npos)
      << c.error().message;

  o = client("probe");
  o.curve_server_key = keys_.dir() / "missing.key";
  c = dc::connection::open(o);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().source, dc::error_source::local);
  EXPECT_NE(c.error().message.find("missing.key"), std::string::npos)
      << c.error().message;
}

TEST_F(Curve, AReadKeyReadsButCannotUploadOrDelete) {
  auto alice = connect("alice");
  std::string bytes = random_bytes(100'000, 3);
  std::string id = upload(alice, bytes, "shared.bin");

  auto reader = connect("reader");
  EXPECT_OK(reader.ping());
  auto st = reader.stat(id);
  ASSERT_OK(st);
  EXPECT_EQ(st->refs, 1u);
  std::ostringstream got;
  ASSERT_OK(reader.download(id, got));
  EXPECT_TRUE(got.str() == bytes);
  auto page = reader.list_page(std::nullopt, 100);
  ASSERT_OK(page);
  EXPECT_EQ(page->files.size(), 1u);

  std::istringstream in("new content");
  dc::upload_options uo;
  uo.name = "new.txt";
  auto up = reader.upload(in, uo);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().source, dc::error_source::server);
  EXPECT_EQ(up.error().code, dc::errc::forbidden);
  EXPECT_EQ(dc::to_string(up.error()).rfind("forbidden: ", 0), 0u);

  auto rm = reader.remove(id);
  ASSERT_FALSE(rm);
  EXPECT_EQ(rm.error().source, dc::error_source::server);
  EXPECT_EQ(rm.error().code, dc::errc::forbidden);

  // Nothing changed.
  st = alice.stat(id);
  ASSERT_OK(st);
  EXPECT_EQ(st->refs, 1u);
  page = alice.list_page(std::nullopt, 100);
  ASSERT_OK(page);
  EXPECT_EQ(page->files.size(), 1u);
}

TEST_F(Curve, ARevokedKeyGetsUnauthorizedOnItsOpenConnection) {
  auto carol = connect("carol");
  upload(carol, "before the revocation", "before.txt");
  keys_.revoke("carol");
  reload(*server_);
  // The same open connection's next request is refused.
  auto p = carol.ping();
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().source, dc::error_source::server)
      << dc::to_string(p.error());
  EXPECT_EQ(p.error().code, dc::errc::unauthorized) << dc::to_string(p.error());
  EXPECT_EQ(dc::to_string(p.error()).rfind("unauthorized: ", 0), 0u);
  std::istringstream in("after the revocation");
  dc::upload_options uo;
  uo.name = "after.txt";
  auto up = carol.upload(in, uo);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().source, dc::error_source::server);
  EXPECT_EQ(up.error().code, dc::errc::unauthorized);
  // Others are unaffected.
  auto alice = connect("alice");
  auto page = alice.list_page(std::nullopt, 100);
  ASSERT_OK(page);
  EXPECT_EQ(page->files.size(), 1u);
}

TEST_F(Curve, ARefusedConnectionGetsInOnceItsKeyIsAdmitted) {
  auto conn = dc::connection::open(client("stranger"));
  ASSERT_OK(conn);
  auto p = conn->ping();
  ASSERT_FALSE(p);
  EXPECT_TRUE(is_handshake_error(p.error(), "refused"));
  keys_.admit("stranger");
  reload(*server_);
  // Each call after a failed handshake tries a new one.
  EXPECT_OK(conn->ping());
}

TEST_F(Curve, SeveralServersOfOneStoreShareTheKeys) {
  test_depotd second{curve_depotd(keys_, server_->root())};
  auto conn = dc::connection::open(
      keys_.client({server_->endpoint(), second.endpoint()}, "alice"));
  ASSERT_OK(conn);
  // Requests go to the servers whose sockets are connected (the handshake
  // done), in turn: both answer once both are.
  std::set<std::string> answered;
  for (auto until = clock_type::now() + 3s;
       answered.size() < 2 && clock_type::now() < until;) {
    auto p = conn->ping();
    ASSERT_OK(p);
    answered.insert(p->endpoint);
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(answered.size(), 2u);
  std::string bytes = random_bytes(1 << 20, 11);
  std::string id = upload(*conn, bytes, "both.bin");
  std::ostringstream got;
  ASSERT_OK(conn->download(id, got));
  EXPECT_TRUE(got.str() == bytes);
}

TEST_F(Curve,
       AServerThatRefusesTheKeyIsSkippedAndAllRefusingIsAHandshakeError) {
  // The second server of the store admits only the probe key.
  temp_dir other_clients;
  fs::copy_file(keys_.dir() / "probe.key", other_clients / "probe.key");
  test_depotd second{
      curve_depotd(keys_, server_->root(), {}, other_clients.path())};
  auto conn = dc::connection::open(
      keys_.client({second.endpoint(), server_->endpoint()}, "alice"));
  ASSERT_OK(conn);
  auto took = timed([&] {
    for (int i = 0; i < 4; ++i) {
      auto p = conn->ping();
      ASSERT_OK(p);
      EXPECT_EQ(p->endpoint, server_->endpoint());
    }
  });
  EXPECT_LT(took, prompt);

  // Neither admits the stranger: the handshake error, not a timeout.
  auto stranger = dc::connection::open(
      keys_.client({second.endpoint(), server_->endpoint()}, "stranger"));
  ASSERT_OK(stranger);
  std::optional<dc::result<dc::server_info>> ping;
  took = timed([&] { ping.emplace(stranger->ping()); });
  ASSERT_FALSE(*ping);
  EXPECT_TRUE(is_handshake_error(ping->error(), "every server refused"));
  EXPECT_NE(ping->error().message.find(second.endpoint()), std::string::npos);
  EXPECT_NE(ping->error().message.find(server_->endpoint()), std::string::npos);
  EXPECT_LT(took, prompt);
}

// --- the CLI
// -------------------------------------------------------------------

TEST_F(Curve, TheCliUsesKeysFromFlagsOrTheEnvironment) {
  std::string bytes = random_bytes(300'000, 5);
  write_bytes(work_ / "data.bin", bytes);
  std::vector<std::string> flags{"--curve-server-key", keys_.server_public(),
                                 "--curve-key", keys_.secret("alice")};
  auto args = [&](std::vector<std::string> cmd) {
    cmd.insert(cmd.begin(), flags.begin(), flags.end());
    cmd.insert(cmd.begin(), "--json");
    return cmd;
  };
  cli_run up =
      run_cli(work_, server_->endpoint(), args({"upload", work_ / "data.bin"}));
  ASSERT_EQ(up.status, 0) << up.err;
  json::value doc = json::parse(up.out);
  std::string id = doc.arr()[0]["file"]["id"].str();

  cli_run down = run_cli(work_, server_->endpoint(),
                         args({"download", id, "-o", work_ / "data.down"}));
  ASSERT_EQ(down.status, 0) << down.err;
  EXPECT_TRUE(read_text(work_ / "data.down") == bytes);

  cli_run st = run_cli(work_, server_->endpoint(), args({"stat", id}));
  ASSERT_EQ(st.status, 0) << st.err;
  EXPECT_EQ(json::parse(st.out)["sha256"].str(), sha256_hex(bytes));

  // The same through the environment.
  std::vector<std::string> env{
      "DEPOT_CURVE_SERVER_KEY=" + keys_.server_public(),
      "DEPOT_CURVE_KEY=" + keys_.secret("alice")};
  cli_run by_env = run_cli(work_, server_->endpoint(),
                           {"download", id, "-o", work_ / "env.down"}, {}, env);
  ASSERT_EQ(by_env.status, 0) << by_env.err;
  EXPECT_TRUE(read_text(work_ / "env.down") == bytes);

  // A flag wins over its variable: the stranger's key from the environment
  // is replaced by alice's flag.
  env[1] = "DEPOT_CURVE_KEY=" + keys_.secret("stranger");
  cli_run refused = run_cli(work_, server_->endpoint(), {"ping"}, {}, env);
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.err.find("error: handshake_failed: CURVE handshake with"),
            std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("refused this client's key"), std::string::npos)
      << refused.err;
  cli_run flag_wins =
      run_cli(work_, server_->endpoint(),
              {"--curve-key", keys_.secret("alice"), "ping"}, {}, env);
  EXPECT_EQ(flag_wins.status, 0) << flag_wins.err;
}

TEST_F(Curve, TheCliReportsAFailedHandshakeAndExitsWithOne) {
  cli_run null_client =
      run_cli(work_, server_->endpoint(), {"--timeout", "5", "--json", "ping"});
  EXPECT_EQ(null_client.status, 1);
  EXPECT_NE(null_client.err.find("error: handshake_failed: "),
            std::string::npos)
      << null_client.err;
  EXPECT_NE(null_client.err.find("mechanism mismatch"), std::string::npos)
      << null_client.err;
  EXPECT_NE(null_client.err.find("hint: "), std::string::npos)
      << null_client.err;
  EXPECT_EQ(json::parse(null_client.out)["error"].str(), "handshake_failed");

  // One key without the other is a usage error.
  cli_run half = run_cli(work_, server_->endpoint(),
                         {"--curve-key", keys_.secret("alice"), "ping"});
  EXPECT_EQ(half.status, 2);
  EXPECT_NE(half.err.find("--curve-server-key"), std::string::npos) << half.err;
}

TEST_F(Curve, TheCliOfAReadKeyReadsAndIsForbiddenToWrite) {
  auto alice = connect("alice");
  std::string id = upload(alice, "read me", "note.txt");
  std::vector<std::string> env{
      "DEPOT_CURVE_SERVER_KEY=" + keys_.server_public(),
      "DEPOT_CURVE_KEY=" + keys_.secret("reader")};
  cli_run st = run_cli(work_, server_->endpoint(), {"stat", id}, {}, env);
  EXPECT_EQ(st.status, 0) << st.err;
  write_bytes(work_ / "new.txt", "new");
  cli_run up = run_cli(work_, server_->endpoint(),
                       {"upload", work_ / "new.txt"}, {}, env);
  EXPECT_EQ(up.status, 1);
  EXPECT_NE(up.err.find(": forbidden: "), std::string::npos) << up.err;
  cli_run rm = run_cli(work_, server_->endpoint(), {"rm", id}, {}, env);
  EXPECT_EQ(rm.status, 1);
  EXPECT_NE(rm.err.find("error: forbidden: "), std::string::npos) << rm.err;
  auto after = alice.stat(id);
  ASSERT_OK(after);
  EXPECT_EQ(after->refs, 1u);
}

TEST(CurveKeygen, WritesAPublicAndASecretCertificateWithItsMetadata) {
  temp_dir dir;
  fs::create_directory(dir / "keys");
  cli_run r = run_cli(dir, {}, {"keygen", dir / "keys/bob", "--role", "read"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::string pub = dir / "keys/bob.key";
  std::string sec = dir / "keys/bob.key_secret";
  EXPECT_EQ(file_mode(pub), 0644u);
  EXPECT_EQ(file_mode(sec), 0600u);
  std::string why;
  auto p = curve::read_certificate(pub, false, &why);
  ASSERT_TRUE(p) << why;
  auto s = curve::read_certificate(sec, true, &why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(p->public_key, s->public_key);
  EXPECT_TRUE(p->secret_key.empty());
  EXPECT_EQ(p->metadata["name"], "bob");
  EXPECT_EQ(p->metadata["role"], "read");
  EXPECT_EQ(s->metadata["name"], "bob");
  EXPECT_NE(r.out.find(pub), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(sec), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(p->public_key), std::string::npos) << r.out;

  // Never over an existing key.
  std::string before = read_text(sec);
  cli_run again = run_cli(dir, {}, {"keygen", dir / "keys/bob"});
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.err.find("bob.key"), std::string::npos) << again.err;
  EXPECT_EQ(read_text(sec), before);

  // No role: none written (the server's default is write).
  cli_run plain = run_cli(dir, {}, {"--json", "keygen", "eve"});
  ASSERT_EQ(plain.status, 0) << plain.err;
  auto e = curve::read_certificate(dir / "eve.key", false, &why);
  ASSERT_TRUE(e) << why;
  EXPECT_EQ(e->metadata.count("role"), 0u);
  EXPECT_EQ(e->metadata["name"], "eve");
  json::value doc = json::parse(plain.out);
  EXPECT_EQ(doc["public_key"].str(), e->public_key);
  EXPECT_EQ(doc["role"].str(), "write");
}

TEST(CurveKeygen, RefusesBadNamesAndRoles) {
  temp_dir dir;
  for (std::string bad : {std::string{"quo\"te"}, std::string{"ctl\x01"},
                          std::string{"dir/"}, std::string{""}}) {
    cli_run r = run_cli(dir, {}, {"keygen", dir / bad});
    EXPECT_EQ(r.status, 2) << bad << ": " << r.err;
  }
  cli_run role = run_cli(dir, {}, {"keygen", "x", "--role", "admin"});
  EXPECT_EQ(role.status, 2) << role.err;
  EXPECT_FALSE(fs::exists(dir / "x.key"));
}

// --- pyzmq
// -----------------------------------------------------------------------

// A python3 that can import zmq.auth (Debian's python3-zmq, which
// deploy/setup.sh installs), or "" if there is none.
std::string python_with_zmq(const temp_dir& dir) {
  for (const char* python : {"/usr/bin/python3", "python3"}) {
    spawn_options so;
    so.log = dir / "python-check.log";
    so.search_path = true;
    pid_t pid = spawn_child({python, DEPOT_CURVE_INTEROP_PY, "check"}, so);
    if (pid < 0) continue;
    if (wait_for_exit(pid, 30s) == 0) return python;
  }
  return {};
}

// Runs curve_interop.py with `args`; its "key=value" lines.
std::map<std::string, std::string> run_python(const std::string& python,
                                              const temp_dir& dir,
                                              std::vector<std::string> args) {
  args.insert(args.begin(), {python, DEPOT_CURVE_INTEROP_PY});
  spawn_options so;
  so.log = dir / "python.log";
  so.out = dir / "python.out";
  so.search_path = true;
  ::unlink(so.out.c_str());
  pid_t pid = spawn_child(args, so);
  if (pid < 0 || wait_for_exit(pid, 30s) != 0)
    throw std::runtime_error("curve_interop.py failed: " + read_text(so.log));
  std::map<std::string, std::string> out;
  std::istringstream lines(read_text(so.out));
  for (std::string line; std::getline(lines, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

TEST(CurveInterop, PyzmqCertificatesWorkWithDepotAndDepotKeysWithPyzmq) {
  temp_dir dir;
  std::string python = python_with_zmq(dir);
  if (python.empty())
    GTEST_SKIP() << "no python3 with the zmq module (Debian: python3-zmq, "
                    "which deploy/setup.sh installs)";

  // pyzmq's pairs: the server's and a client's.
  fs::create_directory(dir / "py");
  fs::create_directory(dir / "clients");
  run_python(python, dir, {"create", dir / "py", "server"});
  run_python(python, dir, {"create", dir / "py", "client"});
  // pyzmq writes secret files with the process's umask (0644 here); depot
  // reads a secret certificate only when it is its owner's alone.
  for (const char* f : {"py/server.key_secret", "py/client.key_secret"})
    ASSERT_EQ(::chmod((dir / f).c_str(), 0600), 0);
  std::string why;
  auto server_cert =
      curve::read_certificate(dir / "py/server.key_secret", true, &why);
  ASSERT_TRUE(server_cert) << why;
  auto client_cert =
      curve::read_certificate(dir / "py/client.key_secret", true, &why);
  ASSERT_TRUE(client_cert) << why;
  auto client_public =
      curve::read_certificate(dir / "py/client.key", false, &why);
  ASSERT_TRUE(client_public) << why;
  EXPECT_EQ(client_public->public_key, client_cert->public_key);
  fs::copy_file(dir / "py/client.key", dir / "clients/client.key");

  dc::options o;
  o.timeout = client_timeout;
  o.curve_server_key = dir / "py/server.key";
  o.curve_key = dir / "py/client.key_secret";
  depotd_options d;
  d.flags = {"--curve-secret-key", dir / "py/server.key_secret",
             "--curve-clients", dir / "clients"};
  d.client_setup = curve_client(server_cert->public_key, *client_cert);
  test_depotd server{d};
  o.endpoint = server.endpoint();
  auto conn = dc::connection::open(o);
  ASSERT_OK(conn);
  std::istringstream in("from a pyzmq key");
  dc::upload_options uo;
  uo.name = "py.txt";
  auto up = conn->upload(in, uo);
  ASSERT_OK(up);
  std::ostringstream got;
  ASSERT_OK(conn->download(up->file.id, got));
  EXPECT_EQ(got.str(), "from a pyzmq key");

  // depot keygen's files, read by pyzmq.
  cli_run r = run_cli(dir, {}, {"keygen", dir / "made", "--role", "read"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto mine = curve::read_certificate(dir / "made.key_secret", true, &why);
  ASSERT_TRUE(mine) << why;
  auto secret = run_python(python, dir, {"load", dir / "made.key_secret"});
  EXPECT_EQ(secret["public"], mine->public_key);
  EXPECT_EQ(secret["secret"], mine->secret_key);
  auto pub = run_python(python, dir, {"load", dir / "made.key"});
  EXPECT_EQ(pub["public"], mine->public_key);
  EXPECT_EQ(pub["secret"], "");
}

}  // namespace
}  // namespace depot::test
