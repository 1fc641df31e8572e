#include "storage/range_hash.h"

#include <bit>

#include "storage/record_codec.h"
#include "storage/store.h"

namespace meshdb::storage {
namespace {

uint64_t Fnv1a(std::string_view bytes, uint64_t h) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

uint64_t Mix(uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

constexpr uint64_t kFnvBasis = 0xcbf29ce484222325ull;

}  // namespace

uint64_t RowHash(std::string_view key, std::string_view value) {
  uint64_t h = Fnv1a(key, kFnvBasis);
  h = Fnv1a(std::string_view("\0", 1), h);  // separator: (ab, c) != (a, bc)
  h ^= key.size();
  return Mix(Fnv1a(value, h));
}

uint32_t KeyBucket(std::string_view key, uint32_t bucket_count) {
  if (bucket_count <= 1) return 0;
  const uint64_t h = Mix(Fnv1a(key, kFnvBasis) + 0x9e3779b97f4a7c15ull);
  const int bits = std::countr_zero(bucket_count);
  return static_cast<uint32_t>(h >> (64 - bits));
}

uint32_t BucketCountFor(uint64_t rows) {
  uint64_t want = std::bit_ceil(std::max<uint64_t>(rows / 2, 16));
  return static_cast<uint32_t>(std::min<uint64_t>(want, 65536));
}

Result<TableHash> HashTable(Snapshot& snapshot, const std::string& table, uint32_t bucket_count) {
  TableHash out;
  out.buckets.assign(bucket_count, 0);
  out.bucket_rows.assign(bucket_count, 0);
  Status bad = Status::Ok();
  Status st = snapshot.ScanRaw(table, [&](std::string_view key, std::string_view value) {
    RecordHeader header;
    std::string_view json;
    if (Status s = DecodeRecordHeader(value, &header, &json); !s.ok()) {
      bad = s;
      return false;
    }
    const uint64_t h = RowHash(key, value);
    out.hash += h;
    ++out.rows;
    if (!header.tombstone) {
      out.live_hash += h;
      ++out.live_rows;
    }
    if (bucket_count > 0) {
      const uint32_t b = KeyBucket(key, bucket_count);
      out.buckets[b] += h;
      ++out.bucket_rows[b];
    }
    return true;
  });
  RETURN_IF_ERROR(st);
  RETURN_IF_ERROR(bad);
  return out;
}

}  // namespace meshdb::storage
