// Secrets sealed at rest: AES-256-GCM under a key kept in a 0600 file outside the database
// (<root>/keys/.secret-box.key), so a copy of the data directory, a backup or a replicated row
// holds only ciphertext. Sealed text is "sb1:" + base64(12-byte random nonce | ciphertext |
// 16-byte tag); sealing the same text twice gives different results.
//
// Thread-safety: a SecretBox is immutable after LoadOrCreate; Seal and Open may run
// concurrently.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace meshdb::security {

class SecretBox {
 public:
  // Reads the key at `key_path`, or creates it (32 random bytes, mode 0600; the directory
  // must exist) when the file does not exist. IOError naming the path; Corruption when the
  // file is not a key.
  static Result<SecretBox> LoadOrCreate(const std::string& key_path);

  [[nodiscard]] Result<std::string> Seal(std::string_view plaintext) const;
  // InvalidArgument when `sealed` is not sealed text; Corruption when it does not
  // authenticate under this key (tampered, or sealed by another node's key).
  [[nodiscard]] Result<std::string> Open(std::string_view sealed) const;
  // Whether `text` looks sealed (starts with the "sb1:" prefix).
  static bool IsSealed(std::string_view text);

 private:
  explicit SecretBox(std::string key) : key_(std::move(key)) {}
  std::string key_;  // 32 bytes
};

}  // namespace meshdb::security
