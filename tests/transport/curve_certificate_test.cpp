// transport/curve/certificate.hpp: ZeroMQ's certificate files (ZPL), as
// czmq's zcert and pyzmq's zmq.auth write them, read and written.

#include "testkit/temp_dir.hpp"
#include "transport/curve/certificate.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <sys/stat.h>

namespace depot::curve {
namespace {

using test::temp_dir;

// A key pair made by pyzmq (zmq.auth.create_certificates), as it wrote it:
// unquoted metadata values, a comment banner.
constexpr const char* pyzmq_secret =
    "#   ****  Generated on 2026-11-29 09:59:23.384045 by pyzmq  ****\n"
    "#   ZeroMQ CURVE **Secret** Certificate\n"
    "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its "
    "permissions.\n"
    "\n"
    "metadata\n"
    "    role = read\n"
    "curve\n"
    "    public-key = \"l4GLw)2&#is.L?$B6(QghaX*uId.HrQ][Q7chL}<\"\n"
    "    secret-key = \"}SLbgQYu%6x3PL!:?9r087%0%YK]=$4ipu9<khZV\"\n";

std::string error_of(const std::string& text) {
  std::string error;
  EXPECT_FALSE(parse_certificate(text, &error)) << text;
  return error;
}

void write(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream{path} << text;
  ::chmod(path.c_str(), mode);
}

TEST(CurveCertificate, ReadsWhatPyzmqWrites) {
  std::string error;
  auto cert = parse_certificate(pyzmq_secret, &error);
  ASSERT_TRUE(cert) << error;
  EXPECT_EQ(cert->public_key, "l4GLw)2&#is.L?$B6(QghaX*uId.HrQ][Q7chL}<");
  EXPECT_EQ(cert->secret_key, "}SLbgQYu%6x3PL!:?9r087%0%YK]=$4ipu9<khZV");
  EXPECT_EQ(cert->metadata.at("role"), "read");
}

TEST(CurveCertificate, RoundTripsPublicAndSecretText) {
  auto cert = generate_certificate({{"name", "alice"}, {"role", "read"}});
  ASSERT_TRUE(is_z85_key(cert.public_key));
  ASSERT_TRUE(is_z85_key(cert.secret_key));
  std::string error;
  auto secret = parse_certificate(certificate_text(cert, true), &error);
  ASSERT_TRUE(secret) << error;
  EXPECT_EQ(secret->public_key, cert.public_key);
  EXPECT_EQ(secret->secret_key, cert.secret_key);
  EXPECT_EQ(secret->metadata, cert.metadata);
  auto pub = parse_certificate(certificate_text(cert, false), &error);
  ASSERT_TRUE(pub) << error;
  EXPECT_EQ(pub->public_key, cert.public_key);
  EXPECT_TRUE(pub->secret_key.empty());
  EXPECT_EQ(certificate_text(cert, false).find(cert.secret_key),
            std::string::npos);
}

TEST(CurveCertificate, WritesAValueHoldingADoubleQuoteInSingleQuotes) {
  auto cert = generate_certificate({{"name", "say \"hi\""}});
  std::string error;
  auto back = parse_certificate(certificate_text(cert, false), &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->metadata.at("name"), "say \"hi\"");
}

TEST(CurveCertificate, RefusesBrokenTextNamingTheLine) {
  auto good = generate_certificate({});
  std::string key = "    public-key = \"" + good.public_key + "\"\n";
  EXPECT_EQ(error_of(""), "no curve public-key");
  EXPECT_EQ(error_of("metadata\n"), "no curve public-key");
  EXPECT_EQ(error_of("curve\n    public-key = \"tooshort\"\n"),
            "line 2: public-key is not a 40-character Z85 key");
  EXPECT_EQ(error_of("curve\n" + key + key), "line 3: public-key twice");
  EXPECT_EQ(error_of("curve\n\tpublic-key = \"x\"\n"),
            "line 2: a tab in the indentation");
  EXPECT_EQ(error_of("curve\n  public-key = \"x\"\n"),
            "line 2: indentation is not a multiple of 4 spaces");
  EXPECT_EQ(error_of("    public-key = \"x\"\n"),
            "line 1: an indented line without a section");
  EXPECT_EQ(error_of("curve\n    public-key = \"abc\n"),
            "line 2: a quoted value is not closed");
  EXPECT_EQ(error_of("curve\n    public-key \"abc\"\n"),
            "line 2: expected '=' after the name");
  EXPECT_EQ(error_of("metadata\n    name = a b\n"),
            "line 2: an unquoted value holds a space");
  EXPECT_EQ(error_of("=\n"), "line 1: expected a name");
  EXPECT_EQ(error_of(std::string(max_certificate_bytes + 1, '#')),
            "line 1: larger than a certificate can be");
}

TEST(CurveCertificate, RefusesASecretKeyOfAnotherPair) {
  auto a = generate_certificate({});
  auto b = generate_certificate({});
  a.secret_key = b.secret_key;
  EXPECT_EQ(error_of(certificate_text(a, true)),
            "the secret-key does not belong to the public-key");
}

TEST(CurveCertificate, WritesThePairWithTheSecretForItsOwnerOnly) {
  temp_dir dir;
  auto cert = generate_certificate({{"name", "bob"}});
  std::string error;
  ASSERT_TRUE(write_certificate_files(dir / "bob", cert, &error)) << error;
  struct stat pub {
  }, sec{};
  ASSERT_EQ(::stat((dir / "bob.key").c_str(), &pub), 0);
  ASSERT_EQ(::stat((dir / "bob.key_secret").c_str(), &sec), 0);
  EXPECT_EQ(sec.st_mode & 0777, 0600u);
  EXPECT_EQ(pub.st_mode & 0022, 0u);  // 0644 less the umask
  auto back = read_certificate(dir / "bob.key_secret", true, &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->secret_key, cert.secret_key);
  // Never replaced.
  EXPECT_FALSE(write_certificate_files(dir / "bob", cert, &error));
  EXPECT_NE(error.find(dir / "bob.key"), std::string::npos) << error;
}

TEST(CurveCertificate, RefusesASecretFileOthersCanRead) {
  temp_dir dir;
  auto cert = generate_certificate({});
  write(dir / "s", certificate_text(cert, true), 0640);
  std::string error;
  EXPECT_FALSE(read_certificate(dir / "s", true, &error));
  EXPECT_EQ(error, dir / "s" +
                       ": a secret key readable or writable by group or "
                       "others (mode 0640); chmod 600 it");
  // As a public certificate the same file is fine.
  EXPECT_TRUE(read_certificate(dir / "s", false, &error)) << error;
}

TEST(CurveCertificate, RefusesAPublicFileWhereASecretOneIsNeeded) {
  temp_dir dir;
  write(dir / "p.key", certificate_text(generate_certificate({}), false), 0600);
  std::string error;
  EXPECT_FALSE(read_certificate(dir / "p.key", true, &error));
  EXPECT_NE(error.find(dir / "p.key: a public certificate"), std::string::npos)
      << error;
  EXPECT_FALSE(read_certificate(dir / "missing", false, &error));
  EXPECT_NE(error.find("cannot open " + dir / "missing"), std::string::npos);
  EXPECT_FALSE(read_certificate(dir.path(), false, &error));
  EXPECT_NE(error.find("not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace depot::curve
