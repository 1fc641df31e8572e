// RAII owners of LMDB handles: the environment, read-only and read-write transactions.
//
// Each owner deletes copy and may be moved. A WriteTxn aborts in its destructor unless Commit()
// ran (as in lmdbxx). LMDB errors become Status::IOError with the mdb_strerror text, except
// MDB_NOTFOUND, which callers test for themselves.
//
// Thread-safety: an LmdbEnv is safe to share between threads (opened with MDB_NOTLS, so a
// ReadTxn may be used by any single thread at a time). A WriteTxn belongs to the thread that
// began it; only the storage writer thread makes them.
#pragma once

#include <lmdb.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"
#include "storage/write_ahead_log_options.h"

namespace meshdb::storage {

class WriteAheadLog;

// IOError "<what>: <mdb_strerror(rc)>".
Status LmdbError(std::string_view what, int rc);

inline MDB_val ToVal(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline std::string_view FromVal(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

struct LmdbEnvOptions {
  uint64_t map_size_bytes = 1ull << 30;
  // meta, txlog and three per table (records, index and its staged level): 511 tables, as many
  // as a file of the two-level-less format could hold with 1024, so every such file opens.
  unsigned max_dbs = 1536;
  unsigned max_readers = 1024;
  bool durable = true;  // false: MDB_NOSYNC
  // true (with durable, without write_map): commits are made durable by a write-ahead log
  // beside the data file and LMDB runs MDB_NOSYNC (write_ahead_log.h). false: LMDB's own
  // two syncs per commit.
  bool write_ahead_log = true;
  // With the log: when it checkpoints (LMDB's pages synced).
  WriteAheadLogOptions log_options;
  // false (with durable): MDB_NOMETASYNC, an unsafe mode for storage_bench only
  // (StoreOptions::CommitSync::kUnsafeNoMetaSync).
  bool sync_meta = true;
  // true: MDB_WRITEMAP, see StoreOptions::write_map.
  bool write_map = false;
};

class LmdbEnv {
 public:
  LmdbEnv();
  ~LmdbEnv();
  LmdbEnv(LmdbEnv&& other) noexcept;
  LmdbEnv& operator=(LmdbEnv&& other) noexcept;
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;

  // Opens (creating if missing) the single-file environment `path` (MDB_NOSUBDIR: the data
  // file is `path`, the lock file `path` + "-lock"; with a write-ahead log also its files,
  // after recovering from them). IOError on failure.
  static Result<LmdbEnv> Open(const std::string& path, const LmdbEnvOptions& options);

  [[nodiscard]] MDB_env* get() const { return env_; }

  // Keeps at least half a headroom of allocated file space beyond the last used page,
  // allocating (posix_fallocate) up to used + headroom when it runs short. The headroom is a
  // sixteenth of the used bytes, at least 1 MiB and at most `max_headroom_bytes`, so a small
  // database does not hold space it may never use (under MDB_WRITEMAP always the most: a
  // batch must not outgrow it, below).
  // Why: LMDB appends new pages past the end of the file, and on ext4 each commit that
  // extends the file pays a journal commit in fdatasync (~2-4 ms here) instead of a plain
  // data flush (~0.2 ms). Space allocated ahead is written without changing the file size.
  // With MDB_WRITEMAP the file is already as long as the map (sparse), so this is what
  // gives the pages written through the map their blocks: a full disk fails the batch here
  // with IOError instead of a SIGBUS when the writer touches an unallocated page.
  // Call from the writer thread only. IOError when the filesystem is full.
  Status ReserveAhead(uint64_t max_headroom_bytes);

  // Bytes used by pages in the data file (not counting space reserved ahead).
  [[nodiscard]] uint64_t UsedBytes() const;

 private:
  void Close();
  MDB_env* env_ = nullptr;
  std::unique_ptr<WriteAheadLog> wal_;  // stopped before env_ closes
  uint64_t reserved_bytes_ = 0;         // bytes allocated from offset 0 by the last ReserveAhead
};

// A read-only transaction. Aborted (released) in the destructor.
class ReadTxn {
 public:
  ReadTxn() = default;
  ~ReadTxn() { Reset(); }
  ReadTxn(ReadTxn&& other) noexcept : txn_(other.txn_) { other.txn_ = nullptr; }
  ReadTxn& operator=(ReadTxn&& other) noexcept;
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;

  // `env` must outlive the transaction.
  static Result<ReadTxn> Begin(MDB_env* env);

  [[nodiscard]] MDB_txn* get() const { return txn_; }

 private:
  void Reset();
  MDB_txn* txn_ = nullptr;
};

// A read-write transaction. Aborts in its destructor unless Commit() succeeded.
class WriteTxn {
 public:
  WriteTxn() = default;
  ~WriteTxn() { Abort(); }
  WriteTxn(WriteTxn&& other) noexcept : txn_(other.txn_) { other.txn_ = nullptr; }
  WriteTxn& operator=(WriteTxn&& other) noexcept;
  WriteTxn(const WriteTxn&) = delete;
  WriteTxn& operator=(const WriteTxn&) = delete;

  // `env` must outlive the transaction.
  static Result<WriteTxn> Begin(MDB_env* env);

  // Commits; the handle is released either way. IOError (e.g. MDB_MAP_FULL) on failure.
  // With a write-ahead log: durable (logged and synced, or checkpointed) when it returns Ok.
  Status Commit();
  void Abort();

  [[nodiscard]] MDB_txn* get() const { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
};

// A cursor, closed in the destructor. Must not outlive its transaction.
class Cursor {
 public:
  Cursor() = default;
  ~Cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }
  Cursor(Cursor&& other) noexcept : cursor_(other.cursor_) { other.cursor_ = nullptr; }
  Cursor& operator=(Cursor&& other) noexcept {
    if (this != &other) {
      if (cursor_ != nullptr) mdb_cursor_close(cursor_);
      cursor_ = std::exchange(other.cursor_, nullptr);
    }
    return *this;
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  static Result<Cursor> Open(MDB_txn* txn, MDB_dbi dbi);
  [[nodiscard]] MDB_cursor* get() const { return cursor_; }

 private:
  MDB_cursor* cursor_ = nullptr;
};

}  // namespace meshdb::storage
