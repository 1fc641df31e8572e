// Base64 (RFC 4648): the standard alphabet with padding, for HTTP Basic credentials, and the
// URL-safe alphabet without padding, for JWTs. OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock do
// the coding; these wrappers add the URL-safe alphabet, optional padding and strict input
// checks. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace meshdb::security {

// "Zm9vYmE=" for "fooba".
std::string Base64Encode(std::string_view data);
// "Zm9vYmE" for "fooba"; '-' and '_' for 62 and 63.
std::string Base64UrlEncode(std::string_view data);

// Decode the standard alphabet; padding optional, but when present it completes the last group
// of four ("YQ==", not "YQ=" or "YQ==="). false on any other character (whitespace too), on
// '=' elsewhere, or on an impossible length (4k+1 characters); out is then unspecified.
bool Base64Decode(std::string_view text, std::string* out);
// Decode the URL-safe alphabet without padding. false on any other character or an
// impossible length (4k+1 characters).
bool Base64UrlDecode(std::string_view text, std::string* out);

}  // namespace meshdb::security
