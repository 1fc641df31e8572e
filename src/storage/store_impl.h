// The Store implementation: catalog, schema changes and the single writer thread with group
// commit. Private to storage/; users include storage/store.h.
#pragma once

#include <atomic>
#include <cassert>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/hlc.h"
#include "common/thread_annotations.h"
#include "storage/catalog.h"
#include "storage/dictionary_trainer.h"
#include "storage/index_edits.h"
#include "storage/store.h"
#include "storage/uuid_generator.h"

namespace meshdb::storage {

// Meta key of a peer's subscription view (CopyChunk::peer_view; docs/storage.md).
inline constexpr std::string_view kMetaViewPrefix = "view:";  // + peer name
inline std::string MetaViewKey(const std::string& peer) {
  return std::string(kMetaViewPrefix) + peer;
}

// A queued unit of work for the writer: a local write request, a schema task, a replicated
// transaction or a copy chunk (exactly one of request/done, task, replicated, copy).
struct PendingWrite {
  WriteRequest request;
  WriteCallback done;
  std::function<void()> task;  // set for schema changes instead of request/done
  std::unique_ptr<ReplicatedTxn> replicated;
  std::unique_ptr<CopyChunk> copy;
  ApplyCallback apply_done;  // for replicated and copy

  [[nodiscard]] const std::string& database() const {
    return replicated ? replicated->database : copy ? copy->database : request.database;
  }
  [[nodiscard]] bool is_local() const { return !replicated && !copy; }
  [[nodiscard]] ApplyChain* chain() const {
    return replicated ? replicated->chain.get() : copy ? copy->chain.get() : nullptr;
  }
  // Marks the item's chain broken (when it has one): its later items will not apply.
  void BreakChain() {
    ApplyChain* c = chain();
    bool was_broken = false;
    if (c == nullptr || !c->broken.compare_exchange_strong(was_broken, true)) return;
    c->failed_peer_sequence = replicated ? replicated->peer_sequence : 0;
  }
  // Answers the caller with a failure, whatever the kind; breaks its chain.
  void Fail(const Status& status) {
    BreakChain();
    if (is_local()) {
      done(status);
    } else {
      apply_done(status);
    }
  }
};

class StoreImpl final : public Store {
 public:
  explicit StoreImpl(const StoreOptions& options);
  ~StoreImpl() override;
  StoreImpl(const StoreImpl&) = delete;
  StoreImpl& operator=(const StoreImpl&) = delete;

  // Opens existing databases and starts the writer.
  Status Init();

  Status CreateDatabase(const std::string& database) override;
  Status DropDatabase(const std::string& database) override;
  Status CreateTable(const TableDef& def) override;
  Status DropTable(const std::string& database, const std::string& table) override;
  Status CreateAttribute(const std::string& database, const std::string& table,
                         const AttributeDef& attribute) override;

  std::vector<std::string> ListDatabases() const override;
  Result<std::vector<TableDef>> ListTables(const std::string& database) const override;
  Result<TableDef> GetTable(const std::string& database, const std::string& table) const override;
  Result<TableStats> GetStats(const std::string& database, const std::string& table) const override;
  Result<uint64_t> UsedBytes(const std::string& database) const override;
  size_t QueuedWrites() const override;

  void WriteAsync(WriteRequest request, WriteCallback done) override;
  void WriteAsyncOrInline(WriteRequest request, WriteCallback done) override;
  Result<WriteResult> Write(WriteRequest request) override;
  // WriteAsync once the request's text is checked (CheckWriteText): queues it for the writer.
  void Queue(WriteRequest request, WriteCallback done);

  Result<std::unique_ptr<Snapshot>> Read(const std::string& database) const override;
  Result<uint64_t> LastSequence(const std::string& database) const override;

  void ApplyReplicatedAsync(ReplicatedTxn txn, ApplyCallback done) override;
  Result<ApplyResult> ApplyReplicated(ReplicatedTxn txn) override;
  void ApplyCopyChunkAsync(CopyChunk chunk, ApplyCallback done) override;
  Result<ApplyResult> ApplyCopyChunk(CopyChunk chunk) override;
  void PrepareCopyChunk(CopyChunk& chunk) const override;
  Status SetVersionVectorFloor(const std::string& database, const VersionVector& floor) override;
  Status SetPeerCursor(const std::string& database, const std::string& peer_name,
                       uint64_t peer_sequence) override;
  Result<uint64_t> PeerCursor(const std::string& database,
                              const std::string& peer_name) const override;
  Result<std::optional<std::string>> PeerView(const std::string& database,
                                              const std::string& peer_name) const override;
  Result<VersionVector> ReadVersionVector(const std::string& database) const override;
  Result<uint64_t> SchemaVersion(const std::string& database) const override;
  Status ApplyTableDef(const TableDef& def) override;
  uint64_t AddCommitListener(CommitListener listener) override;
  void RemoveCommitListener(uint64_t id) override;
  void NotePeerConfirmed(const std::string& database, const std::string& peer_name,
                         uint64_t sequence) override;
  Result<std::map<std::string, uint64_t>> PeerConfirmedPositions(
      const std::string& database) const override;
  Result<TrimResult> TrimLog(const std::string& database, const RetentionPolicy& policy) override;
  void ForgetPeer(const std::string& peer_name) override;

 private:
  struct RequestCtx;
  struct PendingTable;
  struct GroupCtx;
  using PendingTables = std::map<std::string, PendingTable>;

  std::shared_ptr<Database> FindDatabase(const std::string& database) const;
  // Opens (creating when `create`) the environment of `name` and loads its catalog.
  Result<std::shared_ptr<Database>> OpenDatabase(const std::string& name) const;
  // Writer thread: makes `db` (just opened, not yet published) the database `name`, adopting
  // the positions NotePeerConfirmed held for it (persisted first: publishing fails without it).
  Status PublishNewDatabase(const std::string& name, const std::shared_ptr<Database>& db)
      EXCLUDES(pending_confirmed_mu_, mu_);
  // ForgetPeer in one database (unknown: nothing).
  void ForgetPeerIn(const std::string& database, const std::string& peer_name);

  // Runs `fn` on the writer thread and waits for its Status.
  Status RunOnWriter(std::function<Status()> fn) EXCLUDES(queue_mu_);
  // Queues `task` for the writer thread without waiting; false (task dropped) once closing.
  bool PostToWriter(std::function<void()> task) EXCLUDES(queue_mu_);
  // The trainer's `install`: queues a writer task that installs `dict` as `table`'s
  // dictionary in its own commit (InstallTableDictionary), then marks the training Finished.
  void InstallTrainedDictionary(const std::string& database, const std::string& table,
                                std::string dict);
  // PackRecord's training for `db` (writer thread).
  BackgroundDictionaryTraining TrainingFor(const Database& db) {
    return BackgroundDictionaryTraining(*dict_trainer_, db.name);
  }

  // True on the writer thread, and on a thread that applies its own write in its place
  // (WriteAsyncOrInline): writer callbacks, commit listeners and schema tasks run there.
  bool OnWriterThread() const;
  // Code that must run on the writer thread (debug builds abort elsewhere).
  void AssertOnWriterThread() const {
    assert(OnWriterThread() && "storage: writer-thread-only code ran on another thread");
  }
  // A blocking call (`what`) made on the writer thread would wait for that thread forever:
  // logs and returns Internal instead, so the caller fails loudly rather than hanging.
  Status RefuseOnWriterThread(const char* what) const;

  // --- Writer thread only. ---
  void WriterLoop();
  void ProcessBatch(std::vector<PendingWrite>& batch);
  void ApplyWrites(std::vector<PendingWrite*>& writes);
  void ApplyDatabaseGroup(const std::string& database, std::vector<PendingWrite*>& writes);
  // Queues a replicated/copy item (Unavailable when full or closing).
  void Enqueue(PendingWrite item);
  Result<ApplyResult> WaitApply(PendingWrite item);
  Status Validate(MDB_txn* txn, Database& db, RequestCtx& ctx, GroupCtx& group);
  Status ApplyRequest(MDB_txn* txn, Database& db, RequestCtx& ctx, GroupCtx& group);
  // The pending state of `table` in this group (loaded from the catalog on first use);
  // nullptr when the table exists nowhere.
  PendingTable* Touch(Database& db, GroupCtx& group, const std::string& table);
  // Creates `def`'s table inside `txn`, or adds the attributes it lacks (writer thread).
  Status EnsureTable(MDB_txn* txn, Database& db, GroupCtx& group, const TableDef& def);
  // Version-vector entry of `origin` as of this group (read through `txn` once).
  Result<uint64_t> VectorGet(MDB_txn* txn, Database& db, GroupCtx& group, uint32_t origin);
  void VectorSet(GroupCtx& group, uint32_t origin, uint64_t sequence);
  // Appends *entry to the log at the group's next sequence (sets entry->sequence).
  Status AppendToLog(MDB_txn* txn, Database& db, GroupCtx& group, LogEntry* entry);
  // Appends *entry as a complete transaction of this node: origin = local node id,
  // origin_sequence = vector[local] + 1 (dense per origin), advancing vector[local].
  // The caller sets version and writes.
  Status AppendLocalToLog(MDB_txn* txn, Database& db, GroupCtx& group, LogEntry* entry);
  // Checks a replicated txn / copy chunk before anything is written (tables exist or are
  // defined, record bytes decode); fills ctx's parsed rows.
  Status ValidateRemote(MDB_txn* txn, Database& db, RequestCtx& ctx, GroupCtx& group);
  // Last-writer-wins application of the rows, then the log entry, vector and cursor.
  Status ApplyRemote(MDB_txn* txn, Database& db, RequestCtx& ctx, GroupCtx& group);
  // For a bulk copy chunk's table: true when its index is (now) deferred, marking it pending
  // in `txn` when the table has no rows yet.
  Result<bool> DeferIndex(MDB_txn* txn, Database& db, GroupCtx& group, const std::string& table);
  Status PersistGroup(MDB_txn* txn, Database& db, GroupCtx& group);
  // Whether `table`'s secondary index is deferred (pending) as of this group.
  static bool IndexPending(const Database& db, const GroupCtx& group, const std::string& table);
  // Builds the pending indexes this group asks for (group.index_build / index_build_all)
  // and deletes their meta markers, in `txn`.
  Status BuildPendingIndexes(MDB_txn* txn, Database& db, GroupCtx& group);
  void NotifyCommit(const std::string& database, uint64_t last_sequence);
  Status DoApplyTableDef(const TableDef& def);
  Result<TrimResult> DoTrimLog(Database& db, const RetentionPolicy& policy);
  // Writes schema_version + 1 in `txn`; the caller publishes it after the commit.
  Status BumpSchemaVersion(MDB_txn* txn, Database& db, uint64_t* next);
  // Writes one local op's record; its index changes go to `index_edits` (applied at commit).
  Status ApplyOp(MDB_txn* txn, Database& db, WriteOp& op, const std::string& enc_key,
                 PendingTable& table, uint64_t version, double txn_time_ms, IndexEdits& index_edits,
                 WriteOutcome* outcome, LogEntry* entry);
  Result<std::shared_ptr<Database>> DoCreateDatabase(const std::string& database);
  Status DoCreateTable(const TableDef& def);
  Status DoDropTable(const std::string& database, const std::string& table);
  Status DoDropDatabase(const std::string& database);
  Status DoCreateAttribute(const std::string& database, const std::string& table,
                           const AttributeDef& attribute);

  // Constant after construction.
  const StoreOptions options_;
  HybridClock clock_;

  mutable common::SharedMutex mu_;
  std::map<std::string, std::shared_ptr<Database>> databases_ GUARDED_BY(mu_);
  // Database -> peer -> position confirmed while the database did not exist here (a peer
  // subscribed before its schema reached us). Taken before mu_: a database is published and
  // its entry adopted under this lock, so no note falls between the two.
  common::Mutex pending_confirmed_mu_;
  std::map<std::string, std::map<std::string, uint64_t>> pending_confirmed_
      GUARDED_BY(pending_confirmed_mu_);

  mutable common::Mutex queue_mu_;
  std::condition_variable_any queue_cv_;  // an item was queued, or stopping_ was set
  std::deque<PendingWrite> queue_ GUARDED_BY(queue_mu_);
  bool stopping_ GUARDED_BY(queue_mu_) = false;
  std::thread writer_;
  // Held while a batch is applied, by the writer thread or by a thread applying its own
  // write (WriteAsyncOrInline), so one thread at a time writes. Taken before queue_mu_.
  common::Mutex apply_mu_;
  // Whether the last group commit held a single request: only then may a caller apply its own
  // write (at higher concurrency the writer's group commits serve better).
  std::atomic<bool> last_group_single_{true};

  // Trains record dictionaries off the writer thread; shut down before the writer stops, so
  // its last install task is queued while the writer still drains the queue.
  std::unique_ptr<DictionaryTrainer> dict_trainer_;

  // Held while listeners run, so RemoveCommitListener waits out a running call.
  common::Mutex listeners_mu_;
  std::map<uint64_t, CommitListener> listeners_ GUARDED_BY(listeners_mu_);
  uint64_t next_listener_id_ GUARDED_BY(listeners_mu_) = 1;

  // Writer thread only: scratch buffers reused across records.
  std::string record_buf_;
  std::string stored_buf_;      // record_buf_ as stored (stored_record.h)
  std::string old_record_buf_;  // a stored record read back, decompressed
  std::string unpacked_buf_;    // a copied stored value, decompressed for validation
  std::string index_key_buf_;
  std::string log_buf_;
  UuidGenerator uuids_;  // generated primary keys
};

}  // namespace meshdb::storage
