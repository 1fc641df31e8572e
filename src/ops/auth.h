// Users, roles, authentication and permission checks for the operations API.
//
// Users live in system.hdb_user (primary key username), roles in system.hdb_role (primary key
// id), as HarperDB keeps them. New passwords are hashed with authentication.hashFunction (sha256
// by default, md5 or argon2id; security/password.h) and the row records which in hash_function;
// a login is checked with the row's own function, so changing the setting locks nobody out.
// Authenticated callers are cached per Authorization header for authentication.cacheTTL ms;
// Invalidate() drops the cache after any user or role change.
//
// Thread-safety: every method may be called concurrently from any thread.
#pragma once

#include <boost/json/object.hpp>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "ops/op_context.h"
#include "ops/operations.h"

namespace meshdb::security {
class TokenSigner;
}

namespace meshdb::ops {

enum class TableAccess { kRead, kInsert, kUpdate, kDelete };

// "read", "insert", "update" or "delete": the role flag and the word HarperDB's 403s use.
const char* TableAccessName(TableAccess access);

class Auth {
 public:
  // `keys_dir` holds the token-signing key pair (created on first use).
  static Result<std::unique_ptr<Auth>> Create(storage::Store* store, const config::Config* config,
                                              const std::string& keys_dir);
  virtual ~Auth() = default;

  // Creates the system tables hdb_user, hdb_role, hdb_nodes, hdb_certificate, hdb_info when
  // missing, the roles super_user and cluster_user, and the admin user (super_user) when no
  // user exists yet. Then logs a warning naming each active super_user whose password is
  // still kDefaultAdminPassword (ops/node_operations.h).
  virtual Status Bootstrap(const std::string& admin_username,
                           const std::string& admin_password) = 0;

  // Who is calling: Basic or Bearer (operation token) from `authorization`; else body
  // `username`/`password`; else, with authentication.authorizeLocal and a loopback
  // `remote_address`, the first super_user. Unauthenticated with HarperDB's texts:
  // "Must login", "Login failed", "invalid token", "Cannot complete request: User is inactive".
  virtual Result<Caller> Authenticate(const std::string& authorization,
                                      const std::string& remote_address,
                                      const boost::json::object& body) = 0;

  // nullopt when `caller` may do `needed` on db.table; otherwise the 403 result to return
  // (PermissionDenied with unauthorized_access / invalid_schema_items as HarperDB words it).
  virtual std::optional<OpResult> CheckTableAccess(const Caller& caller,
                                                   const std::string& database,
                                                   const std::string& table,
                                                   std::initializer_list<TableAccess> needed) = 0;

  // Whether describe_* should show db.table to `caller` (super_user: always).
  virtual bool CanDescribe(const Caller& caller, const std::string& database,
                           const std::string& table) = 0;

  // Drops cached authentications; call after any change to users or roles.
  virtual void Invalidate() = 0;

  // The operation handlers for users, roles and tokens (add_role, alter_role, drop_role,
  // list_roles, add_user, alter_user, drop_user, list_users, user_info,
  // create_authentication_tokens, refresh_operation_token).
  virtual void AddRole(OpCall call) = 0;
  virtual void AlterRole(OpCall call) = 0;
  virtual void DropRole(OpCall call) = 0;
  virtual void ListRoles(OpCall call) = 0;
  virtual void AddUser(OpCall call) = 0;
  virtual void AlterUser(OpCall call) = 0;
  virtual void DropUser(OpCall call) = 0;
  virtual void ListUsers(OpCall call) = 0;
  virtual void UserInfo(OpCall call) = 0;
  virtual void CreateAuthenticationTokens(OpCall call) = 0;
  virtual void RefreshOperationToken(OpCall call) = 0;
};

}  // namespace meshdb::ops
