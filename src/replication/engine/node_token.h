// Node tokens: how nodes of one cluster authenticate each other without user credentials.
//
//   Authorization: MeshNode <node name>:<hex HMAC-SHA256(cluster key, node name)>
//
// Cluster keys live in system.hdb_cluster_keys {id, key}, a table that replicates with the
// system database, so every linked node learns every key ("trust gossip"); the
// replication.clusterKey setting adds one more. A token verifies when its MAC matches any
// known key. Thread-safety: pure functions; the Store helpers are safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace meshdb::storage {
class Store;
}

namespace meshdb::replication {

inline constexpr std::string_view kNodeTokenScheme = "MeshNode";
inline constexpr const char* kClusterKeysTable = "hdb_cluster_keys";

// Lowercase hex of HMAC-SHA256(key, node_name).
std::string NodeTokenMac(std::string_view key, std::string_view node_name);
// "MeshNode <name>:<mac>".
std::string NodeAuthorization(std::string_view key, std::string_view node_name);

struct ParsedNodeToken {
  std::string node_name;
  std::string mac;
};
// nullopt unless `authorization` is "MeshNode <name>:<64 hex digits>" with a non-empty name.
std::optional<ParsedNodeToken> ParseNodeAuthorization(std::string_view authorization);

// The claimed node name when `authorization` is a node token whose MAC matches one of
// `keys` (constant-time compare); Unauthenticated otherwise, naming why.
Result<std::string> VerifyNodeAuthorization(std::string_view authorization,
                                            const std::vector<std::string>& keys);

// Creates system.hdb_cluster_keys (primary key id, replicated) when missing.
Status EnsureClusterKeysTable(storage::Store* store);
// Every key in system.hdb_cluster_keys, ordered by id; empty when none (or no table).
std::vector<std::string> LoadClusterKeys(storage::Store* store);
// Adds a fresh random key (id and key are 32 random hex digits) when the table holds none;
// returns the keys afterwards.
Result<std::vector<std::string>> EnsureClusterKey(storage::Store* store);

}  // namespace meshdb::replication
