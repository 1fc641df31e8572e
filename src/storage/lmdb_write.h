// Every change meshdb makes to an LMDB environment goes through these functions, never through
// mdb_put & co. directly: when the environment has a write-ahead log (write_ahead_log.h), each
// change that LMDB accepted is recorded for the transaction's log frame. Without a log they are
// the plain LMDB calls. Each returns LMDB's return code, as the call it wraps.
//
// A sub-database must be opened with LmdbDbiOpen (which names it for the log) before it is
// written; a write to one the log cannot name makes the transaction commit unlogged, followed
// by a checkpoint (slow but safe).
#pragma once

#include <lmdb.h>

namespace meshdb::storage {

int LmdbDbiOpen(MDB_txn* txn, const char* name, unsigned flags, MDB_dbi* dbi);
int LmdbPut(MDB_txn* txn, MDB_dbi dbi, MDB_val* key, MDB_val* value, unsigned flags);
// `value` nullptr deletes every value of `key`.
int LmdbDel(MDB_txn* txn, MDB_dbi dbi, MDB_val* key, MDB_val* value);
int LmdbCursorPut(MDB_cursor* cursor, MDB_val* key, MDB_val* value, unsigned flags);
// Deletes the entry at the cursor (flags 0: only that value of a DUPSORT key).
int LmdbCursorDel(MDB_cursor* cursor);
// Empties the sub-database (mdb_drop(txn, dbi, 0)).
int LmdbClear(MDB_txn* txn, MDB_dbi dbi);

// This transaction writes too much to be worth logging (an index build): it commits unlogged
// and a checkpoint makes it durable before Commit returns. No-op without a log.
void SkipWriteAheadLog(MDB_txn* txn);

}  // namespace meshdb::storage
