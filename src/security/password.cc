#include "security/password.h"

#include <argon2.h>
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
constexpr size_t kArgon2HashBytes = 32;

void RandomBytes(unsigned char* out, size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    std::abort();  // no entropy: nothing safe to do
  }
}

std::string RandomSalt() {
  std::string salt;
  salt.reserve(kSaltLength);
  // Rejection sampling keeps every character equally likely (62 does not divide 256).
  while (salt.size() < kSaltLength) {
    std::array<unsigned char, 32> bytes{};
    RandomBytes(bytes.data(), bytes.size());
    for (unsigned char b : bytes) {
      if (b >= 248) continue;  // 248 = 4 * 62
      salt.push_back(kAlphabet[b % kAlphabet.size()]);
      if (salt.size() == kSaltLength) break;
    }
  }
  return salt;
}

const EVP_MD* DigestFor(HashFunction function) {
  return function == HashFunction::kMd5 ? EVP_md5() : EVP_sha256();
}

std::string DigestHex(const EVP_MD* md, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &len, md, nullptr) != 1) {
    std::abort();  // MD5 and SHA-256 are always in OpenSSL 3's default provider
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), len));
}

// salt + hex(digest(password + salt)).
std::string SaltedDigest(HashFunction function, std::string_view password, std::string_view salt) {
  std::string salted(password);
  salted += salt;
  return std::string(salt) + DigestHex(DigestFor(function), salted);
}

std::string Argon2idHash(std::string_view password) {
  std::array<unsigned char, kSaltLength> salt{};
  RandomBytes(salt.data(), salt.size());
  std::string encoded(argon2_encodedlen(kArgon2TimeCost, kArgon2MemoryKiB, kArgon2Parallelism,
                                        salt.size(), kArgon2HashBytes, Argon2_id),
                      '\0');
  int rc = argon2id_hash_encoded(kArgon2TimeCost, kArgon2MemoryKiB, kArgon2Parallelism,
                                 password.data(), password.size(), salt.data(), salt.size(),
                                 kArgon2HashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    std::abort();  // only fails for out-of-range constants or no memory
  }
  encoded.resize(encoded.find('\0'));
  return encoded;
}

}  // namespace

std::optional<HashFunction> HashFunctionFromName(std::string_view name) {
  if (name == "sha256") return HashFunction::kSha256;
  if (name == "md5") return HashFunction::kMd5;
  if (name == "argon2id") return HashFunction::kArgon2id;
  return std::nullopt;
}

std::string_view HashFunctionName(HashFunction function) {
  switch (function) {
    case HashFunction::kMd5:
      return "md5";
    case HashFunction::kSha256:
      return "sha256";
    case HashFunction::kArgon2id:
      return "argon2id";
  }
  return "sha256";
}

std::string Sha256Hex(std::string_view data) { return DigestHex(EVP_sha256(), data); }

std::string HashPassword(std::string_view password, HashFunction function) {
  if (function == HashFunction::kArgon2id) return Argon2idHash(password);
  return SaltedDigest(function, password, RandomSalt());
}

bool VerifyPassword(std::string_view password, std::string_view stored, HashFunction function) {
  if (function == HashFunction::kArgon2id) {
    std::string encoded(stored);  // argon2id_verify wants a NUL-terminated string
    if (encoded.find('\0') != std::string::npos) return false;
    return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
  }
  const size_t digest_hex = 2 * static_cast<size_t>(EVP_MD_get_size(DigestFor(function)));
  if (stored.size() <= digest_hex) return false;
  std::string_view salt = stored.substr(0, stored.size() - digest_hex);
  std::string expected = SaltedDigest(function, password, salt);
  return CRYPTO_memcmp(expected.data(), stored.data(), stored.size()) == 0;
}

}  // namespace meshdb::security
