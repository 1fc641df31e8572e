// The factory that builds this node's Operations (the HarperDB-compatible operations API).
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
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
  // Called after add_certificate or remove_certificate changed system.hdb_certificate, so
  // the TLS contexts trust exactly its is_authority rows (ops::TrustedCaPems) from the next
  // handshake: an added CA at once, a removed one no longer. May be empty.
  std::function<void()> on_certificates_changed;
  // `replicated: true` on add_certificate / remove_certificate: sends the request (without
  // `replicated`; never with a private key) to every other member and calls `done` with
  // HarperDB's `replicated` array, one entry per member. May be empty (the request is then
  // refused).
  std::function<void(boost::json::object request, std::function<void(boost::json::array)> done)>
      fan_out;
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
  // Runs a certificate operation another member fanned out (`replicated: true`, received
  // over its authenticated link) as a super_user would: add_certificate or
  // remove_certificate only, never fanned out again (`replicated` is dropped) and never with
  // a private key (refused). InvalidArgument for anything else. `done` as for Execute.
  virtual void ExecuteFannedOut(boost::json::object body, Done done) = 0;
};

// Bootstraps the system database (hdb_user, hdb_role, hdb_nodes, hdb_certificate, hdb_info),
// the super_user and cluster_user roles and the admin user on first start, then returns the
// dispatcher. Errors from storage are returned as they are.
Result<std::unique_ptr<NodeOperations>> CreateNodeOperations(const OpsDeps& deps);

}  // namespace meshdb::ops
