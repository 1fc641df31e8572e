// Auth: the user handlers (add_user, alter_user, drop_user, list_users, user_info) and the
// token handlers (create_authentication_tokens, refresh_operation_token), with HarperDB's
// texts (HarperDB 4.7's users and roles operations).
#include <boost/json/serialize.hpp>
#include <chrono>
#include <string>
#include <utility>

#include "config/config.h"
#include "ops/auth_impl.h"
#include "security/hex.h"
#include "security/password.h"
#include "storage/store.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

constexpr uint64_t kDefaultOperationTokenS = 24 * 3600;
constexpr uint64_t kDefaultRefreshTokenS = 30 * 24 * 3600;
constexpr const char* kSecretFields[] = {"password", "hash", "refresh_token"};
constexpr const char* kSystemTableNames[] = {"hdb_user", "hdb_role", "hdb_nodes", "hdb_certificate",
                                             "hdb_info"};

uint64_t NowSeconds() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// A present, non-null, non-empty field (HarperDB's validate.js "presence").
bool Present(const json::object& body, const char* name) {
  const json::value* v = body.if_contains(name);
  return v != nullptr && !v->is_null() && !(v->is_string() && v->get_string().empty());
}

// What list_users and user_info show of a user row: HarperDB shows neither the secrets nor
// the row's hash function and timestamps.
void StripSecrets(json::object* user) {
  for (const char* field : kSecretFields) user->erase(field);
  for (const char* field : {"hash_function", "__createdtime__", "__updatedtime__"}) {
    user->erase(field);
  }
}

// list_users shows each role with the system tables it may read (read = super_user).
json::object RoleForListing(json::object role) {
  bool super_user = RoleFlag(role, "super_user");
  json::object tables;
  for (const char* table : kSystemTableNames) {
    tables[table] = json::object{{"read", super_user},
                                 {"insert", false},
                                 {"update", false},
                                 {"delete", false},
                                 {"attribute_permissions", json::array{}}};
  }
  json::value& perm = role["permission"];
  if (!perm.is_object()) perm = json::object{};
  perm.get_object()["system"] = json::object{{"tables", std::move(tables)}};
  return role;
}

}  // namespace

// --- Users ---

void AuthImpl::AddUser(OpCall call) {
  const json::object& body = call.body;
  if (!Present(body, "username"))
    return call.Fail(Status::InvalidArgument("Username can't be blank"));
  if (!Present(body, "password"))
    return call.Fail(Status::InvalidArgument("Password can't be blank"));
  if (!Present(body, "role")) return call.Fail(Status::InvalidArgument("Role can't be blank"));
  if (!Present(body, "active")) return call.Fail(Status::InvalidArgument("Active can't be blank"));
  if (!body.at("active").is_bool()) {
    return call.Fail(Status::InvalidArgument("Active must be a boolean"));
  }
  for (auto [field, label] :
       {std::pair{"username", "Username"}, {"password", "Password"}, {"role", "Role"}}) {
    const json::value& v = body.at(field);
    if (!v.is_string() && !v.is_number()) {
      return call.Fail(Status::InvalidArgument(std::string(label) + " must be a string"));
    }
  }
  std::string username = KeyText(body.at("username"));
  std::string password = KeyText(body.at("password"));
  std::string role_name = KeyText(body.at("role"));
  Result<std::optional<json::object>> role = FindRole(role_name);
  if (!role.ok()) return call.Fail(role.status());
  if (!role->has_value()) return call.Fail(Status::NotFound(role_name + " role not found"));
  const json::value* role_id = (*role)->if_contains("id");

  const security::HashFunction hash_function = HashFunctionForNewPasswords();
  json::object row{{"username", username},
                   {"password", security::HashPassword(password, hash_function)},
                   {"hash_function", security::HashFunctionName(hash_function)},
                   {"role", role_id != nullptr ? *role_id : json::value(role_name)},
                   {"active", body.at("active")}};
  auto request =
      OneOp(storage::WriteKind::kInsert, kUserTable, json::value(username), std::move(row));
  store_->WriteAsync(std::move(request),
                     [this, call = std::move(call), username](Result<storage::WriteResult> r) {
                       if (!r.ok()) return call.Fail(r.status());
                       if (r->outcomes.front() == storage::WriteOutcome::kSkipped) {
                         return call.Fail(Status::Conflict("User " + username + " already exists"));
                       }
                       Invalidate();
                       call.ReplyMessage(username + " successfully added");
                     });
}

void AuthImpl::AlterUser(OpCall call) {
  const json::object& body = call.body;
  // HarperDB throws these as plain errors (500); they are client errors, so 400 here.
  if (!Present(body, "username")) return call.Fail(Status::InvalidArgument("username is required"));
  std::string username = KeyText(body.at("username"));
  const json::value* password = body.if_contains("password");
  const json::value* role = body.if_contains("role");
  const json::value* active = body.if_contains("active");
  if (password != nullptr && password->is_null()) password = nullptr;
  if (role != nullptr && role->is_null()) role = nullptr;
  if (active != nullptr && active->is_null()) active = nullptr;
  if (password != nullptr && (!password->is_string() || password->get_string().find_first_not_of(
                                                            " \t\r\n") == json::string::npos)) {
    return call.Fail(Status::InvalidArgument("password cannot be an empty string"));
  }
  if (active != nullptr && !active->is_bool()) {
    return call.Fail(Status::InvalidArgument("active must be true or false"));
  }
  if (password == nullptr && role == nullptr && active == nullptr) {
    return call.Fail(Status::InvalidArgument(
        "nothing to update, must supply active, role or password to update"));
  }
  json::object fields;
  if (role != nullptr) {
    std::string role_name = KeyText(*role);
    Result<std::optional<json::object>> found = FindRole(role_name);
    if (!found.ok()) return call.Fail(found.status());
    if (!found->has_value()) {
      return call.Fail(
          Status::NotFound("Update failed.  Requested '" + role_name + "' role not found."));
    }
    const json::value* role_id = (*found)->if_contains("id");
    fields["role"] = role_id != nullptr ? *role_id : json::value(role_name);
  }
  if (password != nullptr) {
    security::HashFunction hash_function = HashFunctionForNewPasswords();
    fields["password"] = security::HashPassword(password->get_string(), hash_function);
    fields["hash_function"] = security::HashFunctionName(hash_function);
  }
  if (active != nullptr) fields["active"] = *active;

  auto request =
      OneOp(storage::WriteKind::kUpdate, kUserTable, json::value(username), std::move(fields));
  store_->WriteAsync(
      std::move(request), [this, call = std::move(call), username](Result<storage::WriteResult> r) {
        if (!r.ok()) return call.Fail(r.status());
        bool applied = r->outcomes.front() == storage::WriteOutcome::kApplied;
        if (applied) Invalidate();
        json::array updated, skipped;
        (applied ? updated : skipped).emplace_back(username);
        call.Reply(json::object{
            {"message", std::string("updated ") + (applied ? "1" : "0") + " of 1 records"},
            {"txn_time", r->txn_time_ms},
            {"update_hashes", std::move(updated)},
            {"skipped_hashes", std::move(skipped)}});
      });
}

void AuthImpl::DropUser(OpCall call) {
  if (!Present(call.body, "username")) {
    return call.Fail(Status::InvalidArgument("Username can't be blank"));
  }
  std::string username = KeyText(call.body.at("username"));
  Result<std::optional<json::object>> user = GetRow(kUserTable, username);
  if (!user.ok()) return call.Fail(user.status());
  if (!user->has_value())
    return call.Fail(Status::NotFound("User " + username + " does not exist"));
  auto request = OneOp(storage::WriteKind::kDelete, kUserTable, json::value(username), {});
  store_->WriteAsync(std::move(request),
                     [this, call = std::move(call), username](Result<storage::WriteResult> r) {
                       if (!r.ok()) return call.Fail(r.status());
                       Invalidate();
                       call.ReplyMessage(username + " successfully deleted");
                     });
}

void AuthImpl::ListUsers(OpCall call) {
  Result<std::vector<json::object>> users = ScanRows(kUserTable);
  if (!users.ok()) return call.Fail(users.status());
  Result<std::vector<json::object>> roles = ScanRows(kRoleTable);
  if (!roles.ok()) return call.Fail(roles.status());
  json::array out;
  out.reserve(users->size());
  for (json::object& user : *users) {
    StripSecrets(&user);
    if (json::value* role_id = user.if_contains("role")) {
      std::string id = KeyText(*role_id);
      for (const json::object& role : *roles) {
        const json::value* rid = role.if_contains("id");
        if (rid != nullptr && KeyText(*rid) == id) {
          *role_id = RoleForListing(role);
          break;
        }
      }
    }
    out.emplace_back(std::move(user));
  }
  call.Reply(std::move(out));
}

void AuthImpl::UserInfo(OpCall call) {
  if (call.caller.username.empty()) return call.Fail(Status::Unauthenticated("Must login"));
  Result<std::optional<json::object>> user = GetRow(kUserTable, call.caller.username);
  if (!user.ok()) return call.Fail(user.status());
  json::object info;
  if (user->has_value()) {
    info = std::move(**user);
  } else {
    info = json::object{{"username", call.caller.username}, {"active", true}};
  }
  StripSecrets(&info);
  info["role"] = call.caller.role;
  call.Reply(std::move(info));
}

// --- Tokens ---

uint64_t AuthImpl::OperationTokenLifetime() const {
  uint64_t s = config_ != nullptr ? config_->settings().operation_token_timeout_s : 0;
  return s > 0 ? s : kDefaultOperationTokenS;
}

uint64_t AuthImpl::RefreshTokenLifetime() const {
  uint64_t s = config_ != nullptr ? config_->settings().refresh_token_timeout_s : 0;
  return s > 0 ? s : kDefaultRefreshTokenS;
}

json::object AuthImpl::TokenPayload(const Caller& caller, const char* subject,
                                    uint64_t lifetime_s) const {
  uint64_t now = NowSeconds();
  // jti makes every token distinct, so a new refresh token never equals the one it replaces.
  return json::object{{"username", caller.username},
                      {"super_user", caller.super_user},
                      {"cluster_user", caller.cluster_user},
                      {"iat", now},
                      {"exp", now + lifetime_s},
                      {"sub", subject},
                      {"jti", security::RandomHex(8)}};
}

void AuthImpl::IssueTokens(const OpCall& call, const Caller& caller) {
  std::string operation_token =
      signer_->Sign(TokenPayload(caller, "operation", OperationTokenLifetime()));
  std::string refresh_token =
      signer_->Sign(TokenPayload(caller, "refresh", RefreshTokenLifetime()));
  // Storing the refresh token's hash invalidates the previous one.
  auto request = OneOp(storage::WriteKind::kUpdate, kUserTable, json::value(caller.username),
                       json::object{{"refresh_token", security::Sha256Hex(refresh_token)}});
  store_->WriteAsync(std::move(request),
                     [call, operation_token = std::move(operation_token),
                      refresh_token = std::move(refresh_token)](Result<storage::WriteResult> r) {
                       if (!r.ok()) return call.Fail(r.status());
                       if (r->outcomes.front() == storage::WriteOutcome::kSkipped) {
                         return call.Fail(Status::Unauthenticated("invalid credentials"));
                       }
                       call.Reply(json::object{{"operation_token", operation_token},
                                               {"refresh_token", refresh_token}});
                     });
}

void AuthImpl::CreateAuthenticationTokens(OpCall call) {
  const json::value* username = call.body.if_contains("username");
  const json::value* password = call.body.if_contains("password");
  if (username != nullptr || password != nullptr) {
    if (username == nullptr || password == nullptr || !password->is_string() ||
        username->is_null()) {
      return call.Fail(Status::Unauthenticated("invalid credentials"));
    }
    Result<Caller> who = LoginWithPassword(KeyText(*username), std::string(password->get_string()));
    if (!who.ok()) {
      if (who.status().message() == kUserInactive) return call.Fail(who.status());
      if (!who.status().IsUnauthenticated()) return call.Fail(who.status());
      return call.Fail(Status::Unauthenticated("invalid credentials"));
    }
    return IssueTokens(call, *who);
  }
  if (call.caller.username.empty()) return call.Fail(Status::Unauthenticated("Must login"));
  IssueTokens(call, call.caller);
}

void AuthImpl::RefreshOperationToken(OpCall call) {
  const json::value* token = call.body.if_contains("refresh_token");
  if (token == nullptr || !token->is_string() || token->get_string().empty()) {
    return call.Fail(Status::InvalidArgument("'refresh_token' is required"));
  }
  std::string refresh_token(token->get_string());
  Result<json::object> payload = signer_->Verify(refresh_token, NowSeconds());
  if (!payload.ok()) return call.Fail(payload.status());
  const json::value* sub = payload->if_contains("sub");
  if (sub == nullptr || !sub->is_string() || sub->get_string() != "refresh") {
    // An operation token where a refresh token belongs: HarperDB finds no refresh token.
    return call.Fail(Status::InvalidArgument("'refresh_token' is required"));
  }
  const json::value* name = payload->if_contains("username");
  if (name == nullptr) return call.Fail(Status::Unauthenticated("invalid token"));
  Result<std::optional<json::object>> user = GetRow(kUserTable, KeyText(*name));
  if (!user.ok()) return call.Fail(user.status());
  if (!user->has_value()) return call.Fail(Status::Unauthenticated("invalid token"));
  const json::value* stored = (*user)->if_contains("refresh_token");
  if (stored == nullptr || !stored->is_string() ||
      stored->get_string() != security::Sha256Hex(refresh_token)) {
    return call.Fail(Status::Unauthenticated("invalid token"));
  }
  const json::value* active = (*user)->if_contains("active");
  if (active == nullptr || !active->is_bool() || !active->get_bool()) {
    return call.Fail(Status::Unauthenticated(kUserInactive));
  }
  Result<Caller> who = CallerFor(**user);
  if (!who.ok()) return call.Fail(who.status());
  call.Reply(json::object{{"operation_token", signer_->Sign(TokenPayload(
                                                  *who, "operation", OperationTokenLifetime()))}});
}

}  // namespace meshdb::ops
