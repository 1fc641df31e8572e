// The writer thread's side of replication: applying transactions received from peers and
// chunks of an initial copy, row by row with last-writer-wins, inside the same group commit as
// local writes (docs/storage.md "Replication").
#include <algorithm>
#include <boost/json/monotonic_resource.hpp>
#include <tuple>

#include "common/json_parse.h"
#include "storage/index_build.h"
#include "storage/key_codec.h"
#include "storage/lmdb_handles.h"
#include "storage/lmdb_write.h"
#include "storage/record_codec.h"
#include "storage/store_impl.h"
#include "storage/stored_record.h"
#include "storage/write_group.h"

namespace meshdb::storage {

namespace json = boost::json;

namespace {

Status CheckTableDef(const TableDef& def) {
  if (def.name.empty() || def.primary_key.empty()) {
    return Status::InvalidArgument("table definition without a name or primary key");
  }
  return Status::Ok();
}

// A copy chunk's stored values (CopyChunk::stored_values): the dictionaries they may name,
// checked and loaded, and what meta already holds under their ids.
class StoredValues {
 public:
  // *new_dictionaries: those meta lacks; *adopt: the first that is no conflict.
  Status Check(MDB_txn* txn, MDB_dbi meta, const CopyChunk& chunk,
               std::vector<const CopyChunk::Dictionary*>* new_dictionaries,
               const CopyChunk::Dictionary** adopt) {
    for (const CopyChunk::Dictionary& d : chunk.dictionaries) {
      if (d.id == 0 || ZstdDictionaryId(d.bytes) != d.id) {
        return Status::Corruption("copy chunk dictionary " + std::to_string(d.id) +
                                  " is not a zstd dictionary with that id");
      }
      auto loaded = ZstdDictionary::Load(d.bytes, kRecordCompressLevel);
      if (loaded == nullptr) {
        return Status::Corruption("copy chunk dictionary " + std::to_string(d.id) + " is unusable");
      }
      ASSIGN_OR_RETURN(DictionaryMatch match, MatchRecordDictionary(txn, meta, d.id, d.bytes));
      if (match == DictionaryMatch::kAbsent) new_dictionaries->push_back(&d);
      if (match == DictionaryMatch::kConflict) {
        conflicts_.push_back(d.id);
      } else if (*adopt == nullptr) {
        *adopt = &d;
      }
      loaded_.emplace_back(d.id, std::move(loaded));
    }
    return Status::Ok();
  }

  // The record bytes of `stored`, decompressed into *scratch when compressed; *as_is: it may
  // be stored as it is (false when it names an id meta holds other bytes for).
  Result<std::string_view> Unpack(MDB_txn* txn, MDB_dbi meta, RecordDictionaries& dicts,
                                  std::string_view stored, std::string* scratch, bool* as_is) {
    *as_is = true;
    ASSIGN_OR_RETURN(std::optional<uint32_t> id, StoredRecordDictionaryId(stored));
    if (!id || *id == 0) return UnpackStoredRecordWith(stored, nullptr, scratch);
    for (const auto& [loaded_id, dict] : loaded_) {
      if (loaded_id != *id) continue;
      *as_is = std::find(conflicts_.begin(), conflicts_.end(), *id) == conflicts_.end();
      return UnpackStoredRecordWith(stored, dict.get(), scratch);
    }
    // Sent with an earlier chunk of the copy, so in meta now.
    Result<std::shared_ptr<const ZstdDictionary>> dict = dicts.Get(txn, meta, *id);
    if (!dict.ok()) {
      return Status::Corruption("copied row names compression dictionary " + std::to_string(*id) +
                                ", which neither its chunk nor this node holds");
    }
    return UnpackStoredRecordWith(stored, dict->get(), scratch);
  }

  // Whether `stored` would be stored as it is and decompressed with the very dictionary
  // Store::PrepareCopyChunk used (the chunk's under its id, else the one this node holds):
  // every id but a conflicting one. False on a malformed value (Unpack reports it).
  [[nodiscard]] bool DecodesAsPrepared(std::string_view stored) const {
    Result<std::optional<uint32_t>> id = StoredRecordDictionaryId(stored);
    if (!id.ok()) return false;
    return !*id || **id == 0 ||
           std::find(conflicts_.begin(), conflicts_.end(), **id) == conflicts_.end();
  }

 private:
  std::vector<std::pair<uint32_t, std::shared_ptr<const ZstdDictionary>>> loaded_;
  std::vector<uint32_t> conflicts_;
};

}  // namespace

Status StoreImpl::ValidateRemote(MDB_txn* txn, Database& db, RequestCtx& ctx, GroupCtx& group) {
  PendingWrite& item = *ctx.item;
  std::vector<const TableDef*> defs;
  std::vector<std::pair<const std::string*, const std::string*>> rows;  // key, value
  std::vector<const std::string*> row_tables;
  std::optional<StoredValues> stored_values;
  // A copy chunk's rows decoded ahead (PrepareCopyChunk), used only for rows stored as they
  // are and not logged (the log and compression again need the record bytes).
  PreparedCopyRows* prepared = nullptr;
  if (item.replicated) {
    ReplicatedTxn& t = *item.replicated;
    if (t.origin == 0 || t.origin_sequence == 0) {
      return Status::InvalidArgument("replicated transaction without origin or origin sequence");
    }
    ASSIGN_OR_RETURN(uint64_t applied, VectorGet(txn, db, group, t.origin));
    if (t.origin_sequence <= applied) {
      // Applied before (at-most-once): only the cursor will move; rows are not looked at.
      ctx.apply_result.duplicate = true;
      return Status::Ok();
    }
    for (const auto& d : t.table_defs) defs.push_back(&d);
    for (const auto& w : t.writes) {
      rows.emplace_back(&w.key, &w.value);
      row_tables.push_back(&w.table);
    }
  } else {
    CopyChunk& c = *item.copy;
    if (c.table_def) defs.push_back(&*c.table_def);
    if (c.table.empty() && c.table_def) c.table = c.table_def->name;
    if (!c.rows.empty() && c.table.empty()) {
      return Status::InvalidArgument("copy chunk rows without a table");
    }
    for (const auto& r : c.rows) {
      rows.emplace_back(&r.key, &r.value);
      row_tables.push_back(&c.table);
    }
    if (c.stored_values) {
      stored_values.emplace();
      RETURN_IF_ERROR(
          stored_values->Check(txn, db.meta_dbi, c, &ctx.new_dictionaries, &ctx.adopt_dictionary));
    } else if (!c.dictionaries.empty()) {
      return Status::InvalidArgument("copy chunk dictionaries without stored values");
    }
    if (c.stored_values && !c.log_rows && c.prepared != nullptr &&
        c.prepared->rows.size() == c.rows.size()) {
      prepared = c.prepared.get();
    }
  }
  for (const TableDef* d : defs) RETURN_IF_ERROR(CheckTableDef(*d));
  auto defined = [&](const std::string& table) {
    return std::any_of(defs.begin(), defs.end(),
                       [&](const TableDef* d) { return d->name == table; });
  };
  ctx.rows.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string& table = *row_tables[i];
    if (Touch(db, group, table) == nullptr && !defined(table)) {
      return Status::NotFound(TableNotFound(db.name, table));
    }
    RemoteRow row;
    row.table = table;
    row.key = rows[i].first;
    row.value = rows[i].second;
    if (row.key->empty() || row.key->size() > kMaxKeyBytes) {
      return Status::InvalidArgument("replicated row with an empty or oversized key");
    }
    std::string_view record = *row.value;
    PreparedCopyRows::Row* ahead = prepared != nullptr ? &prepared->rows[i] : nullptr;
    if (ahead != nullptr && ahead->decoded && stored_values->DecodesAsPrepared(*row.value)) {
      // Decompressed, decoded and parsed by PrepareCopyChunk, exactly as below. The document
      // is moved by construction: it lives in the chunk's memory resource, and assigning it to
      // a document of the default resource would copy it.
      ctx.rows.push_back(RemoteRow{.table = std::move(row.table),
                                   .key = row.key,
                                   .value = row.value,
                                   .stored = row.value,
                                   .record = {},
                                   .header = ahead->header,
                                   .doc = std::move(ahead->doc)});
      continue;
    }
    if (stored_values) {
      bool as_is = true;
      ASSIGN_OR_RETURN(record, stored_values->Unpack(txn, db.meta_dbi, db.record_dicts, *row.value,
                                                     &unpacked_buf_, &as_is));
      if (as_is) row.stored = row.value;
      // The log and compression with this node's dictionary take record bytes.
      if (!as_is || item.copy->log_rows) row.record.assign(record);
    }
    std::string_view text;
    RETURN_IF_ERROR(DecodeRecordHeader(record, &row.header, &text));
    if (!row.header.tombstone) {
      boost::system::error_code ec;
      json::value parsed = ParseJson(text, ec);
      if (ec || !parsed.is_object()) {
        return Status::Corruption("replicated record is not a JSON object");
      }
      row.doc = std::move(parsed.get_object());
    }
    ctx.rows.push_back(std::move(row));  // reserved: no reallocation moves `record`
    if (stored_values && !ctx.rows.back().record.empty()) {
      ctx.rows.back().value = &ctx.rows.back().record;
    }
  }
  return Status::Ok();
}

void StoreImpl::PrepareCopyChunk(CopyChunk& chunk) const {
  // ValidateRemote uses none of it for such chunks.
  if (!chunk.stored_values || chunk.log_rows || chunk.rows.empty()) return;
  // The dictionaries to decompress with, by id, as ValidateRemote picks them: the chunk's
  // own first, else the one this node holds (RecordDictionaries, the writer's own cache).
  std::vector<std::pair<uint32_t, std::shared_ptr<const ZstdDictionary>>> dicts;
  for (const CopyChunk::Dictionary& d : chunk.dictionaries) {
    if (d.id == 0 || ZstdDictionaryId(d.bytes) != d.id) return;  // the writer refuses it
    auto loaded = ZstdDictionary::Load(d.bytes, kRecordCompressLevel);
    if (loaded == nullptr) return;
    dicts.emplace_back(d.id, std::move(loaded));
  }
  std::shared_ptr<Database> db = FindDatabase(chunk.database);
  std::optional<ReadTxn> txn;  // begun for the first id the chunk lacks
  auto dictionary = [&](uint32_t id) -> const ZstdDictionary* {
    for (const auto& [known, dict] : dicts) {
      if (known == id) return dict.get();
    }
    if (db == nullptr) return nullptr;
    if (!txn) {
      Result<ReadTxn> begun = ReadTxn::Begin(db->env.get());
      if (!begun.ok()) return nullptr;
      txn.emplace(std::move(begun).value());
    }
    Result<std::shared_ptr<const ZstdDictionary>> held =
        db->record_dicts.Get(txn->get(), db->meta_dbi, id);
    if (!held.ok()) return nullptr;  // not committed yet: the writer decodes those rows
    dicts.emplace_back(id, std::move(held).value());
    return dicts.back().second.get();
  };
  auto prepared = std::make_shared<PreparedCopyRows>();
  prepared->rows.reserve(chunk.rows.size());
  // The chunk's documents share one arena, released at once when the last of them goes (after
  // the writer's commit): no allocation and free per value, one parser's stack reused.
  json::storage_ptr arena = json::make_shared_resource<json::monotonic_resource>();
  JsonParser parser;
  std::string scratch;
  // Row i as the writer should take it: decoded (with its document), or left to the writer.
  auto decode = [&](const std::string& stored) -> PreparedCopyRows::Row {
    Result<std::optional<uint32_t>> id = StoredRecordDictionaryId(stored);
    if (!id.ok()) return {};
    const ZstdDictionary* dict = nullptr;
    if (*id && **id != 0) {
      dict = dictionary(**id);
      if (dict == nullptr) return {};
    }
    Result<std::string_view> record = UnpackStoredRecordWith(stored, dict, &scratch);
    if (!record.ok()) return {};
    RecordHeader header;
    std::string_view text;
    if (!DecodeRecordHeader(*record, &header, &text).ok()) return {};
    if (header.tombstone) return {.decoded = true, .header = header, .doc = {}};
    boost::system::error_code ec;
    json::value parsed = parser.Parse(text, ec, nullptr, arena);
    if (ec || !parsed.is_object()) return {};
    return {.decoded = true, .header = header, .doc = std::move(parsed.get_object())};
  };
  for (const RawRow& row : chunk.rows) prepared->rows.push_back(decode(row.value));
  chunk.prepared = std::move(prepared);
}

Status StoreImpl::EnsureTable(MDB_txn* txn, Database& db, GroupCtx& group, const TableDef& in) {
  PendingTable* pt = Touch(db, group, in.name);
  if (pt == nullptr) {
    auto state = std::make_shared<TableState>();
    state->def = NormalizeTableDef(in);
    state->def.database = db.name;
    state->index_keys = IndexKeyLayout::Compact();  // new tables get compact index keys
    state->RebuildPositions();
    RETURN_IF_ERROR(OpenTableSubDbs(txn, in.name, state.get()));
    PendingTable created;
    created.modified = std::move(state);
    created.touched = true;
    group.tables.emplace(in.name, std::move(created));
    return Status::Ok();
  }
  for (const AttributeDef& a : in.attributes) {
    if (pt->state().Find(a.name) == nullptr) pt->AddAttribute(a);
  }
  return Status::Ok();
}

Result<bool> StoreImpl::DeferIndex(MDB_txn* txn, Database& db, GroupCtx& group,
                                   const std::string& table) {
  if (IndexPending(db, group, table)) return true;
  PendingTable* pt = Touch(db, group, table);
  if (pt == nullptr) return false;
  MDB_stat stat;
  int rc = mdb_stat(txn, pt->state().records_dbi, &stat);
  if (rc != 0) return LmdbError("stat records", rc);
  if (stat.ms_entries != 0) return false;  // rows of its own: indexed row by row as usual
  // The marker commits with the first rows: a crash before the index is built leaves it, and
  // the next open builds the index (StoreImpl::OpenDatabase).
  std::string key = MetaIndexPendingKey(table);
  MDB_val k = ToVal(key), v{0, nullptr};
  rc = LmdbPut(txn, db.meta_dbi, &k, &v, 0);
  if (rc != 0) return LmdbError("put index marker", rc);
  group.index_pending_added.insert(table);
  // Every row of the table from here on comes through this chunk's append path, which
  // collects its index entries (an aborted group drops the collector with the marker).
  db.index_collectors[table] =
      std::make_shared<IndexCollector>(options_.database_dir, kIndexBuildRunBytes);
  return true;
}

Status StoreImpl::ApplyRemote(MDB_txn* txn, Database& db, RequestCtx& ctx, GroupCtx& group) {
  PendingWrite& item = *ctx.item;
  ApplyResult& result = ctx.apply_result;
  if (item.replicated) {
    const ReplicatedTxn& t = *item.replicated;
    if (!t.peer_name.empty()) group.cursors[t.peer_name] = t.peer_sequence;
  } else {
    const CopyChunk& c = *item.copy;
    if (!c.peer_name.empty()) {
      // A chunk carrying only a view (peer_sequence 0) leaves the cursor alone.
      if (c.peer_sequence > 0 || !c.peer_view) group.cursors[c.peer_name] = c.peer_sequence;
      if (c.peer_view) {
        // Written straight into this commit's meta; a later chunk of the same group for the
        // same peer overwrites it, in order.
        std::string key = MetaViewKey(c.peer_name);
        MDB_val k = ToVal(key), v = ToVal(*c.peer_view);
        int rc = LmdbPut(txn, db.meta_dbi, &k, &v, 0);
        if (rc != 0) return LmdbError("put peer view", rc);
      }
    }
  }
  if (result.duplicate) return Status::Ok();

  if (item.replicated) {
    for (const TableDef& d : item.replicated->table_defs)
      RETURN_IF_ERROR(EnsureTable(txn, db, group, d));
  } else if (item.copy->table_def) {
    RETURN_IF_ERROR(EnsureTable(txn, db, group, *item.copy->table_def));
  }

  // An initial copy into a table with no rows defers the table's index (index_build.h).
  bool defer_index = false;
  if (item.copy && item.copy->build_indexes) group.index_build_all = true;
  if (item.copy && item.copy->bulk && !ctx.rows.empty()) {
    ASSIGN_OR_RETURN(defer_index, DeferIndex(txn, db, group, item.copy->table));
  }

  if (item.copy) {
    for (const CopyChunk::Dictionary* d : ctx.new_dictionaries) {
      RETURN_IF_ERROR(StoreRecordDictionary(txn, db.meta_dbi, d->id, d->bytes));
    }
    if (ctx.adopt_dictionary != nullptr) {
      RETURN_IF_ERROR(
          AdoptTableDictionary(txn, db.meta_dbi, item.copy->table, ctx.adopt_dictionary->id));
    }
  }

  Cursor append_cursor;  // records cursor of a deferred-index copy chunk (one table)
  // The deferred table's collected index entries: only while every row since its marker went
  // through the append path below (a row put otherwise drops it, and the end rebuilds).
  IndexCollector* collector = nullptr;
  if (defer_index) {
    auto it = db.index_collectors.find(item.copy->table);
    if (it != db.index_collectors.end()) collector = it->second.get();
  }
  auto drop_collector = [&] {
    if (collector == nullptr) return;
    db.index_collectors.erase(item.copy->table);
    collector = nullptr;
  };
  // The deferred table's greatest stored key (empty: no rows; keys are never empty). A copy
  // arrives in key order, so nearly every row is past it: absent without a lookup (a B-tree
  // search per row), and appended.
  std::string tail;
  if (defer_index) {
    PendingTable* pt = Touch(db, group, item.copy->table);  // DeferIndex found it
    ASSIGN_OR_RETURN(append_cursor, Cursor::Open(txn, pt->state().records_dbi));
    MDB_val last_key, last_val;
    int rc = mdb_cursor_get(append_cursor.get(), &last_key, &last_val, MDB_LAST);
    if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("last record", rc);
    if (rc == 0) tail.assign(FromVal(last_key));
  }

  const double now_ms = NowMs();
  const bool log_winners = item.copy && item.copy->log_rows;
  std::vector<const RemoteRow*> winners;
  for (RemoteRow& row : ctx.rows) {
    PendingTable* pt = Touch(db, group, row.table);  // validated or created: never null
    // Any other write to a table whose index is deferred builds it in this commit.
    if (!defer_index && IndexPending(db, group, row.table)) group.index_build.insert(row.table);
    // Later local writes must order after every version this node holds.
    clock_.Observe(row.header.version);
    group.max_version = std::max(group.max_version, row.header.version);

    MDB_val k = ToVal(*row.key);
    MDB_val old_val;
    int rc = defer_index && std::string_view(*row.key) > tail
                 ? MDB_NOTFOUND
                 : mdb_get(txn, pt->state().records_dbi, &k, &old_val);
    if (rc != 0 && rc != MDB_NOTFOUND) return LmdbError("get record", rc);
    json::object old_doc;
    bool old_live = false;
    if (rc == 0) {
      ASSIGN_OR_RETURN(std::string_view old_record,
                       UnpackRecord(txn, db, FromVal(old_val), &old_record_buf_));
      RecordHeader old;
      std::string_view old_json;
      RETURN_IF_ERROR(DecodeRecordHeader(old_record, &old, &old_json));
      // Last-writer-wins: the higher (version, origin) pair; equal pairs are the same write.
      if (std::tie(row.header.version, row.header.origin) <= std::tie(old.version, old.origin)) {
        ++result.rows_skipped;
        continue;
      }
      old_live = !old.tombstone;
      if (old_live && !defer_index) {  // the old document only matters to index edits
        boost::system::error_code ec;
        json::value parsed = ParseJson(old_json, ec);
        if (ec || !parsed.is_object())
          return Status::Corruption("stored record is not a JSON object");
        old_doc = std::move(parsed.get_object());
      }
    }
    const bool new_live = !row.header.tombstone;
    if (new_live && !pt->state().def.schema_defined) {
      // Unseen attribute names join untyped tables' definitions, as local writes do.
      for (const auto& [name, v] : row.doc) {
        std::string attr(name);
        if (pt->state().Find(attr) == nullptr) pt->AddAttribute(AttributeDef{attr, "", true});
      }
    }
    if (!defer_index) {
      group.index_edits.Update(pt->state(), *row.key, old_live ? &old_doc : nullptr,
                               new_live ? &row.doc : nullptr);
    }
    // Stored compressed when that pays (a copied stored value as it is); the log below still
    // carries record bytes.
    std::string_view stored;
    if (row.stored != nullptr) {
      stored = *row.stored;
    } else {
      BackgroundDictionaryTraining training = TrainingFor(db);
      ASSIGN_OR_RETURN(
          stored, PackRecord(txn, db.meta_dbi, pt->state().records_dbi, db.record_dicts, training,
                             row.table, *row.value, &stored_buf_));
    }
    MDB_val v = ToVal(stored);
    if (defer_index && rc == MDB_NOTFOUND) {
      // A copy into an empty table arrives in key order: appended, the rows fill each page
      // instead of splitting it in half (MDB_KEYEXIST: not past the last key, put as usual).
      rc = LmdbCursorPut(append_cursor.get(), &k, &v, MDB_APPEND);
      if (rc == MDB_KEYEXIST) {
        drop_collector();
        rc = LmdbPut(txn, pt->state().records_dbi, &k, &v, 0);
      } else if (rc == 0) {
        tail.assign(*row.key);
        // Parsed once, at validation.
        if (new_live && collector != nullptr) {
          RETURN_IF_ERROR(collector->AddRow(pt->state(), *row.key, row.doc));
        }
      }
    } else {
      if (defer_index) drop_collector();  // a row replaced
      rc = LmdbPut(txn, pt->state().records_dbi, &k, &v, 0);
    }
    if (rc != 0) return LmdbError("put record", rc);
    if (old_live && !new_live) --pt->count_delta;
    if (!old_live && new_live) ++pt->count_delta;
    pt->touched = true;
    pt->last_updated_ms = now_ms;
    ++result.rows_applied;
    if (log_winners) winners.push_back(&row);
  }

  if (item.copy) {
    // Copied rows are not logged (the copy is followed by streaming from the snapshot's
    // vector, installed here, per origin maximum) unless the chunk asks for it (merge
    // resync): then the winners become one transaction of this node.
    for (const auto& [origin, seq] : item.copy->vector_floor) {
      ASSIGN_OR_RETURN(uint64_t applied, VectorGet(txn, db, group, origin));
      if (seq > applied) VectorSet(group, origin, seq);
    }
    if (!winners.empty()) {
      LogEntry entry;
      entry.version = clock_.Now();  // after every observed row version
      group.max_version = std::max(group.max_version, entry.version);
      entry.writes.reserve(winners.size());
      for (const RemoteRow* row : winners) {
        entry.writes.push_back(LogEntry::Write{row->table, *row->key, *row->value});
      }
      RETURN_IF_ERROR(AppendLocalToLog(txn, db, group, &entry));
      result.sequence = entry.sequence;
    }
    return Status::Ok();
  }

  ReplicatedTxn& t = *item.replicated;
  clock_.Observe(t.version);
  if (t.partial && result.rows_applied == 0) {
    // Nothing won: not logged (a partial entry must not bounce between nodes forever), and a
    // partial transaction never advances the vector.
    return Status::Ok();
  }
  // The whole transaction is logged as received, even rows that lost here: a third node
  // pulling from us may not have seen it, and its own LWW drops whatever is stale there.
  LogEntry entry;
  entry.origin = t.origin;
  entry.origin_sequence = t.origin_sequence;
  entry.version = t.version;
  entry.partial = t.partial;
  entry.writes = std::move(t.writes);  // ctx.rows' pointers are not used past this point
  ctx.rows.clear();
  RETURN_IF_ERROR(AppendToLog(txn, db, group, &entry));
  // Some of a partial transaction's writes are missing here: a complete copy of it must
  // still be applied when it arrives, so the vector stays.
  if (!t.partial) VectorSet(group, t.origin, t.origin_sequence);
  result.sequence = entry.sequence;
  return Status::Ok();
}

}  // namespace meshdb::storage
