#include "security/hex.h"

#include <openssl/rand.h>

#include <boost/algorithm/hex.hpp>
#include <climits>
#include <cstdlib>
#include <iterator>

namespace meshdb::security {

std::string HexEncode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  boost::algorithm::hex_lower(bytes.begin(), bytes.end(), std::back_inserter(out));
  return out;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (bytes > INT_MAX ||
      RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    std::abort();
  }
  return HexEncode(raw);
}

}  // namespace meshdb::security
