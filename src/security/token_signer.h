// RS256 JSON Web Tokens for create_authentication_tokens / refresh_operation_token.
//
// The key pair (RSA 2048) lives in <keys_dir>/.jwtPrivate.key and .jwtPublic.key (PEM,
// mode 0600), as HarperDB keeps its keys; it is generated on first use and reused after.
//
// Thread-safety: a TokenSigner is immutable after LoadOrCreate; Sign and Verify may be called
// concurrently from any thread.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "security/openssl_owners.h"

namespace meshdb::security {

class TokenSigner {
 public:
  // Loads the key pair from `keys_dir`, or generates and writes it (creating the directory)
  // when the private key file is missing. IOError when files cannot be read or written;
  // Corruption when an existing key file does not parse.
  static Result<std::unique_ptr<TokenSigner>> LoadOrCreate(const std::string& keys_dir);

  TokenSigner(const TokenSigner&) = delete;
  TokenSigner& operator=(const TokenSigner&) = delete;

  // header.payload.signature, each base64url without padding; header {"alg":"RS256","typ":"JWT"}.
  std::string Sign(const boost::json::object& payload) const;

  // The payload when `token` is well formed, signed by our key and not expired
  // (`exp`, seconds, must be > now_s when present). Unauthenticated "invalid token" otherwise.
  Result<boost::json::object> Verify(std::string_view token, uint64_t now_s) const;

 private:
  explicit TokenSigner(EvpPkey key) : key_(std::move(key)) {}
  EvpPkey key_;  // private key (includes the public half)
};

}  // namespace meshdb::security
