// The cluster_verify operation (super_user, 403 name "clusterVerify"): proves convergence by
// comparing, per table, this node's content hash with every linked node's.
//
// Request:  {"operation":"cluster_verify","database":"dev"[,"table":"dog"]}
// Response: {"database":"dev","node_name":"a",
//            "tables":[{"table":"dog","hash":"<16 hex>","record_count":N,
//                       "nodes":{"b":{"hash":"<16 hex>","record_count":N}},"matches":true}],
//            "differing_tables":[]}
// The hash is the sum (mod 2^64) of storage::RowHash over the table's live rows (primary
// key, attributes, version and origin); tombstones are not counted. Peers are the nodes with
// a live replication link for the database; a peer that cannot answer shows
// {"error": "..."} and makes its tables not match. `table` omitted: every table that
// replicates (replicate:false tables and unlisted system tables are left out).
#pragma once

#include <string>

namespace meshdb::ops {
class NodeOperations;
}
namespace meshdb::storage {
class Store;
}

namespace meshdb::replication {

class ReplicationService;

// Registers cluster_verify on `ops`. `store` and `service` must outlive `ops`' use of it.
void RegisterVerifyOperation(ops::NodeOperations* ops, storage::Store* store,
                             ReplicationService* service, std::string node_name);

}  // namespace meshdb::replication
