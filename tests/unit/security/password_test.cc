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

}  // namespace
}  // namespace meshdb::security
