// The SQLite virtual-table module "meshdb": each meshdb table appears to SQLite as a virtual
// table in a schema named after its database (ATTACHed in-memory databases, so `dev.dog`
// needs no rewriting). docs/sql.md describes the design.
//
// Reads: xBestIndex maps constraints to the primary key and secondary indexes
// (sql/index_plan.h); xFilter reads through one storage Snapshot per database, shared by
// every table of the statement (a consistent view for joins). Full and primary-key range
// scans are streamed in batches; secondary-index results are collected in xFilter.
// A statement that reads no column of a table (COUNT(*)) gets the record count without
// reading the records.
//
// Writes: xUpdate never writes. It records the change in the Session (CollectedWrite); the
// caller turns the whole statement's changes into one meshdb write afterwards.
//
// Thread-safety: a Session and the connection using it belong to one thread at a time.
#pragma once

#include <sqlite3.h>

#include <boost/json/array.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "storage/store.h"

namespace meshdb::sql {

// What the statement's reads did (for tests and the load tool).
struct ScanStats {
  uint64_t key_lookups = 0;    // primary-key equality lookups
  uint64_t index_scans = 0;    // secondary-index lookups or ranges, primary-key ranges
  uint64_t full_scans = 0;     // whole-table scans that read records
  uint64_t counted_scans = 0;  // whole-table scans answered from the record count
  uint64_t records_read = 0;   // records decoded
};

// The changes of one INSERT, UPDATE or DELETE, for one table.
struct CollectedWrite {
  storage::WriteKind kind = storage::WriteKind::kInsert;  // kInsert, kUpdate or kDelete
  std::string database;
  std::string table;
  boost::json::array records;  // kInsert: the new records; kUpdate: key + changed attributes
  boost::json::array ids;      // kDelete: the primary keys
  [[nodiscard]] bool empty() const { return records.empty() && ids.empty(); }
};

// Per-statement state the module's tables share.
class Session {
 public:
  // Attributes no statement may see (ops' secret attributes): not declared as columns, so
  // naming one is an unknown column. Null: none.
  using HiddenAttribute = std::function<bool(const storage::TableDef&, const std::string&)>;

  // `store` must outlive the session.
  Session(storage::Store* store, HiddenAttribute hidden)
      : store_(store), hidden_(std::move(hidden)) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  [[nodiscard]] storage::Store* store() const { return store_; }
  [[nodiscard]] const HiddenAttribute& hidden() const { return hidden_; }
  // The snapshot of `database`, opened on first use and kept for the statement.
  Result<storage::Snapshot*> SnapshotOf(const std::string& database);

  // Adds one change from xUpdate. InvalidArgument when a statement would change a second
  // table or mix kinds (SQLite never does for one INSERT/UPDATE/DELETE).
  Status AddChange(storage::WriteKind kind, const std::string& database, const std::string& table,
                   boost::json::value change);
  [[nodiscard]] const CollectedWrite& write() const { return write_; }
  [[nodiscard]] bool has_write() const { return has_write_; }

  // Attribute names an INSERT names that the table does not know yet: declared as extra
  // columns so the insert can add them, as the insert operation does. Key: database, table.
  std::map<std::pair<std::string, std::string>, std::vector<std::string>>& extra_columns() {
    return extra_columns_;
  }

  ScanStats& stats() { return stats_; }

  // Tables SQLite planned a read of (xBestIndex ran): every table a statement scans, also
  // one of whose columns it reads none (COUNT(*)). Key: database, table.
  void NotePlanned(const std::string& database, const std::string& table) {
    planned_.emplace(database, table);
  }
  [[nodiscard]] const std::set<std::pair<std::string, std::string>>& planned() const {
    return planned_;
  }

 private:
  storage::Store* store_;
  HiddenAttribute hidden_;
  std::map<std::string, std::unique_ptr<storage::Snapshot>> snapshots_;
  CollectedWrite write_;
  bool has_write_ = false;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> extra_columns_;
  ScanStats stats_;
  std::set<std::pair<std::string, std::string>> planned_;
};

// Registers the module "meshdb" on `db`; its tables use `session`, which must outlive `db`.
Status RegisterModule(sqlite3* db, Session* session);

// The CREATE TABLE text sqlite3_declare_vtab gets for `def`: its attributes in order (the
// primary key is the PRIMARY KEY of a WITHOUT ROWID table), those `hidden` names left out,
// `extra` appended, names equal to an earlier one but for case left out (SQLite's column
// names are case-insensitive). Also returns the declared column names in order.
std::string DeclareTable(const storage::TableDef& def, const std::vector<std::string>& extra,
                         const Session::HiddenAttribute& hidden, std::vector<std::string>* columns);

// `name` as a double-quoted SQL identifier.
std::string QuoteIdentifier(const std::string& name);

}  // namespace meshdb::sql
