// Password hashing in the three forms HarperDB stores (`hdb_user.hash_function`), chosen for new
// passwords by authentication.hashFunction:
//
//   sha256    16-character random alphanumeric salt + lowercase hex(SHA-256(password + salt));
//             HarperDB's default.
//   md5       the same shape with MD5 (32 hex digits). Weak: kept so users whose rows came from a
//             HarperDB configured for it can still log in, and for operators who choose it.
//   argon2id  a PHC string from libargon2 ("$argon2id$v=19$m=...,t=...,p=...$salt$hash"); the
//             parameters travel in the string, so hashes made elsewhere verify too.
//
// Verification takes the row's own hash_function, so changing the setting never locks anyone
// out: old rows keep verifying with the function that made them.
//
// Thread-safety: free functions without shared state; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace meshdb::security {

inline constexpr size_t kSaltLength = 16;

enum class HashFunction { kMd5, kSha256, kArgon2id };

// "md5", "sha256" or "argon2id" (the config value and the row's hash_function); nullopt for
// anything else.
std::optional<HashFunction> HashFunctionFromName(std::string_view name);
std::string_view HashFunctionName(HashFunction function);

// Argon2id cost: 2 passes over 19 MiB, one lane (OWASP's recommended minimum for argon2id).
inline constexpr uint32_t kArgon2TimeCost = 2;
inline constexpr uint32_t kArgon2MemoryKiB = 19 * 1024;
inline constexpr uint32_t kArgon2Parallelism = 1;

// Hashes `password` with `function` and a fresh salt from RAND_bytes.
std::string HashPassword(std::string_view password, HashFunction function = HashFunction::kSha256);

// Whether `password` matches `stored`, made by `function`. Compares in constant time; false for
// a malformed `stored`. For md5 and sha256 the salt is whatever precedes the digest (HarperDB's
// older rows used shorter salts).
bool VerifyPassword(std::string_view password, std::string_view stored,
                    HashFunction function = HashFunction::kSha256);

// Lowercase hex SHA-256 of `data` (also used to store refresh tokens hashed).
std::string Sha256Hex(std::string_view data);

}  // namespace meshdb::security
