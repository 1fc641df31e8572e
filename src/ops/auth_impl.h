// The implementation behind ops/auth.h. Private to src/ops: include only from auth*.cc.
//
// Split across files: auth.cc (bootstrap, authentication, permission checks, shared helpers),
// auth_roles.cc (role handlers and permission-JSON validation), auth_users.cc (user and token
// handlers).
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/thread_annotations.h"
#include "ops/auth.h"
#include "security/password.h"
#include "security/token_signer.h"
#include "storage/store.h"

namespace meshdb::ops {

inline constexpr char kSystemDb[] = "system";

// Helpers shared by auth.cc, auth_roles.cc and auth_users.cc.
// A key as text: strings as they are, other values as JSON.
std::string KeyText(const boost::json::value& v);
// A one-operation write to a table of the system database.
storage::WriteRequest OneOp(storage::WriteKind kind, const char* table, boost::json::value key,
                            boost::json::object fields);
inline constexpr char kUserTable[] = "hdb_user";
inline constexpr char kRoleTable[] = "hdb_role";
inline constexpr char kNotAuthorized[] =
    "This operation is not authorized due to role restrictions and/or invalid database items";
inline constexpr char kUserInactive[] = "Cannot complete request: User is inactive";

// The permission flags a role grants: {"super_user":true} etc.
bool RoleFlag(const boost::json::object& role_row, const char* flag);

class AuthImpl final : public Auth {
 public:
  AuthImpl(storage::Store* store, const config::Config* config,
           std::unique_ptr<security::TokenSigner> signer);

  Status Bootstrap(const std::string& admin_username, const std::string& admin_password) override;
  Result<Caller> Authenticate(const std::string& authorization, const std::string& remote_address,
                              const boost::json::object& body) override;
  std::optional<OpResult> CheckTableAccess(const Caller& caller, const std::string& database,
                                           const std::string& table,
                                           std::initializer_list<TableAccess> needed) override;
  bool CanDescribe(const Caller& caller, const std::string& database,
                   const std::string& table) override;
  void Invalidate() override;

  void AddRole(OpCall call) override;
  void AlterRole(OpCall call) override;
  void DropRole(OpCall call) override;
  void ListRoles(OpCall call) override;
  void AddUser(OpCall call) override;
  void AlterUser(OpCall call) override;
  void DropUser(OpCall call) override;
  void ListUsers(OpCall call) override;
  void UserInfo(OpCall call) override;
  void CreateAuthenticationTokens(OpCall call) override;
  void RefreshOperationToken(OpCall call) override;

 private:
  // --- Storage helpers (short synchronous reads of the system database). ---
  Result<std::optional<boost::json::object>> GetRow(const char* table,
                                                    const std::string& key) const;
  Result<std::vector<boost::json::object>> ScanRows(const char* table) const;
  // A role by its name (the `role` field) or, failing that, by id. nullopt when none.
  Result<std::optional<boost::json::object>> FindRole(const std::string& name_or_id) const;
  // The role row that `body`'s "id" names (alter_role, drop_role), its id as text in *id_text.
  // InvalidArgument "Role id can't be blank", NotFound "Role '<id>' does not exist".
  Result<boost::json::object> ExistingRole(const boost::json::object& body,
                                           std::string* id_text) const;
  // The caller a user row stands for (role looked up by the row's role id).
  Result<Caller> CallerFor(const boost::json::object& user_row) const;

  // Checks username/password against hdb_user: "Login failed" when unknown or wrong,
  // kUserInactive when inactive.
  Result<Caller> LoginWithPassword(const std::string& username, const std::string& password) const;
  Result<Caller> LoginWithOperationToken(const std::string& token) const;
  Result<Caller> FirstSuperUser() const;
  // Bootstrap's last step: a warning per active super_user still on kDefaultAdminPassword.
  Status WarnAboutDefaultPasswords() const;

  // Role permission JSON validation (auth_roles.cc): the main_permissions and
  // schema_permissions messages; both empty when valid.
  void ValidatePermission(const boost::json::object& body, boost::json::array* main_errors,
                          boost::json::object* schema_errors) const;

  // Token lifetimes and signing (auth_users.cc).
  boost::json::object TokenPayload(const Caller& caller, const char* subject,
                                   uint64_t lifetime_s) const;
  uint64_t OperationTokenLifetime() const;
  uint64_t RefreshTokenLifetime() const;
  void IssueTokens(const OpCall& call, const Caller& caller);

  uint64_t CacheTtlMs() const;
  // authentication.hashFunction: how new and changed passwords are hashed.
  security::HashFunction HashFunctionForNewPasswords() const;
  // Whether `password` is the one `user` (an hdb_user row) stores, checked with the row's own
  // hash_function (absent: sha256, as HarperDB's oldest rows). False for a malformed row.
  static bool PasswordMatches(const boost::json::object& user, std::string_view password);
  bool AuthorizeLocal() const;

  // Constant after construction.
  storage::Store* const store_;         // outlives this
  const config::Config* const config_;  // outlives this; may be null (defaults)
  const std::unique_ptr<security::TokenSigner> signer_;

  struct CacheEntry {
    Caller caller;
    std::chrono::steady_clock::time_point expires;
  };
  static constexpr size_t kMaxCacheEntries = 1024;
  common::Mutex mu_;
  // Successful Basic authentications by Authorization header value.
  std::unordered_map<std::string, CacheEntry> cache_ GUARDED_BY(mu_);
};

}  // namespace meshdb::ops
