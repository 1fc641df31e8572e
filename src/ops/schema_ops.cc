// Databases, tables and attributes: create_database, drop_database, create_table,
// drop_table, create_attribute and the describe_* operations (as HarperDB 4.7 answers them).
#include <algorithm>
#include <boost/json/array.hpp>
#include <string>
#include <utility>
#include <vector>

#include "ops/attribute_permissions.h"
#include "ops/auth.h"
#include "ops/auth_impl.h"
#include "ops/fields.h"
#include "ops/handlers.h"
#include "ops/record_support.h"
#include "storage/store.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

constexpr const char* kSystemDatabase = "system";
constexpr const char* kDropSystem =
    "The 'system' database, tables and records are used internally by HarperDB and cannot be "
    "updated or removed.";

// HarperDB answers 400 for "already exists"; storage says Conflict.
Status ConflictAsInvalid(Status status) {
  if (!status.IsConflict()) return status;
  return Status::InvalidArgument(status.message());
}

json::object AttributeEntry(const storage::TableDef& def, const storage::AttributeDef& a) {
  json::object entry;
  entry["attribute"] = a.name;
  if (!a.type.empty()) entry["type"] = a.type;
  if (a.name == def.primary_key) {
    entry["is_primary_key"] = true;
  } else if (a.indexed) {
    entry["indexed"] = true;
  }
  return entry;
}

// The describe_table object, fields in HarperDB's order.
Result<json::object> DescribeOne(const OpCall& call, const storage::TableDef& def) {
  Result<storage::TableStats> stats = call.env->store->GetStats(def.database, def.name);
  if (!stats.ok()) return stats.status();
  json::array attributes;
  std::vector<std::string> permitted;
  const bool filter = !call.caller.super_user;
  // A non-super caller sees the attributes its role's attribute_permissions grant read,
  // insert or update on (none when the role lists none, as HarperDB shows `attributes: []`).
  if (filter) {
    if (auto rules = AttributePermissions::For(call.caller, def)) permitted = rules->Visible();
  }
  for (const storage::AttributeDef& a : def.attributes) {
    if (filter && std::find(permitted.begin(), permitted.end(), a.name) == permitted.end()) {
      continue;
    }
    attributes.push_back(AttributeEntry(def, a));
  }
  json::object out;
  out["schema"] = def.database;
  out["name"] = def.name;
  out["hash_attribute"] = def.primary_key;
  out["audit"] = true;
  out["schema_defined"] = def.schema_defined;
  // meshdb: shown only for local-only tables (HarperDB's describe has no such field).
  if (!def.replicate) out["replicate"] = false;
  out["attributes"] = std::move(attributes);
  out["db_size"] = stats->db_size_bytes;
  out["sources"] = json::array();
  out["record_count"] = stats->record_count;
  out["table_size"] = stats->table_size_bytes;
  out["db_audit_size"] = stats->log_size_bytes;
  if (stats->last_updated_ms) out["last_updated_record"] = *stats->last_updated_ms;
  // meshdb: the table's compression dictionary id once it has one (0: compressed without).
  if (stats->dictionary_id) out["compression_dictionary"] = *stats->dictionary_id;
  return out;
}

bool CanDescribe(const OpCall& call, const std::string& database, const std::string& table) {
  if (call.caller.super_user || call.env->auth == nullptr) return true;
  return call.env->auth->CanDescribe(call.caller, database, table);
}

// {<table>: describe, ...} for the tables of `database` the caller may see.
Result<json::object> DescribeTables(const OpCall& call, const std::string& database) {
  Result<std::vector<storage::TableDef>> tables = call.env->store->ListTables(database);
  if (!tables.ok()) return tables.status();
  json::object out;
  for (const storage::TableDef& def : *tables) {
    if (!CanDescribe(call, database, def.name)) continue;
    Result<json::object> one = DescribeOne(call, def);
    // A table dropped since ListTables is simply left out.
    if (one.status().IsNotFound()) continue;
    if (!one.ok()) return one.status();
    out[def.name] = std::move(*one);
  }
  return out;
}

// create_table's `attributes`: [{name, type, indexed}]. Typed attributes are not indexed
// unless `indexed: true`.
Result<std::vector<storage::AttributeDef>> AttributesField(const json::value& v) {
  if (!v.is_array()) return Status::InvalidArgument("'attributes' must be an array");
  std::vector<storage::AttributeDef> defs;
  const json::array& list = v.get_array();
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = "'attributes[" + std::to_string(i) + "]";
    if (!list[i].is_object()) return Status::InvalidArgument(path + "' must be of type object");
    const json::object& o = list[i].get_object();
    storage::AttributeDef def;
    const json::value* name = FirstOf(o, {"name", "attribute"});
    if (name == nullptr || !name->is_string() || name->get_string().empty()) {
      return Status::InvalidArgument(path + ".name' is required");
    }
    def.name = std::string(name->get_string());
    RETURN_IF_ERROR(ValidateName("attribute", def.name));
    if (const json::value* type = o.if_contains("type"); type != nullptr && !type->is_null()) {
      if (!type->is_string()) return Status::InvalidArgument(path + ".type' must be a string");
      def.type = std::string(type->get_string());
    }
    def.indexed = false;
    if (const json::value* idx = o.if_contains("indexed"); idx != nullptr && !idx->is_null()) {
      if (!idx->is_bool()) return Status::InvalidArgument(path + ".indexed' must be a boolean");
      def.indexed = idx->get_bool();
    }
    defs.push_back(std::move(def));
  }
  return defs;
}

}  // namespace

void CreateDatabase(OpCall call) {
  Result<std::string> database = DatabaseField(call.body);
  if (!database.ok()) return call.Fail(database.status());
  if (Status s = ValidateName("database", *database); !s.ok()) return call.Fail(s);
  Status s = call.env->store->CreateDatabase(*database);
  if (!s.ok()) return call.Fail(ConflictAsInvalid(s));
  call.ReplyMessage("database '" + *database + "' successfully created");
}

void DropDatabase(OpCall call) {
  const json::value* given = FirstOf(call.body, {"database", "schema"});
  if (given == nullptr || given->is_null()) {
    return call.Fail(Status::InvalidArgument("'database' is required"));
  }
  Result<std::string> database = DatabaseField(call.body);
  if (!database.ok()) return call.Fail(database.status());
  if (*database == kSystemDatabase) return call.Fail(Status::PermissionDenied(kDropSystem));
  Status s = call.env->store->DropDatabase(*database);
  if (!s.ok()) return call.Fail(s);
  call.ReplyMessage("successfully deleted '" + *database + "'");
}

void CreateTable(OpCall call) {
  std::vector<std::string> errors;
  Result<std::string> table = RequiredString(call.body, "table");
  if (!table.ok()) errors.push_back(table.status().message());
  json::object pk_view;
  if (const json::value* pk = FirstOf(call.body, {"primary_key", "hash_attribute"})) {
    pk_view["primary_key"] = *pk;
  }
  Result<std::string> primary_key = RequiredString(pk_view, "primary_key");
  if (!primary_key.ok()) errors.push_back(primary_key.status().message());
  if (Status s = JoinValidation(errors); !s.ok()) return call.Fail(s);
  Result<std::string> database = DatabaseField(call.body);
  if (!database.ok()) return call.Fail(database.status());
  for (const auto& [field, name] :
       {std::pair<const char*, const std::string*>{"database", &*database},
        {"table", &*table},
        {"primary_key", &*primary_key}}) {
    if (Status s = ValidateName(field, *name); !s.ok()) return call.Fail(s);
  }

  storage::TableDef def;
  def.database = *database;
  def.name = *table;
  def.primary_key = *primary_key;
  if (const json::value* attrs = call.body.if_contains("attributes");
      attrs != nullptr && !attrs->is_null()) {
    Result<std::vector<storage::AttributeDef>> parsed = AttributesField(*attrs);
    if (!parsed.ok()) return call.Fail(parsed.status());
    def.attributes = std::move(*parsed);
    def.schema_defined = true;
  }
  if (const json::value* rep = call.body.if_contains("replicate");
      rep != nullptr && !rep->is_null()) {
    if (!rep->is_bool()) return call.Fail(Status::InvalidArgument("'replicate' must be a boolean"));
    def.replicate = rep->get_bool();
  }
  Status s = call.env->store->CreateTable(def);
  if (!s.ok()) return call.Fail(ConflictAsInvalid(s));
  call.ReplyMessage("table '" + def.database + "." + def.name + "' successfully created.");
}

void DropTable(OpCall call) {
  Result<std::string> table = RequiredString(call.body, "table");
  if (!table.ok()) return call.Fail(table.status());
  Result<std::string> database = DatabaseField(call.body);
  if (!database.ok()) return call.Fail(database.status());
  if (*database == kSystemDatabase) return call.Fail(Status::PermissionDenied(kDropSystem));
  Status s = call.env->store->DropTable(*database, *table);
  if (!s.ok()) return call.Fail(s);
  call.ReplyMessage("successfully deleted table '" + *database + "." + *table + "'");
}

void CreateAttribute(OpCall call) {
  Result<std::string> database = DatabaseField(call.body);
  if (!database.ok()) return call.Fail(database.status());
  Result<std::string> table = RequiredString(call.body, "table");
  if (!table.ok()) return call.Fail(table.status());
  const json::value* attr = call.body.if_contains("attribute");
  if (attr == nullptr || attr->is_null() || (attr->is_string() && attr->get_string().empty())) {
    return call.Fail(Status::InvalidArgument("Attribute name is required"));
  }
  if (!attr->is_string()) return call.Fail(Status::InvalidArgument("'attribute' must be a string"));
  std::string name(attr->get_string());
  if (Status s = ValidateName("attribute", name); !s.ok()) return call.Fail(s);
  Result<storage::TableDef> def = LookupTable(*call.env->store, *database, *table, false);
  if (!def.ok()) return call.Fail(def.status());
  // A typed table's records may already hold the attribute unindexed: an index created now
  // would miss them, so only untyped tables (whose attributes are always indexed) get one.
  storage::AttributeDef added{name, "", !def->schema_defined};
  Status s = call.env->store->CreateAttribute(*database, *table, added);
  if (!s.ok()) return call.Fail(ConflictAsInvalid(s));
  call.ReplyMessage("attribute '" + *database + "." + *table + "." + name +
                    "' successfully created.");
}

void DescribeAll(OpCall call) {
  json::object out;
  for (const std::string& database : call.env->store->ListDatabases()) {
    if (database == kSystemDatabase) continue;
    Result<json::object> tables = DescribeTables(call, database);
    if (tables.status().IsNotFound()) continue;  // dropped meanwhile
    if (!tables.ok()) return call.Fail(tables.status());
    if (tables->empty() && !call.caller.super_user) continue;
    out[database] = std::move(*tables);
  }
  call.Reply(std::move(out));
}

void DescribeDatabase(OpCall call) {
  Result<std::string> database = DatabaseField(call.body);
  if (!database.ok()) return call.Fail(database.status());
  if (*database == kSystemDatabase && !call.caller.super_user) {
    return call.Fail(
        Status::PermissionDenied(kNotAuthorized),
        json::object{{"unauthorized_access",
                      json::array{"Your role does not have permission to view database "
                                  "metadata for 'system'"}},
                     {"invalid_schema_items", json::array{}}});
  }
  Result<json::object> tables = DescribeTables(call, *database);
  if (!tables.ok()) return call.Fail(tables.status());
  call.Reply(std::move(*tables));
}

void DescribeTable(OpCall call) {
  // `exact_count` is accepted and ignored: record_count is always exact.
  Result<std::string> table = RequiredString(call.body, "table");
  if (!table.ok()) return call.Fail(table.status());
  Result<std::string> database = DatabaseField(call.body);
  if (!database.ok()) return call.Fail(database.status());
  Result<storage::TableDef> def = LookupTable(*call.env->store, *database, *table, false);
  if (!def.ok()) return call.Fail(def.status());
  if (!CanDescribe(call, *database, *table)) {
    return call.Fail(
        Status::PermissionDenied(kNotAuthorized),
        json::object{{"unauthorized_access", json::array{}},
                     {"invalid_schema_items",
                      json::array{"Table '" + *database + "." + *table + "' does not exist"}}});
  }
  Result<json::object> one = DescribeOne(call, *def);
  if (!one.ok()) return call.Fail(one.status());
  call.Reply(std::move(*one));
}

}  // namespace meshdb::ops
