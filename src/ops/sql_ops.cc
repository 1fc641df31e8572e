// The `sql` operation (HARPERDB-OPS.md §5, docs/sql.md): SQLite prepares the statement over
// meshdb's tables (sql/statement.h); every table it names is checked against the caller's
// role; a SELECT answers its rows, and an INSERT, UPDATE or DELETE hands the rows it changes
// to the insert, update or delete operation, so it is one atomic write with the same answer,
// validation and replication as the NoSQL call.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ops/attribute_permissions.h"
#include "ops/auth.h"
#include "ops/auth_impl.h"
#include "ops/handlers.h"
#include "ops/secret_attributes.h"
#include "sql/statement.h"
#include "storage/store.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

TableAccess ToTableAccess(sql::Access access) {
  switch (access) {
    case sql::Access::kInsert:
      return TableAccess::kInsert;
    case sql::Access::kUpdate:
      return TableAccess::kUpdate;
    case sql::Access::kDelete:
      return TableAccess::kDelete;
    case sql::Access::kRead:
      break;
  }
  return TableAccess::kRead;
}

// Appends the array `key` of `from` to the one of `into`.
void AppendArray(json::object& into, const json::object& from, const char* key) {
  const json::value* add = from.if_contains(key);
  if (add == nullptr || !add->is_array()) return;
  json::value& target = into[key];
  if (!target.is_array()) target = json::array{};
  for (const json::value& v : add->get_array()) target.get_array().push_back(v);
}

// nullopt when `caller` may do everything the statement does; else one 403 listing every
// refused table, as HarperDB checks the parsed statement as a whole.
std::optional<OpResult> CheckStatementAccess(Auth& auth, const Caller& caller,
                                             const std::vector<sql::TableUse>& tables) {
  std::optional<OpResult> denied;
  for (const sql::TableUse& use : tables) {
    for (sql::Access access : use.access) {
      std::optional<OpResult> refused =
          auth.CheckTableAccess(caller, use.database, use.table, {ToTableAccess(access)});
      if (!refused) continue;
      if (!denied) {
        denied = std::move(refused);
      } else if (denied->body.is_object() && refused->body.is_object()) {
        AppendArray(denied->body.get_object(), refused->body.get_object(), "unauthorized_access");
        AppendArray(denied->body.get_object(), refused->body.get_object(), "invalid_schema_items");
      }
    }
  }
  return denied;
}

// The insert/update/delete request equivalent to the statement's changes.
std::pair<Handler, json::object> AsRecordOperation(sql::CollectedWrite write) {
  json::object body;
  body["database"] = write.database;
  body["table"] = write.table;
  switch (write.kind) {
    case storage::WriteKind::kDelete:
      body["ids"] = std::move(write.ids);
      return {Delete, std::move(body)};
    case storage::WriteKind::kUpdate:
      body["records"] = std::move(write.records);
      return {Update, std::move(body)};
    default:
      body["records"] = std::move(write.records);
      return {Insert, std::move(body)};
  }
}

// What a statement of `caller` may not see: secret system attributes, and the attributes its
// role's attribute_permissions do not let it read (ops/attribute_permissions.h). Not declared,
// naming one is an unknown column; SELECT * leaves them out.
sql::Session::HiddenAttribute HiddenFrom(const Caller& caller) {
  using Rules = std::map<std::pair<std::string, std::string>, std::optional<AttributePermissions>>;
  auto rules = std::make_shared<Rules>();
  return [caller, rules](const storage::TableDef& def, const std::string& attribute) {
    if (IsSecretAttribute(def, attribute)) return true;
    auto it = rules->find({def.database, def.name});
    if (it == rules->end()) {
      it = rules
               ->emplace(std::make_pair(def.database, def.name),
                         AttributePermissions::For(caller, def))
               .first;
    }
    return it->second.has_value() && !it->second->Allows(attribute, TableAccess::kRead);
  };
}

// The 403 when the rows a statement writes carry attributes the caller's role may not write.
std::optional<OpResult> CheckAttributeWrite(const storage::Store& store, const Caller& caller,
                                            storage::WriteKind kind, const json::object& body) {
  const json::value* records = body.if_contains("records");
  if (caller.super_user || records == nullptr || !records->is_array()) return std::nullopt;
  Result<storage::TableDef> def = store.GetTable(std::string(body.at("database").get_string()),
                                                 std::string(body.at("table").get_string()));
  if (!def.ok()) return std::nullopt;  // the write answers that itself
  std::optional<AttributePermissions> rules = AttributePermissions::For(caller, *def);
  if (!rules) return std::nullopt;
  return rules->CheckWrite(kind, records->get_array());
}

}  // namespace

void Sql(OpCall call) {
  const json::value* text = call.body.if_contains("sql");
  if (text == nullptr || !text->is_string() || text->get_string().empty()) {
    return call.Fail(
        Status::InvalidArgument("The 'sql' parameter is missing from the request body"));
  }
  Result<std::unique_ptr<sql::Statement>> statement = sql::Statement::Prepare(
      call.env->store, std::string(text->get_string()), HiddenFrom(call.caller));
  if (!statement.ok()) {
    // A role is not told which tables exist: an unknown table is the 403 a table outside the
    // role gets (HARPERDB-OPS.md §1.4), not a 404.
    if (statement.status().IsNotFound() && !call.caller.super_user) {
      return call.Fail(Status::PermissionDenied(kNotAuthorized),
                       json::object{{"unauthorized_access", json::array{}},
                                    {"invalid_schema_items",
                                     json::array{json::value(statement.status().message())}}});
    }
    return call.Fail(statement.status());
  }
  if (auto denied = CheckStatementAccess(*call.env->auth, call.caller, (*statement)->tables())) {
    return call.done(std::move(*denied));
  }
  if (!(*statement)->is_write()) {
    Result<json::array> rows = (*statement)->Query();
    if (!rows.ok()) return call.Fail(rows.status());
    return call.Reply(std::move(*rows));
  }
  Result<sql::CollectedWrite> write = (*statement)->Collect();
  if (!write.ok()) return call.Fail(write.status());
  statement->reset();  // the write is answered on the writer thread; nothing else needed
  const bool system = write->database == "system";
  const storage::WriteKind kind = write->kind;
  auto [handler, body] = AsRecordOperation(std::move(*write));
  if (auto denied = CheckAttributeWrite(*call.env->store, call.caller, kind, body)) {
    return call.done(std::move(*denied));
  }
  Operations::Done done = std::move(call.done);
  if (system) {  // direct writes to users or roles change who may do what
    done = [auth = call.env->auth, inner = std::move(done)](OpResult result) {
      auth->Invalidate();
      inner(std::move(result));
    };
  }
  handler(OpCall{call.env, std::move(call.caller), std::move(body), std::move(done)});
}

}  // namespace meshdb::ops
