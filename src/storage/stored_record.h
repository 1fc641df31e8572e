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
// are compressed with (0: none). It is trained once from the first kDictTrainRows rows when
// the table first holds that many (PackRecord hands the rows to a DictionaryTraining, which
// may train elsewhere and install the result later; rows stay raw meanwhile); a dropped and
// re-created table keeps using it (any dictionary decodes any row that names it; it only
// compresses less well).
// Thread-safety: RecordDictionaries is thread-safe; the functions take the caller's
// transaction and may run on any thread, except the ones that write (writer thread, write
// txn). TrainRecordDictionary needs no transaction.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// The dictionary entry of `table` ("zdict_table:<t>"): nullopt when it has none yet, 0 when
// its rows are compressed without one. Corruption on a malformed entry.
Result<std::optional<uint32_t>> TableDictionaryId(MDB_txn* txn, MDB_dbi meta,
                                                  const std::string& table);

// Documents to train a table's dictionary from (concatenated, with their sizes).
struct DictionarySamples {
  std::string bytes;
  std::vector<size_t> sizes;
};

// The documents of the first live rows of `records` (at most 2 * kDictTrainRows rows and
// about kDictTrainMaxSampleBytes), as `txn` sees them.
Status CollectDictionarySamples(MDB_txn* txn, MDB_dbi meta, MDB_dbi records,
                                RecordDictionaries& dicts, DictionarySamples* out);

// A dictionary trained from `samples` (ZDICT_trainFromBuffer, ~0.6 s for 1000 rows), or ""
// when zstd finds nothing worth one or it does not load. Any thread; no transaction.
std::string TrainRecordDictionary(const DictionarySamples& samples);

// Installs a trained dictionary (`dict`, "" for none) as `table`'s when the table has none:
// writes "zdict:<id>" unless meta holds these bytes already (other bytes under the id, a
// collision: the table gets 0, compressed without one, as for ""), then "zdict_table:<t>".
// A table that has an entry (trained or adopted meanwhile) keeps it and `dict` is dropped.
// Returns the table's entry afterwards. Writer thread, write txn.
Result<uint32_t> InstallTableDictionary(MDB_txn* txn, MDB_dbi meta, const std::string& table,
                                        std::string_view dict);

// What PackRecord does when a table first holds kDictTrainRows rows and has no dictionary.
class DictionaryTraining {
 public:
  virtual ~DictionaryTraining() = default;
  // Writer thread, in `txn`, which holds the table's rows in `records`: the dictionary id the
  // row being packed is compressed with (as TableDictionaryId), or nullopt to store it raw
  // for now (a training was handed elsewhere, or is under way).
  virtual Result<std::optional<uint32_t>> Start(MDB_txn* txn, MDB_dbi meta, MDB_dbi records,
                                                RecordDictionaries& dicts,
                                                const std::string& table) = 0;
};

// Trains and installs in `txn`, while the caller waits (the store trains in the background:
// storage/dictionary_trainer.h). For tests of this module and tools.
class InlineDictionaryTraining final : public DictionaryTraining {
 public:
  Result<std::optional<uint32_t>> Start(MDB_txn* txn, MDB_dbi meta, MDB_dbi records,
                                        RecordDictionaries& dicts,
                                        const std::string& table) override;
};

// What to store in "r:<table>" for `record` (format-1 record bytes): `record` itself, or a
// compressed value built in *scratch. When the table first holds kDictTrainRows rows without
// a dictionary, asks `training` (in `txn`, whose `records` it may scan). Writer thread only.
Result<std::string_view> PackRecord(MDB_txn* txn, MDB_dbi meta, MDB_dbi records,
                                    RecordDictionaries& dicts, DictionaryTraining& training,
                                    const std::string& table, std::string_view record,
                                    std::string* scratch);

}  // namespace meshdb::storage
