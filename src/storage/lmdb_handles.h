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

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"
#include "common/thread_annotations.h"

namespace meshdb::storage {

// IOError "<what>: <mdb_strerror(rc)>".
Status LmdbError(std::string_view what, int rc);

inline MDB_val ToVal(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline std::string_view FromVal(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

struct LmdbEnvOptions {
  uint64_t map_size_bytes = 1ull << 30;
  unsigned max_dbs = 1024;
  unsigned max_readers = 1024;
  // false: MDB_NOSYNC.
  bool durable = true;
  // When durable: how the meta page of a commit reaches the disk (StoreOptions::commit_sync).
  enum class MetaSync {
    kDeferred,  // MDB_NOMETASYNC and a DurablePoint (below)
    kInCommit,  // LMDB's default: mdb_txn_commit syncs the data pages, then the meta page
    kNever,     // MDB_NOMETASYNC alone: storage_bench's measurement of an unsafe bound
  };
  MetaSync meta_sync = MetaSync::kDeferred;
  // true: MDB_WRITEMAP, see StoreOptions::write_map.
  bool write_map = false;
};

// Which committed transaction of a durable environment is on disk together with its meta page.
//
// Durable environments are opened with MDB_NOMETASYNC: mdb_txn_commit writes the dirty pages,
// fdatasyncs them, then writes the meta page without syncing it. So transaction T is durable
// once any fdatasync of the file has completed after T's commit returned: the next commit's
// own data sync (which therefore makes T-1 durable), or an explicit mdb_env_sync.
// Integrity across a machine crash holds because a write transaction never reuses pages freed
// by the last two transactions (mdb_page_alloc takes only free-list entries older than
// mdb_find_oldest() = txnid - 1), so the tree of the last synced meta stays intact until the
// next meta is synced (docs/storage.md "One fsync per group commit").
// Thread-safe.
class DurablePoint {
 public:
  explicit DurablePoint(uint64_t durable_txnid) : durable_(durable_txnid) {}
  [[nodiscard]] uint64_t durable() const { return durable_.load(std::memory_order_acquire); }
  // Transaction `txnid` (whose meta page has been written, i.e. committed) is on disk when this
  // returns OK: an fdatasync unless it already was. Concurrent callers share one sync.
  Status SyncThrough(MDB_env* env, uint64_t txnid);
  // Records that `txnid` is known durable (e.g. a later commit's data sync covered its meta).
  void Advance(uint64_t txnid);

 private:
  common::Mutex sync_mu_;  // one fdatasync at a time
  std::atomic<uint64_t> durable_;
};

class LmdbEnv {
 public:
  LmdbEnv() = default;
  ~LmdbEnv();
  LmdbEnv(LmdbEnv&& other) noexcept
      : env_(std::exchange(other.env_, nullptr)),
        durable_(std::move(other.durable_)),
        reserved_bytes_(std::exchange(other.reserved_bytes_, 0)) {}
  LmdbEnv& operator=(LmdbEnv&& other) noexcept;
  LmdbEnv(const LmdbEnv&) = delete;
  LmdbEnv& operator=(const LmdbEnv&) = delete;

  // Opens (creating if missing) the single-file environment `path` (MDB_NOSUBDIR: the data
  // file is `path`, the lock file `path` + "-lock"). IOError on failure. A durable one is
  // synced first: after a process crash the OS may hold a committed meta page that never
  // reached the disk, and from here on it counts as durable.
  static Result<LmdbEnv> Open(const std::string& path, const LmdbEnvOptions& options);

  [[nodiscard]] MDB_env* get() const { return env_; }
  // Null when not durable (MDB_NOSYNC).
  [[nodiscard]] DurablePoint* durable_point() const { return durable_.get(); }
  // The durable point of `env` (an environment opened by LmdbEnv::Open), or null.
  static DurablePoint* DurablePointOf(MDB_env* env);
  // The id of the last committed transaction (whose meta page is written).
  static uint64_t LastTxnId(MDB_env* env);

  // Keeps at least `headroom_bytes / 2` of allocated file space beyond the last used page,
  // allocating (posix_fallocate) up to used + headroom_bytes when it runs short.
  // Why: LMDB appends new pages past the end of the file, and on ext4 each commit that
  // extends the file pays a journal commit in fdatasync (~2-4 ms here) instead of a plain
  // data flush (~0.2 ms). Space allocated ahead is written without changing the file size.
  // With MDB_WRITEMAP the file is already as long as the map (sparse), so this is what
  // gives the pages written through the map their blocks: a full disk fails the batch here
  // with IOError instead of a SIGBUS when the writer touches an unallocated page.
  // Call from the writer thread only. IOError when the filesystem is full.
  Status ReserveAhead(uint64_t headroom_bytes);

  // Bytes used by pages in the data file (not counting space reserved ahead).
  [[nodiscard]] uint64_t UsedBytes() const;

 private:
  MDB_env* env_ = nullptr;
  std::unique_ptr<DurablePoint> durable_;  // the env's userctx
  uint64_t reserved_bytes_ = 0;            // bytes allocated from offset 0 by the last ReserveAhead
};

// A read-only transaction. Aborted (released) in the destructor. In a durable environment it
// never sees a commit that is not on disk yet: Begin syncs first when it would (see
// DurablePoint), so nothing is read, answered or shipped to a peer that a crash could undo.
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

  // Commits; the handle is released either way. IOError (e.g. MDB_MAP_FULL) on failure. In a
  // durable environment the commit is on disk (meta page included) when this returns OK.
  Status Commit();
  // The group commit's form: in a durable environment the data pages are synced but the meta
  // page only written, so the commit is visible to this process's LMDB but not yet durable;
  // *committed is set to the transaction id to wait for (DurablePoint::SyncThrough) before
  // anyone learns of the commit. Same as Commit() otherwise. Writer thread only.
  Status CommitUnsynced(uint64_t* committed);
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
