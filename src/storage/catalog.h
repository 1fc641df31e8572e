// In-memory catalog of one database environment: its LMDB handles and table states.
// Private to storage/.
//
// Ownership: a Database is held by shared_ptr, by the Store's catalog and by every Snapshot
// made on it, so a snapshot stays valid when the database is dropped concurrently (the
// environment closes when the last holder lets go).
#pragma once

#include <lmdb.h>

#include <atomic>
#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "common/thread_annotations.h"
#include "storage/index_key.h"
#include "storage/lmdb_handles.h"
#include "storage/store.h"
#include "storage/stored_record.h"

namespace meshdb::storage {

class IndexCollector;  // index_build.h

// Sub-database names and meta keys (docs/storage.md).
inline constexpr const char* kMetaDb = "meta";
inline constexpr const char* kLogDb = "txlog";
inline constexpr const char* kMetaLastSequence = "last_sequence";
inline constexpr const char* kMetaSchemaVersion = "schema_version";
inline constexpr const char* kMetaMaxVersion = "max_version";     // highest HLC version stored
inline constexpr std::string_view kMetaVectorPrefix = "vv:";      // + u32 big-endian origin
inline constexpr std::string_view kMetaCursorPrefix = "cursor:";  // + peer name
// First retained log sequence (1 when never trimmed); see retention.cc.
inline constexpr const char* kMetaLogStart = "log_start";
// + peer name: highest of OUR log sequences that peer confirmed (Ack); bounds trimming.
inline constexpr std::string_view kMetaConfirmedPrefix = "confirmed:";
std::string MetaVectorKey(uint32_t origin);
inline std::string MetaCursorKey(const std::string& peer) {
  return std::string(kMetaCursorPrefix) + peer;
}
inline std::string RecordsDbName(const std::string& table) { return "r:" + table; }
inline std::string IndexDbName(const std::string& table) { return "x:" + table; }
// The index's staged level (index_levels.h).
inline std::string StagedIndexDbName(const std::string& table) { return "xs:" + table; }
inline std::string MetaTableKey(const std::string& table) { return "table:" + table; }
inline std::string MetaStatsKey(const std::string& table) { return "stats:" + table; }
// A compact-keyed table's index key layout (index_key.h); absent for legacy-keyed tables.
inline constexpr std::string_view kMetaIndexKeysPrefix = "index_keys:";
inline std::string MetaIndexKeysKey(const std::string& table) {
  return std::string(kMetaIndexKeysPrefix) + table;
}
// Present while a table's secondary index is deferred by an initial copy (index_build.h).
inline constexpr std::string_view kMetaIndexPendingPrefix = "index_pending:";
inline std::string MetaIndexPendingKey(const std::string& table) {
  return std::string(kMetaIndexPendingPrefix) + table;
}

// One table: immutable once published (the writer publishes a new one on change), apart from
// the counters, which only the writer thread stores to.
struct TableState {
  TableDef def;
  MDB_dbi records_dbi = 0;
  MDB_dbi index_dbi = 0;         // the index's main level
  MDB_dbi staged_index_dbi = 0;  // its staged level (index_levels.h)
  // How index_dbi's keys are laid out; RebuildPositions gives new attributes their ids.
  IndexKeyLayout index_keys;
  // attribute name -> position in def.attributes
  std::unordered_map<std::string, size_t> attr_pos;

  mutable std::atomic<uint64_t> record_count{0};
  mutable std::atomic<double> last_updated_ms{0};  // 0: never written

  const AttributeDef* Find(const std::string& name) const {
    auto it = attr_pos.find(name);
    return it == attr_pos.end() ? nullptr : &def.attributes[it->second];
  }
  // Also assigns index key ids to attributes that have none.
  void RebuildPositions();
  // A copy with the same handles and counters (for the writer to extend).
  std::shared_ptr<TableState> Clone() const;
};

// Opens `table`'s sub-dbs in `txn` (creating the ones missing) into `state`'s handles. Handles
// opened in a write transaction that aborts are closed by LMDB.
Status OpenTableSubDbs(MDB_txn* txn, const std::string& table, TableState* state);

struct Database {
  std::string name;
  std::string path;  // <database_dir>/<name>.mdb
  LmdbEnv env;
  MDB_dbi meta_dbi = 0;
  MDB_dbi log_dbi = 0;
  std::atomic<uint64_t> last_sequence{0};
  std::atomic<uint64_t> schema_version{0};
  uint64_t max_version = 0;  // as loaded at open (the writer keeps it current in meta)
  std::atomic<bool> dropped{false};
  // Compression dictionaries of the records sub-dbs (stored_record.h); thread-safe.
  mutable RecordDictionaries record_dicts;
  // Writer thread only: tables whose secondary index waits for the end of an initial copy
  // (meta "index_pending:<t>"; docs/storage.md "Deferred index build").
  std::set<std::string> index_pending;
  // Writer thread only: for pending tables marked by this process, the index entries of every
  // row the copy appended since the marker (index_build.h IndexCollector). A table without
  // one, or whose rows were written any other way, gets its index rebuilt from its rows.
  std::map<std::string, std::shared_ptr<IndexCollector>> index_collectors;
  // Writer thread only: per table, where the next move of staged index entries to the main
  // level starts (index_levels.h MoveStagedEntries); empty: at the first key. Not persisted.
  std::map<std::string, std::string> index_move_positions;

  // Peer -> highest of our log sequences it confirmed (loaded from meta at open, raised by
  // NotePeerConfirmed, persisted by TrimLog).
  common::Mutex confirmed_mu;
  std::map<std::string, uint64_t> confirmed GUARDED_BY(confirmed_mu);

  mutable common::SharedMutex mu;
  // The writer thread mutates it under a unique lock and may read it without one
  // (WriterTables); other threads read under a shared lock.
  std::map<std::string, std::shared_ptr<const TableState>> tables GUARDED_BY(mu);

  std::shared_ptr<const TableState> FindTable(const std::string& table) const {
    common::ReaderMutexLock lock(mu);
    auto it = tables.find(table);
    return it == tables.end() ? nullptr : it->second;
  }
  // Writer thread only (or before the database is shared): no lock, since only the writer
  // changes `tables`. The analysis cannot see thread identity, hence the opt-out.
  const std::map<std::string, std::shared_ptr<const TableState>>& WriterTables() const
      NO_THREAD_SAFETY_ANALYSIS {
    return tables;
  }
};

// The record bytes (record_codec.h) of a value read from one of `db`'s records sub-dbs, which
// may be stored compressed (stored_record.h): the value itself, or decompressed into *scratch.
inline Result<std::string_view> UnpackRecord(MDB_txn* txn, const Database& db,
                                             std::string_view stored, std::string* scratch) {
  return UnpackStoredRecord(txn, db.meta_dbi, db.record_dicts, stored, scratch);
}

// Puts `table`'s definition ("table:<t>") and, when compact, its index key layout
// ("index_keys:<t>") into meta.
Status PutTableDefinition(MDB_txn* txn, MDB_dbi meta_dbi, const TableState& table);

// The normal form every stored definition has: the primary key first; for untyped tables
// __createdtime__ and __updatedtime__ next; then the other attributes, duplicates dropped.
TableDef NormalizeTableDef(const TableDef& in);

// Stats value in meta: [u64 record_count][u64 bits of last_updated_ms double].
std::string EncodeTableStats(uint64_t count, double last_updated_ms);
void DecodeTableStats(std::string_view bytes, uint64_t* count, double* last_updated_ms);

std::string TableNotFound(const std::string& database, const std::string& table);
std::string DatabaseNotFound(const std::string& database);

}  // namespace meshdb::storage
