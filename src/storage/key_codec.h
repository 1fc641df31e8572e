// Order-preserving encoding of primary keys and index values.
//
// Byte-wise comparison of encodings follows index order: null < false < true < numbers <
// strings. Each encoding is a tag byte followed by:
//   null 0x01, false 0x02, true 0x03   nothing
//   number 0x04                        8 bytes: IEEE-754 double, big-endian, with the sign bit
//                                      flipped for positives and every bit flipped for
//                                      negatives (so -1 < 0 < 1 compare as bytes); -0 -> +0
//   string 0x05                        the UTF-8 bytes, unterminated (strings sort last, so
//                                      nothing follows them inside a key)
// Integers are stored as doubles: exact up to 2^53. Decoding gives int64 for integral values
// in that range, so the key 1 round-trips as 1, and double otherwise.
//
// A legacy index key is <attribute name> 0x00 <encoded value>, cut to kMaxKeyBytes when
// longer (a scan re-checks the record when it meets a key of exactly that length); tables
// created since have compact keys (index_key.h, which chooses between the two).
// Thread-safety: pure functions.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace meshdb::storage {

// LMDB's default MDB_MAXKEYSIZE; also the limit on DUPSORT data items.
inline constexpr size_t kMaxKeyBytes = 511;

enum KeyTag : unsigned char {
  kTagNull = 0x01,
  kTagFalse = 0x02,
  kTagTrue = 0x03,
  kTagNumber = 0x04,
  kTagString = 0x05,
};

// True for null, bool, number and string (what the codec can encode).
bool IsScalar(const boost::json::value& v);

// Appends the encoding of scalar `v` to `out`. InvalidArgument for objects and arrays.
Status AppendEncodedValue(const boost::json::value& v, std::string* out);

// The encoding of a primary key: a string or a number (null and booleans are accepted too).
// InvalidArgument for objects/arrays, or when the encoding is longer than kMaxKeyBytes.
Result<std::string> EncodeKey(const boost::json::value& key);

// Inverse of AppendEncodedValue. Corruption on malformed bytes.
Result<boost::json::value> DecodeKey(std::string_view bytes);

// `attribute` 0x00 `value`, truncated to kMaxKeyBytes. `value` must be a scalar.
void EncodeIndexKey(std::string_view attribute, const boost::json::value& value, std::string* out);

// Whether an index key may have been truncated (its length is the maximum).
inline bool MaybeTruncated(std::string_view index_key) { return index_key.size() >= kMaxKeyBytes; }

}  // namespace meshdb::storage
