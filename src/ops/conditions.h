// Search conditions for search_by_conditions and search_by_value: parsing the request's
// condition tree, matching records against it, ordering values, and choosing a secondary
// index range that can drive a search. Pure functions: no storage access.
//
// Value semantics (HarperDB's): numbers compare numerically (1 == 1.0), strings
// lexicographically by bytes; a range never matches across types. An attribute holding an
// array matches when any of its elements does (as the index stores one entry per element).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/store.h"

namespace meshdb::ops {

enum class Comparator {
  kEquals,
  kNotEqual,
  kContains,
  kStartsWith,
  kEndsWith,
  kGreaterThan,
  kGreaterThanEqual,
  kLessThan,
  kLessThanEqual,
  kBetween,  // value is [lo, hi], both inclusive
};

// "equals", "not_equal", "contains", "starts_with", "ends_with", "greater_than",
// "greater_than_equal", "less_than", "less_than_equal", "between", plus the short forms
// eq, ne, ct, sw, ew, gt, ge/gte, lt, le/lte. InvalidArgument `Unknown query comparator "x"`.
Result<Comparator> ParseComparator(std::string_view name);

struct Condition {
  std::string attribute;
  Comparator comparator = Comparator::kEquals;
  boost::json::value value;
};

// A group joined by `and` (all must match) or `or` (any). An empty group matches everything.
struct ConditionGroup {
  bool is_or = false;
  std::vector<Condition> conditions;
  std::vector<ConditionGroup> groups;
};

// Reads `operator` (and|or, default and) and `conditions` from `body` (the request or a
// nested group). Each condition is {search_attribute|attribute, search_type|comparator,
// search_value|value} or a nested {operator, conditions}. InvalidArgument naming the path on
// bad input, e.g. "'conditions' is required", "'conditions[1].search_attribute' is required".
Result<ConditionGroup> ParseConditions(const boost::json::object& body);

// Whether `doc` satisfies the condition / group (a missing attribute reads as null).
bool Matches(const Condition& condition, const boost::json::object& doc);
bool Matches(const ConditionGroup& group, const boost::json::object& doc);

// search_by_value's pattern: "*" -> nullopt (everything matches), "ab*" -> starts_with,
// "*ab" -> ends_with, "*ab*" -> contains, anything else (also non-strings) -> equals.
std::optional<Condition> ConditionFromSearchValue(const std::string& attribute,
                                                  const boost::json::value& value);

// Equality as search uses it: numbers numerically, everything else structurally.
bool ValuesEqual(const boost::json::value& a, const boost::json::value& b);

// Total order for sorting, matching the index order for scalars:
// null < false < true < numbers < strings < arrays < objects. Returns <0, 0, >0.
int CompareValues(const boost::json::value& a, const boost::json::value& b);

// An index scan that yields a superset of the records matching one condition.
struct IndexPlan {
  std::string attribute;
  storage::IndexRange range;
};

// For a condition that an index can serve (equals, ranges, between, starts_with with a
// non-null scalar value), the range to scan; nullopt otherwise.
std::optional<storage::IndexRange> RangeFor(const Condition& condition);

// The first condition of a top-level `and` group (or of a one-condition group) on an
// attribute for which `indexed(attribute)` holds and that RangeFor accepts; nullopt when
// none, and always for `or` groups of several members.
std::optional<IndexPlan> PlanIndex(const ConditionGroup& group,
                                   const std::function<bool(const std::string&)>& indexed);

}  // namespace meshdb::ops
