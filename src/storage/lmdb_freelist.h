// How many pages an LMDB transaction freed, read from LMDB's free-page tree: what lets the
// write-ahead log (write_ahead_log.h) know how much its checkpoint's pin keeps from reuse.
//
// A commit records the pages it freed in the free-page tree (FREE_DBI, dbi 0) under its txnid:
// the value is a page-number list whose first word is the list's length, as LMDB 0.9's
// `mdb_stat -f` reads it. A record stays until a later transaction reuses its pages, which
// LMDB does only when no reader is older than the transaction that freed them.
#pragma once

#include <lmdb.h>

#include <cstdint>

namespace meshdb::storage {

// Reads freed-page counts through one reusable read transaction. Not thread-safe: one user.
class LmdbFreelistReader {
 public:
  explicit LmdbFreelistReader(MDB_env* env) : env_(env) {}
  ~LmdbFreelistReader();
  LmdbFreelistReader(const LmdbFreelistReader&) = delete;
  LmdbFreelistReader& operator=(const LmdbFreelistReader&) = delete;

  // Pages committed transaction `txnid` freed; 0 when it freed none, when its record was
  // already reused, or when the tree cannot be read (the caller's trigger is a heuristic).
  uint64_t PagesFreedBy(uint64_t txnid);

 private:
  MDB_env* const env_;
  MDB_txn* txn_ = nullptr;  // reset between calls
};

}  // namespace meshdb::storage
