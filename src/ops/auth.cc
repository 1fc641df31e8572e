// Auth: bootstrap of the system database, authentication and table permission checks.
// The operation handlers are in auth_roles.cc and auth_users.cc.
#include "ops/auth.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <utility>

#include "common/log.h"
#include "config/config.h"
#include "ops/auth_impl.h"
#include "ops/node_operations.h"
#include "security/base64.h"
#include "security/password.h"
#include "storage/store.h"

namespace meshdb::ops {

namespace json = boost::json;

namespace {

constexpr char kMustLogin[] = "Must login";
constexpr char kLoginFailed[] = "Login failed";

struct SystemTable {
  const char* name;
  const char* primary_key;
  bool replicate;
};
constexpr SystemTable kSystemTables[] = {
    {"hdb_user", "username", true},     {"hdb_role", "id", true},       {"hdb_nodes", "name", true},
    {"hdb_certificate", "name", false}, {"hdb_info", "info_id", false},
};
constexpr char kVersion[] = "meshdb 0.1.0";

bool IsLoopback(std::string_view address) {
  if (address == "::1" || address == "[::1]") return true;
  // HarperDB tests for "127.0.0." anywhere (so IPv4-mapped ::ffff:127.0.0.1 counts).
  return address.find("127.0.0.") != std::string_view::npos;
}

OpResult Denied(json::array unauthorized, json::array invalid) {
  return OpResult{Status::PermissionDenied(kNotAuthorized),
                  json::object{{"unauthorized_access", std::move(unauthorized)},
                               {"invalid_schema_items", std::move(invalid)}},
                  false};
}

OpResult TableDenied(const std::string& database, const std::string& table,
                     const json::array& missing) {
  return Denied(json::array{json::object{{"schema", database},
                                         {"table", table},
                                         {"required_table_permissions", missing},
                                         {"required_attribute_permissions", json::array{}}}},
                json::array{});
}

bool IsWritableSystemTable(std::string_view table) {
  return table == "hdb_nodes" || table == "hdb_role" || table == "hdb_user";
}

// The role's permission object for db.table, or nullptr when the role names none.
const json::object* TablePermission(const Caller& caller, const std::string& database,
                                    const std::string& table) {
  const json::value* db = caller.permission().if_contains(database);
  if (db == nullptr || !db->is_object()) return nullptr;
  const json::value* tables = db->get_object().if_contains("tables");
  if (tables == nullptr || !tables->is_object()) return nullptr;
  const json::value* perm = tables->get_object().if_contains(table);
  if (perm == nullptr || !perm->is_object()) return nullptr;
  return &perm->get_object();
}

bool Granted(const json::object& perm, const char* name) {
  const json::value* v = perm.if_contains(name);
  return v != nullptr && v->is_bool() && v->get_bool();
}

}  // namespace

const char* TableAccessName(TableAccess access) {
  switch (access) {
    case TableAccess::kRead:
      return "read";
    case TableAccess::kInsert:
      return "insert";
    case TableAccess::kUpdate:
      return "update";
    case TableAccess::kDelete:
      return "delete";
  }
  return "read";
}

bool RoleFlag(const json::object& role_row, const char* flag) {
  const json::value* perm = role_row.if_contains("permission");
  if (perm == nullptr || !perm->is_object()) return false;
  const json::value* v = perm->get_object().if_contains(flag);
  return v != nullptr && v->is_bool() && v->get_bool();
}

Result<std::unique_ptr<Auth>> Auth::Create(storage::Store* store, const config::Config* config,
                                           const std::string& keys_dir) {
  ASSIGN_OR_RETURN(auto signer, security::TokenSigner::LoadOrCreate(keys_dir));
  return std::unique_ptr<Auth>(std::make_unique<AuthImpl>(store, config, std::move(signer)));
}

AuthImpl::AuthImpl(storage::Store* store, const config::Config* config,
                   std::unique_ptr<security::TokenSigner> signer)
    : store_(store), config_(config), signer_(std::move(signer)) {}

// --- Storage helpers ---

Result<std::optional<json::object>> AuthImpl::GetRow(const char* table,
                                                     const std::string& key) const {
  ASSIGN_OR_RETURN(auto snap, store_->Read(kSystemDb));
  ASSIGN_OR_RETURN(std::optional<storage::Record> rec, snap->Get(table, json::value(key)));
  if (!rec) return std::optional<json::object>();
  return std::optional<json::object>(std::move(rec->doc));
}

Result<std::vector<json::object>> AuthImpl::ScanRows(const char* table) const {
  ASSIGN_OR_RETURN(auto snap, store_->Read(kSystemDb));
  std::vector<json::object> rows;
  RETURN_IF_ERROR(snap->ScanTable(table, [&](const storage::Record& r) {
    rows.push_back(r.doc);
    return true;
  }));
  return rows;
}

Result<std::optional<json::object>> AuthImpl::FindRole(const std::string& name_or_id) const {
  ASSIGN_OR_RETURN(std::vector<json::object> roles, ScanRows(kRoleTable));
  for (json::object& row : roles) {
    const json::value* name = row.if_contains("role");
    if (name != nullptr && name->is_string() && name->get_string() == name_or_id) {
      return std::optional<json::object>(std::move(row));
    }
  }
  for (json::object& row : roles) {
    const json::value* id = row.if_contains("id");
    if (id != nullptr && KeyText(*id) == name_or_id) {
      return std::optional<json::object>(std::move(row));
    }
  }
  return std::optional<json::object>();
}

Result<Caller> AuthImpl::CallerFor(const json::object& user_row) const {
  Caller caller;
  const json::value* name = user_row.if_contains("username");
  if (name != nullptr) caller.username = KeyText(*name);
  const json::value* role_id = user_row.if_contains("role");
  if (role_id != nullptr && !role_id->is_null()) {
    ASSIGN_OR_RETURN(std::optional<json::object> role, GetRow(kRoleTable, KeyText(*role_id)));
    if (role) caller.role = std::move(*role);
  }
  caller.super_user = RoleFlag(caller.role, "super_user");
  caller.cluster_user = RoleFlag(caller.role, "cluster_user");
  return caller;
}

// --- Bootstrap ---

Status AuthImpl::Bootstrap(const std::string& admin_username, const std::string& admin_password) {
  for (const SystemTable& t : kSystemTables) {
    if (store_->GetTable(kSystemDb, t.name).ok()) continue;
    storage::TableDef def;
    def.database = kSystemDb;
    def.name = t.name;
    def.primary_key = t.primary_key;
    def.replicate = t.replicate;
    Status s = store_->CreateTable(def);
    // Another caller (or replication) may have created it meanwhile.
    if (!s.ok() && !s.IsConflict()) return s.WithPrefix(std::string("creating system.") + t.name);
  }

  storage::WriteRequest request;
  request.database = kSystemDb;
  auto insert = [&](const char* table, json::value key, json::object fields) {
    storage::WriteOp op;
    op.kind = storage::WriteKind::kInsert;  // skipped when the row exists
    op.table = table;
    op.key = std::move(key);
    op.fields = std::move(fields);
    request.ops.push_back(std::move(op));
  };
  insert(
      "hdb_info", 1,
      json::object{{"info_id", 1}, {"data_version_num", kVersion}, {"hdb_version_num", kVersion}});
  insert(kRoleTable, "super_user",
         json::object{{"id", "super_user"},
                      {"role", "super_user"},
                      {"permission", json::object{{"super_user", true}}}});
  insert(kRoleTable, "cluster_user",
         json::object{{"id", "cluster_user"},
                      {"role", "cluster_user"},
                      {"permission", json::object{{"cluster_user", true}}}});
  ASSIGN_OR_RETURN(std::vector<json::object> users, ScanRows(kUserTable));
  bool create_admin = users.empty();
  const security::HashFunction hash_function = HashFunctionForNewPasswords();
  if (create_admin) {
    insert(kUserTable, json::value(admin_username),
           json::object{{"username", admin_username},
                        {"password", security::HashPassword(admin_password, hash_function)},
                        {"hash_function", security::HashFunctionName(hash_function)},
                        {"role", "super_user"},
                        {"active", true}});
  }
  Result<storage::WriteResult> written = store_->Write(std::move(request));
  if (!written.ok()) return written.status().WithPrefix("bootstrapping the system database");
  if (create_admin && written->outcomes.back() == storage::WriteOutcome::kApplied) {
    log::For("ops")->info("created admin user '{}'", admin_username);
  }
  Invalidate();
  return WarnAboutDefaultPasswords();
}

Status AuthImpl::WarnAboutDefaultPasswords() const {
  ASSIGN_OR_RETURN(std::vector<json::object> users, ScanRows(kUserTable));
  for (const json::object& user : users) {
    const json::value* active = user.if_contains("active");
    if (active == nullptr || !active->is_bool() || !active->get_bool() ||
        !PasswordMatches(user, kDefaultAdminPassword)) {
      continue;
    }
    ASSIGN_OR_RETURN(Caller caller, CallerFor(user));
    if (!caller.super_user) continue;
    // Names the user, never the password: no secret reaches a log line, not even a
    // well-known one.
    log::For("ops")->warn(
        "super_user '{}' still has the default password: anyone who can reach this node can "
        "log in as it. Change it with alter_user (or set HDB_ADMIN_PASSWORD before the first "
        "start)",
        caller.username);
  }
  return Status::Ok();
}

// --- Authentication ---

security::HashFunction AuthImpl::HashFunctionForNewPasswords() const {
  if (config_ == nullptr) return security::HashFunction::kSha256;
  // Config validation admits only the three names, so the fallback is never taken.
  return security::HashFunctionFromName(config_->settings().hash_function)
      .value_or(security::HashFunction::kSha256);
}

bool AuthImpl::PasswordMatches(const json::object& user, std::string_view password) {
  const json::value* stored = user.if_contains("password");
  if (stored == nullptr || !stored->is_string()) return false;
  std::optional<security::HashFunction> function = security::HashFunction::kSha256;
  if (const json::value* name = user.if_contains("hash_function");
      name != nullptr && !name->is_null()) {
    function =
        name->is_string() ? security::HashFunctionFromName(name->get_string()) : std::nullopt;
    if (!function) {
      log::For("ops")->warn("user '{}' has an unknown hash_function; nobody can log in as it",
                            user.contains("username") ? KeyText(user.at("username")) : "?");
      return false;
    }
  }
  return security::VerifyPassword(password, stored->get_string(), *function);
}

uint64_t AuthImpl::CacheTtlMs() const {
  return config_ != nullptr ? config_->settings().auth_cache_ttl_ms : 30000;
}

bool AuthImpl::AuthorizeLocal() const {
  return config_ != nullptr && config_->settings().authorize_local;
}

Result<Caller> AuthImpl::LoginWithPassword(const std::string& username,
                                           const std::string& password) const {
  ASSIGN_OR_RETURN(std::optional<json::object> user, GetRow(kUserTable, username));
  if (!user) return Status::Unauthenticated(kLoginFailed);
  if (!PasswordMatches(*user, password)) return Status::Unauthenticated(kLoginFailed);
  const json::value* active = user->if_contains("active");
  if (active == nullptr || !active->is_bool() || !active->get_bool()) {
    return Status::Unauthenticated(kUserInactive);
  }
  return CallerFor(*user);
}

Result<Caller> AuthImpl::LoginWithOperationToken(const std::string& token) const {
  auto now_s = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
  ASSIGN_OR_RETURN(json::object payload, signer_->Verify(token, now_s));
  const json::value* sub = payload.if_contains("sub");
  const json::value* name = payload.if_contains("username");
  if (sub == nullptr || !sub->is_string() || sub->get_string() != "operation" || name == nullptr) {
    return Status::Unauthenticated("invalid token");
  }
  ASSIGN_OR_RETURN(std::optional<json::object> user, GetRow(kUserTable, KeyText(*name)));
  if (!user) return Status::Unauthenticated("invalid token");
  const json::value* active = user->if_contains("active");
  if (active == nullptr || !active->is_bool() || !active->get_bool()) {
    return Status::Unauthenticated(kUserInactive);
  }
  return CallerFor(*user);
}

Result<Caller> AuthImpl::FirstSuperUser() const {
  ASSIGN_OR_RETURN(std::vector<json::object> users, ScanRows(kUserTable));
  for (const json::object& user : users) {
    const json::value* active = user.if_contains("active");
    if (active == nullptr || !active->is_bool() || !active->get_bool()) continue;
    ASSIGN_OR_RETURN(Caller caller, CallerFor(user));
    if (caller.super_user) return caller;
  }
  return Status::Unauthenticated(kMustLogin);
}

Result<Caller> AuthImpl::Authenticate(const std::string& authorization,
                                      const std::string& remote_address, const json::object& body) {
  if (authorization.empty()) {
    const json::value* user = body.if_contains("username");
    const json::value* pass = body.if_contains("password");
    if (user != nullptr && pass != nullptr && user->is_string() && pass->is_string()) {
      return LoginWithPassword(std::string(user->get_string()), std::string(pass->get_string()));
    }
    // create_authentication_tokens answers partial body credentials as HarperDB does.
    const json::value* op = body.if_contains("operation");
    if ((user != nullptr || pass != nullptr) && op != nullptr && op->is_string() &&
        op->get_string() == "create_authentication_tokens") {
      return Status::Unauthenticated("invalid credentials");
    }
    if (AuthorizeLocal() && IsLoopback(remote_address)) return FirstSuperUser();
    return Status::Unauthenticated(kMustLogin);
  }

  size_t space = authorization.find(' ');
  std::string scheme = authorization.substr(0, space);
  std::string value = space == std::string::npos ? "" : authorization.substr(space + 1);
  while (!value.empty() && value.front() == ' ') value.erase(value.begin());
  while (!value.empty() && value.back() == ' ') value.pop_back();
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (value.empty()) return Status::Unauthenticated(kMustLogin);
  if (scheme == "bearer") return LoginWithOperationToken(value);
  if (scheme != "basic") return Status::Unauthenticated(kMustLogin);

  uint64_t ttl_ms = CacheTtlMs();
  auto now = std::chrono::steady_clock::now();
  if (ttl_ms > 0) {
    common::MutexLock lock(mu_);
    auto it = cache_.find(authorization);
    if (it != cache_.end()) {
      if (it->second.expires > now) return it->second.caller;
      cache_.erase(it);
    }
  }
  std::string decoded;
  if (!security::Base64Decode(value, &decoded)) return Status::Unauthenticated("Invalid character");
  size_t colon = decoded.find(':');
  if (colon == std::string::npos) return Status::Unauthenticated(kLoginFailed);
  Result<Caller> caller = LoginWithPassword(decoded.substr(0, colon), decoded.substr(colon + 1));
  if (caller.ok() && ttl_ms > 0) {
    common::MutexLock lock(mu_);
    // Bounded: when full, start over rather than track recency (entries are cheap to redo).
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_[authorization] = CacheEntry{*caller, now + std::chrono::milliseconds(ttl_ms)};
  }
  return caller;
}

void AuthImpl::Invalidate() {
  common::MutexLock lock(mu_);
  cache_.clear();
}

// --- Permissions ---

std::optional<OpResult> AuthImpl::CheckTableAccess(const Caller& caller,
                                                   const std::string& database,
                                                   const std::string& table,
                                                   std::initializer_list<TableAccess> needed) {
  if (database == kSystemDb) {
    // Only hdb_nodes, hdb_role and hdb_user take direct writes, and only from super_user.
    json::array refused;
    for (TableAccess a : needed) {
      bool write = a != TableAccess::kRead;
      bool allowed = caller.super_user && (!write || IsWritableSystemTable(table));
      if (!allowed) refused.emplace_back(TableAccessName(a));
    }
    if (refused.empty()) return std::nullopt;
    return TableDenied(database, table, refused);
  }
  if (caller.super_user) return std::nullopt;

  const json::object* perm = TablePermission(caller, database, table);
  if (perm == nullptr || !store_->GetTable(database, table).ok()) {
    return Denied(json::array{},
                  json::array{"Table '" + database + "." + table + "' does not exist"});
  }
  json::array missing;
  for (TableAccess a : needed) {
    if (!Granted(*perm, TableAccessName(a))) missing.emplace_back(TableAccessName(a));
  }
  if (missing.empty()) return std::nullopt;
  return TableDenied(database, table, missing);
}

bool AuthImpl::CanDescribe(const Caller& caller, const std::string& database,
                           const std::string& table) {
  if (caller.super_user) return true;
  if (database == kSystemDb) return false;
  const json::object* perm = TablePermission(caller, database, table);
  if (perm == nullptr) return false;
  return Granted(*perm, "read") || Granted(*perm, "insert") || Granted(*perm, "update") ||
         Granted(*perm, "delete");
}

std::string KeyText(const json::value& v) {
  return v.is_string() ? std::string(v.get_string()) : json::serialize(v);
}

storage::WriteRequest OneOp(storage::WriteKind kind, const char* table, json::value key,
                            json::object fields) {
  storage::WriteRequest request;
  request.database = kSystemDb;
  storage::WriteOp op;
  op.kind = kind;
  op.table = table;
  op.key = std::move(key);
  op.fields = std::move(fields);
  request.ops.push_back(std::move(op));
  return request;
}

}  // namespace meshdb::ops
