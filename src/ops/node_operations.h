// The factory that builds this node's Operations (the HarperDB-compatible operations API).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "ops/operations.h"

namespace meshdb::config {
class Config;
}
namespace meshdb::storage {
class Store;
}

namespace meshdb::ops {

// The admin password when HDB_ADMIN_PASSWORD is unset on first start (HarperDB's default).
// Every start logs a warning for each active super_user whose password is still this one.
inline constexpr const char* kDefaultAdminPassword = "password";

struct OpsDeps {
  storage::Store* store = nullptr;                     // must outlive the Operations
  const config::Config* config = nullptr;              // must outlive the Operations
  std::string admin_username = "admin";                // HDB_ADMIN_USERNAME
  std::string admin_password = kDefaultAdminPassword;  // HDB_ADMIN_PASSWORD
  // Called after add_certificate stored an is_authority certificate (its PEM), so the TLS
  // contexts trust it from the next handshake. May be empty.
  std::function<void(const std::string& ca_pem)> on_authority_added;
};

class Auth;
struct OpCall;

// The operations API of a node, open to operations added by later layers (replication adds
// the cluster operations) without ops depending on them.
class NodeOperations : public Operations {
 public:
  // Adds `name` (or replaces an added one). `super_user_name`, when not null, restricts it to
  // super_user roles and is the name HarperDB's 403 text quotes (e.g. "addNode"). Register
  // everything before the first Execute; not thread-safe against concurrent Execute.
  virtual void RegisterOperation(std::string name, std::function<void(OpCall)> handler,
                                 const char* super_user_name) = 0;
  // Users, roles and credential checks; lives as long as this object.
  virtual Auth* auth() = 0;
};

// Bootstraps the system database (hdb_user, hdb_role, hdb_nodes, hdb_certificate, hdb_info),
// the super_user and cluster_user roles and the admin user on first start, then returns the
// dispatcher. Errors from storage are returned as they are.
Result<std::unique_ptr<NodeOperations>> CreateNodeOperations(const OpsDeps& deps);

}  // namespace meshdb::ops
