#include "storage/uuid_generator.h"

#include <openssl/rand.h>

#include <algorithm>
#include <boost/uuid/uuid.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <cstdint>
#include <cstdlib>

namespace meshdb::storage {

std::string UuidGenerator::Next() {
  boost::uuids::uuid id;
  static_assert(sizeof(id.data) == 16 && sizeof(pool_) % 16 == 0);
  if (used_ == pool_.size()) {
    if (RAND_bytes(pool_.data(), static_cast<int>(pool_.size())) != 1) std::abort();
    used_ = 0;
  }
  std::copy_n(pool_.begin() + used_, 16, id.begin());
  used_ += 16;
  id.data[6] = static_cast<uint8_t>((id.data[6] & 0x0F) | 0x40);  // version 4
  id.data[8] = static_cast<uint8_t>((id.data[8] & 0x3F) | 0x80);  // variant 10
  return boost::uuids::to_string(id);
}

}  // namespace meshdb::storage
