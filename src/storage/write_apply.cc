// The writer thread's side of StoreImpl: validating and applying write requests, one LMDB
// write transaction per database per group commit.
#include <chrono>

#include <boost/json/parse.hpp>

#include "storage/key_codec.h"
#include "storage/record_codec.h"
#include "storage/store_impl.h"

namespace meshdb::storage {

namespace json = boost::json;

namespace {

constexpr const char* kCreatedTime = "__createdtime__";
constexpr const char* kUpdatedTime = "__updatedtime__";

double NowMs() {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return static_cast<double>(us) / 1000.0;
}

// Calls fn(scalar) for each value an attribute contributes to its index: the value itself
// when scalar, each scalar element of an array, nothing for objects.
template <typename Fn>
void ForEachIndexValue(const json::value& v, Fn&& fn) {
  if (v.is_array()) {
    for (const auto& e : v.get_array()) {
      if (IsScalar(e)) fn(e);
    }
  } else if (!v.is_object()) {
    fn(v);
  }
}

}  // namespace

struct StoreImpl::RequestCtx {
  PendingWrite* item = nullptr;
  Status status;                       // not OK: failed validation, not applied
  std::vector<std::string> enc_keys;   // one per op
  WriteResult result;
};

// A table touched by the current group commit: what changes once it commits.
struct StoreImpl::PendingTable {
  std::shared_ptr<const TableState> base;
  std::shared_ptr<TableState> modified;  // set when attributes were added
  int64_t count_delta = 0;
  double last_updated_ms = 0;
  bool touched = false;

  const TableState& state() const { return modified ? *modified : *base; }
  void AddAttribute(const std::string& name) {
    if (!modified) modified = base->Clone();
    modified->def.attributes.push_back(AttributeDef{name, "", true});
    modified->attr_pos.emplace(name, modified->def.attributes.size() - 1);
  }
};

Status StoreImpl::Validate(const Database& db, RequestCtx& ctx) {
  WriteRequest& req = ctx.item->request;
  ctx.enc_keys.reserve(req.ops.size());
  ctx.result.keys.reserve(req.ops.size());
  for (WriteOp& op : req.ops) {
    auto it = db.tables.find(op.table);
    if (it == db.tables.end()) return Status::NotFound(TableNotFound(db.name, op.table));
    const std::string& pk = it->second->def.primary_key;
    const json::value* field_key = op.fields.if_contains(pk);
    if (op.key.is_null() && field_key != nullptr && !field_key->is_null()) op.key = *field_key;
    if (op.key.is_null() || (op.key.is_string() && op.key.get_string().empty())) {
      if (op.kind == WriteKind::kUpdate || op.kind == WriteKind::kDelete) {
        return Status::InvalidArgument("a valid hash attribute must be provided with " +
                                       std::string(op.kind == WriteKind::kUpdate ? "update" : "delete") +
                                       " record");
      }
      op.key = json::string(NewUuid());
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

void StoreImpl::ApplyDatabaseGroup(const std::string& database, std::vector<PendingWrite*>& writes) {
  std::shared_ptr<Database> db = FindDatabase(database);
  if (!db) {
    for (PendingWrite* w : writes) w->done(Status::NotFound(DatabaseNotFound(database)));
    return;
  }
  std::vector<RequestCtx> ctxs(writes.size());
  size_t valid = 0;
  for (size_t i = 0; i < writes.size(); ++i) {
    ctxs[i].item = writes[i];
    ctxs[i].status = Validate(*db, ctxs[i]);
    if (ctxs[i].status.ok()) ++valid;
  }

  Status batch_status;
  PendingTables pending;
  uint64_t sequence = db->last_sequence.load();
  WriteTxn txn;
  if (valid > 0) {
    auto begun = WriteTxn::Begin(db->env.get());
    if (!begun.ok()) {
      batch_status = begun.status();
    } else {
      txn = std::move(begun).value();
    }
    for (auto& ctx : ctxs) {
      if (!batch_status.ok()) break;
      if (!ctx.status.ok()) continue;
      batch_status = ApplyRequest(txn.get(), *db, ctx, pending, &sequence);
    }
    // Persist catalog changes, counters and the log position in the same commit.
    for (auto& [name, pt] : pending) {
      if (!batch_status.ok()) break;
      if (!pt.touched) continue;
      const TableState& st = pt.state();
      int64_t count = static_cast<int64_t>(st.record_count.load()) + pt.count_delta;
      std::string stats = EncodeTableStats(count < 0 ? 0 : static_cast<uint64_t>(count),
                                           pt.last_updated_ms);
      std::string key = MetaStatsKey(name);
      MDB_val k = ToVal(key), v = ToVal(stats);
      int rc = mdb_put(txn.get(), db->meta_dbi, &k, &v, 0);
      if (rc != 0) batch_status = LmdbError("put table stats", rc);
      if (batch_status.ok() && pt.modified) {
        std::string def_key = MetaTableKey(name);
        std::string def = TableDefToJson(pt.modified->def);
        MDB_val dk = ToVal(def_key), dv = ToVal(def);
        rc = mdb_put(txn.get(), db->meta_dbi, &dk, &dv, 0);
        if (rc != 0) batch_status = LmdbError("put table definition", rc);
      }
    }
    if (batch_status.ok() && sequence != db->last_sequence.load()) {
      std::string seq;
      PutU64(&seq, sequence);
      MDB_val k = ToVal(kMetaLastSequence), v = ToVal(seq);
      int rc = mdb_put(txn.get(), db->meta_dbi, &k, &v, 0);
      if (rc != 0) batch_status = LmdbError("put last sequence", rc);
    }
    if (batch_status.ok()) batch_status = txn.Commit();
  }

  if (!batch_status.ok()) {
    // Nothing of the batch is applied; WriteTxn's destructor aborted it.
    Status failed = Status::IOError(batch_status.message());
    for (auto& ctx : ctxs) ctx.item->done(ctx.status.ok() ? failed : ctx.status);
    return;
  }

  // Publish the committed catalog changes.
  {
    std::unique_lock lock(db->mu);
    for (auto& [name, pt] : pending) {
      if (!pt.touched) continue;
      const TableState& st = pt.state();
      int64_t count = static_cast<int64_t>(st.record_count.load()) + pt.count_delta;
      st.record_count.store(count < 0 ? 0 : static_cast<uint64_t>(count));
      st.last_updated_ms.store(pt.last_updated_ms);
      if (pt.modified) db->tables[name] = pt.modified;
    }
  }
  db->last_sequence.store(sequence);
  for (auto& ctx : ctxs) {
    if (ctx.status.ok()) {
      ctx.item->done(std::move(ctx.result));
    } else {
      ctx.item->done(ctx.status);
    }
  }
}

Status StoreImpl::ApplyRequest(MDB_txn* txn, Database& db, RequestCtx& ctx, PendingTables& pending,
                               uint64_t* sequence) {
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
    auto it = pending.find(op.table);
    if (it == pending.end()) {
      PendingTable pt;
      pt.base = db.tables.at(op.table);  // validated
      it = pending.emplace(op.table, std::move(pt)).first;
    }
    WriteOutcome outcome = WriteOutcome::kSkipped;
    RETURN_IF_ERROR(ApplyOp(txn, db, op, ctx.enc_keys[i], it->second, version, txn_time_ms,
                            &outcome, &entry));
    ctx.result.outcomes.push_back(outcome);
  }
  if (entry.writes.empty()) {
    ctx.result.sequence = 0;
    return Status::Ok();
  }
  entry.sequence = ++*sequence;
  entry.origin_sequence = entry.sequence;
  EncodeLogEntry(entry, &log_buf_);
  std::string key = SequenceKey(entry.sequence);
  MDB_val k = ToVal(key), v = ToVal(log_buf_);
  int rc = mdb_put(txn, db.log_dbi, &k, &v, MDB_APPEND);
  if (rc != 0) return LmdbError("append to txlog", rc);
  ctx.result.sequence = entry.sequence;
  return Status::Ok();
}

Status StoreImpl::ApplyOp(MDB_txn* txn, Database& db, WriteOp& op, const std::string& enc_key,
                          PendingTable& pt, uint64_t version, double txn_time_ms,
                          WriteOutcome* outcome, LogEntry* entry) {
  const TableState& table = pt.state();
  const MDB_dbi records = table.records_dbi;
  const MDB_dbi index = table.index_dbi;
  const std::string& pk = table.def.primary_key;
  MDB_val k = ToVal(enc_key);
  MDB_val old_val;
  int rc = mdb_get(txn, records, &k, &old_val);
  if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("get record", rc);
  bool old_live = false;
  std::string_view old_json;
  if (rc == 0) {
    RecordHeader h;
    RETURN_IF_ERROR(DecodeRecordHeader(FromVal(old_val), &h, &old_json));
    old_live = !h.tombstone;
  }
  if ((op.kind == WriteKind::kInsert && old_live) || (op.kind == WriteKind::kUpdate && !old_live)) {
    *outcome = WriteOutcome::kSkipped;
    return Status::Ok();
  }
  json::object old_doc;
  if (old_live) {
    boost::system::error_code ec;
    json::value parsed = json::parse(json::string_view(old_json.data(), old_json.size()), ec);
    if (ec || !parsed.is_object()) return Status::Corruption("stored record is not a JSON object");
    old_doc = std::move(parsed.get_object());
  }

  auto put_index = [&](const std::string& attr, const json::value& v) -> Status {
    Status s;
    ForEachIndexValue(v, [&](const json::value& e) {
      if (!s.ok()) return;
      EncodeIndexKey(attr, e, &index_key_buf_);
      MDB_val ik = ToVal(index_key_buf_), iv = ToVal(enc_key);
      int r = mdb_put(txn, index, &ik, &iv, MDB_NODUPDATA);
      if (r != 0 && r != MDB_KEYEXIST) s = LmdbError("put index entry", r);
    });
    return s;
  };
  auto del_index = [&](const std::string& attr, const json::value& v) -> Status {
    Status s;
    ForEachIndexValue(v, [&](const json::value& e) {
      if (!s.ok()) return;
      EncodeIndexKey(attr, e, &index_key_buf_);
      MDB_val ik = ToVal(index_key_buf_), iv = ToVal(enc_key);
      int r = mdb_del(txn, index, &ik, &iv);
      if (r != 0 && r != MDB_NOTFOUND) s = LmdbError("delete index entry", r);
    });
    return s;
  };
  auto indexed = [&](const std::string& attr) {
    if (attr == pk) return false;  // served by the records sub-db itself
    const AttributeDef* def = pt.state().Find(attr);
    return def != nullptr && def->indexed;
  };

  if (op.kind == WriteKind::kDelete) {
    if (old_live) {
      for (const auto& [name, v] : old_doc) {
        std::string attr(name);
        if (indexed(attr)) RETURN_IF_ERROR(del_index(attr, v));
      }
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
          pt.AddAttribute(std::string(n));
        }
      }
    }
    for (const auto& [name, v] : doc) {
      std::string attr(name);
      if (!indexed(attr)) continue;
      const json::value* before = old_live ? old_doc.if_contains(name) : nullptr;
      if (before != nullptr) {
        if (*before == v) continue;
        RETURN_IF_ERROR(del_index(attr, *before));
      }
      RETURN_IF_ERROR(put_index(attr, v));
    }
    if (!old_live) ++pt.count_delta;
    EncodeRecord(RecordHeader{false, version, options_.local_node_id}, doc, &record_buf_);
  }
  MDB_val v = ToVal(record_buf_);
  rc = mdb_put(txn, records, &k, &v, 0);
  if (rc != 0) return LmdbError("put record", rc);
  pt.touched = true;
  pt.last_updated_ms = txn_time_ms;
  *outcome = WriteOutcome::kApplied;
  entry->writes.push_back(LogEntry::Write{op.table, enc_key, record_buf_});
  return Status::Ok();
}

}  // namespace meshdb::storage
