// Content hashes of a table's stored rows, by key bucket: the comparison behind merge
// resync and cluster_verify (docs/replication.md "Retention and merge resync").
//
// A row's hash covers its encoded key and its stored record bytes (version, origin,
// tombstone flag and document), which replication carries unchanged, so two nodes holding
// the same row compute the same hash. A row's bucket depends on its key only. Table and
// bucket hashes are sums (mod 2^64) of row hashes: independent of order, and two sides
// agree on a bucket iff (barring a 2^-64 collision) they hold the same rows in it.
// Thread-safety: pure functions; the Snapshot belongs to the calling thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace meshdb::storage {

class Snapshot;

// 64-bit hash of a stored row (key bytes and record bytes).
uint64_t RowHash(std::string_view key, std::string_view value);
// Bucket of `key` among `bucket_count` (a power of two, 1..65536).
uint32_t KeyBucket(std::string_view key, uint32_t bucket_count);
// A power-of-two bucket count for a table of `rows` rows: about 2 rows per bucket,
// 16..65536.
uint32_t BucketCountFor(uint64_t rows);

struct TableHash {
  uint64_t hash = 0;       // sum of every row's hash (tombstones included)
  uint64_t rows = 0;       // rows, tombstones included
  uint64_t live_hash = 0;  // sum over live rows only (what cluster_verify compares)
  uint64_t live_rows = 0;
  std::vector<uint64_t> buckets;      // per bucket sum (tombstones included); empty when 0 asked
  std::vector<uint32_t> bucket_rows;  // per bucket rows (tombstones included); likewise
};

// Hashes every stored row of `table`. bucket_count 0: no buckets. NotFound for a missing
// table.
Result<TableHash> HashTable(Snapshot& snapshot, const std::string& table, uint32_t bucket_count);

}  // namespace meshdb::storage
