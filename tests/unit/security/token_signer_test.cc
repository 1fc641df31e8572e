#include "security/token_signer.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "security/base64.h"
#include "security/hex.h"
#include "temp_dir.h"

namespace meshdb::security {
namespace {

namespace json = boost::json;

using meshdb::testing::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TokenSignerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = TokenSigner::LoadOrCreate(dir_.path() + "/keys");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    signer_ = std::move(s).value();
  }
  TempDir dir_;
  std::unique_ptr<TokenSigner> signer_;
};

TEST(Base64UrlTest, RoundTrip) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00"}) {
    std::string out;
    ASSERT_TRUE(Base64UrlDecode(Base64UrlEncode(s), &out));
    EXPECT_EQ(out, s);
  }
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  std::string out;
  EXPECT_FALSE(Base64UrlDecode("ab+c", &out));
  EXPECT_FALSE(Base64UrlDecode("abcde", &out));
}
TEST(Base64Test, StandardAlphabetWithPadding) {
  EXPECT_EQ("YWRtaW46cGFzc3dvcmQ=", Base64Encode("admin:password"));
  std::string out;
  ASSERT_TRUE(Base64Decode("YWRtaW46cGFzc3dvcmQ=", &out));
  EXPECT_EQ("admin:password", out);
  ASSERT_TRUE(Base64Decode("YWRtaW46cGFzc3dvcmQ", &out));  // padding optional
  EXPECT_EQ("admin:password", out);
  EXPECT_FALSE(Base64Decode("YWRt*W4=", &out));  // not in the alphabet
  EXPECT_FALSE(Base64Decode("YW=Rt", &out));     // data after padding
  EXPECT_FALSE(Base64Decode("-_8", &out));       // URL-safe characters
}

// The OpenSSL-backed coder against RFC 4648 §10's vectors, and the inputs EVP_DecodeBlock
// alone would accept (surrounding whitespace, '=' inside a group, over-long padding).
TEST(Base64Test, Rfc4648VectorsAndStrictDecoding) {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    std::string out = "stale";
    ASSERT_TRUE(Base64Decode(encoded, &out)) << encoded;
    EXPECT_EQ(out, plain);
    std::string unpadded = encoded.substr(0, encoded.find('='));
    ASSERT_TRUE(Base64Decode(unpadded, &out)) << unpadded;
    EXPECT_EQ(out, plain);
  }
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  std::string out;
  ASSERT_TRUE(Base64Decode(Base64Encode(binary), &out));
  EXPECT_EQ(out, binary);
  ASSERT_TRUE(Base64UrlDecode(Base64UrlEncode(binary), &out));
  EXPECT_EQ(out, binary);
  EXPECT_EQ(Base64UrlEncode(binary).find_first_of("+/="), std::string::npos);
  for (const char* bad : {" Zm9v", "Zm9v ", "Zm9v\n", "Zm 9v", "Z=9v", "Zm9vY",
                          "Zg=", "Zg===", "Zm9=v", "Zm9v====", "=", "Zg==Zg=="}) {
    EXPECT_FALSE(Base64Decode(bad, &out)) << bad;
  }
  for (const char* bad : {"Zg==", " Zm9v", "Zm9v\n", "Zm9vY", "Zm+v", "Zm/v"}) {
    EXPECT_FALSE(Base64UrlDecode(bad, &out)) << bad;
  }
}

TEST(HexTest, LowercaseDigitsAndRandomHex) {
  EXPECT_EQ(HexEncode(std::string("\x00\xff\x10\xab", 4)), "00ff10ab");
  EXPECT_EQ(HexEncode(""), "");
  std::string a = RandomHex(16);
  std::string b = RandomHex(16);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos) << a;
  EXPECT_NE(a, b);
}

TEST_F(TokenSignerTest, SignAndVerify) {
  json::object payload{{"username", "admin"}, {"sub", "operation"}, {"iat", 1000}, {"exp", 2000}};
  std::string token = signer_->Sign(payload);
  EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2);
  std::string header;
  ASSERT_TRUE(Base64UrlDecode(token.substr(0, token.find('.')), &header));
  EXPECT_EQ(header, R"({"alg":"RS256","typ":"JWT"})");
  auto verified = signer_->Verify(token, 1500);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(json::serialize(*verified), json::serialize(payload));
}

TEST_F(TokenSignerTest, TamperedTokenIsInvalid) {
  std::string token = signer_->Sign({{"username", "bob"}, {"exp", 2000}});
  // Replace the payload with another user's, keeping the signature.
  std::string forged_payload = Base64UrlEncode(R"({"username":"admin","exp":2000})");
  size_t d1 = token.find('.'), d2 = token.rfind('.');
  std::string forged = token.substr(0, d1 + 1) + forged_payload + token.substr(d2);
  auto r = signer_->Verify(forged, 1500);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().ToString(), signer_->Verify("garbage", 0).status().ToString());
  EXPECT_TRUE(r.status().IsUnauthenticated());
  EXPECT_EQ(r.status().message(), "invalid token");
  // A changed signature.
  std::string bad_sig = token.substr(0, token.size() - 4) + "AAAA";
  EXPECT_FALSE(signer_->Verify(bad_sig, 1500).ok());
  EXPECT_FALSE(signer_->Verify("a.b.c", 1500).ok());
  EXPECT_FALSE(signer_->Verify("", 1500).ok());
}

TEST_F(TokenSignerTest, ExpiredTokenIsInvalid) {
  std::string token = signer_->Sign({{"username", "bob"}, {"exp", 2000}});
  EXPECT_TRUE(signer_->Verify(token, 1999).ok());
  auto r = signer_->Verify(token, 2000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "invalid token");
}

TEST_F(TokenSignerTest, KeyPersistsAcrossLoads) {
  std::string token = signer_->Sign({{"username", "bob"}, {"exp", 2000}});
  std::string priv = dir_.path() + "/keys/.jwtPrivate.key";
  std::string pub = dir_.path() + "/keys/.jwtPublic.key";
  struct stat st {};
  ASSERT_EQ(stat(priv.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(pub.c_str(), &st), 0);
  EXPECT_NE(ReadFile(pub).find("BEGIN PUBLIC KEY"), std::string::npos);
  std::string before = ReadFile(priv);

  auto again = TokenSigner::LoadOrCreate(dir_.path() + "/keys");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE((*again)->Verify(token, 1500).ok());
  EXPECT_EQ(ReadFile(priv), before);

  // A different key directory has a different key: our token does not verify there.
  auto other = TokenSigner::LoadOrCreate(dir_.path() + "/other");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE((*other)->Verify(token, 1500).ok());
}

TEST_F(TokenSignerTest, CorruptKeyFileIsReported) {
  std::string dir = dir_.path() + "/bad";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/.jwtPrivate.key") << "not a key";
  auto r = TokenSigner::LoadOrCreate(dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace meshdb::security
