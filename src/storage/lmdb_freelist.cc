#include "storage/lmdb_freelist.h"

#include <cstring>

namespace meshdb::storage {
namespace {

constexpr MDB_dbi kFreeDbi = 0;  // mdb.c: FREE_DBI

}  // namespace

LmdbFreelistReader::~LmdbFreelistReader() {
  if (txn_ != nullptr) mdb_txn_abort(txn_);
}

uint64_t LmdbFreelistReader::PagesFreedBy(uint64_t txnid) {
  int rc = txn_ == nullptr ? mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn_) : mdb_txn_renew(txn_);
  if (rc != 0) return 0;
  uint64_t pages = 0;
  MDB_cursor* cursor = nullptr;
  if (mdb_cursor_open(txn_, kFreeDbi, &cursor) == 0) {
    size_t key_id = txnid;  // the tree's keys are size_t (MDB_INTEGERKEY)
    MDB_val key{sizeof key_id, &key_id};
    MDB_val value;
    if (mdb_cursor_get(cursor, &key, &value, MDB_SET) == 0 && value.mv_size >= sizeof(size_t)) {
      size_t count = 0;
      std::memcpy(&count, value.mv_data, sizeof count);
      pages = count;
    }
    mdb_cursor_close(cursor);
  }
  mdb_txn_reset(txn_);
  return pages;
}

}  // namespace meshdb::storage
