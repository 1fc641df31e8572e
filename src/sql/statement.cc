#include "sql/statement.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <boost/json/object.hpp>
#include <cctype>
#include <map>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "sql/values.h"

namespace meshdb::sql {

namespace json = boost::json;

namespace {

// Most times Prepare declares a missing INSERT column and tries again.
constexpr int kMaxLearnedColumns = 256;

constexpr std::string_view kInvalidSqlTail =
    ". Please ensure your SQL is valid. Try adding backticks to reserved words and schema "
    "table references.";

bool IsWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// Every identifier-like token of `sql`: bare words and `quoted`, "quoted" or [quoted] names.
// String literals are skipped. Used only to decide what to declare, so a superset is fine.
std::unordered_set<std::string> Identifiers(const std::string& sql) {
  std::unordered_set<std::string> out;
  size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == '\'') {  // a string literal; '' escapes a quote
      for (++i; i < sql.size(); ++i) {
        if (sql[i] == '\'') {
          if (i + 1 < sql.size() && sql[i + 1] == '\'') {
            ++i;
          } else {
            break;
          }
        }
      }
      ++i;
    } else if (c == '`' || c == '"' || c == '[') {
      const char close = c == '[' ? ']' : c;
      std::string name;
      for (++i; i < sql.size(); ++i) {
        if (sql[i] == close) {
          if (close != ']' && i + 1 < sql.size() && sql[i + 1] == close) {
            name += close;
            ++i;
          } else {
            break;
          }
        } else {
          name += sql[i];
        }
      }
      ++i;
      out.insert(std::move(name));
    } else if (IsWordChar(c)) {
      size_t start = i;
      while (i < sql.size() && IsWordChar(sql[i])) ++i;
      out.insert(sql.substr(start, i - start));
    } else {
      ++i;
    }
  }
  return out;
}

// SQLite folds ASCII letters only, in names and in function names.
std::string AsciiLower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// What the authorizer saw while the user's statement was prepared.
struct AuthorizerLog {
  std::map<std::pair<std::string, std::string>, std::set<Access>> uses;
  bool refused = false;
  std::string refused_function;  // a function no statement may call (kRefusedFunctions)
};

// SQLite functions a statement may not call: fts3_tokenizer() returns, and with two
// arguments takes, a pointer into the server's memory.
constexpr std::array<std::string_view, 1> kRefusedFunctions = {"fts3_tokenizer"};

int Authorize(void* user, int code, const char* arg1, const char* arg2, const char* db,
              const char* /*trigger*/) {
  auto* log = static_cast<AuthorizerLog*>(user);
  std::optional<Access> access;
  switch (code) {
    case SQLITE_FUNCTION: {  // arg2: the function's name
      const std::string name = AsciiLower(arg2 == nullptr ? "" : arg2);
      if (std::find(kRefusedFunctions.begin(), kRefusedFunctions.end(), name) ==
          kRefusedFunctions.end()) {
        return SQLITE_OK;
      }
      log->refused_function = name;
      return SQLITE_DENY;
    }
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    case SQLITE_READ:
      access = Access::kRead;
      break;
    case SQLITE_INSERT:
      access = Access::kInsert;
      break;
    case SQLITE_UPDATE:
      access = Access::kUpdate;
      break;
    case SQLITE_DELETE:
      access = Access::kDelete;
      break;
    default:  // PRAGMA, ATTACH, CREATE, DROP, transactions, ...
      log->refused = true;
      return SQLITE_DENY;
  }
  const std::string schema = db == nullptr ? "" : db;
  // SQLite's own tables (sqlite_schema) live in main/temp; meshdb's in attached schemas.
  if (schema.empty() || schema == "main" || schema == "temp" || arg1 == nullptr) {
    log->refused = true;
    return SQLITE_DENY;
  }
  log->uses[{schema, arg1}].insert(*access);
  return SQLITE_OK;
}

bool IsBlank(const char* tail) {
  for (; tail != nullptr && *tail != '\0'; ++tail) {
    if (std::isspace(static_cast<unsigned char>(*tail)) == 0 && *tail != ';') return false;
  }
  return true;
}

}  // namespace

void Statement::DbCloser::operator()(sqlite3* db) const { sqlite3_close_v2(db); }
void Statement::StmtFinalizer::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

Statement::~Statement() = default;

Result<std::unique_ptr<Statement>> Statement::Prepare(storage::Store* store, const std::string& sql,
                                                      Session::HiddenAttribute hidden) {
  std::unique_ptr<Statement> statement(new Statement());
  RETURN_IF_ERROR(statement->Open(store, sql, std::move(hidden)));
  return statement;
}

Status Statement::Open(storage::Store* store, const std::string& sql,
                       Session::HiddenAttribute hidden) {
  sql_ = sql;
  session_ = std::make_unique<Session>(store, std::move(hidden));
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(
      ":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  db_.reset(raw);
  if (rc != SQLITE_OK) return Status::Internal("sqlite: cannot open a connection");
  RETURN_IF_ERROR(RegisterModule(db_.get(), session_.get()));

  const std::unordered_set<std::string> names = Identifiers(sql);
  const int max_attached = sqlite3_limit(db_.get(), SQLITE_LIMIT_ATTACHED, -1);
  int attached = 0;
  for (const std::string& database : store->ListDatabases()) {
    if (names.count(database) == 0) continue;
    if (++attached > max_attached) {
      return Status::InvalidArgument("A statement can name at most " +
                                     std::to_string(max_attached) + " databases");
    }
    const std::string attach = "ATTACH ':memory:' AS " + QuoteIdentifier(database);
    if (sqlite3_exec(db_.get(), attach.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      return Status::InvalidArgument("Database name '" + database +
                                     "' cannot be used in SQL: " + sqlite3_errmsg(db_.get()));
    }
    Result<std::vector<storage::TableDef>> tables = store->ListTables(database);
    if (!tables.ok()) continue;                   // dropped meanwhile: its tables are unknown
    std::map<std::string, std::string> declared;  // lower-cased name -> table
    for (const storage::TableDef& def : *tables) {
      if (names.count(def.name) == 0) continue;
      const std::string folded = AsciiLower(def.name);
      // SQLite's table names ignore ASCII case: two such tables cannot both be declared.
      auto [it, fresh] = declared.emplace(folded, def.name);
      if (!fresh) {
        return Status::InvalidArgument("Tables '" + it->second + "' and '" + def.name +
                                       "' of database '" + database +
                                       "' differ only in case, which SQL does not tell apart: "
                                       "a statement can name only one of them");
      }
      RETURN_IF_ERROR(Declare(database, def.name, false));
    }
  }
  return PrepareText();
}

Status Statement::Declare(const std::string& database, const std::string& table, bool redeclare) {
  const std::string name = QuoteIdentifier(database) + "." + QuoteIdentifier(table);
  std::string text;
  if (redeclare) text = "DROP TABLE " + name + ";";
  text += "CREATE VIRTUAL TABLE " + name + " USING meshdb";
  if (sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Status::Internal("sqlite: cannot declare " + database + "." + table + ": " +
                            sqlite3_errmsg(db_.get()));
  }
  if (!redeclare) declared_.emplace_back(database, table);
  return Status::Ok();
}

bool Statement::LearnColumn(const std::string& message) {
  // "table dog has no column named weight"
  static constexpr std::string_view kPrefix = "table ";
  static constexpr std::string_view kMiddle = " has no column named ";
  if (message.rfind(kPrefix, 0) != 0) return false;
  const size_t middle = message.find(kMiddle);
  if (middle == std::string::npos) return false;
  // "dog" or "dev.dog"
  const std::string table = message.substr(kPrefix.size(), middle - kPrefix.size());
  const std::string column = message.substr(middle + kMiddle.size());
  bool learned = false;
  for (const auto& [database, name] : declared_) {
    if (name != table && database + "." + name != table) continue;
    auto& extra = session_->extra_columns()[{database, name}];
    if (std::find(extra.begin(), extra.end(), column) != extra.end()) continue;
    extra.push_back(column);
    if (!Declare(database, name, true).ok()) return false;
    learned = true;
  }
  return learned;
}

Status Statement::PrepareText() {
  AuthorizerLog log;
  for (int attempt = 0;; ++attempt) {
    log = AuthorizerLog{};
    sqlite3_set_authorizer(db_.get(), Authorize, &log);
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    int rc =
        sqlite3_prepare_v3(db_.get(), sql_.c_str(), static_cast<int>(sql_.size()), 0, &raw, &tail);
    sqlite3_set_authorizer(db_.get(), nullptr, nullptr);
    stmt_.reset(raw);
    if (rc == SQLITE_OK && raw == nullptr) {  // nothing but comments or blanks
      return Status::InvalidArgument("Invalid SQL at: " + sql_ + std::string(kInvalidSqlTail));
    }
    if (rc == SQLITE_OK) {
      if (!IsBlank(tail)) {
        return Status::InvalidArgument("The 'sql' parameter must hold one statement");
      }
      break;
    }
    if (!log.refused_function.empty()) {
      return Status::InvalidArgument("The SQL function '" + log.refused_function +
                                     "' is not allowed");
    }
    if (log.refused) {
      return Status::InvalidArgument(
          "Only SELECT, INSERT, UPDATE and DELETE statements are supported");
    }
    if (attempt >= kMaxLearnedColumns || !LearnColumn(sqlite3_errmsg(db_.get()))) {
      return Error();
    }
  }
  // EXPLAIN shows SQLite's program (with pointers into this process); VACUUM and REINDEX
  // pass the authorizer but are none of the four statements: a SELECT has result columns,
  // a write names a meshdb table.
  const bool writes_a_table = std::any_of(log.uses.begin(), log.uses.end(), [](const auto& use) {
    return use.second.count(Access::kInsert) != 0 || use.second.count(Access::kUpdate) != 0 ||
           use.second.count(Access::kDelete) != 0;
  });
  if (sqlite3_stmt_isexplain(stmt_.get()) != 0 ||
      (!writes_a_table && sqlite3_column_count(stmt_.get()) == 0)) {
    return Status::InvalidArgument(
        "Only SELECT, INSERT, UPDATE and DELETE statements are supported");
  }
  // What the statement does with each table.
  for (const auto& key : session_->planned()) log.uses[key].insert(Access::kRead);
  for (auto& [key, access] : log.uses) {
    tables_.push_back(TableUse{key.first, key.second, std::move(access)});
  }
  for (TableUse& use : tables_) {
    for (Access write : {Access::kInsert, Access::kUpdate, Access::kDelete}) {
      if (use.access.count(write) == 0) continue;
      // UPDATE and DELETE read their target only to choose and compute the rows they change,
      // which HarperDB checks as the write alone. An INSERT that reads its own target copies
      // rows into it, and its answer names their keys: that needs read as well.
      const bool copies_own_rows = write == Access::kInsert && use.access.count(Access::kRead) != 0;
      use.access = {write};
      if (copies_own_rows) use.access.insert(Access::kRead);
      target_ = &use;
      target_write_ = write;
      break;
    }
  }
  return Status::Ok();
}

Status Statement::Error() const {
  const std::string message = sqlite3_errmsg(db_.get());
  if (message.find("syntax error") != std::string::npos ||
      message.rfind("incomplete input", 0) == 0 || message.rfind("unrecognized token", 0) == 0) {
    return Status::InvalidArgument("Invalid SQL at: " + sql_ + std::string(kInvalidSqlTail));
  }
  static constexpr std::string_view kNoTable = "no such table: ";
  if (message.rfind(kNoTable, 0) == 0) {
    const std::string name = message.substr(kNoTable.size());
    const size_t dot = name.find('.');
    if (dot != std::string::npos) {
      const std::string database = name.substr(0, dot);
      const std::vector<std::string> known = session_->store()->ListDatabases();
      if (std::find(known.begin(), known.end(), database) == known.end()) {
        return Status::NotFound("database '" + database + "' does not exist");
      }
    }
    return Status::NotFound("Table '" + name + "' does not exist");
  }
  static constexpr std::string_view kNoColumn = "no such column: ";
  if (message.rfind(kNoColumn, 0) == 0) {
    return Status::Internal("unknown column " + message.substr(kNoColumn.size()));
  }
  return Status::InvalidArgument(message);
}

Result<json::array> Statement::Query() {
  sqlite3_stmt* stmt = stmt_.get();
  const int ncols = sqlite3_column_count(stmt);
  std::vector<json::string> names;
  for (int i = 0; i < ncols; ++i) {
    const char* name = sqlite3_column_name(stmt, i);
    names.emplace_back(name == nullptr ? "" : name);
  }
  json::array rows;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    json::object row;
    row.reserve(static_cast<size_t>(ncols));
    for (int i = 0; i < ncols; ++i)
      row[names[static_cast<size_t>(i)]] = ToResultJson(sqlite3_column_value(stmt, i));
    rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return Error();
  return rows;
}

Result<CollectedWrite> Statement::Collect() {
  int rc;
  while ((rc = sqlite3_step(stmt_.get())) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) return Error();
  CollectedWrite write = session_->write();
  if (!session_->has_write() && target_ != nullptr) {
    write.database = target_->database;
    write.table = target_->table;
    switch (target_write_) {
      case Access::kUpdate:
        write.kind = storage::WriteKind::kUpdate;
        break;
      case Access::kDelete:
        write.kind = storage::WriteKind::kDelete;
        break;
      default:
        write.kind = storage::WriteKind::kInsert;
        break;
    }
  }
  return write;
}

}  // namespace meshdb::sql
