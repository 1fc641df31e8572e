#include "ops/attribute_permissions.h"

#include <algorithm>
#include <utility>

#include "ops/auth_impl.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

constexpr TableAccess kAttributeAccesses[] = {TableAccess::kRead, TableAccess::kInsert,
                                              TableAccess::kUpdate};

bool IsStampedTime(std::string_view attribute) {
  return attribute == "__createdtime__" || attribute == "__updatedtime__";
}

const json::array* ListedPermissions(const Caller& caller, const storage::TableDef& def) {
  const json::value* db = caller.permission().if_contains(def.database);
  if (db == nullptr || !db->is_object()) return nullptr;
  const json::value* tables = db->get_object().if_contains("tables");
  if (tables == nullptr || !tables->is_object()) return nullptr;
  const json::value* table = tables->get_object().if_contains(def.name);
  if (table == nullptr || !table->is_object()) return nullptr;
  const json::value* list = table->get_object().if_contains("attribute_permissions");
  if (list == nullptr || !list->is_array() || list->get_array().empty()) return nullptr;
  return &list->get_array();
}

void CollectConditionAttributes(const json::value& conditions, std::vector<std::string>& out) {
  if (!conditions.is_array()) return;
  for (const json::value& item : conditions.get_array()) {
    if (!item.is_object()) continue;
    const json::object& condition = item.get_object();
    for (const char* field : {"search_attribute", "attribute"}) {
      const json::value* name = condition.if_contains(field);
      if (name != nullptr && name->is_string()) out.emplace_back(name->get_string());
    }
    if (const json::value* nested = condition.if_contains("conditions")) {
      CollectConditionAttributes(*nested, out);
    }
  }
}

}  // namespace

std::optional<AttributePermissions> AttributePermissions::For(const Caller& caller,
                                                              const storage::TableDef& def) {
  if (caller.super_user) return std::nullopt;
  const json::array* list = ListedPermissions(caller, def);
  if (list == nullptr) return std::nullopt;
  AttributePermissions rules;
  rules.database_ = def.database;
  rules.table_ = def.name;
  rules.primary_key_ = def.primary_key;
  for (const json::value& item : *list) {
    if (!item.is_object()) continue;
    const json::value* name = item.get_object().if_contains("attribute_name");
    if (name == nullptr || !name->is_string()) continue;
    std::set<TableAccess>& granted = rules.granted_[std::string(name->get_string())];
    for (TableAccess access : kAttributeAccesses) {
      const json::value* flag = item.get_object().if_contains(TableAccessName(access));
      if (flag != nullptr && flag->is_bool() && flag->get_bool()) {
        granted.insert(access);
        rules.any_.insert(access);
      }
    }
  }
  return rules;
}

bool AttributePermissions::Allows(std::string_view attribute, TableAccess access) const {
  if (attribute == primary_key_) return any_.count(access) != 0;
  if (IsStampedTime(attribute)) return access != TableAccess::kRead || any_.count(access) != 0;
  auto it = granted_.find(attribute);
  return it != granted_.end() && it->second.count(access) != 0;
}

std::vector<std::string> AttributePermissions::Visible() const {
  std::vector<std::string> names;
  for (const auto& [name, granted] : granted_) {
    if (!granted.empty()) names.push_back(name);
  }
  return names;
}

std::optional<OpResult> AttributePermissions::CheckRecords(
    const json::array& records, std::initializer_list<TableAccess> needed) const {
  std::vector<std::pair<std::string, std::set<TableAccess>>> missing;
  for (const json::value& record : records) {
    if (!record.is_object()) continue;  // the operation itself refuses it
    for (const auto& [key, value] : record.get_object()) {
      for (TableAccess access : needed) {
        if (Allows(key, access)) continue;
        auto it =
            std::find_if(missing.begin(), missing.end(),
                         [&, k = std::string_view(key)](const auto& m) { return m.first == k; });
        if (it == missing.end()) {
          missing.emplace_back(std::string(key), std::set<TableAccess>{});
          it = std::prev(missing.end());
        }
        it->second.insert(access);
      }
    }
  }
  if (missing.empty()) return std::nullopt;
  return Denied(missing);
}

std::optional<OpResult> AttributePermissions::CheckWrite(storage::WriteKind kind,
                                                         const json::array& records) const {
  switch (kind) {
    case storage::WriteKind::kInsert:
      return CheckRecords(records, {TableAccess::kInsert});
    case storage::WriteKind::kUpdate:
      return CheckRecords(records, {TableAccess::kUpdate});
    case storage::WriteKind::kUpsert:
      return CheckRecords(records, {TableAccess::kInsert, TableAccess::kUpdate});
    case storage::WriteKind::kDelete:
      break;
  }
  return std::nullopt;
}

std::optional<OpResult> AttributePermissions::CheckRead(
    const std::vector<std::string>& names) const {
  std::vector<std::pair<std::string, std::set<TableAccess>>> missing;
  for (const std::string& name : names) {
    if (name == "*" || Allows(name, TableAccess::kRead)) continue;
    if (std::none_of(missing.begin(), missing.end(),
                     [&](const auto& m) { return m.first == name; })) {
      missing.emplace_back(name, std::set<TableAccess>{TableAccess::kRead});
    }
  }
  if (missing.empty()) return std::nullopt;
  return Denied(missing);
}

void AttributePermissions::FilterRows(json::value& rows) const {
  if (!rows.is_array()) return;
  for (json::value& row : rows.get_array()) {
    if (!row.is_object()) continue;
    json::object& record = row.get_object();
    for (auto it = record.begin(); it != record.end();) {
      if (Allows(it->key(), TableAccess::kRead)) {
        ++it;
      } else {
        it = record.erase(it);
      }
    }
  }
}

OpResult AttributePermissions::Denied(
    const std::vector<std::pair<std::string, std::set<TableAccess>>>& missing) const {
  json::array attributes;
  for (const auto& [name, accesses] : missing) {
    json::array words;
    for (TableAccess access : accesses) words.emplace_back(TableAccessName(access));
    attributes.push_back(
        json::object{{"attribute_name", name}, {"required_permissions", std::move(words)}});
  }
  return OpResult{
      Status::PermissionDenied(kNotAuthorized),
      json::object{
          {"unauthorized_access",
           json::array{json::object{{"schema", database_},
                                    {"table", table_},
                                    {"required_table_permissions", json::array{}},
                                    {"required_attribute_permissions", std::move(attributes)}}}},
          {"invalid_schema_items", json::array{}}},
      false};
}

std::vector<std::string> AttributesReadBy(const json::object& body) {
  std::vector<std::string> names;
  if (const json::value* get = body.if_contains("get_attributes"); get && get->is_array()) {
    for (const json::value& name : get->get_array()) {
      if (name.is_string()) names.emplace_back(name.get_string());
    }
  }
  for (const char* field : {"search_attribute", "attribute"}) {
    const json::value* name = body.if_contains(field);
    if (name != nullptr && name->is_string()) names.emplace_back(name->get_string());
  }
  if (const json::value* conditions = body.if_contains("conditions")) {
    CollectConditionAttributes(*conditions, names);
  }
  for (const json::value* sort = body.if_contains("sort"); sort != nullptr && sort->is_object();
       sort = sort->get_object().if_contains("next")) {
    const json::value* name = sort->get_object().if_contains("attribute");
    if (name != nullptr && name->is_string()) names.emplace_back(name->get_string());
  }
  return names;
}

}  // namespace meshdb::ops
