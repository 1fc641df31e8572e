// The data format of a database file: which on-disk encodings a binary must know to read all
// of it. Kept in the file's meta sub-db under "data_format" (u64, big-endian). Private to
// storage/ (docs/storage.md "Data format").
//
// Format 1 is everything this code writes: compressed rows (stored_record.h), log entries of
// formats 3 and 4 (record_codec.h), compact index keys (index_key.h) and the staged index level
// (index_levels.h). Files written before the marker existed carry none; this code reads every
// older encoding, so it opens them and marks them with its own format.
//
// A change that the binary before it would misread (a sub-db it would not look in, a value it
// cannot decode) raises kDataFormat, so that binary refuses the file instead of answering from
// part of it.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <string>

#include "common/status.h"

namespace meshdb::storage {

inline constexpr const char* kMetaDataFormat = "data_format";
inline constexpr uint64_t kDataFormat = 1;

// In `txn`, a write transaction on the file `path` of database `database` whose meta sub-db is
// `meta`: writes kDataFormat when the file holds no format or an older one, and sets
// *found to the format the file held (0: none). Conflict, naming both formats, when the file's
// format is newer than kDataFormat (nothing is written); Corruption when the entry is malformed.
Status AdoptDataFormat(MDB_txn* txn, MDB_dbi meta, const std::string& database,
                       const std::string& path, uint64_t* found);

}  // namespace meshdb::storage
