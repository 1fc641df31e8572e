// Password hashing as HarperDB stores it by default (hash_function "sha256"):
// a 16-character random alphanumeric salt followed by lowercase hex(SHA-256(password + salt)).
//
// Thread-safety: free functions without shared state; safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace meshdb::security {

inline constexpr size_t kSaltLength = 16;

// Returns salt + hex digest (16 + 64 characters). The salt comes from RAND_bytes.
std::string HashPassword(std::string_view password);

// Whether `password` matches `stored` (as made by HashPassword). Compares in constant time;
// false for a malformed `stored`.
bool VerifyPassword(std::string_view password, std::string_view stored);

// Lowercase hex SHA-256 of `data` (also used to store refresh tokens hashed).
std::string Sha256Hex(std::string_view data);

}  // namespace meshdb::security
