// The constraint -> storage access path mapping of the virtual table (sql/index_plan.h).
#include "sql/index_plan.h"

#include <gtest/gtest.h>

namespace meshdb::sql {
namespace {

using Kind = IndexChoice::Kind;

// Columns: 0 = id (primary key), 1 = name (indexed), 2 = note (not indexed).
std::vector<PlanColumn> Columns() { return {{true, false}, {false, true}, {false, false}}; }

TEST(IndexPlanTest, PrimaryKeyEqualityWinsOverAnIndexedEquality) {
  IndexChoice c =
      ChooseIndex({{1, ConstraintOp::kEq, true}, {0, ConstraintOp::kEq, true}}, Columns(), 1000000);
  EXPECT_EQ(c.kind, Kind::kPrimaryKey);
  EXPECT_EQ(c.column, 0);
  EXPECT_EQ(c.eq, 1);
  EXPECT_EQ(c.rows, 1);
  EXPECT_EQ(c.ArgCount(), 1);
}

TEST(IndexPlanTest, IndexedEqualityBeatsAScan) {
  IndexChoice c = ChooseIndex({{1, ConstraintOp::kEq, true}}, Columns(), 1000000);
  EXPECT_EQ(c.kind, Kind::kSecondary);
  EXPECT_EQ(c.column, 1);
  EXPECT_LT(c.cost, 1000000);
}

TEST(IndexPlanTest, UnusableOrUnindexedConstraintsScan) {
  EXPECT_EQ(ChooseIndex({{0, ConstraintOp::kEq, false}}, Columns(), 100).kind, Kind::kFullScan);
  EXPECT_EQ(ChooseIndex({{2, ConstraintOp::kEq, true}}, Columns(), 100).kind, Kind::kFullScan);
  EXPECT_EQ(ChooseIndex({{1, ConstraintOp::kOther, true}}, Columns(), 100).kind, Kind::kFullScan);
  EXPECT_EQ(ChooseIndex({{-1, ConstraintOp::kEq, true}}, Columns(), 100).kind, Kind::kFullScan);
}

TEST(IndexPlanTest, RangeTakesBothBounds) {
  IndexChoice c =
      ChooseIndex({{0, ConstraintOp::kGt, true}, {0, ConstraintOp::kLe, true}}, Columns(), 1000);
  EXPECT_EQ(c.kind, Kind::kPrimaryKey);
  EXPECT_EQ(c.lower, 0);
  EXPECT_FALSE(c.lower_inclusive);
  EXPECT_EQ(c.upper, 1);
  EXPECT_TRUE(c.upper_inclusive);
  EXPECT_EQ(c.ArgCount(), 2);
}

TEST(IndexPlanTest, IdxNumRoundTrips) {
  IndexChoice c = ChooseIndex({{1, ConstraintOp::kLt, true}}, Columns(), 1000);
  IndexChoice d = DecodeIdxNum(EncodeIdxNum(c));
  EXPECT_EQ(d.kind, Kind::kSecondary);
  EXPECT_EQ(d.column, 1);
  EXPECT_LT(d.eq, 0);
  EXPECT_LT(d.lower, 0);
  EXPECT_GE(d.upper, 0);
  EXPECT_FALSE(d.upper_inclusive);

  IndexChoice scan;
  scan.no_columns = true;
  IndexChoice e = DecodeIdxNum(EncodeIdxNum(scan));
  EXPECT_EQ(e.kind, Kind::kFullScan);
  EXPECT_TRUE(e.no_columns);
  EXPECT_EQ(e.column, -1);
}

}  // namespace
}  // namespace meshdb::sql
