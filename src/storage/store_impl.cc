#include "storage/store_impl.h"

#include <algorithm>
#include <filesystem>
#include <future>
#include <system_error>

#include "common/log.h"
#include "storage/data_format.h"
#include "storage/index_build.h"
#include "storage/lmdb_write.h"
#include "storage/record_codec.h"
#include "storage/snapshot_impl.h"
#include "storage/table_def_json.h"
#include "storage/write_ahead_log.h"
#include "storage/write_text_check.h"

namespace meshdb::storage {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFileSuffix = ".mdb";

// A database's files are <name>.mdb and siblings; the longest, <name>.mdb-checkpoint, must
// fit a file name (255 bytes on Linux file systems).
constexpr size_t kMaxDatabaseNameBytes = 255 - std::string_view(".mdb-checkpoint").size();

// Ok, or why `name` cannot name a database's files.
Status CheckDatabaseName(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) {
    return Status::InvalidArgument("'database' names cannot include backticks or forward slashes");
  }
  if (name == "." || name == "..") {
    return Status::InvalidArgument("'database' names cannot be '.' or '..'");
  }
  if (name.size() > kMaxDatabaseNameBytes) {
    return Status::InvalidArgument("'database' names can be at most " +
                                   std::to_string(kMaxDatabaseNameBytes) +
                                   " characters long (the database's files are named after it)");
  }
  return Status::Ok();
}

Status PutMeta(MDB_txn* txn, MDB_dbi dbi, std::string_view key, std::string_view value) {
  MDB_val k = ToVal(key);
  MDB_val v = ToVal(value);
  int rc = LmdbPut(txn, dbi, &k, &v, 0);
  if (rc != 0) return LmdbError("put meta", rc);
  return Status::Ok();
}

// The store whose batch this thread is applying (its writer thread, or a caller applying
// its own write), so blocking calls from callbacks refuse instead of waiting for themselves.
thread_local const StoreImpl* applying_for = nullptr;

class ApplyingFor {
 public:
  explicit ApplyingFor(const StoreImpl* store) : previous_(applying_for) { applying_for = store; }
  ~ApplyingFor() { applying_for = previous_; }
  ApplyingFor(const ApplyingFor&) = delete;
  ApplyingFor& operator=(const ApplyingFor&) = delete;

 private:
  const StoreImpl* previous_;
};

}  // namespace

StoreImpl::StoreImpl(const StoreOptions& options)
    : options_(options),
      dict_trainer_(std::make_unique<DictionaryTrainer>(
          [this](const std::string& database, const std::string& table, std::string dict) {
            InstallTrainedDictionary(database, table, std::move(dict));
          },
          options.before_dictionary_training_for_testing
              ? DictionaryTrainer::TrainFn([hook = options.before_dictionary_training_for_testing](
                                               const DictionarySamples& samples) {
                  hook();
                  return TrainRecordDictionary(samples);
                })
              : nullptr)) {}

StoreImpl::~StoreImpl() {
  // A running training finishes first and queues its install, which the writer then runs.
  dict_trainer_->Shutdown();
  {
    common::MutexLock lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  common::MutexLock wait_for_inline_writes(apply_mu_);
}

bool StoreImpl::OnWriterThread() const { return applying_for == this; }

Status StoreImpl::Init() {
  std::error_code ec;
  fs::create_directories(options_.database_dir, ec);
  if (ec) return Status::IOError("create " + options_.database_dir + ": " + ec.message());
  for (const auto& entry : fs::directory_iterator(options_.database_dir, ec)) {
    if (!entry.is_regular_file()) continue;
    const std::string file = entry.path().filename().string();
    if (file.size() <= 4 || !file.ends_with(kFileSuffix)) continue;
    std::string name = file.substr(0, file.size() - 4);
    ASSIGN_OR_RETURN(auto db, OpenDatabase(name));
    // Local writes must order after every version stored, even if the wall clock went back.
    clock_.Observe(db->max_version);
    common::WriterMutexLock lock(mu_);  // no other thread yet; the lock is for the analysis
    databases_.emplace(name, std::move(db));
  }
  if (ec) return Status::IOError("list " + options_.database_dir + ": " + ec.message());
  writer_ = std::thread([this] { WriterLoop(); });
  return Status::Ok();
}

Result<std::shared_ptr<Database>> StoreImpl::OpenDatabase(const std::string& name) const {
  auto db = std::make_shared<Database>();
  db->name = name;
  db->path = (fs::path(options_.database_dir) / (name + kFileSuffix)).string();
  LmdbEnvOptions env_options;
  env_options.map_size_bytes = options_.map_size_bytes;
  env_options.durable = options_.durable;
  env_options.write_map = options_.write_map;
  env_options.sync_meta = options_.commit_sync != StoreOptions::CommitSync::kUnsafeNoMetaSync;
  env_options.write_ahead_log = options_.commit_sync == StoreOptions::CommitSync::kWriteAheadLog;
  ASSIGN_OR_RETURN(db->env, LmdbEnv::Open(db->path, env_options));
  ASSIGN_OR_RETURN(WriteTxn txn, WriteTxn::Begin(db->env.get()));
  int rc = LmdbDbiOpen(txn.get(), kMetaDb, MDB_CREATE, &db->meta_dbi);
  if (rc != 0) return LmdbError("open meta of " + name, rc);
  // Before anything else reads or writes the file: a newer binary's format is refused whole.
  uint64_t format_found = 0;
  RETURN_IF_ERROR(AdoptDataFormat(txn.get(), db->meta_dbi, name, db->path, &format_found));
  if (format_found != 0 && format_found != kDataFormat) {
    log::For("storage")->info(
        "database {}: data format {} marked {} (docs/storage.md \"Data format\")", name,
        format_found, kDataFormat);
  }
  rc = LmdbDbiOpen(txn.get(), kLogDb, MDB_CREATE, &db->log_dbi);
  if (rc != 0) return LmdbError("open txlog of " + name, rc);

  // Table definitions and stats from meta.
  std::vector<std::pair<std::string, std::string>> defs;
  std::map<std::string, std::string> stats;
  std::vector<std::string> index_pending;
  std::map<std::string, std::string> index_keys;
  {
    ASSIGN_OR_RETURN(Cursor cursor, Cursor::Open(txn.get(), db->meta_dbi));
    MDB_val k, v;
    for (rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
      std::string_view key = FromVal(k);
      if (key.starts_with("table:")) {
        defs.emplace_back(std::string(key.substr(6)), std::string(FromVal(v)));
      } else if (key.starts_with(kMetaIndexPendingPrefix)) {
        index_pending.emplace_back(key.substr(kMetaIndexPendingPrefix.size()));
      } else if (key.starts_with(kMetaIndexKeysPrefix)) {
        index_keys.emplace(std::string(key.substr(kMetaIndexKeysPrefix.size())),
                           std::string(FromVal(v)));
      } else if (key.starts_with("stats:")) {
        stats.emplace(std::string(key.substr(6)), std::string(FromVal(v)));
      } else if (key == kMetaLastSequence && v.mv_size == 8) {
        db->last_sequence = GetU64(static_cast<const char*>(v.mv_data));
      } else if (key == kMetaSchemaVersion && v.mv_size == 8) {
        db->schema_version = GetU64(static_cast<const char*>(v.mv_data));
      } else if (key == kMetaMaxVersion && v.mv_size == 8) {
        db->max_version = GetU64(static_cast<const char*>(v.mv_data));
      } else if (key.starts_with(kMetaConfirmedPrefix) && v.mv_size == 8) {
        common::MutexLock lock(db->confirmed_mu);  // not shared yet; for the analysis
        db->confirmed[std::string(key.substr(kMetaConfirmedPrefix.size()))] =
            GetU64(static_cast<const char*>(v.mv_data));
      }
    }
    if (rc != MDB_NOTFOUND) return LmdbError("scan meta of " + name, rc);
  }
  for (auto& [table, text] : defs) {
    auto parsed = TableDefFromJson(text, name);
    if (!parsed.ok()) {
      return Status::Corruption("stored definition of table '" + table + "' in database '" + name +
                                "': " + parsed.status().message());
    }
    TableDef def = std::move(parsed).value();
    auto state = std::make_shared<TableState>();
    state->def = std::move(def);
    // Tables stored without a layout were written with legacy keys, and keep them.
    if (auto it = index_keys.find(table); it != index_keys.end()) {
      auto layout = IndexKeyLayout::Parse(it->second);
      if (!layout.ok()) {
        return Status::Corruption("stored index key layout of table '" + table + "' in database '" +
                                  name + "': " + layout.status().message());
      }
      state->index_keys = std::move(layout).value();
    }
    state->RebuildPositions();
    RETURN_IF_ERROR(OpenTableSubDbs(txn.get(), table, state.get()));
    uint64_t count = 0;
    double updated = 0;
    if (auto it = stats.find(table); it != stats.end())
      DecodeTableStats(it->second, &count, &updated);
    state->record_count = count;
    state->last_updated_ms = updated;
    common::WriterMutexLock lock(db->mu);  // not shared yet; the lock is for the analysis
    db->tables.emplace(table, std::move(state));
  }
  // An initial copy deferred these indexes and the process stopped before they were built
  // (docs/storage.md "Deferred index build"): build them now, before anything reads them.
  for (const std::string& table : index_pending) {
    std::shared_ptr<const TableState> state = db->FindTable(table);
    if (state) {
      IndexBuildStats built;
      RETURN_IF_ERROR(
          RebuildIndex(txn.get(), *db, *state, options_.database_dir, kIndexBuildRunBytes, &built));
      log::For("storage")->warn(
          "database {} table {}: its index was left unbuilt by an interrupted initial copy; built "
          "it at open ({} rows, {} entries)",
          name, table, built.rows, built.entries);
    }
    std::string key = MetaIndexPendingKey(table);
    MDB_val k = ToVal(key);
    rc = LmdbDel(txn.get(), db->meta_dbi, &k, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("delete index marker of " + name, rc);
  }
  RETURN_IF_ERROR(txn.Commit());
  return db;
}

std::shared_ptr<Database> StoreImpl::FindDatabase(const std::string& database) const {
  common::ReaderMutexLock lock(mu_);
  auto it = databases_.find(database);
  return it == databases_.end() ? nullptr : it->second;
}

// --- Schema -------------------------------------------------------------------------------

Status StoreImpl::RefuseOnWriterThread(const char* what) const {
  // Store::Write (or a schema call) from a WriteCallback, commit listener or schema task
  // would queue behind the very callback the writer is running and wait forever. A server
  // keeps serving: the caller gets an error it can log and the writer goes on.
  std::string message = std::string("storage: ") + what +
                        " called on the storage writer thread (from a writer callback or commit "
                        "listener): it would wait for itself; use the async form";
  log::For("storage")->error("{}", message);
  return Status::Internal(std::move(message));
}

Status StoreImpl::RunOnWriter(std::function<Status()> fn) {
  if (OnWriterThread()) return RefuseOnWriterThread("a schema call");
  auto promise = std::make_shared<std::promise<Status>>();
  auto future = promise->get_future();
  {
    common::MutexLock lock(queue_mu_);
    if (stopping_) return Status::Unavailable("store is closing");
    PendingWrite item;
    item.task = [fn = std::move(fn), promise] { promise->set_value(fn()); };
    queue_.push_back(std::move(item));
  }
  queue_cv_.notify_one();
  return future.get();
}

Status StoreImpl::CreateDatabase(const std::string& database) {
  return RunOnWriter([this, database]() -> Status {
    if (FindDatabase(database))
      return Status::Conflict("database '" + database + "' already exists");
    return DoCreateDatabase(database).status();
  });
}

Status StoreImpl::DropDatabase(const std::string& database) {
  return RunOnWriter([this, database] { return DoDropDatabase(database); });
}

Status StoreImpl::CreateTable(const TableDef& def) {
  return RunOnWriter([this, def] { return DoCreateTable(def); });
}

Status StoreImpl::DropTable(const std::string& database, const std::string& table) {
  return RunOnWriter([this, database, table] { return DoDropTable(database, table); });
}

Status StoreImpl::CreateAttribute(const std::string& database, const std::string& table,
                                  const AttributeDef& attribute) {
  return RunOnWriter(
      [this, database, table, attribute] { return DoCreateAttribute(database, table, attribute); });
}

Result<std::shared_ptr<Database>> StoreImpl::DoCreateDatabase(const std::string& database) {
  AssertOnWriterThread();
  RETURN_IF_ERROR(CheckDatabaseName(database));
  ASSIGN_OR_RETURN(auto db, OpenDatabase(database));
  RETURN_IF_ERROR(PublishNewDatabase(database, db));
  return db;
}

Status StoreImpl::DoDropDatabase(const std::string& database) {
  AssertOnWriterThread();
  std::shared_ptr<Database> db;
  {
    common::WriterMutexLock lock(mu_);
    auto it = databases_.find(database);
    if (it == databases_.end()) return Status::NotFound(DatabaseNotFound(database));
    db = std::move(it->second);
    databases_.erase(it);
  }
  db->dropped = true;
  // Open snapshots keep the mapping (and the unlinked inode) until they finish. The log goes
  // first: a checkpoint left behind would be restored into a new database of the same name.
  RETURN_IF_ERROR(WriteAheadLog::RemoveFiles(db->path));
  std::error_code ec;
  fs::remove(db->path, ec);
  if (ec) return Status::IOError("remove " + db->path + ": " + ec.message());
  fs::remove(db->path + "-lock", ec);
  return Status::Ok();
}

Status StoreImpl::DoCreateTable(const TableDef& in) {
  AssertOnWriterThread();
  std::shared_ptr<Database> db = FindDatabase(in.database);
  if (!db) {
    ASSIGN_OR_RETURN(db, DoCreateDatabase(in.database));
  }
  if (db->WriterTables().count(in.name) != 0) {
    return Status::Conflict("Table '" + in.name + "' already exists in '" + in.database + "'");
  }
  if (in.name.empty() || in.primary_key.empty()) {
    return Status::InvalidArgument("table name and primary key are required");
  }
  auto state = std::make_shared<TableState>();
  TableDef& def = state->def;
  def = NormalizeTableDef(in);
  state->index_keys = IndexKeyLayout::Compact();  // new tables get compact index keys
  state->RebuildPositions();

  ASSIGN_OR_RETURN(WriteTxn txn, WriteTxn::Begin(db->env.get()));
  RETURN_IF_ERROR(OpenTableSubDbs(txn.get(), def.name, state.get()));
  RETURN_IF_ERROR(PutTableDefinition(txn.get(), db->meta_dbi, *state));
  RETURN_IF_ERROR(PutMeta(txn.get(), db->meta_dbi, MetaStatsKey(def.name), EncodeTableStats(0, 0)));
  uint64_t schema_version = 0;
  RETURN_IF_ERROR(BumpSchemaVersion(txn.get(), *db, &schema_version));
  RETURN_IF_ERROR(txn.Commit());
  {
    common::WriterMutexLock lock(db->mu);
    db->tables[def.name] = std::move(state);
  }
  db->schema_version.store(schema_version);
  NotifyCommit(db->name, db->last_sequence.load());
  return Status::Ok();
}

Status StoreImpl::DoDropTable(const std::string& database, const std::string& table) {
  AssertOnWriterThread();
  std::shared_ptr<Database> db = FindDatabase(database);
  if (!db) return Status::NotFound(DatabaseNotFound(database));
  auto it = db->WriterTables().find(table);
  if (it == db->WriterTables().end()) return Status::NotFound(TableNotFound(database, table));
  ASSIGN_OR_RETURN(WriteTxn txn, WriteTxn::Begin(db->env.get()));
  // Empty the sub-dbs but keep their handles open (del = 0): a snapshot that looked the
  // table up before the drop keeps reading its own consistent view through them. The empty
  // named sub-dbs stay in the file; re-creating the table reuses them and their handles.
  int rc = LmdbClear(txn.get(), it->second->records_dbi);
  if (rc != 0) return LmdbError("drop table", rc);
  for (MDB_dbi index : {it->second->index_dbi, it->second->staged_index_dbi}) {
    rc = LmdbClear(txn.get(), index);
    if (rc != 0) return LmdbError("drop table index", rc);
  }
  for (const std::string& key : {MetaTableKey(table), MetaStatsKey(table),
                                 MetaIndexPendingKey(table), MetaIndexKeysKey(table)}) {
    MDB_val k = ToVal(key);
    rc = LmdbDel(txn.get(), db->meta_dbi, &k, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("drop table meta", rc);
  }
  uint64_t schema_version = 0;
  RETURN_IF_ERROR(BumpSchemaVersion(txn.get(), *db, &schema_version));
  RETURN_IF_ERROR(txn.Commit());
  {
    common::WriterMutexLock lock(db->mu);
    db->tables.erase(table);
  }
  db->index_pending.erase(table);
  db->index_collectors.erase(table);
  db->index_move_positions.erase(table);
  db->schema_version.store(schema_version);
  NotifyCommit(db->name, db->last_sequence.load());
  return Status::Ok();
}

Status StoreImpl::DoCreateAttribute(const std::string& database, const std::string& table,
                                    const AttributeDef& attribute) {
  std::shared_ptr<Database> db = FindDatabase(database);
  if (!db) return Status::NotFound(DatabaseNotFound(database));
  auto it = db->WriterTables().find(table);
  if (it == db->WriterTables().end()) return Status::NotFound(TableNotFound(database, table));
  if (it->second->Find(attribute.name) != nullptr) {
    return Status::Conflict("attribute '" + attribute.name + "' already exists in " + database +
                            "." + table);
  }
  auto state = it->second->Clone();
  state->def.attributes.push_back(attribute);
  state->RebuildPositions();
  ASSIGN_OR_RETURN(WriteTxn txn, WriteTxn::Begin(db->env.get()));
  RETURN_IF_ERROR(PutTableDefinition(txn.get(), db->meta_dbi, *state));
  uint64_t schema_version = 0;
  RETURN_IF_ERROR(BumpSchemaVersion(txn.get(), *db, &schema_version));
  RETURN_IF_ERROR(txn.Commit());
  {
    common::WriterMutexLock lock(db->mu);
    db->tables[table] = std::move(state);
  }
  db->schema_version.store(schema_version);
  NotifyCommit(db->name, db->last_sequence.load());
  return Status::Ok();
}

Status StoreImpl::ApplyTableDef(const TableDef& def) {
  return RunOnWriter([this, def] { return DoApplyTableDef(def); });
}

Status StoreImpl::DoApplyTableDef(const TableDef& def) {
  AssertOnWriterThread();
  if (def.name.empty() || def.primary_key.empty()) {
    return Status::InvalidArgument("table name and primary key are required");
  }
  std::shared_ptr<Database> db = FindDatabase(def.database);
  if (!db || db->WriterTables().count(def.name) == 0) return DoCreateTable(def);
  auto it = db->WriterTables().find(def.name);
  std::vector<AttributeDef> missing;
  for (const AttributeDef& a : def.attributes) {
    if (it->second->Find(a.name) == nullptr) missing.push_back(a);
  }
  if (missing.empty()) return Status::Ok();  // idempotent: nothing to commit
  auto state = it->second->Clone();
  for (AttributeDef& a : missing) state->def.attributes.push_back(std::move(a));
  state->RebuildPositions();
  ASSIGN_OR_RETURN(WriteTxn txn, WriteTxn::Begin(db->env.get()));
  RETURN_IF_ERROR(PutTableDefinition(txn.get(), db->meta_dbi, *state));
  uint64_t schema_version = 0;
  RETURN_IF_ERROR(BumpSchemaVersion(txn.get(), *db, &schema_version));
  RETURN_IF_ERROR(txn.Commit());
  {
    common::WriterMutexLock lock(db->mu);
    db->tables[def.name] = std::move(state);
  }
  db->schema_version.store(schema_version);
  NotifyCommit(db->name, db->last_sequence.load());
  return Status::Ok();
}

Status StoreImpl::BumpSchemaVersion(MDB_txn* txn, Database& db, uint64_t* next) {
  *next = db.schema_version.load() + 1;
  return PutMeta(txn, db.meta_dbi, kMetaSchemaVersion, SequenceKey(*next));
}

// --- Catalog ------------------------------------------------------------------------------

std::vector<std::string> StoreImpl::ListDatabases() const {
  common::ReaderMutexLock lock(mu_);
  std::vector<std::string> names;
  names.reserve(databases_.size());
  for (const auto& [name, db] : databases_) names.push_back(name);
  return names;
}

Result<std::vector<TableDef>> StoreImpl::ListTables(const std::string& database) const {
  auto db = FindDatabase(database);
  if (!db) return Status::NotFound(DatabaseNotFound(database));
  common::ReaderMutexLock lock(db->mu);
  std::vector<TableDef> defs;
  defs.reserve(db->tables.size());
  for (const auto& [name, t] : db->tables) defs.push_back(t->def);
  return defs;
}

Result<TableDef> StoreImpl::GetTable(const std::string& database, const std::string& table) const {
  auto db = FindDatabase(database);
  if (!db) return Status::NotFound(DatabaseNotFound(database));
  auto t = db->FindTable(table);
  if (!t) return Status::NotFound(TableNotFound(database, table));
  return t->def;
}

Result<TableStats> StoreImpl::GetStats(const std::string& database,
                                       const std::string& table) const {
  auto db = FindDatabase(database);
  if (!db) return Status::NotFound(DatabaseNotFound(database));
  auto t = db->FindTable(table);
  if (!t) return Status::NotFound(TableNotFound(database, table));
  TableStats stats;
  stats.record_count = t->record_count.load();
  double updated = t->last_updated_ms.load();
  if (updated > 0) stats.last_updated_ms = updated;
  ASSIGN_OR_RETURN(ReadTxn txn, ReadTxn::Begin(db->env.get()));
  auto pages = [&](MDB_dbi dbi) -> uint64_t {
    MDB_stat st{};
    if (mdb_stat(txn.get(), dbi, &st) != 0) return 0;
    return static_cast<uint64_t>(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) *
           st.ms_psize;
  };
  stats.table_size_bytes = pages(t->records_dbi) + pages(t->index_dbi) + pages(t->staged_index_dbi);
  stats.log_size_bytes = pages(db->log_dbi);
  ASSIGN_OR_RETURN(stats.dictionary_id, TableDictionaryId(txn.get(), db->meta_dbi, table));
  // The file itself is larger: space is allocated ahead of use (LmdbEnv::ReserveAhead).
  stats.db_size_bytes = db->env.UsedBytes();
  return stats;
}

bool StoreImpl::PostToWriter(std::function<void()> task) {
  PendingWrite item;
  item.task = std::move(task);
  {
    common::MutexLock lock(queue_mu_);
    if (stopping_) return false;
    queue_.push_back(std::move(item));
  }
  queue_cv_.notify_one();
  return true;
}

void StoreImpl::InstallTrainedDictionary(const std::string& database, const std::string& table,
                                         std::string dict) {
  // Queued like any write, it commits between two groups; until then the table's rows stay raw.
  // Not queued (closing): nothing was written, the table trains again after a restart.
  PostToWriter([this, database, table, dict = std::move(dict)] {
    // Whatever happens here, a later write of the table may train again.
    struct FinishOnExit {
      DictionaryTrainer& trainer;
      const std::string& database;
      const std::string& table;
      ~FinishOnExit() { trainer.Finished(database, table); }
    } finish{*dict_trainer_, database, table};
    std::shared_ptr<Database> db = FindDatabase(database);
    if (!db || db->dropped.load()) return;
    auto txn = WriteTxn::Begin(db->env.get());
    Result<uint32_t> id = txn.ok() ? InstallTableDictionary(txn->get(), db->meta_dbi, table, dict)
                                   : Result<uint32_t>(txn.status());
    Status s = id.ok() ? txn->Commit() : id.status();
    if (!s.ok()) {
      log::For("storage")->warn("{}.{}: compression dictionary not installed: {}", database, table,
                                s.ToString());
      return;
    }
    log::For("storage")->info("{}.{}: compression dictionary {} installed", database, table, *id);
  });
}

Result<uint64_t> StoreImpl::UsedBytes(const std::string& database) const {
  auto db = FindDatabase(database);
  if (!db) return Status::NotFound(DatabaseNotFound(database));
  return db->env.UsedBytes();
}

size_t StoreImpl::QueuedWrites() const {
  common::MutexLock lock(queue_mu_);
  return queue_.size();
}

Result<uint64_t> StoreImpl::LastSequence(const std::string& database) const {
  auto db = FindDatabase(database);
  if (!db) return Status::NotFound(DatabaseNotFound(database));
  return db->last_sequence.load();
}

Result<std::unique_ptr<Snapshot>> StoreImpl::Read(const std::string& database) const {
  auto db = FindDatabase(database);
  if (!db) return Status::NotFound(DatabaseNotFound(database));
  ASSIGN_OR_RETURN(ReadTxn txn, ReadTxn::Begin(db->env.get()));
  return std::unique_ptr<Snapshot>(new SnapshotImpl(std::move(db), std::move(txn)));
}

// --- Writes -------------------------------------------------------------------------------

void StoreImpl::WriteAsync(WriteRequest request, WriteCallback done) {
  if (Status text = CheckWriteText(request); !text.ok()) return done(std::move(text));
  Queue(std::move(request), std::move(done));
}

void StoreImpl::Queue(WriteRequest request, WriteCallback done) {
  {
    common::MutexLock lock(queue_mu_);
    if (stopping_) {
      done(Status::Unavailable("store is closing"));
      return;
    }
    if (queue_.size() >= options_.max_queued_writes) {
      done(Status::Unavailable("write queue is full"));
      return;
    }
    PendingWrite item;
    item.request = std::move(request);
    item.done = std::move(done);
    queue_.push_back(std::move(item));
  }
  queue_cv_.notify_one();
}

Result<WriteResult> StoreImpl::Write(WriteRequest request) {
  if (OnWriterThread()) return RefuseOnWriterThread("Store::Write");
  std::promise<Result<WriteResult>> promise;
  auto future = promise.get_future();
  WriteAsync(std::move(request),
             [&promise](Result<WriteResult> r) { promise.set_value(std::move(r)); });
  return future.get();
}

void StoreImpl::WriteAsyncOrInline(WriteRequest request, WriteCallback done) {
  if (Status text = CheckWriteText(request); !text.ok()) return done(std::move(text));
  // (From a writer callback the writer is busy: this thread may even hold apply_mu_.)
  if (OnWriterThread() || !last_group_single_.load(std::memory_order_relaxed)) {
    return Queue(std::move(request), std::move(done));
  }
  if (!apply_mu_.try_lock()) return Queue(std::move(request), std::move(done));
  bool idle = false;
  {
    common::MutexLock lock(queue_mu_);
    idle = queue_.empty() && !stopping_;
  }
  if (!idle) {
    apply_mu_.unlock();
    return Queue(std::move(request), std::move(done));
  }
  {  // everything queued before has been applied: this write is next
    ApplyingFor applying(this);
    std::vector<PendingWrite> batch(1);
    batch[0].request = std::move(request);
    batch[0].done = std::move(done);
    ProcessBatch(batch);
  }
  apply_mu_.unlock();
}

void StoreImpl::WriterLoop() {
  ApplyingFor applying(this);
  std::vector<PendingWrite> batch;
  const size_t max_batch = std::max<size_t>(1, options_.max_group_commit);
  for (;;) {
    {
      common::MutexLock lock(queue_mu_);
      queue_cv_.wait(lock, [&]() REQUIRES(queue_mu_) { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and drained
    }
    // A caller applying its own write finishes first; it took nothing from the queue.
    common::MutexLock apply(apply_mu_);
    {
      common::MutexLock lock(queue_mu_);
      while (!queue_.empty() && batch.size() < max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    ProcessBatch(batch);
    batch.clear();
  }
}

void StoreImpl::ProcessBatch(std::vector<PendingWrite>& batch) {
  AssertOnWriterThread();
  // Consecutive writes form one group commit; a schema task runs between groups, so it is
  // ordered with the writes around it.
  std::vector<PendingWrite*> writes;
  for (auto& item : batch) {
    if (item.task) {
      ApplyWrites(writes);
      writes.clear();
      item.task();
    } else {
      writes.push_back(&item);
    }
  }
  ApplyWrites(writes);
}

void StoreImpl::ApplyWrites(std::vector<PendingWrite*>& writes) {
  if (writes.empty()) return;
  last_group_single_.store(writes.size() == 1, std::memory_order_relaxed);
  // Group by database, keeping arrival order inside each database.
  std::map<std::string, std::vector<PendingWrite*>> by_db;
  for (PendingWrite* w : writes) by_db[w->database()].push_back(w);
  for (auto& [database, group] : by_db) ApplyDatabaseGroup(database, group);
}

// --- Replication ---------------------------------------------------------------------------

void StoreImpl::Enqueue(PendingWrite item) {
  {
    common::MutexLock lock(queue_mu_);
    // Fail() also breaks the item's chain: what its link enqueues next must not apply.
    if (stopping_) {
      item.Fail(Status::Unavailable("store is closing"));
      return;
    }
    if (queue_.size() >= options_.max_queued_writes) {
      item.Fail(Status::Unavailable("write queue is full"));
      return;
    }
    queue_.push_back(std::move(item));
  }
  queue_cv_.notify_one();
}

Result<ApplyResult> StoreImpl::WaitApply(PendingWrite item) {
  if (OnWriterThread()) return RefuseOnWriterThread("a blocking replication apply");
  std::promise<Result<ApplyResult>> promise;
  auto future = promise.get_future();
  item.apply_done = [&promise](Result<ApplyResult> r) { promise.set_value(std::move(r)); };
  Enqueue(std::move(item));
  return future.get();
}

void StoreImpl::ApplyReplicatedAsync(ReplicatedTxn txn, ApplyCallback done) {
  PendingWrite item;
  item.replicated = std::make_unique<ReplicatedTxn>(std::move(txn));
  item.apply_done = std::move(done);
  Enqueue(std::move(item));
}

Result<ApplyResult> StoreImpl::ApplyReplicated(ReplicatedTxn txn) {
  PendingWrite item;
  item.replicated = std::make_unique<ReplicatedTxn>(std::move(txn));
  return WaitApply(std::move(item));
}

void StoreImpl::ApplyCopyChunkAsync(CopyChunk chunk, ApplyCallback done) {
  PendingWrite item;
  item.copy = std::make_unique<CopyChunk>(std::move(chunk));
  item.apply_done = std::move(done);
  Enqueue(std::move(item));
}

Result<ApplyResult> StoreImpl::ApplyCopyChunk(CopyChunk chunk) {
  PendingWrite item;
  item.copy = std::make_unique<CopyChunk>(std::move(chunk));
  return WaitApply(std::move(item));
}

Status StoreImpl::SetVersionVectorFloor(const std::string& database, const VersionVector& floor) {
  CopyChunk chunk;
  chunk.database = database;
  chunk.vector_floor = floor;
  return ApplyCopyChunk(std::move(chunk)).status();
}

Status StoreImpl::SetPeerCursor(const std::string& database, const std::string& peer_name,
                                uint64_t peer_sequence) {
  if (peer_name.empty()) return Status::InvalidArgument("peer name is required");
  CopyChunk chunk;
  chunk.database = database;
  chunk.peer_name = peer_name;
  chunk.peer_sequence = peer_sequence;
  return ApplyCopyChunk(std::move(chunk)).status();
}

Result<uint64_t> StoreImpl::PeerCursor(const std::string& database,
                                       const std::string& peer_name) const {
  auto db = FindDatabase(database);
  if (!db) return Status::NotFound(DatabaseNotFound(database));
  ASSIGN_OR_RETURN(ReadTxn txn, ReadTxn::Begin(db->env.get()));
  std::string key = MetaCursorKey(peer_name);
  MDB_val k = ToVal(key), v;
  int rc = mdb_get(txn.get(), db->meta_dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return uint64_t{0};
  if (rc != 0) return LmdbError("get peer cursor", rc);
  if (v.mv_size != 8) return Status::Corruption("bad peer cursor");
  return GetU64(static_cast<const char*>(v.mv_data));
}

Result<std::optional<std::string>> StoreImpl::PeerView(const std::string& database,
                                                       const std::string& peer_name) const {
  auto db = FindDatabase(database);
  if (!db) return Status::NotFound(DatabaseNotFound(database));
  ASSIGN_OR_RETURN(ReadTxn txn, ReadTxn::Begin(db->env.get()));
  std::string key = MetaViewKey(peer_name);
  MDB_val k = ToVal(key), v;
  int rc = mdb_get(txn.get(), db->meta_dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string>();
  if (rc != 0) return LmdbError("get peer view", rc);
  return std::optional<std::string>(std::string(FromVal(v)));
}

Result<VersionVector> StoreImpl::ReadVersionVector(const std::string& database) const {
  ASSIGN_OR_RETURN(auto snapshot, Read(database));
  return snapshot->ReadVersionVector();
}

Result<uint64_t> StoreImpl::SchemaVersion(const std::string& database) const {
  auto db = FindDatabase(database);
  if (!db) return Status::NotFound(DatabaseNotFound(database));
  return db->schema_version.load();
}

uint64_t StoreImpl::AddCommitListener(CommitListener listener) {
  common::MutexLock lock(listeners_mu_);
  uint64_t id = next_listener_id_++;
  listeners_.emplace(id, std::move(listener));
  return id;
}

void StoreImpl::RemoveCommitListener(uint64_t id) {
  common::MutexLock lock(listeners_mu_);
  listeners_.erase(id);
}

void StoreImpl::NotifyCommit(const std::string& database, uint64_t last_sequence) {
  // Called with the lock held, so a removed listener is never running or called afterwards.
  common::MutexLock lock(listeners_mu_);
  for (auto& [id, listener] : listeners_) listener(database, last_sequence);
}

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  auto store = std::make_unique<StoreImpl>(options);
  RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace meshdb::storage
