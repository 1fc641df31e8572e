#include "security/password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdlib>

#include "security/hex.h"

namespace meshdb::security {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

std::string RandomSalt() {
  std::string salt;
  salt.reserve(kSaltLength);
  // Rejection sampling keeps every character equally likely (62 does not divide 256).
  while (salt.size() < kSaltLength) {
    std::array<unsigned char, 32> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
      std::abort();  // no entropy: nothing safe to do
    }
    for (unsigned char b : bytes) {
      if (b >= 248) continue;  // 248 = 4 * 62
      salt.push_back(kAlphabet[b % kAlphabet.size()]);
      if (salt.size() == kSaltLength) break;
    }
  }
  return salt;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1) {
    std::abort();  // SHA-256 is always available in OpenSSL 3's default provider
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), len));
}

std::string HashPassword(std::string_view password) {
  std::string salt = RandomSalt();
  std::string salted(password);
  salted += salt;
  return salt + Sha256Hex(salted);
}

bool VerifyPassword(std::string_view password, std::string_view stored) {
  if (stored.size() != kSaltLength + 64) return false;
  std::string_view salt = stored.substr(0, kSaltLength);
  std::string salted(password);
  salted += salt;
  std::string expected = Sha256Hex(salted);
  return CRYPTO_memcmp(expected.data(), stored.data() + kSaltLength, expected.size()) == 0;
}

}  // namespace meshdb::security
