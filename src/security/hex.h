// Lowercase hexadecimal text, and random hexadecimal identifiers and secrets. One place for
// what password hashes, refresh-token hashes, node-token MACs, token ids (jti) and cluster
// keys need. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace meshdb::security {

// "00ff10" for the bytes 0x00 0xff 0x10 (two lowercase digits per byte; Boost.Algorithm's
// hex_lower). OpenSSL's encoder (OPENSSL_buf2hexstr) writes uppercase, and every stored
// format here is lowercase.
std::string HexEncode(std::string_view bytes);

// `bytes` bytes from OpenSSL's CSPRNG (RAND_bytes) as 2 * `bytes` lowercase hex digits.
// Aborts when the generator fails (no entropy: nothing safe to do).
std::string RandomHex(size_t bytes);

}  // namespace meshdb::security
