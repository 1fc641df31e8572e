// Reading records: search_by_id (search_by_hash), search_by_value and search_by_conditions
// (as HarperDB 4.7 answers them). Reads run synchronously on a short storage snapshot.
#include <algorithm>
#include <boost/json/array.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ops/conditions.h"
#include "ops/fields.h"
#include "ops/handlers.h"
#include "ops/op_metrics.h"
#include "ops/record_support.h"
#include "ops/secret_attributes.h"
#include "storage/store.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

// Whether an index can serve lookups on `attribute` (the primary key always can).
bool Indexed(const storage::TableDef& def, const std::string& attribute) {
  if (attribute == def.primary_key) return true;
  const storage::AttributeDef* a = def.FindAttribute(attribute);
  return a != nullptr && a->indexed;
}

const json::value& AttributeOf(const json::object& doc, const std::string& attribute) {
  static const json::value null_value;
  const json::value* v = doc.if_contains(attribute);
  return v != nullptr ? *v : null_value;
}

// Sorts by `attribute` (stable: ties keep their order), descending when asked.
void SortBy(const std::string& attribute, bool descending, std::vector<json::object>* docs) {
  std::stable_sort(docs->begin(), docs->end(), [&](const json::object& a, const json::object& b) {
    int c = CompareValues(AttributeOf(a, attribute), AttributeOf(b, attribute));
    return descending ? c > 0 : c < 0;
  });
}

json::array ToArray(const Projection& projection, const storage::TableDef& def,
                    const std::vector<json::object>& docs) {
  CountRecordsRead(def.database, docs.size());
  json::array out;
  out.reserve(docs.size());
  for (const json::object& doc : docs) {
    json::object record = Project(projection, def, doc);
    DropSecretAttributes(def, &record);
    out.push_back(std::move(record));
  }
  return out;
}

// Collects the records of def's table matching `filter` (all when null), through
// `plan`'s index when given (then in index order), else by a table scan in primary-key
// order. Stops once `enough(count)` holds.
Status Collect(storage::Snapshot& snapshot, const storage::TableDef& def,
               const std::optional<IndexPlan>& plan,
               const std::function<bool(const json::object&)>& filter,
               const std::function<bool(size_t)>& enough, std::vector<json::object>* out) {
  storage::RecordVisitor visit = [&](const storage::Record& record) {
    if (filter && !filter(record.doc)) return true;
    out->push_back(record.doc);
    return !enough(out->size());
  };
  if (plan) return snapshot.ScanIndex(def.name, plan->attribute, plan->range, visit);
  return snapshot.ScanTable(def.name, visit);
}

// Reads the required `table` and optional `database`, then opens a snapshot of the table's
// database. Unknown table or database: NotFound, or InvalidArgument when `missing_is_invalid`.
struct TableRead {
  storage::TableDef def;
  std::unique_ptr<storage::Snapshot> snapshot;
};

Result<TableRead> OpenTable(const OpCall& call, bool missing_is_invalid) {
  ASSIGN_OR_RETURN(std::string table, TableField(call.body));
  ASSIGN_OR_RETURN(std::string database, DatabaseField(call.body));
  TableRead read;
  ASSIGN_OR_RETURN(read.def, LookupTable(*call.env->store, database, table, missing_is_invalid));
  Result<std::unique_ptr<storage::Snapshot>> snapshot = call.env->store->Read(database);
  if (!snapshot.ok()) {
    return missing_is_invalid ? NotFoundAsInvalid(snapshot.status()) : snapshot.status();
  }
  read.snapshot = std::move(*snapshot);
  return read;
}

}  // namespace

void SearchById(OpCall call) {
  std::vector<std::string> errors;
  if (Result<std::string> table = TableField(call.body); !table.ok()) {
    errors.push_back(table.status().message());
  }
  const json::value* ids = FirstOf(call.body, {"ids", "hash_values"});
  if (ids == nullptr || ids->is_null()) {
    errors.emplace_back("'hash_values' is required");
  } else if (!ids->is_array()) {
    errors.emplace_back("'hash_values' must be an array");
  }
  Result<Projection> projection = GetAttributesField(call.body, /*required=*/true);
  if (!projection.ok()) errors.push_back(projection.status().message());
  if (Status s = JoinValidation(errors); !s.ok()) return call.Fail(s);

  Result<TableRead> read = OpenTable(call, /*missing_is_invalid=*/false);
  if (!read.ok()) return call.Fail(read.status());
  std::vector<json::object> found;
  for (const json::value& id : ids->get_array()) {
    if (!CheckKeyType(id, "id").ok()) continue;  // no record has such a key
    Result<std::optional<storage::Record>> record = read->snapshot->Get(read->def.name, id);
    if (!record.ok()) return call.Fail(record.status());
    if (*record) found.push_back(std::move((*record)->doc));
  }
  call.Reply(ToArray(*projection, read->def, found));
}

void SearchByValue(OpCall call) {
  std::vector<std::string> errors;
  if (Result<std::string> table = TableField(call.body); !table.ok()) {
    errors.push_back(table.status().message());
  }
  const json::value* attr = FirstOf(call.body, {"search_attribute", "attribute"});
  if (attr == nullptr || attr->is_null() || (attr->is_string() && attr->get_string().empty())) {
    errors.emplace_back("'attribute' is required");
  } else if (!attr->is_string()) {
    errors.emplace_back("'attribute' must be a string");
  }
  const json::value* value = FirstOf(call.body, {"search_value", "value"});
  if (value == nullptr) errors.emplace_back("'value' is required");
  Result<Projection> projection = GetAttributesField(call.body, /*required=*/false);
  if (!projection.ok()) errors.push_back(projection.status().message());
  Result<Paging> paging = PagingFields(call.body);
  if (!paging.ok()) errors.push_back(paging.status().message());
  bool desc = false;
  if (const json::value* d = call.body.if_contains("desc"); d != nullptr && !d->is_null()) {
    if (d->is_bool()) {
      desc = d->get_bool();
    } else {
      errors.emplace_back("'desc' must be a boolean");
    }
  }
  if (Status s = JoinValidation(errors); !s.ok()) return call.Fail(s);

  Result<TableRead> read = OpenTable(call, /*missing_is_invalid=*/false);
  if (!read.ok()) return call.Fail(read.status());
  const storage::TableDef& def = read->def;
  const std::string attribute(attr->get_string());
  if (def.FindAttribute(attribute) == nullptr && attribute != def.primary_key) {
    return call.Fail(Status::InvalidArgument("unknown attribute '" + attribute + "'"));
  }
  if (Status s = RefuseSecretAttribute(def, attribute); !s.ok()) return call.Fail(s);

  std::optional<Condition> condition = ConditionFromSearchValue(attribute, *value);
  std::optional<IndexPlan> plan;
  if (condition && Indexed(def, attribute)) {
    if (auto range = RangeFor(*condition)) plan = IndexPlan{attribute, std::move(*range)};
  }
  std::function<bool(const json::object&)> filter;
  if (condition) filter = [&](const json::object& doc) { return Matches(*condition, doc); };
  // A table scan yields primary-key order, so ascending results can stop early.
  const bool can_stop = !plan && !desc;
  std::vector<json::object> docs;
  Status s = Collect(
      *read->snapshot, def, plan, filter, [&](size_t n) { return can_stop && paging->Full(n); },
      &docs);
  if (!s.ok()) return call.Fail(s);
  // HarperDB returns primary-key order whatever drove the search.
  if (plan && attribute != def.primary_key) SortBy(def.primary_key, false, &docs);
  if (desc) std::reverse(docs.begin(), docs.end());
  ApplyPaging(*paging, &docs);
  call.Reply(ToArray(*projection, def, docs));
}

void SearchByConditions(OpCall call) {
  if (Result<std::string> table = TableField(call.body); !table.ok()) {
    return call.Fail(table.status());
  }
  Result<ConditionGroup> group = ParseConditions(call.body);
  if (!group.ok()) return call.Fail(group.status());
  Result<Projection> projection = GetAttributesField(call.body, /*required=*/false);
  if (!projection.ok()) return call.Fail(projection.status());
  Result<Paging> paging = PagingFields(call.body);
  if (!paging.ok()) return call.Fail(paging.status());
  std::optional<std::pair<std::string, bool>> sort;  // attribute, descending
  if (const json::value* s = call.body.if_contains("sort"); s != nullptr && !s->is_null()) {
    if (!s->is_object()) return call.Fail(Status::InvalidArgument("'sort' must be of type object"));
    const json::value* a = s->get_object().if_contains("attribute");
    if (a == nullptr || !a->is_string() || a->get_string().empty()) {
      return call.Fail(Status::InvalidArgument("'sort.attribute' is required"));
    }
    const json::value* d = s->get_object().if_contains("descending");
    sort.emplace(std::string(a->get_string()), d != nullptr && d->is_bool() && d->get_bool());
  }

  Result<TableRead> read = OpenTable(call, /*missing_is_invalid=*/true);
  if (!read.ok()) {
    if (read.status().IsInvalidArgument() && read.status().message().rfind("Table '", 0) == 0) {
      // HarperDB words it differently here.
      return call.Fail(Status::InvalidArgument("Table " + *TableField(call.body) + " not found"));
    }
    return call.Fail(read.status());
  }
  const storage::TableDef& def = read->def;
  if (Status s = RefuseSecretAttributes(def, *group); !s.ok()) return call.Fail(s);
  if (sort) {
    if (Status s = RefuseSecretAttribute(def, sort->first); !s.ok()) return call.Fail(s);
  }
  std::optional<IndexPlan> plan =
      PlanIndex(*group, [&](const std::string& a) { return Indexed(def, a); });
  std::vector<json::object> docs;
  Status s = Collect(
      *read->snapshot, def, plan, [&](const json::object& doc) { return Matches(*group, doc); },
      [&](size_t n) { return !sort && paging->Full(n); }, &docs);
  if (!s.ok()) return call.Fail(s);
  if (sort) SortBy(sort->first, sort->second, &docs);
  ApplyPaging(*paging, &docs);
  call.Reply(ToArray(*projection, def, docs));
}

}  // namespace meshdb::ops
