#include "security/password.h"

#include <gtest/gtest.h>

#include <cctype>

namespace meshdb::security {
namespace {

TEST(PasswordTest, RoundTrip) {
  std::string stored = HashPassword("s3cret!");
  EXPECT_TRUE(VerifyPassword("s3cret!", stored));
  EXPECT_FALSE(VerifyPassword("s3cret", stored));
  EXPECT_FALSE(VerifyPassword("", stored));
}

TEST(PasswordTest, StoredFormatIsSaltThenHexDigest) {
  std::string stored = HashPassword("pw");
  ASSERT_EQ(stored.size(), 16u + 64u);
  for (size_t i = 0; i < 16; ++i) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(stored[i])));
  for (size_t i = 16; i < stored.size(); ++i) {
    EXPECT_NE(std::string("0123456789abcdef").find(stored[i]), std::string::npos) << stored;
  }
  // The digest is SHA-256(password + salt).
  EXPECT_EQ(stored.substr(16), Sha256Hex("pw" + stored.substr(0, 16)));
}

TEST(PasswordTest, SaltsDiffer) {
  EXPECT_NE(HashPassword("pw").substr(0, 16), HashPassword("pw").substr(0, 16));
}

TEST(PasswordTest, KnownDigest) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // A hash made elsewhere (HarperDB's format) verifies.
  std::string salt = "AbCdEfGh12345678";
  EXPECT_TRUE(VerifyPassword("password", salt + Sha256Hex("password" + salt)));
}

TEST(PasswordTest, MalformedStoredNeverMatches) {
  EXPECT_FALSE(VerifyPassword("pw", ""));
  EXPECT_FALSE(VerifyPassword("pw", "short"));
  std::string stored = HashPassword("pw");
  EXPECT_FALSE(VerifyPassword("pw", stored + "0"));
}

TEST(PasswordTest, Md5RowsVerifyWhateverTheirSaltLength) {
  // salt + hex(MD5(password + salt)), computed by Python's hashlib with a 9-character salt.
  EXPECT_TRUE(
      VerifyPassword("password", "Xy9Kq2LmP8fbecd7dd40b8969fda2a767487adf0c", HashFunction::kMd5));
  EXPECT_FALSE(
      VerifyPassword("Password", "Xy9Kq2LmP8fbecd7dd40b8969fda2a767487adf0c", HashFunction::kMd5));
  std::string stored = HashPassword("s3cret!", HashFunction::kMd5);
  EXPECT_EQ(stored.size(), 16u + 32u);
  EXPECT_TRUE(VerifyPassword("s3cret!", stored, HashFunction::kMd5));
  EXPECT_FALSE(VerifyPassword("s3cret", stored, HashFunction::kMd5));
}

TEST(PasswordTest, Argon2idRoundTripsAsAPhcString) {
  std::string stored = HashPassword("s3cret!", HashFunction::kArgon2id);
  EXPECT_EQ(stored.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << stored;
  EXPECT_TRUE(VerifyPassword("s3cret!", stored, HashFunction::kArgon2id));
  EXPECT_FALSE(VerifyPassword("s3cret", stored, HashFunction::kArgon2id));
  EXPECT_NE(stored, HashPassword("s3cret!", HashFunction::kArgon2id));  // fresh salt each time
}

TEST(PasswordTest, Argon2idMadeElsewhereVerifiesWithItsOwnParameters) {
  // Debian's argon2 CLI: echo -n password | argon2 somesaltsomesalt -id -t 2 -m 16 -p 1 -e
  const std::string stored =
      "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
      "/DO3gTkjHTS3Fia9YkXB1y76GQrWBcPYFmpyrc7fosI";
  EXPECT_TRUE(VerifyPassword("password", stored, HashFunction::kArgon2id));
  EXPECT_FALSE(VerifyPassword("passwore", stored, HashFunction::kArgon2id));
}

TEST(PasswordTest, ARowIsVerifiedOnlyByItsOwnFunction) {
  std::string sha = HashPassword("pw", HashFunction::kSha256);
  std::string md5 = HashPassword("pw", HashFunction::kMd5);
  std::string argon = HashPassword("pw", HashFunction::kArgon2id);
  EXPECT_FALSE(VerifyPassword("pw", sha, HashFunction::kMd5));
  EXPECT_FALSE(VerifyPassword("pw", sha, HashFunction::kArgon2id));
  EXPECT_FALSE(VerifyPassword("pw", md5, HashFunction::kSha256));
  EXPECT_FALSE(VerifyPassword("pw", argon, HashFunction::kSha256));
  EXPECT_FALSE(VerifyPassword("pw", std::string("$argon2id$\0x", 12), HashFunction::kArgon2id));
  EXPECT_FALSE(VerifyPassword("pw", "$argon2id$garbage", HashFunction::kArgon2id));
}

TEST(PasswordTest, HashFunctionNames) {
  for (HashFunction f : {HashFunction::kMd5, HashFunction::kSha256, HashFunction::kArgon2id}) {
    EXPECT_EQ(HashFunctionFromName(HashFunctionName(f)), f);
  }
  EXPECT_EQ(HashFunctionFromName("SHA256"), std::nullopt);
  EXPECT_EQ(HashFunctionFromName("bcrypt"), std::nullopt);
}

}  // namespace
}  // namespace meshdb::security
