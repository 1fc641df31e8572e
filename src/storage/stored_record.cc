#include "storage/stored_record.h"

#include <vector>

#include "storage/lmdb_handles.h"
#include "storage/lmdb_write.h"
#include "storage/record_codec.h"

namespace meshdb::storage {
namespace {

void PutU32(std::string* out, uint32_t v) {
  for (int shift : {24, 16, 8, 0}) out->push_back(static_cast<char>(v >> shift));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string DictKey(uint32_t id) {
  std::string k(kMetaDictPrefix);
  PutU32(&k, id);
  return k;
}

std::string TableDictKey(const std::string& table) {
  return std::string(kMetaTableDictPrefix) + table;
}

}  // namespace

Result<std::shared_ptr<const ZstdDictionary>> RecordDictionaries::Get(MDB_txn* txn, MDB_dbi meta,
                                                                      uint32_t id) {
  {
    common::MutexLock lock(mu_);
    auto it = by_id_.find(id);
    if (it != by_id_.end()) return it->second;
  }
  std::string key = DictKey(id);
  MDB_val k = ToVal(key), v;
  int rc = mdb_get(txn, meta, &k, &v);
  if (rc == MDB_NOTFOUND) {
    return Status::Corruption("record names compression dictionary " + std::to_string(id) +
                              ", which meta lacks");
  }
  if (rc != 0) return LmdbError("read dictionary", rc);
  auto dict = ZstdDictionary::Load(FromVal(v), kRecordCompressLevel);
  if (dict == nullptr) {
    return Status::Corruption("compression dictionary " + std::to_string(id) + " is unusable");
  }
  common::MutexLock lock(mu_);
  return by_id_.emplace(id, std::move(dict)).first->second;
}

Result<std::optional<uint32_t>> StoredRecordDictionaryId(std::string_view stored) {
  if (stored.empty() || static_cast<unsigned char>(stored[0]) != kStoredFormatZstd) {
    return std::optional<uint32_t>();
  }
  if (stored.size() < kStoredZstdHeaderBytes) return Status::Corruption("bad stored record");
  return std::optional<uint32_t>(GetU32(stored.data() + 14));
}

Result<std::string_view> UnpackStoredRecordWith(std::string_view stored, const ZstdDictionary* dict,
                                                std::string* scratch) {
  if (stored.empty() || static_cast<unsigned char>(stored[0]) != kStoredFormatZstd) return stored;
  if (stored.size() < kStoredZstdHeaderBytes) return Status::Corruption("bad stored record");
  scratch->assign(stored.data(), 14);
  (*scratch)[0] = static_cast<char>(kRecordFormat);
  if (Status s = ZstdDecompress(stored.substr(kStoredZstdHeaderBytes), dict, scratch); !s.ok()) {
    return Status::Corruption("bad stored record: " + s.message());
  }
  return std::string_view(*scratch);
}

Result<std::string_view> UnpackStoredRecord(MDB_txn* txn, MDB_dbi meta, RecordDictionaries& dicts,
                                            std::string_view stored, std::string* scratch) {
  ASSIGN_OR_RETURN(std::optional<uint32_t> id, StoredRecordDictionaryId(stored));
  if (!id) return stored;
  std::shared_ptr<const ZstdDictionary> dict;
  if (*id != 0) {
    ASSIGN_OR_RETURN(dict, dicts.Get(txn, meta, *id));
  }
  return UnpackStoredRecordWith(stored, dict.get(), scratch);
}

Result<std::string> ReadRecordDictionaryBytes(MDB_txn* txn, MDB_dbi meta, uint32_t id) {
  std::string key = DictKey(id);
  MDB_val k = ToVal(key), v;
  int rc = mdb_get(txn, meta, &k, &v);
  if (rc == MDB_NOTFOUND) {
    return Status::NotFound("compression dictionary " + std::to_string(id) + " is not in meta");
  }
  if (rc != 0) return LmdbError("read dictionary", rc);
  return std::string(FromVal(v));
}

Result<DictionaryMatch> MatchRecordDictionary(MDB_txn* txn, MDB_dbi meta, uint32_t id,
                                              std::string_view bytes) {
  std::string key = DictKey(id);
  MDB_val k = ToVal(key), v;
  int rc = mdb_get(txn, meta, &k, &v);
  if (rc == MDB_NOTFOUND) return DictionaryMatch::kAbsent;
  if (rc != 0) return LmdbError("read dictionary", rc);
  return FromVal(v) == bytes ? DictionaryMatch::kSame : DictionaryMatch::kConflict;
}

Status StoreRecordDictionary(MDB_txn* txn, MDB_dbi meta, uint32_t id, std::string_view bytes) {
  std::string key = DictKey(id);
  MDB_val k = ToVal(key), v = ToVal(bytes);
  int rc = LmdbPut(txn, meta, &k, &v, 0);
  if (rc != 0) return LmdbError("write dictionary", rc);
  return Status::Ok();
}

Status AdoptTableDictionary(MDB_txn* txn, MDB_dbi meta, const std::string& table, uint32_t id) {
  std::string key = TableDictKey(table);
  std::string idv;
  PutU32(&idv, id);
  MDB_val k = ToVal(key), v = ToVal(idv);
  int rc = LmdbPut(txn, meta, &k, &v, MDB_NOOVERWRITE);
  if (rc != 0 && rc != MDB_KEYEXIST) return LmdbError("write table dictionary", rc);
  return Status::Ok();
}

Result<std::optional<uint32_t>> TableDictionaryId(MDB_txn* txn, MDB_dbi meta,
                                                  const std::string& table) {
  std::string key = TableDictKey(table);
  MDB_val k = ToVal(key), v;
  int rc = mdb_get(txn, meta, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<uint32_t>();
  if (rc != 0) return LmdbError("read table dictionary", rc);
  if (v.mv_size != 4) return Status::Corruption("bad table dictionary entry for " + table);
  return std::optional<uint32_t>(GetU32(static_cast<const char*>(v.mv_data)));
}

Status CollectDictionarySamples(MDB_txn* txn, MDB_dbi meta, MDB_dbi records,
                                RecordDictionaries& dicts, DictionarySamples* out) {
  std::string scratch;
  ASSIGN_OR_RETURN(Cursor cursor, Cursor::Open(txn, records));
  MDB_val k, v;
  int rc;
  for (rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST);
       rc == 0 && out->sizes.size() < 2 * kDictTrainRows &&
       out->bytes.size() < kDictTrainMaxSampleBytes;
       rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
    ASSIGN_OR_RETURN(std::string_view record,
                     UnpackStoredRecord(txn, meta, dicts, FromVal(v), &scratch));
    RecordHeader header;
    std::string_view json;
    RETURN_IF_ERROR(DecodeRecordHeader(record, &header, &json));
    if (header.tombstone || json.empty()) continue;
    out->bytes.append(json);
    out->sizes.push_back(json.size());
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("scan rows for a dictionary", rc);
  return Status::Ok();
}

std::string TrainRecordDictionary(const DictionarySamples& samples) {
  std::string dict = ZstdTrainDictionary(samples.bytes, samples.sizes, kDictMaxBytes);
  if (dict.empty() || ZstdDictionaryId(dict) == 0 ||
      ZstdDictionary::Load(dict, kRecordCompressLevel) == nullptr) {
    return {};
  }
  return dict;
}

Result<uint32_t> InstallTableDictionary(MDB_txn* txn, MDB_dbi meta, const std::string& table,
                                        std::string_view dict) {
  ASSIGN_OR_RETURN(std::optional<uint32_t> current, TableDictionaryId(txn, meta, table));
  if (current) return *current;  // trained or adopted meanwhile: an id in use never changes
  uint32_t id = dict.empty() ? 0 : ZstdDictionaryId(dict);
  if (id != 0) {
    ASSIGN_OR_RETURN(DictionaryMatch match, MatchRecordDictionary(txn, meta, id, dict));
    if (match == DictionaryMatch::kAbsent) {
      RETURN_IF_ERROR(StoreRecordDictionary(txn, meta, id, dict));
    } else if (match == DictionaryMatch::kConflict) {
      id = 0;  // an id taken by other bytes: none
    }
  }
  RETURN_IF_ERROR(AdoptTableDictionary(txn, meta, table, id));
  return id;
}

Result<std::optional<uint32_t>> InlineDictionaryTraining::Start(MDB_txn* txn, MDB_dbi meta,
                                                                MDB_dbi records,
                                                                RecordDictionaries& dicts,
                                                                const std::string& table) {
  DictionarySamples samples;
  RETURN_IF_ERROR(CollectDictionarySamples(txn, meta, records, dicts, &samples));
  ASSIGN_OR_RETURN(uint32_t id,
                   InstallTableDictionary(txn, meta, table, TrainRecordDictionary(samples)));
  return std::optional<uint32_t>(id);
}

Result<std::string_view> PackRecord(MDB_txn* txn, MDB_dbi meta, MDB_dbi records,
                                    RecordDictionaries& dicts, DictionaryTraining& training,
                                    const std::string& table, std::string_view record,
                                    std::string* scratch) {
  RecordHeader header;
  std::string_view json;
  RETURN_IF_ERROR(DecodeRecordHeader(record, &header, &json));
  if (header.tombstone || json.size() < kRecordCompressMinBytes) return record;
  ASSIGN_OR_RETURN(std::optional<uint32_t> id, TableDictionaryId(txn, meta, table));
  if (!id) {
    MDB_stat stat;
    if (int rc = mdb_stat(txn, records, &stat); rc != 0) return LmdbError("stat records", rc);
    if (stat.ms_entries < kDictTrainRows) return record;  // too few rows to train yet
    ASSIGN_OR_RETURN(id, training.Start(txn, meta, records, dicts, table));
    if (!id) return record;  // trained elsewhere: raw until the dictionary is installed
  }
  std::shared_ptr<const ZstdDictionary> dict;
  if (*id != 0) {
    ASSIGN_OR_RETURN(dict, dicts.Get(txn, meta, *id));
  } else if (json.size() < kRecordCompressNoDictMinBytes) {
    return record;
  }
  scratch->assign(record.data(), 14);
  (*scratch)[0] = static_cast<char>(kStoredFormatZstd);
  PutU32(scratch, *id);
  ZstdCompress(json, kRecordCompressLevel, dict.get(), scratch);
  if (scratch->size() >= record.size()) return record;
  return std::string_view(*scratch);
}

}  // namespace meshdb::storage
