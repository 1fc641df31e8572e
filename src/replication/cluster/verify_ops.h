// The cluster_verify operation (super_user, 403 name "clusterVerify"): proves convergence by
// comparing, per table, this node's content hash with every other member's.
//
// Request:  {"operation":"cluster_verify","database":"dev"[,"table":"dog"]}
// Response: {"database":"dev","node_name":"a",
//            "tables":[{"table":"dog","hash":"<16 hex>","record_count":N,
//                       "nodes":{"b":{"hash":"<16 hex>","record_count":N},
//                                "c":{"unreachable":true,"error":"unreachable: ..."}},
//                       "matches":false}],
//            "matches":false,"differing_tables":["dog"],"unreachable":["c"]}
// The hash is the sum (mod 2^64) of storage::RowHash over the table's live rows (primary
// key, attributes, version and origin); tombstones are not counted. Every member of the
// cluster is asked over its live replication link for the database; a member with no live
// link is listed as unreachable, and one that cannot answer shows {"error": "..."}; either
// makes its tables not match. The top-level "matches" is true only when every member
// answered and every table matched (no false all-clear when no peer is reachable). `table`
// omitted: every table that replicates (replicate:false tables and unlisted system tables
// are left out).
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
