// One SQL statement of the `sql` operation, prepared by SQLite over meshdb's tables
// (docs/sql.md). Prepare() opens a private in-memory SQLite connection, ATTACHes one schema
// per meshdb database the text names, declares the named tables there as "meshdb" virtual
// tables (sql/vtab.h) and prepares the statement; SQLite's authorizer and the planner tell
// which tables it reads and which it changes, so the caller can check permissions before
// anything runs.
//
// A SELECT runs with Query(). An INSERT, UPDATE or DELETE runs with Collect(): the statement
// is evaluated in full on one storage snapshot, but nothing is written; the caller gets the
// rows it would change and commits them as one meshdb write.
//
// Errors carry HarperDB's texts: InvalidArgument "Invalid SQL at: <sql>. Please ensure your
// SQL is valid. ..." for syntax errors; NotFound "database 'x' does not exist" /
// "Table 'x.y' does not exist" for unknown tables; Internal "unknown column c" for unknown
// columns; InvalidArgument for anything else SQLite refuses (other statement kinds, several
// statements, bad function calls).
//
// Thread-safety: a Statement belongs to one thread at a time; separate Statements may run
// concurrently (each has its own connection).
#pragma once

#include <boost/json/array.hpp>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "sql/vtab.h"
#include "storage/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace meshdb::sql {

enum class Access { kRead, kInsert, kUpdate, kDelete };

// A table the statement uses and what it does with it.
struct TableUse {
  std::string database;
  std::string table;
  std::set<Access> access;
};

class Statement {
 public:
  // `store` must outlive the statement. `hidden` as in Session.
  static Result<std::unique_ptr<Statement>> Prepare(storage::Store* store, const std::string& sql,
                                                    Session::HiddenAttribute hidden = nullptr);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Every table the statement reads or changes. The table an UPDATE/DELETE changes carries
  // only that access (its own reads are part of the change); the table an INSERT changes
  // also carries kRead when the statement reads it (INSERT ... SELECT from itself).
  [[nodiscard]] const std::vector<TableUse>& tables() const { return tables_; }
  // True for INSERT, UPDATE and DELETE.
  [[nodiscard]] bool is_write() const { return target_ != nullptr; }
  // The table a write changes (is_write() only).
  [[nodiscard]] const TableUse& target() const { return *target_; }

  // Runs a SELECT: one object per row, keys = result column names (aliases), values as
  // sql/values.h converts them.
  Result<boost::json::array> Query();
  // Runs a write without writing: the changes it makes (kind/database/table set even when
  // it changes no row).
  Result<CollectedWrite> Collect();

  [[nodiscard]] const ScanStats& stats() const { return session_->stats(); }

 private:
  Statement() = default;
  Status Open(storage::Store* store, const std::string& sql, Session::HiddenAttribute hidden);
  Status Declare(const std::string& database, const std::string& table, bool redeclare);
  Status PrepareText();
  // The last SQLite error as the Status HarperDB would answer (see the file comment).
  [[nodiscard]] Status Error() const;
  // The attributes SQLite reported missing ("table t has no column named c"): declared as
  // extra columns of the INSERT's table; false when the error is something else.
  bool LearnColumn(const std::string& message);

  std::string sql_;
  std::unique_ptr<Session> session_;  // declared before db_: outlives the connection
  struct DbCloser {
    void operator()(sqlite3* db) const;
  };
  struct StmtFinalizer {
    void operator()(sqlite3_stmt* stmt) const;
  };
  std::unique_ptr<sqlite3, DbCloser> db_;
  std::unique_ptr<sqlite3_stmt, StmtFinalizer> stmt_;          // finalized before db_ closes
  std::vector<std::pair<std::string, std::string>> declared_;  // database, table
  std::vector<TableUse> tables_;
  const TableUse* target_ = nullptr;
  Access target_write_ = Access::kInsert;  // what the statement does to target_
};

}  // namespace meshdb::sql
