#include "replication/wire/wire.h"

#include <limits>

namespace meshdb::replication {

void WireWriter::PutVarint(uint64_t v) {
  while (v >= 0x80) {
    out_->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out_->push_back(static_cast<char>(v));
}

void WireWriter::PutBytes(std::string_view bytes) {
  PutVarint(bytes.size());
  out_->append(bytes.data(), bytes.size());
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

Status WireReader::Error(const char* field, const std::string& problem) const {
  return ErrorAt(pos_, field, problem);
}

Status WireReader::ErrorAt(size_t offset, const char* field, const std::string& problem) const {
  return Status::Corruption(std::string(what_) + " frame: " + field + ": " + problem +
                            " at offset " + std::to_string(offset));
}

Status WireReader::ReadU8(uint8_t* out, const char* field) {
  if (pos_ >= frame_.size()) return Error(field, "truncated (need 1 byte, 0 left)");
  *out = static_cast<uint8_t>(frame_[pos_++]);
  return Status::Ok();
}

Status WireReader::ReadVarint(uint64_t* out, const char* field) {
  uint64_t value = 0;
  size_t p = pos_;
  for (size_t i = 0; i < kMaxVarintBytes; ++i) {
    if (p >= frame_.size()) return Error(field, "truncated varint");
    const auto byte = static_cast<uint8_t>(frame_[p++]);
    const uint64_t group = byte & 0x7f;
    // The 10th byte holds bit 63 only; anything more overflows 64 bits.
    if (i == kMaxVarintBytes - 1 && group > 1) return Error(field, "varint overflows 64 bits");
    value |= group << (7 * i);
    if ((byte & 0x80) == 0) {
      // A last group of 0 after other groups means the value had a shorter encoding.
      if (i > 0 && group == 0) return Error(field, "non-minimal varint");
      *out = value;
      pos_ = p;
      return Status::Ok();
    }
  }
  return Error(field, "varint longer than 10 bytes");
}

Status WireReader::ReadU16(uint16_t* out, const char* field) {
  const size_t start = pos_;
  uint64_t v = 0;
  RETURN_IF_ERROR(ReadVarint(&v, field));
  if (v > std::numeric_limits<uint16_t>::max()) {
    return ErrorAt(start, field, "value " + std::to_string(v) + " does not fit 16 bits");
  }
  *out = static_cast<uint16_t>(v);
  return Status::Ok();
}

Status WireReader::ReadU32(uint32_t* out, const char* field) {
  const size_t start = pos_;
  uint64_t v = 0;
  RETURN_IF_ERROR(ReadVarint(&v, field));
  if (v > std::numeric_limits<uint32_t>::max()) {
    return ErrorAt(start, field, "value " + std::to_string(v) + " does not fit 32 bits");
  }
  *out = static_cast<uint32_t>(v);
  return Status::Ok();
}

Status WireReader::ReadBool(bool* out, const char* field) {
  uint8_t b = 0;
  RETURN_IF_ERROR(ReadU8(&b, field));
  if (b > 1) return Error(field, "boolean byte " + std::to_string(b) + " is not 0 or 1");
  *out = b == 1;
  return Status::Ok();
}

Status WireReader::ReadBytes(std::string* out, const char* field) {
  uint64_t len = 0;
  RETURN_IF_ERROR(ReadVarint(&len, field));
  if (len > remaining()) {
    return Error(field, "declared length " + std::to_string(len) + " exceeds the " +
                            std::to_string(remaining()) + " bytes left");
  }
  out->assign(frame_.data() + pos_, static_cast<size_t>(len));
  pos_ += static_cast<size_t>(len);
  return Status::Ok();
}

Status WireReader::ReadCount(size_t* out, size_t min_item_bytes, const char* field) {
  uint64_t count = 0;
  RETURN_IF_ERROR(ReadVarint(&count, field));
  if (min_item_bytes == 0) min_item_bytes = 1;
  if (count > remaining() / min_item_bytes) {
    return Error(field, "declared count " + std::to_string(count) + " cannot fit in the " +
                            std::to_string(remaining()) + " bytes left");
  }
  *out = static_cast<size_t>(count);
  return Status::Ok();
}

Status WireReader::ExpectEnd() {
  if (AtEnd()) return Status::Ok();
  return Error("end", std::to_string(remaining()) + " trailing bytes");
}

}  // namespace meshdb::replication
