// Byte-level primitives of the replication wire format (docs/protocol.md §2): unsigned
// LEB128 varints, length-prefixed byte strings and counted lists.
//
// WireReader is the only code that touches frame bytes on the decode side. Every read checks
// the remaining length first, so a reader never goes out of bounds, never throws, and never
// allocates more than the bytes that back what it read. On failure it returns Corruption
// naming the message type, the field and the byte offset.
//
// Private to replication/ (and its tests). Thread-safety: none; one reader per frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace meshdb::replication {

// A varint takes at most 10 bytes (64 bits / 7 bits per byte, rounded up).
inline constexpr size_t kMaxVarintBytes = 10;

// Appends to a caller-owned string. *out must stay live while the writer is used.
class WireWriter {
 public:
  explicit WireWriter(std::string* out) : out_(out) {}

  void PutU8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  // Minimal (canonical) unsigned LEB128.
  void PutVarint(uint64_t v);
  // varint length, then the bytes.
  void PutBytes(std::string_view bytes);
  void PutBool(bool v) { PutU8(v ? 1 : 0); }

 private:
  std::string* out_;
};

// Bytes PutVarint(v) writes.
size_t VarintSize(uint64_t v);
// Bytes PutBytes(b) writes for a byte string of `len` bytes.
inline size_t BytesSize(size_t len) { return VarintSize(len) + len; }

// Reads one frame. The bytes behind `frame` must stay live while the reader is used.
// `what` names the message being decoded in error messages ("Hello"); it must be a string
// literal or otherwise outlive the reader.
class WireReader {
 public:
  WireReader(std::string_view frame, const char* what) : frame_(frame), what_(what) {}

  size_t offset() const { return pos_; }
  size_t remaining() const { return frame_.size() - pos_; }
  bool AtEnd() const { return pos_ == frame_.size(); }
  void set_what(const char* what) { what_ = what; }

  // Each Read* stores into *out only on success; `field` names the field in errors.
  Status ReadU8(uint8_t* out, const char* field);
  // Corruption for a value past 64 bits, more than 10 bytes, a truncated varint, or a
  // non-minimal encoding (a trailing 0x00 group), so each value has exactly one encoding.
  Status ReadVarint(uint64_t* out, const char* field);
  // A varint that must fit the type; Corruption otherwise.
  Status ReadU16(uint16_t* out, const char* field);
  Status ReadU32(uint32_t* out, const char* field);
  // 0 or 1; any other byte is Corruption.
  Status ReadBool(bool* out, const char* field);
  // varint length + bytes. The length is checked against remaining() before allocating.
  Status ReadBytes(std::string* out, const char* field);
  // A list count. Each item of the list takes at least `min_item_bytes` on the wire, so a
  // count the rest of the frame cannot hold is rejected before anything is allocated.
  Status ReadCount(size_t* out, size_t min_item_bytes, const char* field);
  // Corruption "... N trailing bytes" unless the whole frame was consumed.
  Status ExpectEnd();

  // Corruption "<what> frame: <field>: <problem> at offset <n>"; n defaults to offset().
  Status Error(const char* field, const std::string& problem) const;
  Status ErrorAt(size_t offset, const char* field, const std::string& problem) const;

 private:
  std::string_view frame_;
  size_t pos_ = 0;
  const char* what_;
};

}  // namespace meshdb::replication
