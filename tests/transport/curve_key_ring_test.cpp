// transport/curve/key_ring.hpp: the admitted client keys of a directory,
// their roles, and what a reload changed.

#include "testkit/temp_dir.hpp"
#include "transport/curve/certificate.hpp"
#include "transport/curve/key_ring.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace depot::curve {
namespace {

using test::temp_dir;

certificate admit(const temp_dir& dir, const std::string& file,
                  std::map<std::string, std::string> metadata = {}) {
  auto cert = generate_certificate(std::move(metadata));
  std::ofstream{dir / file} << certificate_text(cert, false);
  return cert;
}

TEST(CurveKeyRing, LoadsEveryCertificateWithItsRoleAndName) {
  temp_dir dir;
  auto alice = admit(dir, "alice.key", {{"name", "Alice"}});
  auto bob = admit(dir, "bob.key", {{"role", "read"}});
  auto carol = admit(dir, "carol.key", {{"role", "write"}});
  std::string error;
  std::vector<std::string> notes;
  auto ring = key_ring::load(dir.path(), &error, &notes);
  ASSERT_TRUE(ring) << error;
  EXPECT_TRUE(notes.empty());
  ASSERT_EQ(ring->keys().size(), 3u);
  EXPECT_EQ(ring->find(alice.public_key)->name, "Alice");
  EXPECT_EQ(ring->find(alice.public_key)->role, role::write);
  EXPECT_EQ(ring->find(bob.public_key)->name, "bob");
  EXPECT_EQ(ring->find(bob.public_key)->role, role::read);
  EXPECT_EQ(ring->find(carol.public_key)->role, role::write);
  EXPECT_EQ(ring->find(carol.public_key)->file, dir / "carol.key");
  EXPECT_EQ(ring->find(generate_certificate({}).public_key), nullptr);
}

TEST(CurveKeyRing, SkipsHiddenFilesSecretsAndDirectoriesSayingSo) {
  temp_dir dir;
  admit(dir, ".hidden.key");
  std::ofstream{dir / "x.key_secret"} << "whatever";
  std::filesystem::create_directory(dir / "sub");
  auto only = admit(dir, "only.key");
  std::string error;
  std::vector<std::string> notes;
  auto ring = key_ring::load(dir.path(), &error, &notes);
  ASSERT_TRUE(ring) << error;
  ASSERT_EQ(ring->keys().size(), 1u);
  EXPECT_NE(ring->find(only.public_key), nullptr);
  ASSERT_EQ(notes.size(), 2u);
}

TEST(CurveKeyRing, RefusesBadFilesNamingThem) {
  std::string error;
  {
    temp_dir dir;
    admit(dir, "ok.key");
    std::ofstream{dir / "bad.key"} << "curve\n    public-key = \"no\"\n";
    EXPECT_FALSE(key_ring::load(dir.path(), &error, nullptr));
    EXPECT_EQ(error, dir / "bad.key" +
                         ": line 2: public-key is not a 40-character Z85 key");
  }
  {
    temp_dir dir;
    admit(dir, "boss.key", {{"role", "admin"}});
    EXPECT_FALSE(key_ring::load(dir.path(), &error, nullptr));
    EXPECT_EQ(error, dir / "boss.key" +
                         ": role \"admin\" is neither \"read\" nor \"write\"");
  }
  {
    temp_dir dir;
    auto twin = admit(dir, "a.key");
    std::ofstream{dir / "b.key"} << certificate_text(twin, false);
    EXPECT_FALSE(key_ring::load(dir.path(), &error, nullptr));
    EXPECT_EQ(error,
              dir / "b.key" + ": the same public key as " + dir / "a.key");
  }
  {
    temp_dir dir;
    EXPECT_FALSE(key_ring::load(dir / "none", &error, nullptr));
    EXPECT_EQ(error, "cannot read the client keys directory " + dir / "none" +
                         ": No such file or directory");
  }
}

TEST(CurveKeyRing, ComparesTwoRings) {
  temp_dir dir;
  auto stays = admit(dir, "stays.key");
  auto goes = admit(dir, "goes.key");
  auto demoted = admit(dir, "demoted.key");
  std::string error;
  auto before = key_ring::load(dir.path(), &error, nullptr);
  ASSERT_TRUE(before) << error;
  std::filesystem::remove(dir / "goes.key");
  std::ofstream{dir / "demoted.key"}
      << certificate_text({demoted.public_key, "", {{"role", "read"}}}, false);
  auto comes = admit(dir, "comes.key");
  auto after = key_ring::load(dir.path(), &error, nullptr);
  ASSERT_TRUE(after) << error;
  auto change = compare(*before, *after);
  ASSERT_EQ(change.added.size(), 1u);
  EXPECT_EQ(change.added[0].public_key, comes.public_key);
  ASSERT_EQ(change.removed.size(), 1u);
  EXPECT_EQ(change.removed[0].public_key, goes.public_key);
  ASSERT_EQ(change.role_changed.size(), 1u);
  EXPECT_EQ(change.role_changed[0].role, role::read);
}

}  // namespace
}  // namespace depot::curve
