// The writer thread's side of StoreImpl: validating and applying write requests, one LMDB
// write transaction per database per group commit.
#include <algorithm>
#include <array>
#include <chrono>
#include <unordered_map>

#include "common/json_parse.h"
#include "common/log.h"
#include "common/metrics.h"
#include "storage/index_build.h"
#include "storage/index_levels.h"
#include "storage/key_codec.h"
#include "storage/lmdb_write.h"
#include "storage/record_codec.h"
#include "storage/store_impl.h"
#include "storage/table_def_json.h"
#include "storage/write_group.h"

namespace meshdb::storage {

namespace json = boost::json;

namespace {

// The most data-file space kept allocated ahead of LMDB's last page (LmdbEnv::ReserveAhead).
constexpr uint64_t kFileHeadroomBytes = 32ull << 20;

constexpr const char* kCreatedTime = "__createdtime__";
constexpr const char* kUpdatedTime = "__updatedtime__";

// The writer's metrics (docs/operations.md). The per-database cache is per thread (each
// store has its own writer thread), so it needs no lock after a database's first group.
class WriterMetrics {
 public:
  enum Source { kLocal = 0, kReplication = 1, kCopy = 2 };

  static WriterMetrics& Get() {
    static auto* metrics = new WriterMetrics();
    return *metrics;
  }

  void RecordGroup(size_t writes, std::chrono::nanoseconds commit) const {
    if (!metrics::RecordingEnabled()) return;
    batch_->Observe(writes);
    commit_->Observe(static_cast<uint64_t>(std::max<int64_t>(0, commit.count())));
  }

  void CountWritten(const std::string& database, Source source, uint64_t records) const {
    if (records == 0 || !metrics::RecordingEnabled()) return;
    thread_local std::unordered_map<std::string, std::array<metrics::Counter*, 3>> cache;
    auto it = cache.find(database);
    if (it == cache.end()) {
      std::array<metrics::Counter*, 3> cells{written_->GetCounter({database, "local"}),
                                             written_->GetCounter({database, "replication"}),
                                             written_->GetCounter({database, "copy"})};
      it = cache.emplace(database, cells).first;
    }
    it->second[source]->Add(records);
  }

 private:
  WriterMetrics() {
    metrics::Registry& r = metrics::Registry::Default();
    batch_ = r.AddHistogram("meshdb_storage_group_commit_writes",
                            "Write requests (local and replicated) folded into one LMDB commit.",
                            {}, metrics::PowersOfTwoBounds(), 1)
                 ->GetHistogram({});
    commit_ = r.AddHistogram("meshdb_storage_commit_duration_seconds",
                             "Time of one group commit's LMDB commit, including its fsync "
                             "(durable mode).",
                             {}, metrics::LatencyBoundsNs(), 1e9)
                  ->GetHistogram({});
    written_ = r.AddCounter("meshdb_records_written_total",
                            "Records written, by database and source (local writes, replicated "
                            "transactions, initial copies).",
                            {"database", "source"});
  }

  metrics::Histogram* batch_ = nullptr;
  metrics::Histogram* commit_ = nullptr;
  metrics::Family* written_ = nullptr;
};

}  // namespace

double NowMs() {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return static_cast<double>(us) / 1000.0;
}

Status StoreImpl::Validate(MDB_txn* /*txn*/, Database& db, RequestCtx& ctx, GroupCtx& group) {
  WriteRequest& req = ctx.item->request;
  ctx.enc_keys.reserve(req.ops.size());
  ctx.result.keys.reserve(req.ops.size());
  for (WriteOp& op : req.ops) {
    PendingTable* pt = Touch(db, group, op.table);
    if (pt == nullptr) return Status::NotFound(TableNotFound(db.name, op.table));
    const std::string& pk = pt->state().def.primary_key;
    const json::value* field_key = op.fields.if_contains(pk);
    if (op.key.is_null() && field_key != nullptr && !field_key->is_null()) op.key = *field_key;
    if (op.key.is_null() || (op.key.is_string() && op.key.get_string().empty())) {
      if (op.kind == WriteKind::kUpdate || op.kind == WriteKind::kDelete) {
        return Status::InvalidArgument(
            "a valid hash attribute must be provided with " +
            std::string(op.kind == WriteKind::kUpdate ? "update" : "delete") + " record");
      }
      op.key = json::string(uuids_.Next());
    }
    auto enc = EncodeKey(op.key);
    if (!enc.ok()) return enc.status();
    if (field_key != nullptr && !field_key->is_null()) {
      auto enc_field = EncodeKey(*field_key);
      if (!enc_field.ok() || *enc_field != *enc) {
        return Status::InvalidArgument("primary key in the record differs from the key");
      }
    }
    ctx.enc_keys.push_back(std::move(enc).value());
    ctx.result.keys.push_back(op.key);
  }
  return Status::Ok();
}

StoreImpl::PendingTable* StoreImpl::Touch(Database& db, GroupCtx& group, const std::string& table) {
  auto it = group.tables.find(table);
  if (it != group.tables.end()) return &it->second;
  // Writer thread: db.tables only changes on this thread, so no lock is needed to read it.
  AssertOnWriterThread();
  auto found = db.WriterTables().find(table);
  if (found == db.WriterTables().end()) return nullptr;
  PendingTable pt;
  pt.base = found->second;
  return &group.tables.emplace(table, std::move(pt)).first->second;
}

void StoreImpl::ApplyDatabaseGroup(const std::string& database,
                                   std::vector<PendingWrite*>& writes) {
  std::shared_ptr<Database> db = FindDatabase(database);
  if (!db) {
    // Replicated transactions that bring table definitions create the database.
    bool create = std::any_of(writes.begin(), writes.end(), [](const PendingWrite* w) {
      return (w->replicated && !w->replicated->table_defs.empty()) ||
             (w->copy && w->copy->table_def.has_value());
    });
    if (create) {
      auto created = DoCreateDatabase(database);
      if (created.ok()) db = std::move(created).value();
    }
  }
  if (!db) {
    for (PendingWrite* w : writes) w->Fail(Status::NotFound(DatabaseNotFound(database)));
    return;
  }
  std::vector<RequestCtx> ctxs(writes.size());
  for (size_t i = 0; i < writes.size(); ++i) ctxs[i].item = writes[i];

  GroupCtx group;
  group.sequence = db->last_sequence.load();
  Status batch_status = db->env.ReserveAhead(kFileHeadroomBytes);
  WriteTxn txn;
  auto begun = WriteTxn::Begin(db->env.get());
  if (!begun.ok() && batch_status.ok()) {
    batch_status = begun.status();
  } else {
    txn = std::move(begun).value();
  }
  for (auto& ctx : ctxs) {
    if (!batch_status.ok()) break;
    // A request that fails validation is answered with its error and changes nothing; an
    // error while applying (LMDB) fails the whole batch.
    if (ctx.item->is_local()) {
      ctx.status = Validate(txn.get(), *db, ctx, group);
      if (ctx.status.ok()) batch_status = ApplyRequest(txn.get(), *db, ctx, group);
    } else if (const ApplyChain* chain = ctx.item->chain(); chain && chain->broken) {
      ctx.status = Status::Conflict("not applied: transaction " +
                                    std::to_string(chain->failed_peer_sequence.load()) +
                                    " of this link failed before it");
    } else {
      ctx.status = ValidateRemote(txn.get(), *db, ctx, group);
      // Later items of the same link (maybe in this very group) must not apply.
      if (!ctx.status.ok()) ctx.item->BreakChain();
      if (ctx.status.ok()) batch_status = ApplyRemote(txn.get(), *db, ctx, group);
    }
  }
  bool schema_changed = false;
  for (const auto& [name, pt] : group.tables) schema_changed |= pt.modified != nullptr;
  uint64_t schema_version = db->schema_version.load();
  if (batch_status.ok()) batch_status = BuildPendingIndexes(txn.get(), *db, group);
  if (batch_status.ok()) batch_status = group.index_edits.Apply(txn.get());
  for (const auto& [name, pt] : group.tables) {
    if (!batch_status.ok()) break;
    IndexMoveStats moved;
    batch_status = MoveStagedEntries(txn.get(), pt.state(), options_.index_staged_limit,
                                     &db->index_move_positions[name], &moved);
  }
  if (batch_status.ok()) batch_status = PersistGroup(txn.get(), *db, group);
  if (batch_status.ok() && schema_changed) {
    batch_status = BumpSchemaVersion(txn.get(), *db, &schema_version);
  }
  const auto commit_started = std::chrono::steady_clock::now();
  if (batch_status.ok()) batch_status = txn.Commit();
  WriterMetrics& metrics = WriterMetrics::Get();
  metrics.RecordGroup(writes.size(), std::chrono::steady_clock::now() - commit_started);

  if (!batch_status.ok()) {
    // Nothing of the batch is applied; WriteTxn's destructor aborted it (closing the handles
    // of tables created in it).
    // Collected index entries may include rows this batch added: the builds fall back to
    // their rows.
    for (const auto& [name, pt] : group.tables) db->index_collectors.erase(name);
    Status failed = Status::IOError(batch_status.message());
    for (auto& ctx : ctxs) ctx.item->Fail(ctx.status.ok() ? failed : ctx.status);
    return;
  }

  // Publish the committed catalog changes.
  {
    common::WriterMutexLock lock(db->mu);
    for (auto& [name, pt] : group.tables) {
      if (!pt.touched) continue;
      const TableState& st = pt.state();
      int64_t count = static_cast<int64_t>(st.record_count.load()) + pt.count_delta;
      st.record_count.store(count < 0 ? 0 : static_cast<uint64_t>(count));
      if (pt.last_updated_ms > 0) st.last_updated_ms.store(pt.last_updated_ms);
      if (pt.modified) db->tables[name] = pt.modified;
    }
  }
  for (const std::string& t : group.index_pending_added) db->index_pending.insert(t);
  for (const std::string& t : group.index_build) db->index_pending.erase(t);
  const bool advanced = group.sequence != db->last_sequence.load();
  db->last_sequence.store(group.sequence);
  db->schema_version.store(schema_version);
  db->max_version = std::max(db->max_version, group.max_version);
  // Listeners before callbacks: a caller answered after a commit can rely on listeners
  // having seen it.
  if (advanced || schema_changed) NotifyCommit(database, group.sequence);
  for (auto& ctx : ctxs) {
    if (!ctx.status.ok()) {
      ctx.item->Fail(ctx.status);
    } else if (ctx.item->is_local()) {
      metrics.CountWritten(database, WriterMetrics::kLocal,
                           std::count(ctx.result.outcomes.begin(), ctx.result.outcomes.end(),
                                      WriteOutcome::kApplied));
      ctx.item->done(std::move(ctx.result));
    } else {
      metrics.CountWritten(database,
                           ctx.item->copy ? WriterMetrics::kCopy : WriterMetrics::kReplication,
                           ctx.apply_result.rows_applied);
      ctx.item->apply_done(ctx.apply_result);
    }
  }
}

bool StoreImpl::IndexPending(const Database& db, const GroupCtx& group, const std::string& table) {
  return db.index_pending.contains(table) || group.index_pending_added.contains(table);
}

Status StoreImpl::BuildPendingIndexes(MDB_txn* txn, Database& db, GroupCtx& group) {
  std::set<std::string> build;
  for (const auto* set : {&db.index_pending, &group.index_pending_added}) {
    for (const std::string& t : *set) {
      if (group.index_build_all || group.index_build.contains(t)) build.insert(t);
    }
  }
  // Tables this group wrote rows to other than by a copy's append (index_build before the
  // line below) cannot use the entries collected during the copy.
  const std::set<std::string> written_as_usual = std::move(group.index_build);
  group.index_build = build;  // what the commit publishes as built
  // An index build writes every entry of the table: a checkpoint is cheaper than logging it.
  if (!build.empty()) SkipWriteAheadLog(txn);
  for (const std::string& table : build) {
    std::shared_ptr<IndexCollector> collector;
    if (auto it = db.index_collectors.find(table); it != db.index_collectors.end()) {
      collector = std::move(it->second);
      db.index_collectors.erase(it);
    }
    if (PendingTable* pt = Touch(db, group, table); pt != nullptr) {
      const bool use_collected = collector != nullptr && !written_as_usual.contains(table) &&
                                 collector->MatchesDefinition(pt->state());
      log::For("storage")->info(
          "building the index of {}.{} (deferred by an initial copy){}", db.name, table,
          use_collected ? " from the entries collected during the copy" : " from its rows");
      const auto started = std::chrono::steady_clock::now();
      IndexBuildStats stats;
      if (use_collected) {
        RETURN_IF_ERROR(collector->Finish(txn, pt->state(), &stats));
      } else {
        RETURN_IF_ERROR(
            RebuildIndex(txn, db, pt->state(), options_.database_dir, kIndexBuildRunBytes, &stats));
      }
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
      log::For("storage")->info(
          "built the index of {}.{}: {} rows, {} entries, {} sorted runs, {} ms", db.name, table,
          stats.rows, stats.entries, stats.runs, ms);
    }
    std::string key = MetaIndexPendingKey(table);
    MDB_val k = ToVal(key);
    int rc = LmdbDel(txn, db.meta_dbi, &k, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("delete index marker", rc);
  }
  return Status::Ok();
}

Status StoreImpl::PersistGroup(MDB_txn* txn, Database& db, GroupCtx& group) {
  auto put = [&](std::string_view key, std::string_view value, const char* what) -> Status {
    MDB_val k = ToVal(key), v = ToVal(value);
    int rc = LmdbPut(txn, db.meta_dbi, &k, &v, 0);
    return rc == 0 ? Status::Ok() : LmdbError(what, rc);
  };
  // Catalog changes, counters, the log position, the version vector and peer cursors go in
  // the same commit as the rows they describe.
  for (auto& [name, pt] : group.tables) {
    if (!pt.touched) continue;
    const TableState& st = pt.state();
    int64_t count = static_cast<int64_t>(st.record_count.load()) + pt.count_delta;
    double updated = pt.last_updated_ms > 0 ? pt.last_updated_ms : st.last_updated_ms.load();
    RETURN_IF_ERROR(put(MetaStatsKey(name),
                        EncodeTableStats(count < 0 ? 0 : static_cast<uint64_t>(count), updated),
                        "put table stats"));
    if (pt.modified) {
      RETURN_IF_ERROR(PutTableDefinition(txn, db.meta_dbi, *pt.modified));
    }
  }
  if (group.sequence != db.last_sequence.load()) {
    RETURN_IF_ERROR(put(kMetaLastSequence, SequenceKey(group.sequence), "put last sequence"));
  }
  for (uint32_t origin : group.vector_dirty) {
    RETURN_IF_ERROR(
        put(MetaVectorKey(origin), SequenceKey(group.vector.at(origin)), "put version vector"));
  }
  for (const auto& [peer, cursor] : group.cursors) {
    RETURN_IF_ERROR(put(MetaCursorKey(peer), SequenceKey(cursor), "put peer cursor"));
  }
  if (group.max_version > db.max_version) {
    RETURN_IF_ERROR(put(kMetaMaxVersion, SequenceKey(group.max_version), "put max version"));
  }
  return Status::Ok();
}

Result<uint64_t> StoreImpl::VectorGet(MDB_txn* txn, Database& db, GroupCtx& group,
                                      uint32_t origin) {
  auto it = group.vector.find(origin);
  if (it != group.vector.end()) return it->second;
  std::string key = MetaVectorKey(origin);
  MDB_val k = ToVal(key), v;
  int rc = mdb_get(txn, db.meta_dbi, &k, &v);
  uint64_t seq = 0;
  if (rc == 0 && v.mv_size == 8) {
    seq = GetU64(static_cast<const char*>(v.mv_data));
  } else if (rc != 0 && rc != MDB_NOTFOUND) {
    return LmdbError("get version vector", rc);
  }
  group.vector.emplace(origin, seq);
  return seq;
}

void StoreImpl::VectorSet(GroupCtx& group, uint32_t origin, uint64_t sequence) {
  group.vector[origin] = sequence;
  group.vector_dirty.insert(origin);
}

Status StoreImpl::ApplyRequest(MDB_txn* txn, Database& db, RequestCtx& ctx, GroupCtx& group) {
  WriteRequest& req = ctx.item->request;
  const uint64_t version = clock_.Now();
  const double txn_time_ms = NowMs();
  ctx.result.version = version;
  ctx.result.txn_time_ms = txn_time_ms;
  ctx.result.outcomes.reserve(req.ops.size());
  LogEntry entry;
  entry.origin = options_.local_node_id;
  entry.version = version;
  entry.writes.reserve(req.ops.size());
  for (size_t i = 0; i < req.ops.size(); ++i) {
    WriteOp& op = req.ops[i];
    PendingTable* pt = Touch(db, group, op.table);  // validated: never null
    // A table whose index an initial copy deferred gets it built before this write commits.
    if (IndexPending(db, group, op.table)) group.index_build.insert(op.table);
    WriteOutcome outcome = WriteOutcome::kSkipped;
    RETURN_IF_ERROR(ApplyOp(txn, db, op, ctx.enc_keys[i], *pt, version, txn_time_ms,
                            group.index_edits, &outcome, &entry));
    ctx.result.outcomes.push_back(outcome);
  }
  if (entry.writes.empty()) {
    ctx.result.sequence = 0;
    return Status::Ok();
  }
  group.max_version = std::max(group.max_version, version);
  RETURN_IF_ERROR(AppendLocalToLog(txn, db, group, &entry));
  ctx.result.sequence = entry.sequence;
  return Status::Ok();
}

Status StoreImpl::AppendLocalToLog(MDB_txn* txn, Database& db, GroupCtx& group, LogEntry* entry) {
  // Local origin sequences are dense per origin: one more than the vector's entry (which
  // equals the log sequence until peers' transactions are applied too).
  ASSIGN_OR_RETURN(uint64_t local_applied, VectorGet(txn, db, group, options_.local_node_id));
  entry->origin = options_.local_node_id;
  entry->origin_sequence = local_applied + 1;
  entry->partial = false;
  RETURN_IF_ERROR(AppendToLog(txn, db, group, entry));
  VectorSet(group, options_.local_node_id, entry->origin_sequence);
  return Status::Ok();
}

Status StoreImpl::AppendToLog(MDB_txn* txn, Database& db, GroupCtx& group, LogEntry* entry) {
  entry->sequence = ++group.sequence;
  EncodeLogEntry(*entry, &log_buf_);
  std::string key = SequenceKey(entry->sequence);
  MDB_val k = ToVal(key), v = ToVal(log_buf_);
  int rc = LmdbPut(txn, db.log_dbi, &k, &v, MDB_APPEND);
  if (rc != 0) return LmdbError("append to txlog", rc);
  return Status::Ok();
}

Status StoreImpl::ApplyOp(MDB_txn* txn, Database& db, WriteOp& op, const std::string& enc_key,
                          PendingTable& pt, uint64_t version, double txn_time_ms,
                          IndexEdits& index_edits, WriteOutcome* outcome, LogEntry* entry) {
  const TableState& table = pt.state();
  const MDB_dbi records = table.records_dbi;
  const std::string& pk = table.def.primary_key;
  MDB_val k = ToVal(enc_key);
  MDB_val old_val;
  int rc = mdb_get(txn, records, &k, &old_val);
  if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("get record", rc);
  bool old_live = false;
  std::string_view old_json;
  if (rc == 0) {
    ASSIGN_OR_RETURN(std::string_view old_record,
                     UnpackRecord(txn, db, FromVal(old_val), &old_record_buf_));
    RecordHeader h;
    RETURN_IF_ERROR(DecodeRecordHeader(old_record, &h, &old_json));
    old_live = !h.tombstone;
  }
  if ((op.kind == WriteKind::kInsert && old_live) || (op.kind == WriteKind::kUpdate && !old_live)) {
    *outcome = WriteOutcome::kSkipped;
    return Status::Ok();
  }
  json::object old_doc;
  if (old_live) {
    boost::system::error_code ec;
    json::value parsed = ParseJson(old_json, ec);
    if (ec || !parsed.is_object()) return Status::Corruption("stored record is not a JSON object");
    old_doc = std::move(parsed.get_object());
  }

  if (op.kind == WriteKind::kDelete) {
    if (old_live) {
      index_edits.Update(table, enc_key, &old_doc, nullptr);
      --pt.count_delta;
    }
    EncodeRecordHeader(RecordHeader{true, version, options_.local_node_id}, &record_buf_);
  } else {
    json::object doc;
    if (old_live) {
      doc = old_doc;
      for (auto& [name, v] : op.fields) doc[name] = std::move(v);
    } else {
      doc = std::move(op.fields);
    }
    doc[pk] = op.key;
    if (!table.def.schema_defined) {
      const json::value* created = old_live ? old_doc.if_contains(kCreatedTime) : nullptr;
      doc[kCreatedTime] = created != nullptr ? *created : json::value(txn_time_ms);
      doc[kUpdatedTime] = txn_time_ms;
      // New attribute names join the table definition (persisted in this commit).
      for (const auto& [name, v] : doc) {
        std::string_view n(name.data(), name.size());
        if (pt.state().attr_pos.find(std::string(n)) == pt.state().attr_pos.end()) {
          pt.AddAttribute(AttributeDef{std::string(n), "", true});
        }
      }
    }
    index_edits.Update(pt.state(), enc_key, old_live ? &old_doc : nullptr, &doc);
    if (!old_live) ++pt.count_delta;
    EncodeRecord(RecordHeader{false, version, options_.local_node_id}, doc, &record_buf_);
  }
  BackgroundDictionaryTraining training = TrainingFor(db);
  ASSIGN_OR_RETURN(std::string_view stored,
                   PackRecord(txn, db.meta_dbi, records, db.record_dicts, training, op.table,
                              record_buf_, &stored_buf_));
  MDB_val v = ToVal(stored);
  rc = LmdbPut(txn, records, &k, &v, 0);
  if (rc != 0) return LmdbError("put record", rc);
  pt.touched = true;
  pt.last_updated_ms = txn_time_ms;
  *outcome = WriteOutcome::kApplied;
  entry->writes.push_back(LogEntry::Write{op.table, enc_key, record_buf_});
  return Status::Ok();
}

}  // namespace meshdb::storage
