#include "security/secret_box.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

#include "security/base64.h"
#include "security/private_file.h"

namespace meshdb::security {

namespace {

constexpr std::string_view kPrefix = "sb1:";
constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

unsigned char* Bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }
const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

Result<SecretBox> SecretBox::LoadOrCreate(const std::string& key_path) {
  Result<std::string> existing = ReadWholeFile(key_path);
  if (existing.ok()) {
    if (existing->size() != kKeyBytes) {
      return Status::Corruption("'" + key_path + "' is not a " + std::to_string(kKeyBytes) +
                                "-byte key");
    }
    return SecretBox(std::move(existing).value());
  }
  if (!existing.status().IsNotFound()) return existing.status();
  std::string key(kKeyBytes, '\0');
  if (RAND_bytes(Bytes(key), static_cast<int>(key.size())) != 1) {
    return Status::Internal("no random bytes for a key");
  }
  RETURN_IF_ERROR(WritePrivateFile(key_path, key));
  return SecretBox(std::move(key));
}

bool SecretBox::IsSealed(std::string_view text) { return text.starts_with(kPrefix); }

Result<std::string> SecretBox::Seal(std::string_view plaintext) const {
  std::string out(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  unsigned char* nonce = Bytes(out);
  unsigned char* cipher = nonce + kNonceBytes;
  if (RAND_bytes(nonce, kNonceBytes) != 1) return Status::Internal("no random bytes for a nonce");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, Bytes(key_), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), cipher, &n, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), cipher + n, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, cipher + plaintext.size()) !=
          1) {
    return Status::Internal("sealing failed");
  }
  return std::string(kPrefix) + Base64Encode(out);
}

Result<std::string> SecretBox::Open(std::string_view sealed) const {
  std::string raw;
  if (!IsSealed(sealed) || !Base64Decode(sealed.substr(kPrefix.size()), &raw) ||
      raw.size() < kNonceBytes + kTagBytes) {
    return Status::InvalidArgument("not sealed text");
  }
  const size_t length = raw.size() - kNonceBytes - kTagBytes;
  unsigned char* nonce = Bytes(raw);
  unsigned char* cipher = nonce + kNonceBytes;
  std::string plain(length, '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int n = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, Bytes(key_), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), Bytes(plain), &n, cipher, static_cast<int>(length)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, cipher + length) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), Bytes(plain) + n, &n) != 1) {
    return Status::Corruption("sealed text does not authenticate under this node's key");
  }
  return plain;
}

}  // namespace meshdb::security
