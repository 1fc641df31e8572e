// The cluster operations of the operations API (as HarperDB 4.7 answers them): request validation
// with HarperDB's texts, and handlers that hand the validated requests to ClusterManager.
//
//   add_node, set_node (alias)          super_user ("addNode")
//   update_node, set_node_replication   super_user ("updateNode"); adds the node if missing
//   remove_node                         super_user ("removeNode")
//   configure_cluster                   super_user ("configureCluster"); replaces the set
//   cluster_status                      super_user ("clusterStatus"); `peer_links: true`
//                                       adds the linked members' own links
//   cluster_set_routes / cluster_get_routes / cluster_delete_routes
//                                       super_user ("setRoutes" / "getRoutes" / "deleteRoutes")
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <functional>
#include <string>

#include "common/status.h"
#include "replication/cluster/cluster_manager.h"

namespace meshdb::ops {
class NodeOperations;
}

namespace meshdb::replication {

// Validates add_node's fields. Type errors are reported together, as HarperDB's Joi does:
// "'hostname' must be a string. 'verify_tls' must be a boolean. 'subscriptions' must be an
// array. 'shard' must be a number". Then: "'hostname' or 'url' is required", "'url' must be
// a ws:// or wss:// URL", authorization and start_time shapes. InvalidArgument (400).
// `node_name` is accepted for `hostname`; a URL without hostname names the node by its host.
// Host names longer than kMaxHostNameLength and URLs longer than kMaxUrlLength
// (common/host_limits.h) are refused naming the field: "'hostname' length must be less than
// or equal to 253 characters long", "'url' host length must be ...".
Result<AddNodeRequest> ParseAddNodeRequest(const boost::json::object& body);

// remove_node's target: `hostname`, else `node_name`, else `name`, else `url`.
// InvalidArgument "'hostname' is required" when none is a non-empty string, or naming the
// field when it is longer than kMaxHostNameLength (kMaxUrlLength for `url`).
Result<std::string> ParseRemoveNodeTarget(const boost::json::object& body);

// cluster_status's `peer_links`: what each linked member tells of its own links, one entry
// per member (server/peer_links.h); calls `done` once, from any thread.
using PeerLinksGatherer = std::function<void(std::function<void(boost::json::array)> done)>;

// cluster_status's optional `peer_links` field: absent, null or false (the answer is
// HarperDB's), true (the answer gains "peer_links"); anything else is InvalidArgument
// "'peer_links' must be a boolean".
Result<bool> ParsePeerLinksFlag(const boost::json::object& body);

// Registers every cluster operation on `ops`. `manager` must outlive `ops`' use of them, and
// so must what `peer_links` uses (empty: `peer_links: true` answers an empty array).
void RegisterClusterOperations(ops::NodeOperations* ops, ClusterManager* manager,
                               PeerLinksGatherer peer_links);

}  // namespace meshdb::replication
