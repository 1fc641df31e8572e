#include "security/base64.h"

#include <cstdint>

namespace meshdb::security {

namespace {

constexpr char kStandard[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrlSafe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Encode(std::string_view data, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : data) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(alphabet[(acc << (6 - bits)) & 63]);
  while (pad && out.size() % 4 != 0) out.push_back('=');
  return out;
}

// The value of `c` in `alphabet`, or -1.
int ValueOf(char c, const char* alphabet) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == alphabet[62]) return 62;
  if (c == alphabet[63]) return 63;
  return -1;
}

bool Decode(std::string_view text, const char* alphabet, std::string* out) {
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = ValueOf(c, alphabet);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

}  // namespace

std::string Base64Encode(std::string_view data) { return Encode(data, kStandard, true); }

std::string Base64UrlEncode(std::string_view data) { return Encode(data, kUrlSafe, false); }

bool Base64Decode(std::string_view text, std::string* out) {
  size_t end = text.find('=');
  if (end != std::string_view::npos) {
    // Only padding may follow the first '='.
    if (text.find_first_not_of('=', end) != std::string_view::npos) return false;
    text = text.substr(0, end);
  }
  return Decode(text, kStandard, out);
}

bool Base64UrlDecode(std::string_view text, std::string* out) {
  if (text.size() % 4 == 1) return false;
  return Decode(text, kUrlSafe, out);
}

}  // namespace meshdb::security
