// Base64 (RFC 4648): the standard alphabet with padding, for HTTP Basic credentials, and the
// URL-safe alphabet without padding, for JWTs. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace meshdb::security {

// "Zm9vYmE=" for "fooba".
std::string Base64Encode(std::string_view data);
// "Zm9vYmE" for "fooba"; '-' and '_' for 62 and 63.
std::string Base64UrlEncode(std::string_view data);

// Decode the standard alphabet; padding optional. false on any other character (out is then
// unspecified).
bool Base64Decode(std::string_view text, std::string* out);
// Decode the URL-safe alphabet without padding. false on any other character or an
// impossible length.
bool Base64UrlDecode(std::string_view text, std::string* out);

}  // namespace meshdb::security
