// Auth: the role handlers (add_role, alter_role, drop_role, list_roles) and the validation of
// role permission JSON, with HarperDB's texts (HarperDB 4.7's users and roles operations).
#include <boost/json/serialize.hpp>
#include <string>
#include <utility>

#include "ops/auth_impl.h"
#include "storage/store.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

constexpr char kPermissionErrors[] = "Errors in the role permissions JSON provided";
constexpr const char* kTablePermissions[] = {"read", "insert", "update", "delete"};

bool IsRoleFlag(std::string_view key) {
  return key == "super_user" || key == "cluster_user" || key == "structure_user";
}

}  // namespace

void AuthImpl::ValidatePermission(const json::object& body, json::array* main_errors,
                                  json::object* schema_errors) const {
  const json::value* role = body.if_contains("role");
  if (role == nullptr || !role->is_string() || role->get_string().empty()) {
    main_errors->emplace_back("Role can't be blank");
  }
  const json::value* perm_value = body.if_contains("permission");
  if (perm_value == nullptr || !perm_value->is_object()) {
    main_errors->emplace_back("Permission can't be blank");
    return;
  }
  const json::object& perm = perm_value->get_object();
  for (const char* flag : {"super_user", "cluster_user"}) {
    const json::value* v = perm.if_contains(flag);
    if (v != nullptr && !v->is_bool()) {
      main_errors->emplace_back(std::string("Value for '") + flag +
                                "' permission must be a boolean");
    }
  }
  if (const json::value* v = perm.if_contains("structure_user");
      v != nullptr && !v->is_bool() && !v->is_array()) {
    main_errors->emplace_back(
        "Value for 'structure_user' permission must be a boolean or an array of database names");
  }
  const json::value* super_user = perm.if_contains("super_user");
  bool is_super = super_user != nullptr && super_user->is_bool() && super_user->get_bool();
  bool has_databases = false;
  for (const auto& entry : perm) {
    if (!IsRoleFlag(entry.key())) has_databases = true;
  }
  if (is_super && has_databases) {
    main_errors->emplace_back(
        "Roles with 'super_user' set to true cannot have other permissions set.");
  }

  for (const auto& entry : perm) {
    if (IsRoleFlag(entry.key())) continue;
    std::string database(entry.key());
    const json::value* tables =
        entry.value().is_object() ? entry.value().get_object().if_contains("tables") : nullptr;
    if (tables == nullptr || !tables->is_object()) {
      main_errors->emplace_back("Missing 'tables' for database '" + database + "'");
      continue;
    }
    if (!store_->ListTables(database).ok()) {
      main_errors->emplace_back("Database '" + database + "' does not exist");
      continue;
    }
    for (const auto& table_entry : tables->get_object()) {
      std::string table(table_entry.key());
      if (!store_->GetTable(database, table).ok()) {
        main_errors->emplace_back("Table '" + database + "." + table + "' does not exist");
        continue;
      }
      json::array table_errors;
      if (!table_entry.value().is_object()) {
        table_errors.emplace_back("Table permissions must be an object");
      } else {
        const json::object& tp = table_entry.value().get_object();
        for (const char* name : kTablePermissions) {
          const json::value* v = tp.if_contains(name);
          if (v != nullptr && !v->is_bool()) {
            table_errors.emplace_back(std::string("Value for '") + name +
                                      "' permission must be a boolean");
          }
        }
        const json::value* attrs = tp.if_contains("attribute_permissions");
        if (attrs != nullptr && !attrs->is_array() && !attrs->is_null()) {
          table_errors.emplace_back("'attribute_permissions' must be an array");
        }
      }
      if (!table_errors.empty()) (*schema_errors)[database + "." + table] = std::move(table_errors);
    }
  }
}

void AuthImpl::AddRole(OpCall call) {
  json::array main_errors;
  json::object schema_errors;
  ValidatePermission(call.body, &main_errors, &schema_errors);
  if (!main_errors.empty() || !schema_errors.empty()) {
    return call.Fail(Status::InvalidArgument(kPermissionErrors),
                     json::object{{"main_permissions", std::move(main_errors)},
                                  {"schema_permissions", std::move(schema_errors)}});
  }
  std::string role(call.body.at("role").get_string());
  json::value id(role);
  if (const json::value* given = call.body.if_contains("id");
      given != nullptr &&
      ((given->is_string() && !given->get_string().empty()) || given->is_number())) {
    id = *given;
  }
  Result<std::optional<json::object>> existing = FindRole(role);
  if (!existing.ok()) return call.Fail(existing.status());
  std::string conflict = "A role with name '" + role + "' already exists";
  if (existing->has_value()) return call.Fail(Status::Conflict(conflict));

  json::object row{{"id", id}, {"role", role}, {"permission", call.body.at("permission")}};
  auto request = OneOp(storage::WriteKind::kInsert, kRoleTable, id, row);
  store_->WriteAsync(std::move(request), [this, call = std::move(call), row = std::move(row),
                                          conflict](Result<storage::WriteResult> r) mutable {
    if (!r.ok()) return call.Fail(r.status());
    if (r->outcomes.front() == storage::WriteOutcome::kSkipped) {
      return call.Fail(Status::Conflict(conflict));
    }
    Invalidate();
    row["__createdtime__"] = r->txn_time_ms;
    row["__updatedtime__"] = r->txn_time_ms;
    call.Reply(std::move(row));
  });
}

Result<json::object> AuthImpl::ExistingRole(const json::object& body, std::string* id_text) const {
  const json::value* id = body.if_contains("id");
  if (id == nullptr || id->is_null() || (id->is_string() && id->get_string().empty())) {
    return Status::InvalidArgument("Role id can't be blank");
  }
  *id_text = KeyText(*id);
  ASSIGN_OR_RETURN(std::optional<json::object> row, GetRow(kRoleTable, *id_text));
  if (!row) return Status::NotFound("Role '" + *id_text + "' does not exist");
  return std::move(*row);
}

void AuthImpl::AlterRole(OpCall call) {
  std::string id_text;
  Result<json::object> existing = ExistingRole(call.body, &id_text);
  if (!existing.ok()) return call.Fail(existing.status());
  const json::value& id = call.body.at("id");  // present: ExistingRole checked it
  json::object merged = std::move(existing).value();
  for (const char* field : {"role", "permission"}) {
    if (const json::value* v = call.body.if_contains(field)) merged[field] = *v;
  }
  json::array main_errors;
  json::object schema_errors;
  ValidatePermission(merged, &main_errors, &schema_errors);
  if (!main_errors.empty() || !schema_errors.empty()) {
    return call.Fail(Status::InvalidArgument(kPermissionErrors),
                     json::object{{"main_permissions", std::move(main_errors)},
                                  {"schema_permissions", std::move(schema_errors)}});
  }
  // A new name must not be another role's.
  std::string name(merged.at("role").get_string());
  Result<std::optional<json::object>> same_name = FindRole(name);
  if (!same_name.ok()) return call.Fail(same_name.status());
  if (same_name->has_value()) {
    const json::value* other_id = (*same_name)->if_contains("id");
    if (other_id != nullptr && KeyText(*other_id) != id_text) {
      return call.Fail(Status::Conflict("A role with name '" + name + "' already exists"));
    }
  }
  json::object fields{{"role", merged.at("role")}, {"permission", merged.at("permission")}};
  auto request = OneOp(storage::WriteKind::kUpdate, kRoleTable, id, std::move(fields));
  store_->WriteAsync(std::move(request), [this, call = std::move(call), merged = std::move(merged),
                                          id_text](Result<storage::WriteResult> r) mutable {
    if (!r.ok()) return call.Fail(r.status());
    if (r->outcomes.front() == storage::WriteOutcome::kSkipped) {
      return call.Fail(Status::NotFound("Role '" + id_text + "' does not exist"));
    }
    Invalidate();
    merged["__updatedtime__"] = r->txn_time_ms;
    call.Reply(std::move(merged));
  });
}

void AuthImpl::DropRole(OpCall call) {
  std::string id_text;
  Result<json::object> existing = ExistingRole(call.body, &id_text);
  if (!existing.ok()) return call.Fail(existing.status());
  const json::value& id = call.body.at("id");  // present: ExistingRole checked it
  const json::value* name_value = existing->if_contains("role");
  std::string name = name_value != nullptr ? KeyText(*name_value) : id_text;
  Result<std::vector<json::object>> users = ScanRows(kUserTable);
  if (!users.ok()) return call.Fail(users.status());
  for (const json::object& user : *users) {
    const json::value* role = user.if_contains("role");
    if (role != nullptr && KeyText(*role) == id_text) {
      return call.Fail(
          Status::Conflict("Cannot drop role '" + name + "' as it has users assigned to it"));
    }
  }
  auto request = OneOp(storage::WriteKind::kDelete, kRoleTable, id, {});
  store_->WriteAsync(std::move(request),
                     [this, call = std::move(call), name](Result<storage::WriteResult> r) {
                       if (!r.ok()) return call.Fail(r.status());
                       Invalidate();
                       call.ReplyMessage(name + " successfully deleted");
                     });
}

void AuthImpl::ListRoles(OpCall call) {
  Result<std::vector<json::object>> roles = ScanRows(kRoleTable);
  if (!roles.ok()) return call.Fail(roles.status());
  json::array out;
  out.reserve(roles->size());
  for (json::object& row : *roles) out.emplace_back(std::move(row));
  call.Reply(std::move(out));
}

}  // namespace meshdb::ops
