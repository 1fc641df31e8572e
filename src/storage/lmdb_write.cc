#include "storage/lmdb_write.h"

#include <string>

#include "storage/write_ahead_log.h"

namespace meshdb::storage {
namespace {

WriteAheadLog* LogOf(MDB_txn* txn) { return WriteAheadLog::Of(mdb_txn_env(txn)); }

}  // namespace

int LmdbDbiOpen(MDB_txn* txn, const char* name, unsigned flags, MDB_dbi* dbi) {
  int rc = mdb_dbi_open(txn, name, flags, dbi);
  if (rc != 0) return rc;
  if (WriteAheadLog* wal = LogOf(txn)) {
    wal->RegisterDbi(*dbi, name == nullptr ? "" : name);
    if ((flags & MDB_CREATE) != 0) wal->RecordOpen(*dbi, flags);
  }
  return rc;
}

int LmdbPut(MDB_txn* txn, MDB_dbi dbi, MDB_val* key, MDB_val* value, unsigned flags) {
  int rc = mdb_put(txn, dbi, key, value, flags);
  if (rc == 0) {
    if (WriteAheadLog* wal = LogOf(txn)) wal->RecordPut(dbi, *key, *value);
  }
  return rc;
}

int LmdbDel(MDB_txn* txn, MDB_dbi dbi, MDB_val* key, MDB_val* value) {
  int rc = mdb_del(txn, dbi, key, value);
  if (rc == 0) {
    if (WriteAheadLog* wal = LogOf(txn)) wal->RecordDel(dbi, *key, value);
  }
  return rc;
}

int LmdbCursorPut(MDB_cursor* cursor, MDB_val* key, MDB_val* value, unsigned flags) {
  int rc = mdb_cursor_put(cursor, key, value, flags);
  if (rc == 0) {
    if (WriteAheadLog* wal = LogOf(mdb_cursor_txn(cursor))) {
      wal->RecordPut(mdb_cursor_dbi(cursor), *key, *value);
    }
  }
  return rc;
}

int LmdbCursorDel(MDB_cursor* cursor) {
  WriteAheadLog* wal = LogOf(mdb_cursor_txn(cursor));
  if (wal == nullptr) return mdb_cursor_del(cursor, 0);
  // The entry's bytes live in a page the delete changes: keep a copy to record.
  MDB_val k, v;
  int rc = mdb_cursor_get(cursor, &k, &v, MDB_GET_CURRENT);
  if (rc != 0) return rc;
  std::string key(static_cast<const char*>(k.mv_data), k.mv_size);
  std::string value(static_cast<const char*>(v.mv_data), v.mv_size);
  rc = mdb_cursor_del(cursor, 0);
  if (rc == 0) {
    MDB_val kk = ToVal(key), vv = ToVal(value);
    wal->RecordDel(mdb_cursor_dbi(cursor), kk, &vv);
  }
  return rc;
}

int LmdbClear(MDB_txn* txn, MDB_dbi dbi) {
  int rc = mdb_drop(txn, dbi, 0);
  if (rc == 0) {
    if (WriteAheadLog* wal = LogOf(txn)) wal->RecordClear(dbi);
  }
  return rc;
}

void SkipWriteAheadLog(MDB_txn* txn) {
  if (WriteAheadLog* wal = LogOf(txn)) wal->SkipLog();
}

}  // namespace meshdb::storage
