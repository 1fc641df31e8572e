// How a SQL statement's constraints on one meshdb table become a storage access path: the
// decision the virtual table's xBestIndex makes (docs/sql.md "Index use"). Pure functions,
// no SQLite and no storage calls, so the mapping is unit-tested on its own.
//
// A table is read one of four ways:
//   kPrimaryKey + eq   one Snapshot::Get per value (SQLite loops over an IN list itself)
//   kSecondary  + eq   one index lookup on an indexed attribute
//   kPrimaryKey/kSecondary with bounds   an index range scan
//   kFullScan          every record in primary-key order
// SQLite re-checks every constraint on the rows returned (nothing is "omitted"), so a plan
// only has to yield a superset of the matching rows.
#pragma once

#include <cstdint>
#include <vector>

namespace meshdb::sql {

enum class ConstraintOp { kEq, kGt, kGe, kLt, kLe, kOther };

// One WHERE/ON term SQLite offers: `column op <value>`.
struct PlanConstraint {
  int column = -1;  // declared column (an attribute), -1 for the rowid
  ConstraintOp op = ConstraintOp::kOther;
  bool usable = false;  // false: its value is not available in this plan
};

// What the table's declared columns allow.
struct PlanColumn {
  bool primary_key = false;
  bool indexed = false;  // has a secondary index (the primary key always can be looked up)
};

struct IndexChoice {
  enum class Kind { kFullScan = 0, kPrimaryKey = 1, kSecondary = 2 };
  Kind kind = Kind::kFullScan;
  int column = -1;  // the attribute driving kPrimaryKey / kSecondary
  // Positions in the constraint list SQLite gave (-1: none). With `eq` set the bounds are not.
  int eq = -1;
  int lower = -1;
  bool lower_inclusive = true;
  int upper = -1;
  bool upper_inclusive = true;
  // The statement reads no column of this table (SELECT COUNT(*) FROM t): a full scan then
  // only needs the number of records, not the records.
  bool no_columns = false;
  double cost = 0;
  int64_t rows = 0;

  // The argument order xFilter receives: eq; else lower, then upper (each when set).
  [[nodiscard]] int ArgCount() const {
    return eq >= 0 ? 1 : (lower >= 0 ? 1 : 0) + (upper >= 0 ? 1 : 0);
  }
};

// The cheapest plan: an equality on the primary key, then an equality on an indexed
// attribute, then a range on the primary key, then a range on an indexed attribute, then a
// full scan. `table_rows` (the table's record count) scales the estimates.
IndexChoice ChooseIndex(const std::vector<PlanConstraint>& constraints,
                        const std::vector<PlanColumn>& columns, uint64_t table_rows);

// xBestIndex hands the plan to xFilter as one int (idxNum); argument positions are implied
// by ArgCount's order, so the constraint positions are not kept (Decode sets them to 0/1
// markers: >= 0 when present).
int EncodeIdxNum(const IndexChoice& choice);
IndexChoice DecodeIdxNum(int idx_num);

}  // namespace meshdb::sql
