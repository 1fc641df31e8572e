#include "ops/dispatcher.h"

#include <chrono>
#include <string_view>
#include <unordered_map>

#include "common/json_parse.h"
#include "common/json_text.h"
#include "common/log.h"
#include "ops/attribute_permissions.h"
#include "ops/fields.h"
#include "ops/handlers.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

// What a caller needs on the table named in the body before the handler runs.
enum class Access { kNone, kRead, kInsert, kUpdate, kUpsert, kDelete };

struct OpSpec {
  // Either a free function or an Auth member handles the operation.
  Handler handler = nullptr;
  void (Auth::*auth_handler)(OpCall) = nullptr;
  // Non-null: only super_user roles may call it; HarperDB names its internal function here.
  const char* super_user_name = nullptr;
  Access access = Access::kNone;
};

const std::unordered_map<std::string_view, OpSpec>& OperationTable() {
  static const auto* table = new std::unordered_map<std::string_view, OpSpec>{
      // Databases and tables.
      {"create_database", {CreateDatabase, nullptr, "createSchema"}},
      {"create_schema", {CreateDatabase, nullptr, "createSchema"}},
      {"drop_database", {DropDatabase, nullptr, "dropSchema"}},
      {"drop_schema", {DropDatabase, nullptr, "dropSchema"}},
      {"create_table", {CreateTable, nullptr, "createTable"}},
      {"drop_table", {DropTable, nullptr, "dropTable"}},
      {"create_attribute", {CreateAttribute, nullptr, nullptr, Access::kInsert}},
      {"describe_all", {DescribeAll}},
      {"describe_database", {DescribeDatabase}},
      {"describe_schema", {DescribeDatabase}},
      {"describe_table", {DescribeTable}},
      // Records.
      {"insert", {Insert, nullptr, nullptr, Access::kInsert}},
      {"update", {Update, nullptr, nullptr, Access::kUpdate}},
      {"upsert", {Upsert, nullptr, nullptr, Access::kUpsert}},
      {"delete", {Delete, nullptr, nullptr, Access::kDelete}},
      {"search_by_id", {SearchById, nullptr, nullptr, Access::kRead}},
      {"search_by_hash", {SearchById, nullptr, nullptr, Access::kRead}},
      {"search_by_value", {SearchByValue, nullptr, nullptr, Access::kRead}},
      {"search_by_conditions", {SearchByConditions, nullptr, nullptr, Access::kRead}},
      // Checks each table the statement names itself (sql_ops.cc).
      {"sql", {Sql}},
      // Users, roles, tokens.
      {"add_role", {nullptr, &Auth::AddRole, "addRole"}},
      {"alter_role", {nullptr, &Auth::AlterRole, "alterRole"}},
      {"drop_role", {nullptr, &Auth::DropRole, "dropRole"}},
      {"list_roles", {nullptr, &Auth::ListRoles, "listRoles"}},
      {"add_user", {nullptr, &Auth::AddUser, "addUser"}},
      {"alter_user", {nullptr, &Auth::AlterUser, "alterUser"}},
      {"drop_user", {nullptr, &Auth::DropUser, "dropUser"}},
      {"list_users", {nullptr, &Auth::ListUsers, "listUsersExternal"}},
      {"user_info", {nullptr, &Auth::UserInfo}},
      {"create_authentication_tokens", {nullptr, &Auth::CreateAuthenticationTokens}},
      {"refresh_operation_token", {nullptr, &Auth::RefreshOperationToken}},
      // Certificates (system.hdb_certificate).
      {"add_certificate", {AddCertificate, nullptr, "addCertificate"}},
      {"list_certificates", {ListCertificates, nullptr, "listCertificates"}},
      {"remove_certificate", {RemoveCertificate, nullptr, "removeCertificate"}},
      // The node.
      {"system_information", {SystemInformation, nullptr, "systemInformation"}},
      {"get_configuration", {GetConfiguration, nullptr, "getConfiguration"}},
      {"set_configuration", {SetConfiguration, nullptr, "setConfiguration"}},
      {"read_log", {ReadLog, nullptr, "readLog"}},
      {"restart", {Restart, nullptr, "restart"}},
  };
  return *table;
}

constexpr std::string_view kMissingOperation = "Request body must include an 'operation' property.";

// System tables that a super_user may write directly, as HarperDB allows.
bool IsWritableSystemTable(std::string_view table) {
  return table == "hdb_nodes" || table == "hdb_role" || table == "hdb_user";
}

// Asks `auth` whether `caller` holds the table permissions `access` needs.
std::optional<OpResult> CheckAccess(Auth& auth, const Caller& caller, const std::string& database,
                                    const std::string& table, Access access) {
  switch (access) {
    case Access::kRead:
      return auth.CheckTableAccess(caller, database, table, {TableAccess::kRead});
    case Access::kInsert:
      return auth.CheckTableAccess(caller, database, table, {TableAccess::kInsert});
    case Access::kUpdate:
      return auth.CheckTableAccess(caller, database, table, {TableAccess::kUpdate});
    case Access::kUpsert:
      return auth.CheckTableAccess(caller, database, table,
                                   {TableAccess::kInsert, TableAccess::kUpdate});
    case Access::kDelete:
      return auth.CheckTableAccess(caller, database, table, {TableAccess::kDelete});
    case Access::kNone:
      break;
  }
  return std::nullopt;
}

// The role's attribute permissions for db.table (ops/attribute_permissions.h), after the
// table-level check passed: nullopt when the request may go on. A search's answer is then
// passed through AttributePermissions::FilterRows by wrapping `done`.
std::optional<OpResult> CheckAttributeAccess(const Caller& caller, const storage::Store& store,
                                             const std::string& database, const std::string& table,
                                             Access access, const json::object& body,
                                             Operations::Done& done) {
  Result<storage::TableDef> def = store.GetTable(database, table);
  if (!def.ok()) return std::nullopt;  // the operation answers that itself
  std::optional<AttributePermissions> rules = AttributePermissions::For(caller, *def);
  if (!rules) return std::nullopt;
  const json::value* records = body.if_contains("records");
  const json::array no_records;
  const json::array& written =
      records != nullptr && records->is_array() ? records->get_array() : no_records;
  switch (access) {
    case Access::kRead:
      if (auto denied = rules->CheckRead(AttributesReadBy(body))) return denied;
      done = [rules = std::move(*rules), inner = std::move(done)](OpResult result) {
        if (result.status.ok()) rules.FilterRows(result.body);
        inner(std::move(result));
      };
      return std::nullopt;
    case Access::kInsert:
      return rules->CheckWrite(storage::WriteKind::kInsert, written);
    case Access::kUpdate:
      return rules->CheckWrite(storage::WriteKind::kUpdate, written);
    case Access::kUpsert:
      return rules->CheckWrite(storage::WriteKind::kUpsert, written);
    case Access::kDelete:
    case Access::kNone:
      break;
  }
  return std::nullopt;
}

const char* AccessWord(Access access) {
  switch (access) {
    case Access::kInsert:
      return "insert";
    case Access::kUpdate:
    case Access::kUpsert:  // reported as "update", as before
      return "update";
    case Access::kDelete:
      return "delete";
    default:
      return "read";
  }
}

OpResult Error(Status status, json::value extra = nullptr) {
  return OpResult{std::move(status), std::move(extra), false};
}

OpResult ParseError(const boost::system::error_code& ec, size_t position, size_t size) {
  if (position >= size) return Error(Status::InvalidArgument("Unexpected end of JSON input"));
  return Error(
      Status::InvalidArgument(ec.message() + " in JSON at position " + std::to_string(position)));
}

// Wraps an operation's completion to record its outcome and time (OpMetrics).
struct RecordingDone {
  Operations::Done inner;
  OpMetrics::Slot* slot;  // set once the operation's name is known
  std::chrono::steady_clock::time_point started;
  void operator()(OpResult result) const {
    slot->Record(result.status, std::chrono::steady_clock::now() - started);
    inner(std::move(result));
  }
};

}  // namespace

Dispatcher::Dispatcher(OpEnv env, std::unique_ptr<Auth> auth) : auth_(std::move(auth)), env_(env) {
  env_.auth = auth_.get();
  for (const auto& [name, spec] : OperationTable()) metrics_.Register(name);
}

void Dispatcher::RegisterOperation(std::string name, std::function<void(OpCall)> handler,
                                   const char* super_user_name) {
  metrics_.Register(name);
  added_[std::move(name)] = AddedOperation{std::move(handler), super_user_name};
}

void Dispatcher::Execute(OpRequest request, Done done) {
  // Every answer below goes through the recorder; its slot is set as soon as the name is
  // known, before `done` is moved anywhere (the target stays where std::function put it).
  RecordingDone* recorder = nullptr;
  if (metrics::RecordingEnabled()) {
    done = RecordingDone{std::move(done), metrics_.Find(""), std::chrono::steady_clock::now()};
    recorder = done.target<RecordingDone>();
  }
  // 1. The body must be a JSON object naming an operation (before authentication, as
  //    HarperDB parses first).
  boost::system::error_code ec;
  ParseJsonInfo info;
  json::value parsed = ParseJson(request.body, ec, &info);
  if (ec) return done(ParseError(ec, info.consumed, request.body.size()));
  // Nothing may store a number that JSON text cannot carry back (it would poison the table
  // and every peer replicating it).
  if (info.non_finite) {  // (a later duplicate key may have replaced it: walk to be sure)
    if (std::optional<std::string> path = FindNonFiniteNumber(parsed)) {
      return done(Error(Status::InvalidArgument(
          "'" + *path +
          "' is a number out of range: JSON numbers must fit a double (magnitude up to about "
          "1.8e308)")));
    }
  }
  if (!parsed.is_object())
    return done(Error(Status::InvalidArgument(std::string(kMissingOperation))));
  json::object body = std::move(parsed.get_object());
  if (body.empty()) {
    return done(
        Error(Status::InvalidArgument(std::string(kMissingOperation)),
              json::object{
                  {"statusCode", 400}, {"error", "Bad Request"}, {"message", kMissingOperation}}));
  }
  auto op_it = body.find("operation");
  if (op_it == body.end())
    return done(Error(Status::InvalidArgument(std::string(kMissingOperation))));
  if (!op_it->value().is_string()) {
    return done(Error(Status::InvalidArgument("'operation' must be a string")));
  }
  const std::string operation(op_it->value().get_string());
  if (recorder != nullptr) recorder->slot = metrics_.Find(operation);

  // 2. Who is calling. Two operations authenticate by what the body carries instead.
  Caller caller;
  bool self_authenticating =
      (operation == "create_authentication_tokens" && body.contains("username") &&
       body.contains("password")) ||
      (operation == "refresh_operation_token" && request.authorization.rfind("Bearer ", 0) == 0);
  if (operation == "refresh_operation_token" && self_authenticating &&
      !body.contains("refresh_token")) {
    body["refresh_token"] = request.authorization.substr(7);
  }
  if (!self_authenticating) {
    Result<Caller> who = auth_->Authenticate(request.authorization, request.remote_address, body);
    if (!who.ok()) return done(Error(who.status()));
    caller = std::move(who).value();
  }

  // 3. Which operation, and may the caller run it.
  const auto& table = OperationTable();
  auto spec_it = table.find(operation);
  auto added_it = added_.find(operation);
  if (spec_it == table.end() && added_it == added_.end()) {
    return done(Error(Status::InvalidArgument("Operation '" + operation + "' not found")));
  }
  OpSpec added_spec;
  if (added_it != added_.end()) added_spec.super_user_name = added_it->second.super_user_name;
  const OpSpec& spec = added_it != added_.end() ? added_spec : spec_it->second;
  if (spec.super_user_name != nullptr && !caller.super_user) {
    return done(Error(Status::PermissionDenied("This operation is not authorized due to role "
                                               "restrictions and/or invalid database items"),
                      json::object{{"unauthorized_access",
                                    json::array{std::string("Operation '") + spec.super_user_name +
                                                "' is restricted to 'super_user' roles"}},
                                   {"invalid_schema_items", json::array{}}}));
  }
  if (spec.access != Access::kNone) {
    Result<std::string> database = DatabaseField(body);
    auto table_it = body.find("table");
    if (database.ok() && table_it != body.end() && table_it->value().is_string()) {
      std::string table_name(table_it->value().get_string());
      bool writes = spec.access != Access::kRead;
      if (writes && *database == "system" && !IsWritableSystemTable(table_name)) {
        return done(Error(
            Status::PermissionDenied("This operation is not authorized due to role restrictions "
                                     "and/or invalid database items"),
            json::object{{"unauthorized_access",
                          json::array{json::object{
                              {"schema", "system"},
                              {"table", table_name},
                              {"required_table_permissions", json::array{AccessWord(spec.access)}},
                              {"required_attribute_permissions", json::array{}}}}},
                         {"invalid_schema_items", json::array{}}}));
      }
      if (!caller.super_user) {
        if (auto denied = CheckAccess(*auth_, caller, *database, table_name, spec.access)) {
          return done(std::move(*denied));
        }
        if (auto denied = CheckAttributeAccess(caller, *env_.store, *database, table_name,
                                               spec.access, body, done)) {
          return done(std::move(*denied));
        }
      }
      // Direct writes to users or roles change who may do what: drop cached logins.
      if (writes && *database == "system") {
        done = [auth = auth_.get(), inner = std::move(done)](OpResult result) {
          auth->Invalidate();
          inner(std::move(result));
        };
      }
    }
  }

  // 4. Run it.
  OpCall call{&env_, std::move(caller), std::move(body), std::move(done)};
  if (added_it != added_.end()) {
    added_it->second.handler(std::move(call));
  } else if (spec.handler != nullptr) {
    spec.handler(std::move(call));
  } else {
    (auth_.get()->*spec.auth_handler)(std::move(call));
  }
}

void Dispatcher::ExecuteFannedOut(json::object body, Done done) {
  const json::value* op = body.if_contains("operation");
  const std::string operation =
      op != nullptr && op->is_string() ? std::string(op->get_string()) : "";
  Handler handler = operation == "add_certificate"      ? AddCertificate
                    : operation == "remove_certificate" ? RemoveCertificate
                                                        : nullptr;
  if (handler == nullptr) {
    return done(Error(Status::InvalidArgument(
        "'" + operation + "' is not an operation members fan out to each other")));
  }
  if (body.contains("private_key")) {
    return done(Error(Status::InvalidArgument("a private key is never sent between nodes")));
  }
  body.erase("replicated");
  Caller caller;
  caller.username = "cluster member";
  caller.super_user = true;
  handler(OpCall{&env_, std::move(caller), std::move(body), std::move(done)});
}

}  // namespace meshdb::ops
