#include "sql/vtab.h"

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <cmath>
#include <iterator>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "common/json_parse.h"
#include "sql/index_plan.h"
#include "sql/values.h"

namespace meshdb::sql {

namespace json = boost::json;

namespace {

// Records per batch of a streamed (full or primary-key range) scan.
constexpr size_t kScanBatch = 256;

struct Table {
  sqlite3_vtab base{};  // first: SQLite hands us &base
  Session* session = nullptr;
  storage::TableDef def;
  std::vector<std::string> columns;
  std::vector<PlanColumn> plan_columns;
  int pk_column = -1;
};

struct Cursor {
  sqlite3_vtab_cursor base{};  // first: SQLite hands us &base
  std::vector<storage::Record> rows;
  size_t pos = 0;
  // A streamed scan: the next batch starts after the last key read.
  bool streaming = false;
  storage::IndexRange range;
  // Only a count is needed: `remaining` rows with no columns.
  bool count_only = false;
  uint64_t remaining = 0;
  sqlite3_int64 rowid = 0;

  [[nodiscard]] Table* table() const { return reinterpret_cast<Table*>(base.pVtab); }
};

Table* AsTable(sqlite3_vtab* vtab) { return reinterpret_cast<Table*>(vtab); }
Cursor* AsCursor(sqlite3_vtab_cursor* cursor) { return reinterpret_cast<Cursor*>(cursor); }

int Fail(sqlite3_vtab* vtab, const Status& status) {
  sqlite3_free(vtab->zErrMsg);
  vtab->zErrMsg = sqlite3_mprintf("%s", status.message().c_str());
  return SQLITE_ERROR;
}

std::string Lower(const std::string& s) {
  std::string out = s;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int Connect(sqlite3* db, void* aux, int argc, const char* const* argv, sqlite3_vtab** out,
            char** err) {
  if (argc < 3) {
    *err = sqlite3_mprintf("meshdb: missing table name");
    return SQLITE_ERROR;
  }
  auto* session = static_cast<Session*>(aux);
  const std::string database = argv[1];
  const std::string name = argv[2];
  Result<storage::TableDef> def = session->store()->GetTable(database, name);
  if (!def.ok()) {
    *err = sqlite3_mprintf("%s", def.status().message().c_str());
    return SQLITE_ERROR;
  }
  auto table = std::make_unique<Table>();
  table->session = session;
  table->def = std::move(*def);
  const auto& extra = session->extra_columns()[{database, name}];
  std::string declaration = DeclareTable(table->def, extra, session->hidden(), &table->columns);
  if (int rc = sqlite3_declare_vtab(db, declaration.c_str()); rc != SQLITE_OK) {
    *err = sqlite3_mprintf("meshdb: cannot declare %s.%s: %s", database.c_str(), name.c_str(),
                           sqlite3_errmsg(db));
    return rc;
  }
  for (size_t i = 0; i < table->columns.size(); ++i) {
    const std::string& column = table->columns[i];
    PlanColumn info;
    info.primary_key = column == table->def.primary_key;
    if (info.primary_key) table->pk_column = static_cast<int>(i);
    const storage::AttributeDef* attr = table->def.FindAttribute(column);
    info.indexed = !info.primary_key && attr != nullptr && attr->indexed;
    table->plan_columns.push_back(info);
  }
  *out = &table.release()->base;
  return SQLITE_OK;
}

int Disconnect(sqlite3_vtab* vtab) {
  delete AsTable(vtab);
  return SQLITE_OK;
}

ConstraintOp OpOf(unsigned char op) {
  switch (op) {
    case SQLITE_INDEX_CONSTRAINT_EQ:
      return ConstraintOp::kEq;
    case SQLITE_INDEX_CONSTRAINT_GT:
      return ConstraintOp::kGt;
    case SQLITE_INDEX_CONSTRAINT_GE:
      return ConstraintOp::kGe;
    case SQLITE_INDEX_CONSTRAINT_LT:
      return ConstraintOp::kLt;
    case SQLITE_INDEX_CONSTRAINT_LE:
      return ConstraintOp::kLe;
    default:
      return ConstraintOp::kOther;
  }
}

int BestIndex(sqlite3_vtab* vtab, sqlite3_index_info* info) {
  Table* table = AsTable(vtab);
  table->session->NotePlanned(table->def.database, table->def.name);
  std::vector<PlanConstraint> constraints;
  constraints.reserve(static_cast<size_t>(info->nConstraint));
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    constraints.push_back(PlanConstraint{c.iColumn, OpOf(c.op), c.usable != 0});
  }
  Result<storage::TableStats> stats =
      table->session->store()->GetStats(table->def.database, table->def.name);
  const uint64_t rows = stats.ok() ? stats->record_count : 1000;
  IndexChoice choice = ChooseIndex(constraints, table->plan_columns, rows);
  if (choice.kind == IndexChoice::Kind::kFullScan && info->colUsed == 0) choice.no_columns = true;
  int next_arg = 1;
  for (int position : {choice.eq, choice.lower, choice.upper}) {
    if (position >= 0) info->aConstraintUsage[position].argvIndex = next_arg++;
  }
  info->idxNum = EncodeIdxNum(choice);
  info->estimatedCost = choice.cost;
  info->estimatedRows = choice.rows;
  if (choice.kind == IndexChoice::Kind::kPrimaryKey && choice.eq >= 0) {
    info->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
  }
  // Full and primary-key range scans come in primary-key order, as SQLite orders keys
  // (numbers before strings, strings bytewise): ORDER BY <primary key> needs no sort.
  const bool key_order = choice.kind == IndexChoice::Kind::kFullScan ||
                         (choice.kind == IndexChoice::Kind::kPrimaryKey && choice.eq < 0);
  if (key_order && info->nOrderBy == 1 && info->aOrderBy[0].iColumn == table->pk_column &&
      table->pk_column >= 0 && info->aOrderBy[0].desc == 0) {
    info->orderByConsumed = 1;
  } else if (info->nOrderBy > 0) {
    // Any other ORDER BY on this table's columns: xFilter sorts the rows itself, as SQLite's
    // sorter would, so values reach the result without passing through the sorter, which
    // would drop their JSON and boolean subtypes (sql/values.h).
    std::string order;
    for (int i = 0; i < info->nOrderBy; ++i) {
      const auto& term = info->aOrderBy[i];
      if (term.iColumn < 0) return SQLITE_OK;  // the rowid: leave it to SQLite
      order += std::to_string(term.iColumn) + (term.desc != 0 ? "-" : "+");
    }
    info->idxStr = sqlite3_mprintf("%s", order.c_str());
    info->needToFreeIdxStr = 1;
    info->orderByConsumed = 1;
    const auto rows_out = static_cast<double>(choice.rows);
    info->estimatedCost += rows_out * std::log2(rows_out + 2) / 8;
  }
  return SQLITE_OK;
}

int Open(sqlite3_vtab*, sqlite3_vtab_cursor** out) {
  *out = &(new Cursor())->base;
  return SQLITE_OK;
}

int Close(sqlite3_vtab_cursor* cursor) {
  delete AsCursor(cursor);
  return SQLITE_OK;
}

// Reads the next batch of a streamed scan into cursor->rows.
Status NextBatch(Cursor* cursor) {
  Table* table = cursor->table();
  cursor->rows.clear();
  cursor->pos = 0;
  ASSIGN_OR_RETURN(storage::Snapshot * snapshot, table->session->SnapshotOf(table->def.database));
  RETURN_IF_ERROR(snapshot->ScanIndex(table->def.name, table->def.primary_key, cursor->range,
                                      [&](const storage::Record& record) {
                                        cursor->rows.push_back(record);
                                        return cursor->rows.size() < kScanBatch;
                                      }));
  table->session->stats().records_read += cursor->rows.size();
  const json::value* last =
      cursor->rows.empty() ? nullptr : cursor->rows.back().doc.if_contains(table->def.primary_key);
  if (cursor->rows.size() < kScanBatch || last == nullptr) {
    cursor->streaming = false;
  } else {
    cursor->range.lower = *last;
    cursor->range.lower_inclusive = false;
  }
  return Status::Ok();
}

// Reads every record of the secondary index range into cursor->rows.
Status ScanSecondary(Cursor* cursor, const std::string& attribute,
                     const storage::IndexRange& range) {
  Table* table = cursor->table();
  ASSIGN_OR_RETURN(storage::Snapshot * snapshot, table->session->SnapshotOf(table->def.database));
  const size_t before = cursor->rows.size();
  RETURN_IF_ERROR(
      snapshot->ScanIndex(table->def.name, attribute, range, [&](const storage::Record& record) {
        cursor->rows.push_back(record);
        return true;
      }));
  table->session->stats().records_read += cursor->rows.size() - before;
  return Status::Ok();
}

Status RunFilter(Cursor* cursor, int idx_num, int argc, sqlite3_value** argv) {
  Table* table = cursor->table();
  Session* session = table->session;
  cursor->rows.clear();
  cursor->pos = 0;
  cursor->streaming = false;
  cursor->count_only = false;
  cursor->range = storage::IndexRange{};
  const IndexChoice choice = DecodeIdxNum(idx_num);
  std::vector<json::value> args;
  args.reserve(static_cast<size_t>(argc));
  for (int i = 0; i < argc; ++i) args.push_back(ToJson(argv[i]));

  if (choice.kind == IndexChoice::Kind::kFullScan && choice.no_columns) {
    ASSIGN_OR_RETURN(storage::TableStats stats,
                     session->store()->GetStats(table->def.database, table->def.name));
    cursor->count_only = true;
    cursor->remaining = stats.record_count;
    ++session->stats().counted_scans;
    return Status::Ok();
  }
  const std::string attribute = choice.kind == IndexChoice::Kind::kFullScan
                                    ? table->def.primary_key
                                    : table->columns[static_cast<size_t>(choice.column)];
  if (choice.eq >= 0) {
    const json::value& value = args.at(0);
    if (!IsKeyValue(value)) return Status::Ok();  // `= NULL` (or a blob) matches nothing
    if (choice.kind == IndexChoice::Kind::kPrimaryKey) {
      ++session->stats().key_lookups;
      ASSIGN_OR_RETURN(storage::Snapshot * snapshot, session->SnapshotOf(table->def.database));
      ASSIGN_OR_RETURN(std::optional<storage::Record> record,
                       snapshot->Get(table->def.name, value));
      if (record) {
        ++session->stats().records_read;
        cursor->rows.push_back(std::move(*record));
      }
      return Status::Ok();
    }
    ++session->stats().index_scans;
    storage::IndexRange range;
    range.lower = range.upper = value;
    RETURN_IF_ERROR(ScanSecondary(cursor, attribute, range));
    // SQLite compares a boolean as the integer 0/1; the index keeps booleans apart.
    if (value.is_int64() && (value.get_int64() == 0 || value.get_int64() == 1)) {
      range.lower = range.upper = json::value(value.get_int64() == 1);
      RETURN_IF_ERROR(ScanSecondary(cursor, attribute, range));
    }
    return Status::Ok();
  }
  // Bounds that are not numbers or strings cannot bound an index scan: dropped (SQLite
  // re-checks every constraint, so a wider scan only costs time).
  size_t next = 0;
  if (choice.lower >= 0) {
    const json::value& v = args.at(next++);
    if (IsKeyValue(v)) {
      cursor->range.lower = v;
      cursor->range.lower_inclusive = choice.lower_inclusive;
    }
  }
  if (choice.upper >= 0) {
    const json::value& v = args.at(next++);
    if (IsKeyValue(v)) {
      cursor->range.upper = v;
      cursor->range.upper_inclusive = choice.upper_inclusive;
    }
  }
  if (choice.kind == IndexChoice::Kind::kSecondary) {
    ++session->stats().index_scans;
    RETURN_IF_ERROR(ScanSecondary(cursor, attribute, cursor->range));
    // SQLite compares a boolean as the integer 0/1, but the index keeps booleans before every
    // number: a range starting at a number skips them, so they are read too (SQLite checks
    // each row against the constraints). A range with no lower bound starts before them.
    if (cursor->range.lower && cursor->range.lower->is_number()) {
      storage::IndexRange booleans;
      booleans.lower = json::value(false);
      booleans.upper = json::value(true);
      RETURN_IF_ERROR(ScanSecondary(cursor, attribute, booleans));
    }
    return Status::Ok();
  }
  ++(choice.kind == IndexChoice::Kind::kFullScan ? session->stats().full_scans
                                                 : session->stats().index_scans);
  cursor->streaming = true;
  return NextBatch(cursor);
}

// SQLite's order of the values of one column: NULL, then numbers (booleans are 0/1), then
// text bytewise (objects and arrays as their JSON text). <0, 0, >0.
int CompareAsSqlite(const json::value* a, const json::value* b) {
  auto rank = [](const json::value* v) {
    if (v == nullptr || v->is_null()) return 0;
    if (v->is_bool() || v->is_number()) return 1;
    return 2;
  };
  const int ra = rank(a);
  const int rb = rank(b);
  if (ra != rb || ra == 0) return ra - rb;
  if (ra == 1) {
    auto number = [](const json::value* v) {
      return v->is_bool() ? (v->get_bool() ? 1.0 : 0.0) : v->to_number<double>();
    };
    const double x = number(a);
    const double y = number(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  auto text = [](const json::value* v) {
    return v->is_string() ? std::string(v->get_string()) : json::serialize(*v);
  };
  return text(a).compare(text(b));
}

// Sorts every row the filter yields by `order` ("<column>+" / "<column>-" terms, see
// BestIndex). Streamed scans are read to the end first.
Status SortRows(Cursor* cursor, std::string_view order) {
  while (cursor->streaming) {
    std::vector<storage::Record> rows = std::move(cursor->rows);
    RETURN_IF_ERROR(NextBatch(cursor));
    rows.insert(rows.end(), std::make_move_iterator(cursor->rows.begin()),
                std::make_move_iterator(cursor->rows.end()));
    cursor->rows = std::move(rows);
  }
  cursor->pos = 0;
  std::vector<std::pair<const std::string*, bool>> terms;  // column, descending
  const Table* table = cursor->table();
  for (size_t i = 0; i < order.size();) {
    size_t end = order.find_first_of("+-", i);
    if (end == std::string_view::npos)
      return Status::Internal("meshdb: bad order " + std::string(order));
    const size_t column = std::stoul(std::string(order.substr(i, end - i)));
    if (column >= table->columns.size()) return Status::Internal("meshdb: bad order column");
    terms.emplace_back(&table->columns[column], order[end] == '-');
    i = end + 1;
  }
  std::stable_sort(cursor->rows.begin(), cursor->rows.end(),
                   [&](const storage::Record& a, const storage::Record& b) {
                     for (const auto& [column, descending] : terms) {
                       int c =
                           CompareAsSqlite(a.doc.if_contains(*column), b.doc.if_contains(*column));
                       if (c != 0) return descending ? c > 0 : c < 0;
                     }
                     return false;
                   });
  return Status::Ok();
}

int Filter(sqlite3_vtab_cursor* base, int idx_num, const char* idx_str, int argc,
           sqlite3_value** argv) {
  Cursor* cursor = AsCursor(base);
  Status s = RunFilter(cursor, idx_num, argc, argv);
  if (s.ok() && idx_str != nullptr && !cursor->count_only) s = SortRows(cursor, idx_str);
  if (!s.ok()) return Fail(base->pVtab, s);
  return SQLITE_OK;
}

int Next(sqlite3_vtab_cursor* base) {
  Cursor* cursor = AsCursor(base);
  ++cursor->rowid;
  if (cursor->count_only) {
    --cursor->remaining;
    return SQLITE_OK;
  }
  ++cursor->pos;
  if (cursor->pos >= cursor->rows.size() && cursor->streaming) {
    if (Status s = NextBatch(cursor); !s.ok()) return Fail(base->pVtab, s);
  }
  return SQLITE_OK;
}

int Eof(sqlite3_vtab_cursor* base) {
  Cursor* cursor = AsCursor(base);
  if (cursor->count_only) return cursor->remaining == 0 ? 1 : 0;
  return cursor->pos >= cursor->rows.size() ? 1 : 0;
}

int Column(sqlite3_vtab_cursor* base, sqlite3_context* ctx, int column) {
  Cursor* cursor = AsCursor(base);
  // An UPDATE that leaves this column alone: xUpdate then sees "no change" for it.
  if (sqlite3_vtab_nochange(ctx) != 0) return SQLITE_OK;
  if (cursor->count_only || cursor->pos >= cursor->rows.size()) {
    sqlite3_result_null(ctx);
    return SQLITE_OK;
  }
  const Table* table = cursor->table();
  const json::object& doc = cursor->rows[cursor->pos].doc;
  const json::value* v = doc.if_contains(table->columns.at(static_cast<size_t>(column)));
  if (v == nullptr) {
    sqlite3_result_null(ctx);
  } else {
    SetResult(ctx, *v);
  }
  return SQLITE_OK;
}

int Rowid(sqlite3_vtab_cursor* base, sqlite3_int64* rowid) {
  *rowid = AsCursor(base)->rowid;
  return SQLITE_OK;
}

// An UPDATE of several rows runs in two passes: SQLite keeps each row's new values in a
// temporary table between them, and values lose their subtypes there (sql/values.h), so an
// object or array arrives as its JSON text and a boolean as 0/1. Whether `value` (which came
// without a subtype) may be such a value.
bool MayHaveLostItsKind(const json::value& value) {
  if (value.is_int64()) return value.get_int64() == 0 || value.get_int64() == 1;
  if (!value.is_string()) return false;
  const json::string& text = value.get_string();
  return text == "true" || text == "false" ||
         (!text.empty() && (text.front() == '{' || text.front() == '['));
}

// `value` in the JSON kind of the attribute's stored value `was` when it is that kind's
// value written another way (0/1 or "true"/"false" for a boolean, JSON text for an object or
// array); otherwise `value` as it is. So `SET address = json_set(address, ...)` or
// `SET good = good` keeps an object an object and a boolean a boolean however many rows the
// statement changes (docs/sql.md "Types").
json::value InKindOf(const json::value& was, json::value value) {
  if (was.is_bool()) {
    if (value.is_int64()) return json::value(value.get_int64() == 1);
    if (value.is_string() && (value.get_string() == "true" || value.get_string() == "false")) {
      return json::value(value.get_string() == "true");
    }
    return value;
  }
  if ((was.is_object() || was.is_array()) && value.is_string()) {
    boost::system::error_code ec;
    json::value parsed = ParseJson(value.get_string(), ec);
    if (!ec && parsed.kind() == was.kind()) return parsed;
  }
  return value;
}

// Collects one row change (see the xUpdate contract in SQLite's virtual-table docs; this is
// a WITHOUT ROWID table, so argv[0]/argv[1] are primary-key values).
Status RunUpdate(Table* table, int argc, sqlite3_value** argv) {
  Session* session = table->session;
  const storage::TableDef& def = table->def;
  if (argc == 1) {  // DELETE
    return session->AddChange(storage::WriteKind::kDelete, def.database, def.name, ToJson(argv[0]));
  }
  const size_t ncols = table->columns.size();
  if (static_cast<size_t>(argc) < ncols + 2) return Status::Internal("meshdb: short xUpdate");
  json::object record;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {  // INSERT
    for (size_t i = 0; i < ncols; ++i) {
      sqlite3_value* v = argv[i + 2];
      // Columns the INSERT does not name arrive as NULL: left out, as the insert
      // operation would.
      if (sqlite3_value_type(v) == SQLITE_NULL) continue;
      record[table->columns[i]] = ToJson(v);
    }
    return session->AddChange(storage::WriteKind::kInsert, def.database, def.name,
                              std::move(record));
  }
  // UPDATE: the key and the attributes the statement sets.
  json::value old_key = ToJson(argv[0]);
  sqlite3_value* new_key = argv[static_cast<size_t>(table->pk_column) + 2];
  if (table->pk_column >= 0 && sqlite3_value_nochange(new_key) == 0 && ToJson(new_key) != old_key) {
    return Status::InvalidArgument("The primary key '" + def.primary_key +
                                   "' of a record cannot be changed");
  }
  record[def.primary_key] = old_key;
  std::optional<storage::Record> stored;  // read when a value needs its stored kind
  bool read_stored = false;
  for (size_t i = 0; i < ncols; ++i) {
    if (static_cast<int>(i) == table->pk_column) continue;
    sqlite3_value* v = argv[i + 2];
    if (sqlite3_value_nochange(v) != 0) continue;
    json::value value = ToJson(v);
    if (sqlite3_value_subtype(v) == 0 && MayHaveLostItsKind(value)) {
      if (!read_stored) {
        ASSIGN_OR_RETURN(storage::Snapshot * snapshot, session->SnapshotOf(def.database));
        ASSIGN_OR_RETURN(stored, snapshot->Get(def.name, old_key));
        read_stored = true;
      }
      if (stored) {
        if (const json::value* was = stored->doc.if_contains(table->columns[i])) {
          value = InKindOf(*was, std::move(value));
        }
      }
    }
    record[table->columns[i]] = std::move(value);
  }
  return session->AddChange(storage::WriteKind::kUpdate, def.database, def.name, std::move(record));
}

int Update(sqlite3_vtab* vtab, int argc, sqlite3_value** argv, sqlite3_int64*) {
  Status s = RunUpdate(AsTable(vtab), argc, argv);
  if (!s.ok()) return Fail(vtab, s);
  return SQLITE_OK;
}

sqlite3_module MakeModule() {
  sqlite3_module m{};
  m.iVersion = 2;
  m.xCreate = Connect;
  m.xConnect = Connect;
  m.xBestIndex = BestIndex;
  m.xDisconnect = Disconnect;
  m.xDestroy = Disconnect;
  m.xOpen = Open;
  m.xClose = Close;
  m.xFilter = Filter;
  m.xNext = Next;
  m.xEof = Eof;
  m.xColumn = Column;
  m.xRowid = Rowid;
  m.xUpdate = Update;
  return m;
}

const sqlite3_module& Module() {
  static const sqlite3_module module = MakeModule();
  return module;
}

}  // namespace

Result<storage::Snapshot*> Session::SnapshotOf(const std::string& database) {
  auto it = snapshots_.find(database);
  if (it == snapshots_.end()) {
    ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snapshot, store_->Read(database));
    it = snapshots_.emplace(database, std::move(snapshot)).first;
  }
  return it->second.get();
}

Status Session::AddChange(storage::WriteKind kind, const std::string& database,
                          const std::string& table, json::value change) {
  if (!has_write_) {
    has_write_ = true;
    write_.kind = kind;
    write_.database = database;
    write_.table = table;
  } else if (write_.kind != kind || write_.database != database || write_.table != table) {
    return Status::InvalidArgument("A statement can change only one table");
  }
  (kind == storage::WriteKind::kDelete ? write_.ids : write_.records).push_back(std::move(change));
  return Status::Ok();
}

Status RegisterModule(sqlite3* db, Session* session) {
  if (int rc = sqlite3_create_module_v2(db, "meshdb", &Module(), session, nullptr);
      rc != SQLITE_OK) {
    return Status::Internal(std::string("sqlite: cannot register module: ") + sqlite3_errmsg(db));
  }
  return Status::Ok();
}

std::string QuoteIdentifier(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string DeclareTable(const storage::TableDef& def, const std::vector<std::string>& extra,
                         const Session::HiddenAttribute& hidden,
                         std::vector<std::string>* columns) {
  columns->clear();
  std::set<std::string> seen;  // lower-cased
  auto add = [&](const std::string& name) {
    if (name.empty() || (hidden && hidden(def, name))) return;
    if (!seen.insert(Lower(name)).second) return;
    columns->push_back(name);
  };
  add(def.primary_key);
  for (const storage::AttributeDef& a : def.attributes) add(a.name);
  for (const std::string& name : extra) add(name);
  std::string out = "CREATE TABLE x(";
  for (size_t i = 0; i < columns->size(); ++i) {
    if (i > 0) out += ", ";
    out += QuoteIdentifier((*columns)[i]);
    if ((*columns)[i] == def.primary_key) out += " PRIMARY KEY";
  }
  out += ") WITHOUT ROWID";
  return out;
}

}  // namespace meshdb::sql
