#include "ops/conditions.h"

#include <algorithm>
#include <utility>

namespace meshdb::ops {

namespace json = boost::json;

namespace {

bool IsNumber(const json::value& v) { return v.is_int64() || v.is_uint64() || v.is_double(); }

double AsDouble(const json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return v.get_double();
}

std::string_view AsView(const json::value& v) {
  const json::string& s = v.get_string();
  return {s.data(), s.size()};
}

// Rank of a value's kind in the sort order.
int KindRank(const json::value& v) {
  if (v.is_null()) return 0;
  if (v.is_bool()) return v.get_bool() ? 2 : 1;
  if (IsNumber(v)) return 3;
  if (v.is_string()) return 4;
  if (v.is_array()) return 5;
  return 6;
}

// <0, 0, >0 for two numbers or two strings; nullopt for any other pair (a range never
// matches across types).
std::optional<int> CompareSameKind(const json::value& a, const json::value& b) {
  if (IsNumber(a) && IsNumber(b)) {
    double x = AsDouble(a), y = AsDouble(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    int c = AsView(a).compare(AsView(b));
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return std::nullopt;
}

// Matches one scalar (or whole) attribute value against a condition.
bool MatchesValue(const Condition& c, const json::value& v) {
  const json::value& want = c.value;
  switch (c.comparator) {
    case Comparator::kEquals:
      return ValuesEqual(v, want);
    case Comparator::kNotEqual:
      return !ValuesEqual(v, want);
    case Comparator::kContains:
      if (v.is_string() && want.is_string())
        return AsView(v).find(AsView(want)) != std::string_view::npos;
      return false;
    case Comparator::kStartsWith:
      return v.is_string() && want.is_string() && AsView(v).starts_with(AsView(want));
    case Comparator::kEndsWith:
      return v.is_string() && want.is_string() && AsView(v).ends_with(AsView(want));
    case Comparator::kGreaterThan: {
      auto r = CompareSameKind(v, want);
      return r && *r > 0;
    }
    case Comparator::kGreaterThanEqual: {
      auto r = CompareSameKind(v, want);
      return r && *r >= 0;
    }
    case Comparator::kLessThan: {
      auto r = CompareSameKind(v, want);
      return r && *r < 0;
    }
    case Comparator::kLessThanEqual: {
      auto r = CompareSameKind(v, want);
      return r && *r <= 0;
    }
    case Comparator::kBetween: {
      if (!want.is_array() || want.get_array().size() != 2) return false;
      auto lo = CompareSameKind(v, want.get_array()[0]);
      auto hi = CompareSameKind(v, want.get_array()[1]);
      return lo && hi && *lo >= 0 && *hi <= 0;
    }
  }
  return false;
}

std::string Quote(const std::string& path) { return "'" + path + "'"; }

// Reads the first present alias of a condition field.
const json::value* Field(const json::object& o, std::string_view primary, std::string_view alias) {
  if (auto it = o.find(primary); it != o.end()) return &it->value();
  if (auto it = o.find(alias); it != o.end()) return &it->value();
  return nullptr;
}

Result<ConditionGroup> ParseGroup(const json::object& body, const std::string& prefix) {
  ConditionGroup group;
  if (auto it = body.find("operator"); it != body.end() && !it->value().is_null()) {
    const json::value& op = it->value();
    std::string name = op.is_string() ? std::string(AsView(op)) : "";
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    if (name != "and" && name != "or") {
      return Status::InvalidArgument(Quote(prefix + "operator") + " must be one of [and, or]");
    }
    group.is_or = name == "or";
  }
  const std::string list_path = prefix + "conditions";
  auto it = body.find("conditions");
  if (it == body.end() || it->value().is_null()) {
    return Status::InvalidArgument(Quote(list_path) + " is required");
  }
  if (!it->value().is_array())
    return Status::InvalidArgument(Quote(list_path) + " must be an array");
  const json::array& items = it->value().get_array();
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string path = list_path + "[" + std::to_string(i) + "]";
    if (!items[i].is_object())
      return Status::InvalidArgument(Quote(path) + " must be of type object");
    const json::object& item = items[i].get_object();
    if (item.contains("conditions")) {
      ASSIGN_OR_RETURN(ConditionGroup nested, ParseGroup(item, path + "."));
      group.groups.push_back(std::move(nested));
      continue;
    }
    Condition c;
    const json::value* attr = Field(item, "search_attribute", "attribute");
    if (attr == nullptr || attr->is_null()) {
      return Status::InvalidArgument(Quote(path + ".search_attribute") + " is required");
    }
    if (!attr->is_string()) {
      return Status::InvalidArgument(Quote(path + ".search_attribute") + " must be a string");
    }
    c.attribute = std::string(AsView(*attr));
    const json::value* type = Field(item, "search_type", "comparator");
    if (type == nullptr || type->is_null()) {
      return Status::InvalidArgument(Quote(path + ".search_type") + " is required");
    }
    if (!type->is_string()) {
      return Status::InvalidArgument(Quote(path + ".search_type") + " must be a string");
    }
    ASSIGN_OR_RETURN(c.comparator, ParseComparator(AsView(*type)));
    const json::value* value = Field(item, "search_value", "value");
    if (value == nullptr) {
      return Status::InvalidArgument(Quote(path + ".search_value") + " is required");
    }
    if (c.comparator == Comparator::kBetween &&
        (!value->is_array() || value->get_array().size() != 2)) {
      return Status::InvalidArgument(Quote(path + ".search_value") +
                                     " must be an array of two values for between");
    }
    c.value = *value;
    group.conditions.push_back(std::move(c));
  }
  return group;
}

}  // namespace

Result<Comparator> ParseComparator(std::string_view name) {
  struct Entry {
    std::string_view name;
    Comparator comparator;
  };
  static constexpr Entry kNames[] = {
      {"equals", Comparator::kEquals},
      {"eq", Comparator::kEquals},
      {"not_equal", Comparator::kNotEqual},
      {"ne", Comparator::kNotEqual},
      {"contains", Comparator::kContains},
      {"ct", Comparator::kContains},
      {"starts_with", Comparator::kStartsWith},
      {"sw", Comparator::kStartsWith},
      {"ends_with", Comparator::kEndsWith},
      {"ew", Comparator::kEndsWith},
      {"greater_than", Comparator::kGreaterThan},
      {"gt", Comparator::kGreaterThan},
      {"greater_than_equal", Comparator::kGreaterThanEqual},
      {"ge", Comparator::kGreaterThanEqual},
      {"gte", Comparator::kGreaterThanEqual},
      {"less_than", Comparator::kLessThan},
      {"lt", Comparator::kLessThan},
      {"less_than_equal", Comparator::kLessThanEqual},
      {"le", Comparator::kLessThanEqual},
      {"lte", Comparator::kLessThanEqual},
      {"between", Comparator::kBetween},
  };
  for (const Entry& e : kNames) {
    if (e.name == name) return e.comparator;
  }
  return Status::InvalidArgument("Unknown query comparator \"" + std::string(name) + "\"");
}

Result<ConditionGroup> ParseConditions(const json::object& body) { return ParseGroup(body, ""); }

bool Matches(const Condition& condition, const json::object& doc) {
  static const json::value kNull;
  const json::value* v = doc.if_contains(condition.attribute);
  if (v == nullptr) v = &kNull;
  if (condition.comparator == Comparator::kNotEqual) {
    // not_equal holds when no element (nor the whole value) equals.
    Condition eq = condition;
    eq.comparator = Comparator::kEquals;
    return !Matches(eq, doc);
  }
  if (MatchesValue(condition, *v)) return true;
  if (v->is_array()) {
    for (const json::value& e : v->get_array()) {
      if (MatchesValue(condition, e)) return true;
    }
  }
  return false;
}

bool Matches(const ConditionGroup& group, const json::object& doc) {
  if (group.conditions.empty() && group.groups.empty()) return true;
  for (const Condition& c : group.conditions) {
    bool m = Matches(c, doc);
    if (group.is_or && m) return true;
    if (!group.is_or && !m) return false;
  }
  for (const ConditionGroup& g : group.groups) {
    bool m = Matches(g, doc);
    if (group.is_or && m) return true;
    if (!group.is_or && !m) return false;
  }
  return !group.is_or;
}

std::optional<Condition> ConditionFromSearchValue(const std::string& attribute,
                                                  const json::value& value) {
  Condition c{attribute, Comparator::kEquals, value};
  if (!value.is_string()) return c;
  std::string_view s = AsView(value);
  if (s == "*") return std::nullopt;
  const bool lead = s.size() >= 2 && s.front() == '*';
  const bool trail = s.size() >= 2 && s.back() == '*';
  if (lead && trail) {
    c.comparator = Comparator::kContains;
    c.value = json::string(s.substr(1, s.size() - 2));
  } else if (trail) {
    c.comparator = Comparator::kStartsWith;
    c.value = json::string(s.substr(0, s.size() - 1));
  } else if (lead) {
    c.comparator = Comparator::kEndsWith;
    c.value = json::string(s.substr(1));
  }
  return c;
}

bool ValuesEqual(const json::value& a, const json::value& b) {
  if (IsNumber(a) && IsNumber(b)) return AsDouble(a) == AsDouble(b);
  return a == b;
}

int CompareValues(const json::value& a, const json::value& b) {
  int ra = KindRank(a), rb = KindRank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  if (auto r = CompareSameKind(a, b)) return *r;
  if (a.is_array()) {
    const json::array& x = a.get_array();
    const json::array& y = b.get_array();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (int c = CompareValues(x[i], y[i]); c != 0) return c;
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  return 0;  // equal nulls/booleans, or objects (unordered among themselves)
}

std::optional<storage::IndexRange> RangeFor(const Condition& c) {
  auto scalar = [](const json::value& v) { return IsNumber(v) || v.is_string(); };
  storage::IndexRange r;
  switch (c.comparator) {
    case Comparator::kEquals:
      if (!scalar(c.value) && !c.value.is_bool()) return std::nullopt;
      r.lower = c.value;
      r.upper = c.value;
      return r;
    case Comparator::kStartsWith:
      if (!c.value.is_string()) return std::nullopt;
      r.string_prefix = std::string(AsView(c.value));
      return r;
    case Comparator::kGreaterThan:
    case Comparator::kGreaterThanEqual:
      if (!scalar(c.value)) return std::nullopt;
      r.lower = c.value;
      r.lower_inclusive = c.comparator == Comparator::kGreaterThanEqual;
      // Numbers sort below strings: stop before the first string.
      if (IsNumber(c.value)) {
        r.upper = json::value(json::string());
        r.upper_inclusive = false;
      }
      return r;
    case Comparator::kLessThan:
    case Comparator::kLessThanEqual:
      if (!scalar(c.value)) return std::nullopt;
      r.upper = c.value;
      r.upper_inclusive = c.comparator == Comparator::kLessThanEqual;
      // Start after the booleans (numbers) or at the first string.
      if (IsNumber(c.value)) {
        r.lower = json::value(true);
        r.lower_inclusive = false;
      } else {
        r.lower = json::value(json::string());
      }
      return r;
    case Comparator::kBetween: {
      const json::array& b = c.value.get_array();
      if (b.size() != 2 || !CompareSameKind(b[0], b[1])) return std::nullopt;
      r.lower = b[0];
      r.upper = b[1];
      return r;
    }
    default:
      return std::nullopt;
  }
}

std::optional<IndexPlan> PlanIndex(const ConditionGroup& group,
                                   const std::function<bool(const std::string&)>& indexed) {
  if (group.is_or && group.conditions.size() + group.groups.size() > 1) return std::nullopt;
  for (const Condition& c : group.conditions) {
    if (!indexed(c.attribute)) continue;
    if (auto range = RangeFor(c)) return IndexPlan{c.attribute, std::move(*range)};
  }
  return std::nullopt;
}

}  // namespace meshdb::ops
