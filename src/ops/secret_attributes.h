// Attributes of system tables that hold secrets (docs/security.md "Secrets in the system
// database"): system.hdb_cluster_keys.key (the cluster keys that sign node tokens),
// system.hdb_node_auth.authorization (credentials kept by add_node's retain_authorization,
// sealed at rest) and system.hdb_user's password, hash and refresh_token (hashes). No read
// operation returns them, whatever get_attributes asks, and none can search or sort by them (that
// would let a caller guess them a character at a time).
#pragma once

#include <boost/json/object.hpp>
#include <string>

#include "ops/conditions.h"
#include "storage/store.h"

namespace meshdb::ops {

bool IsSecretAttribute(const storage::TableDef& def, const std::string& attribute);

// Removes the table's secret attributes from `record`.
void DropSecretAttributes(const storage::TableDef& def, boost::json::object* record);

// InvalidArgument "unknown attribute '<a>'" (the text an absent attribute gets) when
// `attribute`, or any attribute `group` names, is secret; Ok otherwise.
Status RefuseSecretAttribute(const storage::TableDef& def, const std::string& attribute);
Status RefuseSecretAttributes(const storage::TableDef& def, const ConditionGroup& group);

}  // namespace meshdb::ops
