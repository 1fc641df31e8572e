// The factory that builds this node's Operations (the HarperDB-compatible operations API).
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "ops/operations.h"

namespace meshdb::config {
class Config;
}
namespace meshdb::storage {
class Store;
}

namespace meshdb::ops {

struct OpsDeps {
  storage::Store* store = nullptr;          // must outlive the Operations
  const config::Config* config = nullptr;   // must outlive the Operations
  std::string admin_username = "admin";     // HDB_ADMIN_USERNAME
  std::string admin_password = "password";  // HDB_ADMIN_PASSWORD
};

// Bootstraps the system database (hdb_user, hdb_role, hdb_nodes, hdb_certificate, hdb_info),
// the super_user and cluster_user roles and the admin user on first start, then returns the
// dispatcher. Errors from storage are returned as they are.
Result<std::unique_ptr<Operations>> CreateNodeOperations(const OpsDeps& deps);

}  // namespace meshdb::ops
