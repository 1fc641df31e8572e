#include "ops/secret_attributes.h"

#include <array>
#include <string_view>

namespace meshdb::ops {

namespace {

struct SecretAttribute {
  std::string_view table;
  std::string_view attribute;
};

// All in the system database. hdb_user's are hashes (of the password and of the refresh
// token), still secrets: an offline guess at a weak password needs only its salted hash.
constexpr std::array<SecretAttribute, 5> kSecrets = {{
    {"hdb_cluster_keys", "key"},
    {"hdb_node_auth", "authorization"},
    {"hdb_user", "password"},
    {"hdb_user", "hash"},
    {"hdb_user", "refresh_token"},
}};

}  // namespace

bool IsSecretAttribute(const storage::TableDef& def, const std::string& attribute) {
  if (def.database != "system") return false;
  for (const SecretAttribute& secret : kSecrets) {
    if (secret.table == def.name && secret.attribute == attribute) return true;
  }
  return false;
}

void DropSecretAttributes(const storage::TableDef& def, boost::json::object* record) {
  if (def.database != "system") return;
  for (const SecretAttribute& secret : kSecrets) {
    if (secret.table == def.name) record->erase(secret.attribute);
  }
}

Status RefuseSecretAttribute(const storage::TableDef& def, const std::string& attribute) {
  if (!IsSecretAttribute(def, attribute)) return Status::Ok();
  return Status::InvalidArgument("unknown attribute '" + attribute + "'");
}

Status RefuseSecretAttributes(const storage::TableDef& def, const ConditionGroup& group) {
  for (const Condition& condition : group.conditions) {
    RETURN_IF_ERROR(RefuseSecretAttribute(def, condition.attribute));
  }
  for (const ConditionGroup& nested : group.groups) {
    RETURN_IF_ERROR(RefuseSecretAttributes(def, nested));
  }
  return Status::Ok();
}

}  // namespace meshdb::ops
