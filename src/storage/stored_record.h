// Record bytes at rest in "r:<table>": compression of record documents with a per-table zstd
// dictionary. Everything outside the records sub-db — the log, replication, reads, range
// hashes — sees record bytes (record_codec.h, format 1) only; this module converts at the
// boundary.
//
// Stored value, either
//   format 1: the record bytes themselves (every tombstone, small or incompressible
//             documents, rows written before compression existed), or
//   format 2: [u8 2][u8 flags][u64 version][u32 origin]  (as format 1, same offsets)
//             [u32 dictionary id, big-endian; 0 = none][one zstd frame of the JSON document]
//
// Dictionaries live in meta, "zdict:<u32 id>" -> dictionary bytes (id = the id zstd's trainer
// writes into it, a hash of its content), never changed or deleted once written, so a stored
// row can always be decoded. "zdict_table:<t>" -> u32 id: the dictionary new rows of table t
// are compressed with (0: none). It is trained once, by the writer, from the first
// kDictTrainRows rows when the table first holds that many; a dropped and re-created table
// keeps using it (any dictionary decodes any row that names it; it only compresses less well).
// Thread-safety: RecordDictionaries is thread-safe; the functions take the caller's
// transaction and may run on any thread, except PackRecord (writer thread, write txn).
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "storage/zstd_frame.h"

namespace meshdb::storage {

inline constexpr unsigned char kStoredFormatZstd = 2;
inline constexpr size_t kStoredZstdHeaderBytes = 14 + 4;
inline constexpr std::string_view kMetaDictPrefix = "zdict:";
inline constexpr std::string_view kMetaTableDictPrefix = "zdict_table:";
// Rows a table holds before its dictionary is trained, and most samples the training reads.
inline constexpr uint64_t kDictTrainRows = 1000;
inline constexpr size_t kDictTrainMaxSampleBytes = size_t{1} << 20;
inline constexpr size_t kDictMaxBytes = size_t{16} * 1024;
inline constexpr int kRecordCompressLevel = 3;
// Documents shorter than this are stored raw; without a dictionary, shorter than the second.
inline constexpr size_t kRecordCompressMinBytes = 48;
inline constexpr size_t kRecordCompressNoDictMinBytes = 256;

// One database's dictionaries, by id, loaded from meta on first use and kept.
class RecordDictionaries {
 public:
  // The dictionary `id` as `txn` sees meta. Corruption when meta lacks it or it is unusable.
  Result<std::shared_ptr<const ZstdDictionary>> Get(MDB_txn* txn, MDB_dbi meta, uint32_t id);

 private:
  common::Mutex mu_;
  std::map<uint32_t, std::shared_ptr<const ZstdDictionary>> by_id_ GUARDED_BY(mu_);
};

// Record bytes (format 1) of a stored value: `stored` itself when it is stored raw, else the
// decompressed record built in *scratch. Corruption on a malformed value.
Result<std::string_view> UnpackStoredRecord(MDB_txn* txn, MDB_dbi meta, RecordDictionaries& dicts,
                                            std::string_view stored, std::string* scratch);

// The dictionary id a stored value names: nullopt when it is stored raw (format 1), 0 when it
// was compressed without a dictionary. Corruption when a format-2 value is too short.
Result<std::optional<uint32_t>> StoredRecordDictionaryId(std::string_view stored);

// UnpackStoredRecord with the dictionary given (null: the value names none, or is raw);
// Corruption when the value is malformed or does not decompress with it.
Result<std::string_view> UnpackStoredRecordWith(std::string_view stored, const ZstdDictionary* dict,
                                                std::string* scratch);

// The bytes of dictionary `id` in meta; NotFound when meta lacks it.
Result<std::string> ReadRecordDictionaryBytes(MDB_txn* txn, MDB_dbi meta, uint32_t id);

// What meta holds under a dictionary id another node's rows name.
enum class DictionaryMatch {
  kAbsent,    // nothing: the bytes can be stored under the id
  kSame,      // these very bytes
  kConflict,  // other bytes (an id collision): rows naming the id cannot be stored as they are
};
Result<DictionaryMatch> MatchRecordDictionary(MDB_txn* txn, MDB_dbi meta, uint32_t id,
                                              std::string_view bytes);

// Stores another node's dictionary under `id` in meta (the caller checked kAbsent). Writer
// thread.
Status StoreRecordDictionary(MDB_txn* txn, MDB_dbi meta, uint32_t id, std::string_view bytes);

// Makes dictionary `id` (in meta) `table`'s dictionary for new rows when the table has none
// yet; a table that has one (trained, or adopted before) keeps it. Writer thread.
Status AdoptTableDictionary(MDB_txn* txn, MDB_dbi meta, const std::string& table, uint32_t id);

// What to store in "r:<table>" for `record` (format-1 record bytes): `record` itself, or a
// compressed value built in *scratch. May train and persist the table's dictionary (in `txn`,
// scanning `records`). Writer thread only.
Result<std::string_view> PackRecord(MDB_txn* txn, MDB_dbi meta, MDB_dbi records,
                                    RecordDictionaries& dicts, const std::string& table,
                                    std::string_view record, std::string* scratch);

}  // namespace meshdb::storage
