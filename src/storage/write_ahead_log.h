// A write-ahead log for one LMDB environment: a durable commit syncs one small sequential
// append instead of LMDB's scattered data pages plus its meta page (docs/storage.md "The
// write-ahead log").
//
// The environment is opened MDB_NOSYNC. A write transaction's changes are recorded as they are
// made (lmdb_write.h); Commit starts appending them as one frame to the log, runs
// mdb_txn_commit while the disk writes it (`io_uring`; without it the append completes first),
// and returns once the frame is durable. No reader sees a transaction before its frame is
// durable: ReadTxn::Begin waits (AwaitVisible) when its snapshot is newer than the last
// durable frame, which only happens while a commit is in flight. LMDB's pages
// reach the disk by checkpoints, run by a background thread every `checkpoint_interval`, or
// sooner after `checkpoint_bytes` of log or `checkpoint_freed_bytes` of pages freed:
//   1. between two commits: begin a read transaction at the last commit S (the "pin": while it
//      lives LMDB reuses none of S's pages), copy S's meta page, and switch the log to a new
//      generation (the other of the two log files, from its start);
//   2. fdatasync the data file: S's pages are on disk;
//   3. write {S's meta page, the new generation} to the checkpoint file (two checksummed slots,
//      the newer valid one wins) and fdatasync it;
//   4. release the previous pin.
// On open, when a checkpoint exists, S's meta page is written back into the data file (after a
// machine crash the file's newest meta page may point at pages that never reached the disk),
// then the frames of the checkpoint's generation and the next one are replayed, each as one
// transaction, and a new checkpoint is taken. A process crash takes the same path.
//
// A transaction that writes too much to log (SkipLog: an index build) commits unlogged and
// is followed at once by a checkpoint, before its caller is answered. So is a commit after
// which the commits since the last checkpoint began freed `freed_limit_bytes` of pages: while
// the pin lives LMDB reuses no page freed since, so without this limit a slow sync would let
// the file grow by every page the commits copy meanwhile, for good (LMDB never shrinks it).
//
// Files beside the data file `<path>`: `<path>-wal.0`, `<path>-wal.1`, `<path>-checkpoint`.
//
// Thread-safety: Record*, Commit* and SkipLog are called by the thread that owns the
// environment's write transaction (LMDB allows one at a time); the checkpointer is internal.
// Errors: a failed log write or checkpoint leaves the log failed: every later commit fails with
// IOError until the node restarts (the log on disk stays replayable). When the write that failed
// was a frame whose transaction LMDB had committed meanwhile, reads fail as well (AwaitVisible):
// LMDB then holds a transaction the log does not, which recovery drops.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "common/unique_fd.h"
#include "storage/direct_appender.h"
#include "storage/lmdb_freelist.h"
#include "storage/lmdb_handles.h"
#include "storage/wal_record.h"
#include "storage/write_ahead_log_options.h"

namespace meshdb::storage {

class WriteAheadLog {
 public:
  // Before mdb_env_open of `data_path`: when a checkpoint exists, writes its meta page back
  // into the data file. IOError/InvalidArgument (the files are damaged) stop the open.
  static Result<std::unique_ptr<WriteAheadLog>> Prepare(const std::string& data_path,
                                                        const WriteAheadLogOptions& options);
  ~WriteAheadLog();
  WriteAheadLog(const WriteAheadLog&) = delete;
  WriteAheadLog& operator=(const WriteAheadLog&) = delete;

  // After mdb_env_open (with MDB_NOSYNC): replays the log past the checkpoint, checkpoints,
  // and starts the checkpointer. `env` must outlive Stop().
  Status Start(MDB_env* env);

  // Final checkpoint, then the checkpointer stops and the pin is released. Before
  // mdb_env_close; idempotent.
  void Stop();

  // Recording (lmdb_write.h). A dbi must be registered with its name before writes to it are
  // recorded; one that is not makes the transaction commit unlogged.
  void RegisterDbi(MDB_dbi dbi, std::string_view name);
  void BeginTxn();
  void RecordOpen(MDB_dbi dbi, unsigned flags);
  void RecordPut(MDB_dbi dbi, const MDB_val& key, const MDB_val& value);
  // `value` nullptr: every value of the key (mdb_del with no data).
  void RecordDel(MDB_dbi dbi, const MDB_val& key, const MDB_val* value);
  void RecordClear(MDB_dbi dbi);
  // The current transaction is not logged: it commits, then a checkpoint makes it durable.
  void SkipLog() { skip_log_ = true; }

  // Commits `txn` (always released): its frame appended and synced first, or unlogged and
  // checkpointed (SkipLog).
  Status Commit(MDB_txn* txn);

  // Readers (ReadTxn::Begin): Ok once the snapshot of transaction `txnid` may be read, i.e.
  // every logged transaction up to it is durable; waits while its frame is being written.
  // IOError when that frame failed (see Errors above). Any thread.
  Status AwaitVisible(uint64_t txnid) EXCLUDES(visible_mu_);
  // How many readers AwaitVisible holds now (tests).
  size_t ReadersWaiting() EXCLUDES(visible_mu_);

  // Removes the log's files beside `data_path` (a dropped database). IOError on failure.
  static Status RemoveFiles(const std::string& data_path);

  // The environment's log, or nullptr when it has none (mdb_env_get_userctx).
  static WriteAheadLog* Of(MDB_env* env);

 private:
  WriteAheadLog(std::string data_path, const WriteAheadLogOptions& options);
  Status OpenFiles();
  Status Replay();
  // Appends `frame`: StartAppend grows the file when needed and starts the write, FinishAppend
  // waits until it is durable; AppendFrame does both.
  Status StartAppend(std::string_view frame) REQUIRES(commit_mu_);
  Status FinishAppend() REQUIRES(commit_mu_);
  Status AppendFrame(std::string_view frame) REQUIRES(commit_mu_);
  // Readers may see every transaction up to the newest LMDB committed.
  void PublishVisible() EXCLUDES(visible_mu_);
  // mdb_txn_commit, or its failure when a test asks for one (WriteAheadLogOptions).
  int CommitLmdb(MDB_txn* txn);
  // Steps 1-4 above; nothing when no transaction committed since the last one.
  Status Checkpoint() EXCLUDES(commit_mu_);
  Status WriteCheckpointSlot(uint64_t generation, const std::string& meta_page);
  void Fail() EXCLUDES(commit_mu_);
  bool Failed() EXCLUDES(commit_mu_);
  void CheckpointerLoop();
  [[nodiscard]] const std::string* NameOf(MDB_dbi dbi) const;

  const std::string data_path_;
  const WriteAheadLogOptions options_;
  MDB_env* env_ = nullptr;
  uint32_t page_size_ = 0;
  common::UniqueFd data_fd_;        // read-only: meta pages
  common::UniqueFd log_fds_[2];     // generation g lives in log_fds_[g % 2]
  bool direct_ = false;             // log_fds_ opened O_DIRECT | O_DSYNC
  common::UniqueFd checkpoint_fd_;  // two slots
  bool checkpoint_found_ = false;
  uint64_t checkpoint_generation_ = 0;  // the generation of the checkpoint read at Prepare
  uint64_t checkpoint_sequence_ = 0;    // slot sequence of the last checkpoint written/read

  // Writer side: only the transaction's thread.
  std::vector<std::string> dbi_names_;  // by dbi; "" unregistered
  WalTxnRecorder recorder_;
  bool skip_log_ = false;

  // Serializes checkpoints (the checkpointer and a writer's SkipLog commit).
  common::Mutex checkpoint_mu_;  // taken before commit_mu_
  ReadTxn pin_ GUARDED_BY(checkpoint_mu_);
  uint64_t pinned_txnid_ GUARDED_BY(checkpoint_mu_) = 0;

  // Held across a commit (append, sync, mdb_txn_commit) and a checkpoint's switch.
  common::Mutex commit_mu_;
  uint64_t generation_ GUARDED_BY(commit_mu_) = 0;
  uint64_t offset_ GUARDED_BY(commit_mu_) = 0;             // next append in the generation's file
  DirectAppender appender_ GUARDED_BY(commit_mu_);         // when direct_
  uint64_t allocated_[2] GUARDED_BY(commit_mu_) = {0, 0};  // bytes allocated per file
  uint64_t bytes_since_checkpoint_ GUARDED_BY(commit_mu_) = 0;
  uint64_t freed_bytes_since_checkpoint_ GUARDED_BY(commit_mu_) = 0;
  std::unique_ptr<LmdbFreelistReader> freelist_ GUARDED_BY(commit_mu_);  // Start to Stop
  bool failed_ GUARDED_BY(commit_mu_) = false;

  // The newest transaction readers may see (AwaitVisible); a frame that failed after LMDB
  // committed its transaction stops it for good.
  std::atomic<uint64_t> visible_txnid_{0};
  common::Mutex visible_mu_;
  std::condition_variable_any visible_changed_;
  bool visible_failed_ GUARDED_BY(visible_mu_) = false;
  size_t readers_waiting_ GUARDED_BY(visible_mu_) = 0;

  common::Mutex thread_mu_;
  std::condition_variable_any wake_;
  bool stopping_ GUARDED_BY(thread_mu_) = false;
  bool checkpoint_wanted_ GUARDED_BY(thread_mu_) = false;
  std::thread checkpointer_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace meshdb::storage
