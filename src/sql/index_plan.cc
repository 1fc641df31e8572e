#include "sql/index_plan.h"

#include <algorithm>
#include <cmath>

namespace meshdb::sql {

namespace {

constexpr int kKindMask = 0x3;
constexpr int kEqBit = 1 << 2;
constexpr int kLowerBit = 1 << 3;
constexpr int kLowerInclusiveBit = 1 << 4;
constexpr int kUpperBit = 1 << 5;
constexpr int kUpperInclusiveBit = 1 << 6;
constexpr int kNoColumnsBit = 1 << 7;
constexpr int kColumnShift = 8;
// The fixed part of a full scan's cost: above any index plan's on a small table.
constexpr double kFullScanBase = 100;

bool IsLower(ConstraintOp op) { return op == ConstraintOp::kGt || op == ConstraintOp::kGe; }
bool IsUpper(ConstraintOp op) { return op == ConstraintOp::kLt || op == ConstraintOp::kLe; }

// The best plan driven by `column` alone, or nullopt-like (kind kFullScan) when no usable
// constraint names it.
IndexChoice PlanForColumn(const std::vector<PlanConstraint>& constraints, int column, bool primary,
                          double rows) {
  IndexChoice choice;
  for (size_t i = 0; i < constraints.size(); ++i) {
    const PlanConstraint& c = constraints[i];
    if (!c.usable || c.column != column) continue;
    if (c.op == ConstraintOp::kEq) {
      choice.eq = static_cast<int>(i);
      break;
    }
    if (IsLower(c.op) && choice.lower < 0) {
      choice.lower = static_cast<int>(i);
      choice.lower_inclusive = c.op == ConstraintOp::kGe;
    } else if (IsUpper(c.op) && choice.upper < 0) {
      choice.upper = static_cast<int>(i);
      choice.upper_inclusive = c.op == ConstraintOp::kLe;
    }
  }
  if (choice.eq >= 0) {
    choice.lower = choice.upper = -1;
  } else if (choice.lower < 0 && choice.upper < 0) {
    return IndexChoice{};
  }
  choice.kind = primary ? IndexChoice::Kind::kPrimaryKey : IndexChoice::Kind::kSecondary;
  choice.column = column;
  // Costs are in "records decoded", plus a fixed price per lookup: reading through a
  // secondary index costs a second lookup per row. A full scan (ChooseIndex) decodes every
  // record and costs more than any index plan even on tiny tables.
  const double per_row = primary ? 1.0 : 2.0;
  const double lookup = std::log2(rows + 2);
  if (choice.eq >= 0) {
    choice.rows = primary ? 1 : std::max<int64_t>(1, static_cast<int64_t>(std::sqrt(rows)));
    choice.cost = lookup + per_row * static_cast<double>(choice.rows);
  } else {
    const bool both = choice.lower >= 0 && choice.upper >= 0;
    const double fraction = both ? 0.1 : 0.33;
    choice.rows = std::max<int64_t>(1, static_cast<int64_t>(rows * fraction));
    choice.cost = lookup + per_row * static_cast<double>(choice.rows);
  }
  return choice;
}

}  // namespace

IndexChoice ChooseIndex(const std::vector<PlanConstraint>& constraints,
                        const std::vector<PlanColumn>& columns, uint64_t table_rows) {
  const double rows = static_cast<double>(table_rows);
  IndexChoice best;
  best.rows = static_cast<int64_t>(table_rows);
  best.cost = kFullScanBase + 2 * rows;  // a full scan
  for (size_t col = 0; col < columns.size(); ++col) {
    const PlanColumn& info = columns[col];
    if (!info.primary_key && !info.indexed) continue;
    IndexChoice candidate =
        PlanForColumn(constraints, static_cast<int>(col), info.primary_key, rows);
    if (candidate.kind == IndexChoice::Kind::kFullScan) continue;
    if (candidate.cost < best.cost) best = candidate;
  }
  return best;
}

int EncodeIdxNum(const IndexChoice& choice) {
  int n = static_cast<int>(choice.kind) & kKindMask;
  if (choice.eq >= 0) n |= kEqBit;
  if (choice.lower >= 0) n |= kLowerBit;
  if (choice.lower_inclusive) n |= kLowerInclusiveBit;
  if (choice.upper >= 0) n |= kUpperBit;
  if (choice.upper_inclusive) n |= kUpperInclusiveBit;
  if (choice.no_columns) n |= kNoColumnsBit;
  return n | (std::max(choice.column, 0) << kColumnShift);
}

IndexChoice DecodeIdxNum(int idx_num) {
  IndexChoice choice;
  choice.kind = static_cast<IndexChoice::Kind>(idx_num & kKindMask);
  choice.eq = (idx_num & kEqBit) != 0 ? 0 : -1;
  choice.lower = (idx_num & kLowerBit) != 0 ? 1 : -1;
  choice.lower_inclusive = (idx_num & kLowerInclusiveBit) != 0;
  choice.upper = (idx_num & kUpperBit) != 0 ? 1 : -1;
  choice.upper_inclusive = (idx_num & kUpperInclusiveBit) != 0;
  choice.no_columns = (idx_num & kNoColumnsBit) != 0;
  choice.column = choice.kind == IndexChoice::Kind::kFullScan ? -1 : idx_num >> kColumnShift;
  return choice;
}

}  // namespace meshdb::sql
