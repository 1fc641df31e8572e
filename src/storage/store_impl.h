// The Store implementation: catalog, schema changes and the single writer thread with group
// commit. Private to storage/; users include storage/store.h.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/hlc.h"
#include "storage/catalog.h"
#include "storage/store.h"

namespace meshdb::storage {

// A queued unit of work for the writer: a write request, or a schema task.
struct PendingWrite {
  WriteRequest request;
  WriteCallback done;
  std::function<void()> task;  // set for schema changes instead of request/done
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
  Result<TableStats> GetStats(const std::string& database,
                              const std::string& table) const override;

  void WriteAsync(WriteRequest request, WriteCallback done) override;
  Result<WriteResult> Write(WriteRequest request) override;

  Result<std::unique_ptr<Snapshot>> Read(const std::string& database) const override;
  Result<uint64_t> LastSequence(const std::string& database) const override;

 private:
  struct RequestCtx;
  struct PendingTable;
  using PendingTables = std::map<std::string, PendingTable>;

  std::shared_ptr<Database> FindDatabase(const std::string& database) const;
  // Opens (creating when `create`) the environment of `name` and loads its catalog.
  Result<std::shared_ptr<Database>> OpenDatabase(const std::string& name) const;

  // Runs `fn` on the writer thread and waits for its Status.
  Status RunOnWriter(std::function<Status()> fn);

  // --- Writer thread only. ---
  void WriterLoop();
  void ProcessBatch(std::vector<PendingWrite>& batch);
  void ApplyWrites(std::vector<PendingWrite*>& writes);
  void ApplyDatabaseGroup(const std::string& database, std::vector<PendingWrite*>& writes);
  Status Validate(const Database& db, RequestCtx& ctx);
  Status ApplyRequest(MDB_txn* txn, Database& db, RequestCtx& ctx, PendingTables& pending,
                      uint64_t* sequence);
  Status ApplyOp(MDB_txn* txn, Database& db, WriteOp& op, const std::string& enc_key,
                 PendingTable& table, uint64_t version, double txn_time_ms,
                 WriteOutcome* outcome, LogEntry* entry);
  Result<std::shared_ptr<Database>> DoCreateDatabase(const std::string& database);
  Status DoCreateTable(const TableDef& def);
  Status DoDropTable(const std::string& database, const std::string& table);
  Status DoDropDatabase(const std::string& database);
  Status DoCreateAttribute(const std::string& database, const std::string& table,
                           const AttributeDef& attribute);
  std::string NewUuid();

  // Constant after construction.
  const StoreOptions options_;
  HybridClock clock_;

  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<Database>> databases_;  // GUARDED_BY(mu_)

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<PendingWrite> queue_;  // GUARDED_BY(queue_mu_)
  bool stopping_ = false;           // GUARDED_BY(queue_mu_)
  std::thread writer_;

  // Writer thread only: scratch buffers reused across records.
  std::string record_buf_;
  std::string index_key_buf_;
  std::string log_buf_;
  std::mt19937_64 rng_;
};

}  // namespace meshdb::storage
