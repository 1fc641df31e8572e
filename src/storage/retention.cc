// Transaction-log retention: peer confirmations, TrimLog and tombstone purge (store.h
// "Retention"; docs/replication.md "Retention and merge resync").
//
// Rules:
//  - time: an entry older than policy.max_age_ms goes, unless its sequence is above the
//    lowest position a known peer confirmed;
//  - size: while the log tree is larger than policy.max_bytes the oldest entries go, even
//    past confirmed positions (those peers are reported in TrimResult::peers_passed);
//  - the last entry always stays (LastSequence reads the log);
//  - tombstones whose version is older than every retained entry AND older than the entry
//    after the lowest confirmed position are purged (a peer that fell out of the log blocks
//    the purge until it confirms again, so a merge never resurrects a deleted row).
#include <lmdb.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "common/hlc.h"
#include "storage/catalog.h"
#include "storage/lmdb_handles.h"
#include "storage/lmdb_write.h"
#include "storage/record_codec.h"
#include "storage/snapshot_impl.h"
#include "storage/store_impl.h"

namespace meshdb::storage {
namespace {

// Version of a log entry value: [u8 format][u32 origin][u64 origin_sequence][u64 version].
uint64_t LogValueVersion(const MDB_val& v) {
  if (v.mv_size < 21) return 0;
  return GetU64(static_cast<const char*>(v.mv_data) + 13);
}

Result<uint64_t> ReadMetaU64(MDB_txn* txn, MDB_dbi dbi, std::string_view key, uint64_t dflt) {
  MDB_val k = ToVal(key), v;
  int rc = mdb_get(txn, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return dflt;
  if (rc != 0) return LmdbError("get meta", rc);
  if (v.mv_size != 8) return Status::Corruption("bad meta value for " + std::string(key));
  return GetU64(static_cast<const char*>(v.mv_data));
}

Status PutMetaU64(MDB_txn* txn, MDB_dbi dbi, std::string_view key, uint64_t value) {
  std::string bytes = SequenceKey(value);
  MDB_val k = ToVal(key), v = ToVal(bytes);
  int rc = LmdbPut(txn, dbi, &k, &v, 0);
  return rc == 0 ? Status::Ok() : LmdbError("put meta", rc);
}

// Commits `positions` as db's "confirmed:<peer>" entries (a dropped database: nothing).
Status PersistConfirmed(Database& db, const std::map<std::string, uint64_t>& positions) {
  ASSIGN_OR_RETURN(WriteTxn txn, WriteTxn::Begin(db.env.get()));
  if (db.dropped.load()) return Status::Ok();
  for (const auto& [peer, seq] : positions) {
    RETURN_IF_ERROR(
        PutMetaU64(txn.get(), db.meta_dbi, std::string(kMetaConfirmedPrefix) + peer, seq));
  }
  return txn.Commit();
}

}  // namespace

Result<uint64_t> SnapshotImpl::LogStart() {
  return ReadMetaU64(txn_.get(), db_->meta_dbi, kMetaLogStart, 1);
}

void StoreImpl::NotePeerConfirmed(const std::string& database, const std::string& peer_name,
                                  uint64_t sequence) {
  if (peer_name.empty()) return;
  auto db = FindDatabase(database);
  if (!db) {
    common::MutexLock lock(pending_confirmed_mu_);
    db = FindDatabase(database);  // published meanwhile?
    if (!db) {
      uint64_t& held = pending_confirmed_[database][peer_name];
      held = std::max(held, sequence);
      return;
    }
  }
  bool is_new = false;
  {
    common::MutexLock lock(db->confirmed_mu);
    auto [it, inserted] = db->confirmed.try_emplace(peer_name, sequence);
    is_new = inserted;
    it->second = std::max(it->second, sequence);
  }
  if (!is_new) return;
  // A newly known peer is persisted at once (not only by the next TrimLog), so a crash
  // right after it subscribed cannot make it unknown. Fire and forget, on the writer.
  (void)PostToWriter([db, peer_name] {
    std::map<std::string, uint64_t> position;
    {
      common::MutexLock lock(db->confirmed_mu);
      position[peer_name] = db->confirmed[peer_name];
    }
    (void)PersistConfirmed(*db, position);
  });
}

Status StoreImpl::PublishNewDatabase(const std::string& name, const std::shared_ptr<Database>& db) {
  AssertOnWriterThread();
  common::MutexLock lock(pending_confirmed_mu_);
  auto held = pending_confirmed_.find(name);
  if (held != pending_confirmed_.end()) {
    // Durable before any write to the database: a crash cannot leave it holding rows but
    // not knowing the peers that subscribed to it.
    RETURN_IF_ERROR(PersistConfirmed(*db, held->second));
    common::MutexLock confirmed_lock(db->confirmed_mu);  // not shared yet; for the analysis
    db->confirmed = held->second;
  }
  {
    common::WriterMutexLock databases_lock(mu_);
    databases_[name] = db;
  }
  if (held != pending_confirmed_.end()) pending_confirmed_.erase(held);
  return Status::Ok();
}

void StoreImpl::ForgetPeer(const std::string& peer_name) {
  {
    common::MutexLock lock(pending_confirmed_mu_);
    for (auto& [database, peers] : pending_confirmed_) peers.erase(peer_name);
    std::erase_if(pending_confirmed_, [](const auto& entry) { return entry.second.empty(); });
  }
  for (const std::string& database : ListDatabases()) ForgetPeerIn(database, peer_name);
}

void StoreImpl::ForgetPeerIn(const std::string& database, const std::string& peer_name) {
  auto db = FindDatabase(database);
  if (!db) return;
  bool was_confirmed = false;
  {
    common::MutexLock lock(db->confirmed_mu);
    was_confirmed = db->confirmed.erase(peer_name) > 0;
  }
  // The subscription view ("view:<peer>") goes whether or not a position was known.
  (void)PostToWriter([db, peer_name, was_confirmed] {
    auto txn = WriteTxn::Begin(db->env.get());
    if (!txn.ok() || db->dropped.load()) return;
    bool known_again = false;
    {
      common::MutexLock lock(db->confirmed_mu);
      known_again = db->confirmed.contains(peer_name);
    }
    std::vector<std::string> keys = {MetaViewKey(peer_name)};
    if (was_confirmed && !known_again) {
      keys.push_back(std::string(kMetaConfirmedPrefix) + peer_name);
    }
    for (const std::string& key : keys) {
      MDB_val k = ToVal(key);
      int rc = LmdbDel(txn->get(), db->meta_dbi, &k, nullptr);
      if (rc != 0 && rc != MDB_NOTFOUND) return;
    }
    (void)txn->Commit();
  });
}

Result<std::map<std::string, uint64_t>> StoreImpl::PeerConfirmedPositions(
    const std::string& database) const {
  auto db = FindDatabase(database);
  if (!db) return Status::NotFound(DatabaseNotFound(database));
  common::MutexLock lock(db->confirmed_mu);
  return db->confirmed;
}

Result<TrimResult> StoreImpl::TrimLog(const std::string& database, const RetentionPolicy& policy) {
  Result<TrimResult> out = Status::Internal("trim did not run");
  Status st = RunOnWriter([&]() -> Status {
    auto db = FindDatabase(database);
    if (!db) return Status::NotFound(DatabaseNotFound(database));
    out = DoTrimLog(*db, policy);
    return out.status();
  });
  if (!st.ok()) return st;
  return out;
}

Result<TrimResult> StoreImpl::DoTrimLog(Database& db, const RetentionPolicy& policy) {
  AssertOnWriterThread();
  std::map<std::string, uint64_t> confirmed;
  {
    common::MutexLock lock(db.confirmed_mu);
    confirmed = db.confirmed;
  }
  uint64_t min_confirmed = std::numeric_limits<uint64_t>::max();
  for (const auto& [peer, seq] : confirmed) min_confirmed = std::min(min_confirmed, seq);

  ASSIGN_OR_RETURN(WriteTxn txn, WriteTxn::Begin(db.env.get()));
  TrimResult result;
  ASSIGN_OR_RETURN(result.log_start, ReadMetaU64(txn.get(), db.meta_dbi, kMetaLogStart, 1));

  MDB_stat stat;
  int rc = mdb_stat(txn.get(), db.log_dbi, &stat);
  if (rc != 0) return LmdbError("stat txlog", rc);
  const uint64_t log_bytes = (stat.ms_branch_pages + stat.ms_leaf_pages + stat.ms_overflow_pages) *
                             uint64_t{stat.ms_psize};
  const uint64_t excess =
      policy.max_bytes > 0 && log_bytes > policy.max_bytes ? log_bytes - policy.max_bytes : 0;
  const uint64_t cutoff_ms = policy.max_age_ms > 0 && policy.now_ms > policy.max_age_ms
                                 ? policy.now_ms - policy.max_age_ms
                                 : 0;
  uint64_t removed_bytes = 0;
  uint64_t highest_removed = 0;
  uint64_t first_kept_version = 0;
  uint64_t confirmed_next_version = std::numeric_limits<uint64_t>::max();
  {
    ASSIGN_OR_RETURN(Cursor cursor, Cursor::Open(txn.get(), db.log_dbi));
    MDB_val k, v, lk, lv;
    rc = mdb_cursor_get(cursor.get(), &lk, &lv, MDB_LAST);
    const uint64_t last =
        rc == 0 && lk.mv_size == 8 ? GetU64(static_cast<const char*>(lk.mv_data)) : 0;
    for (rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
      if (k.mv_size != 8) return Status::Corruption("bad txlog key");
      const uint64_t seq = GetU64(static_cast<const char*>(k.mv_data));
      const uint64_t version = LogValueVersion(v);
      if (seq == min_confirmed + 1) confirmed_next_version = version;
      const bool by_time =
          cutoff_ms > 0 && HybridClock::Millis(version) < cutoff_ms &&
          (min_confirmed == std::numeric_limits<uint64_t>::max() || seq <= min_confirmed);
      const bool by_size = removed_bytes < excess;
      if (seq >= last || result.entries_removed >= policy.max_entries || (!by_time && !by_size)) {
        first_kept_version = version;
        result.log_start = seq;
        break;
      }
      removed_bytes += k.mv_size + v.mv_size + 16;  // + node header, roughly
      highest_removed = seq;
      rc = LmdbCursorDel(cursor.get());
      if (rc != 0) return LmdbError("trim txlog", rc);
      ++result.entries_removed;
    }
    if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("scan txlog", rc);
  }
  for (const auto& [peer, seq] : confirmed) {
    if (highest_removed > seq) result.peers_passed.push_back(peer);
  }
  RETURN_IF_ERROR(PutMetaU64(txn.get(), db.meta_dbi, kMetaLogStart, result.log_start));
  for (const auto& [peer, seq] : confirmed) {
    RETURN_IF_ERROR(
        PutMetaU64(txn.get(), db.meta_dbi, std::string(kMetaConfirmedPrefix) + peer, seq));
  }

  // Tombstone purge: only below every retained entry and below what every peer still needs.
  if (result.entries_removed > 0 && first_kept_version > 0) {
    uint64_t horizon = first_kept_version;
    if (min_confirmed != std::numeric_limits<uint64_t>::max()) {
      if (min_confirmed + 1 < result.log_start)
        horizon = 0;  // a peer fell out of the log
      else
        horizon = std::min(horizon, confirmed_next_version);
    }
    if (horizon > 0) {
      std::vector<MDB_dbi> dbis;
      {
        common::ReaderMutexLock lock(db.mu);
        for (const auto& [name, t] : db.tables) dbis.push_back(t->records_dbi);
      }
      for (MDB_dbi dbi : dbis) {
        ASSIGN_OR_RETURN(Cursor cursor, Cursor::Open(txn.get(), dbi));
        MDB_val k, v;
        for (rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
          RecordHeader header;
          std::string_view json;
          // Tombstones are always stored raw (stored_record.h): a compressed value is a live
          // row, and like any value that is not a record header it is left alone.
          if (!DecodeRecordHeader(FromVal(v), &header, &json).ok()) continue;
          if (header.tombstone && header.version < horizon) {
            rc = LmdbCursorDel(cursor.get());
            if (rc != 0) return LmdbError("purge tombstone", rc);
          }
        }
        if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("scan for tombstones", rc);
      }
    }
  }
  RETURN_IF_ERROR(txn.Commit());
  return result;
}

}  // namespace meshdb::storage
