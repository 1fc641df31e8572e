#include "security/base64.h"

#include <openssl/evp.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>

namespace meshdb::security {

namespace {

// Standard-alphabet base64 of `data`, padded (EVP_EncodeBlock).
std::string Encode(std::string_view data) {
  if (data.size() > INT_MAX / 4 * 3) std::abort();         // EVP takes int lengths
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');  // + the NUL EVP_EncodeBlock writes
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

bool IsAlphabetChar(char c, char c62, char c63) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == c62 ||
         c == c63;
}

// Decodes `data`: characters of the standard alphabet only, without padding, any length but
// 4k+1 (which no encoding produces). EVP_DecodeBlock alone would trim surrounding whitespace
// and read '=' anywhere as zero bits, so the characters are checked here first.
bool DecodeUnpadded(std::string_view data, std::string* out) {
  out->clear();
  if (data.size() % 4 == 1 || data.size() > INT_MAX - 3) return false;
  if (!std::all_of(data.begin(), data.end(), [](char c) { return IsAlphabetChar(c, '+', '/'); })) {
    return false;
  }
  size_t pad = (4 - data.size() % 4) % 4;
  std::string padded(data);
  padded.append(pad, '=');
  out->resize(padded.size() / 4 * 3);
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out->data()),
                          reinterpret_cast<const unsigned char*>(padded.data()),
                          static_cast<int>(padded.size()));
  if (n < 0 || static_cast<size_t>(n) != out->size()) return false;
  out->resize(out->size() - pad);  // EVP_DecodeBlock returns the padding's bytes as zeros
  return true;
}

}  // namespace

std::string Base64Encode(std::string_view data) { return Encode(data); }

std::string Base64UrlEncode(std::string_view data) {
  std::string out = Encode(data);
  out.erase(out.find_last_not_of('=') + 1);
  std::replace(out.begin(), out.end(), '+', '-');
  std::replace(out.begin(), out.end(), '/', '_');
  return out;
}

bool Base64Decode(std::string_view text, std::string* out) {
  size_t end = text.find('=');
  if (end != std::string_view::npos) {
    // Padding only completes the last group of four: "YQ==", "YWI=".
    size_t pad = text.size() - end;
    if (text.find_first_not_of('=', end) != std::string_view::npos || pad > 2 ||
        text.size() % 4 != 0) {
      out->clear();
      return false;
    }
    text = text.substr(0, end);
  }
  return DecodeUnpadded(text, out);
}

bool Base64UrlDecode(std::string_view text, std::string* out) {
  if (!std::all_of(text.begin(), text.end(), [](char c) { return IsAlphabetChar(c, '-', '_'); })) {
    out->clear();
    return false;
  }
  std::string standard(text);
  std::replace(standard.begin(), standard.end(), '-', '+');
  std::replace(standard.begin(), standard.end(), '_', '/');
  return DecodeUnpadded(standard, out);
}

}  // namespace meshdb::security
