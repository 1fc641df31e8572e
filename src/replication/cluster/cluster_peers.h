// Which peers this node replicates with, computed from its membership inputs: the rows of
// system.hdb_nodes (gossiped through the cluster), this node's local per-node state
// (system.hdb_node_auth: added here, retained authorization, removed) and the routes in
// force. Pure functions; ClusterManager feeds them and hands the result to
// ReplicationService::SetPeers.
//
// Dial rules (docs/replication.md "Links"): routes and nodes added on this node (add_node,
// update_node, configure_cluster) are always dialed; nodes learned through gossip only when
// this node's name sorts before theirs, so exactly one side of a gossip-learned pair dials.
// Removed nodes are never peers. This node itself is never a peer.
//
// Explicit subscriptions (docs/replication.md "Subscriptions and the edge pattern"): the node
// that ran add_node/update_node with `subscriptions` keeps them, from its own point of view,
// in its local hdb_node_auth row for the peer (authoritative for it) and publishes them in
// its OWN hdb_nodes row as `peer_subscriptions: {"<peer name>": [...]}`. The peer reads the
// entry under its own name and swaps publish/subscribe (our publish = its subscribe). A node
// ignores entries addressed to other nodes, so one node's choices never leak onto other
// links. When both nodes defined subscriptions for their link, each enforces its own.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "replication/cluster/cluster_routes.h"
#include "replication/engine/replication_service.h"

namespace meshdb::replication {

// One row of system.hdb_nodes as membership reads it.
struct NodeRow {
  std::string name;
  std::string url;
  boost::json::value subscriptions;  // null (full replication) or the add_node array
  boost::json::value start_time;     // null, an ISO string or milliseconds
  // This row's node's explicit subscriptions by peer name, from ITS point of view (object of
  // arrays; null when none).
  boost::json::value peer_subscriptions;
  std::string ca;                  // the node's CA certificate (PEM), "" when it has none
  std::string certificate_serial;  // the certificate it presents (upper-case hex), or ""
  // Serials this node knows revoked (remove_node), kept by every node in its own row.
  std::vector<std::string> revoked_certificates;

  static NodeRow FromRecord(const boost::json::object& doc);
};

// This node's private view of another node (system.hdb_node_auth, never replicated).
struct LocalNodeState {
  bool added = false;         // added on this node: always dial
  bool removed = false;       // removed (here or through gossip): never a peer, token refused
  std::string authorization;  // retained authorization ("" = none)
  // Explicit subscriptions for the link with this node, from this node's point of view, as
  // given to add_node/update_node here (null = none: the peer's view, else full replication).
  boost::json::value subscriptions;
};

struct PeerInputs {
  std::string self_name;
  std::string self_url;
  int default_port = 9925;            // port that completes a route or a hostname without one
  std::string default_scheme = "ws";  // scheme that completes a route or a hostname ("wss": TLS)
  std::vector<Route> routes;
  std::vector<NodeRow> nodes;
  std::map<std::string, LocalNodeState> local;
  // One-time authorizations from add_node (not retained), by node name.
  std::map<std::string, std::string> pending_authorization;
};

// The peer set, sorted by name then URL. Tables named in this node's own explicit
// subscriptions (any peer) leave the automatic mesh: a link without explicit subscriptions of
// its own gets them as {publish: false, subscribe: false}. A route whose host (and port) or URL
// matches a known node merges into that node's entry.
std::vector<PeerSpec> ComputePeers(const PeerInputs& inputs);

// The subscriptions this node applies to its link with `peer`, and who defined them:
// this node's own (local `subscriptions`), else the peer's `peer_subscriptions[self_name]`
// swapped, else none (full replication; owner "").
struct EffectiveSubscriptions {
  std::vector<TableSubscription> subscriptions;
  std::string owner;
};
EffectiveSubscriptions SubscriptionsForLink(const std::string& self_name, const NodeRow* peer_row,
                                            const LocalNodeState* local);

// The same list seen from the other end: publish and subscribe exchanged.
std::vector<TableSubscription> SwapSubscriptions(std::vector<TableSubscription> subs);

// The `peer_subscriptions` object this node publishes in its own hdb_nodes row: every
// non-removed node with local explicit subscriptions (null when there are none).
boost::json::value PeerSubscriptionsOf(const std::map<std::string, LocalNodeState>& local);

// TableSubscriptions as cluster_status shows them ({database, table, publish, subscribe};
// null when empty).
boost::json::value SubscriptionsJson(const std::vector<TableSubscription>& subs);

// add_node's `subscriptions` as TableSubscriptions (`schema` is accepted for `database`;
// `subscribe`/`publish` default to false when absent, as HarperDB reads them). Non-arrays
// give none (full replication).
std::vector<TableSubscription> ParseSubscriptions(const boost::json::value& subscriptions);

// `start_time` as ISO-8601 text ("2024-01-02T03:04:05.678Z", offsets accepted) or
// milliseconds since the epoch; nullopt for null; InvalidArgument for anything else.
Result<std::optional<uint64_t>> ParseStartTime(const boost::json::value& start_time);

// The Authorization header for add_node's `authorization`: {username, password} -> "Basic
// base64(username:password)"; a string is used as it is; null/absent -> "".
// InvalidArgument for other shapes.
Result<std::string> AuthorizationHeader(const boost::json::value& authorization);

// <scheme>://<host>:<port> (IPv6 hosts bracketed); scheme "ws" or "wss".
std::string MakeUrl(const std::string& host, int port, const std::string& scheme = "ws");

}  // namespace meshdb::replication
