// Cluster membership of one node: decides WHO this node replicates with and drives
// ReplicationService::SetPeers; answers the cluster operations' requests (cluster_ops.h
// parses and validates them).
//
// Sources (docs/replication.md "Membership"):
//   - routes in force: replication.routes (or the legacy clustering routes) at start, then
//     as changed by SetRoutes/DeleteRoutes (persisted to the YAML file);
//   - system.hdb_nodes rows {name, url, subscriptions, replicates, start_time, shard} —
//     replicated, so a row written on one node gossips to every node;
//   - system.hdb_node_auth {name, added, removed, seen, authorization} — this node's private
//     view (replicate:false): nodes added here (always dialed), removed nodes (never peers;
//     handed to ReplicationService::SetRemovedNodes, at start-up too, so their connections
//     stay refused across restarts until add_node clears the mark), retained authorizations
//     (never in hdb_nodes, never in a response).
// Any commit to the system database schedules a recomputation of the peer set.
//
// Removal: remove_node deletes the node's hdb_nodes row (the delete gossips to every node,
// the removed node included) and marks it removed here. A node that sees a row it had seen
// disappear marks that node removed too; a node that sees its OWN row disappear leaves the
// cluster (no peers) until someone links to it again (add_node). The node may rewrite its
// own row just before the delete reaches it, and that write is newer than the delete: the
// remover asks it (kOwnRowVersionCall) and deletes again until the delete is the newer write.
//
// Threads: every state change runs on one membership thread; public methods post to it and
// may be called from any thread. Callbacks run on the membership thread.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "replication/cluster/cluster_routes.h"
#include "replication/cluster/peer_addresses.h"

namespace meshdb::storage {
class Store;
}

namespace meshdb::security {
class SecretBox;
}

namespace meshdb::replication {

class NodeIdentity;
class ReplicationService;
struct JoinGrant;
struct JoinRequest;
struct PeerCaller;

inline constexpr const char* kNodesTable = "hdb_nodes";
inline constexpr const char* kNodeAuthTable = "hdb_node_auth";

// The PeerCall remove_node makes of the node it removes, once the node acknowledged the
// delete of its row: the node answers the version of its own hdb_nodes row as it holds it
// (decimal; "0" when it holds none). A version newer than the delete means the node rewrote
// its row before the delete reached it and that write won (last writer wins).
inline constexpr const char* kOwnRowVersionCall = "own-row-version";

struct ClusterOptions {
  storage::Store* store = nullptr;        // outlives the manager
  ReplicationService* service = nullptr;  // outlives the manager
  std::string node_name;
  std::string node_url;
  // Complete routes and hostnames given without a port or a scheme: the port and scheme of
  // this node's own URL (replication.port → ws, else replication.securePort → wss, else the
  // operations API's), as HarperDB builds a peer's URL from this node's port settings.
  int default_port = 9925;
  std::string default_scheme = "ws";
  boost::json::value routes;  // the routes in force at start (null = none)
  // Where cluster_set_routes / cluster_delete_routes persist replication.routes ("" = only
  // in memory) and where the previous file is backed up.
  std::string config_file;
  std::string backup_dir;
  std::string cluster_key;  // replication.clusterKey ("" = none)
  // Seals credentials kept by retain_authorization in hdb_node_auth (never stored in
  // clear). Required; outlives the manager.
  const security::SecretBox* secret_box = nullptr;
  // The node's CA and replication certificate (the cross-signed join, revocation). Null: no
  // TLS identity; add_node sends no certificate request and joins through this node are
  // refused. Outlives the manager.
  NodeIdentity* identity = nullptr;
  // Resolves the routes' and members' hosts for ReplicationService::SetPeerAddresses (insecure
  // mode), on the membership thread. Null: ResolveHosts (the system resolver); tests inject a
  // fake.
  std::function<ResolvedHosts(const std::vector<std::string>& hosts)> resolve_hosts;
  // cluster_status's "discovery" section (discovery/discovery_service.h), called on the
  // membership thread. Null: no such section.
  std::function<boost::json::object()> discovery_status;
};

// A validated add_node / update_node / set_node request (cluster_ops.h builds it).
struct AddNodeRequest {
  std::string name;  // hostname
  std::string url;
  std::string authorization;  // Authorization header for the first connection ("" = token)
  bool retain_authorization = false;
  boost::json::value subscriptions;  // null or the array as given
  boost::json::value start_time;     // null, ISO text or ms, as given
  boost::json::value shard;          // null or a number
  // wss:// first contact: false accepts a certificate that does not verify (bootstrap).
  bool verify_tls = true;
};

class ClusterManager {
 public:
  // Creates system.hdb_node_auth (and hdb_cluster_keys) when missing.
  static Result<std::unique_ptr<ClusterManager>> Create(const ClusterOptions& options);
  ~ClusterManager();  // Stop()
  ClusterManager(const ClusterManager&) = delete;
  ClusterManager& operator=(const ClusterManager&) = delete;

  // Writes this node's own hdb_nodes row (unless it was removed from the cluster), installs
  // the configured cluster key when no key exists, starts watching the system database and
  // hands the first peer set to the service.
  Status Start();
  // Stops watching and joins the membership thread. Pending callbacks are dropped.
  void Stop();

  using MessageDone = std::function<void(Result<std::string>)>;
  // Writes the rows (and retained authorization), links, probes the peer with the request's
  // authorization and reports "Successfully added '<url>' to cluster" (update: "Successfully
  // updated '<url>'"), with " but there was an error updating target node: <reason>" when the
  // probe failed.
  void AddNode(AddNodeRequest request, bool update, MessageDone done);
  // "Successfully removed '<name>' from cluster"; InvalidArgument "<name> does not exist".
  void RemoveNode(std::string name, MessageDone done);
  // Removes every known node not in `requests`, then adds each. The result is
  // configure_cluster's body.
  void ConfigureCluster(std::vector<AddNodeRequest> requests,
                        std::function<void(Result<boost::json::value>)> done);
  // cluster_status's body.
  void GetStatus(std::function<void(boost::json::object)> done);
  // cluster_set_routes / cluster_delete_routes: applied live and persisted.
  void SetRoutes(boost::json::array routes, std::function<void(Result<RouteChange>)> done);
  void DeleteRoutes(boost::json::array routes, std::function<void(Result<RouteChange>)> done);
  // The routes in force.
  void GetRoutes(std::function<void(boost::json::array)> done);
  // Whether `name` is a member this node links with: it has an hdb_nodes row and is not
  // marked removed here (discovery's island rule).
  void IsMember(std::string name, std::function<void(bool)> done);

  // ServiceOptions::on_peer_hello: records an unknown node in hdb_nodes, unless its row was
  // here and was deleted (a removal this node has not marked yet). A node that was
  // removed from the cluster rejoins only when the link came with credentials (add_node); a
  // node token from a member that has not learned of the removal yet changes nothing.
  void OnPeerHello(const std::string& name, const std::string& url, bool by_credentials);
  // ServiceOptions::on_join, for a JoinRequest that came with a super_user's credentials:
  // signs the joiner's CSR when it names only the joiner (its node name and its URL's host;
  // not this node, not another member, no wildcard), trusts its CA and records its
  // hdb_nodes row (url, ca). PermissionDenied / InvalidArgument saying why not. Any thread;
  // does not wait for the membership thread.
  Result<JoinGrant> GrantJoin(const JoinRequest& request);

  // This node's certificate changed (renewed): its hdb_nodes row is rewritten with the new
  // serial. Any thread.
  void RefreshOwnRow();

  // The other members (hdb_nodes rows not marked removed here), by name: whom a
  // `replicated: true` operation goes to.
  void Members(std::function<void(std::vector<std::string>)> done);
  // A linked member's "renew-certificate" call: signs its CSR with this node's CA when the
  // CSR names only that member (its node name and its URL's host: the join's rule).
  // PermissionDenied saying why not (not a member, removed, another name). Any thread.
  Result<std::string> SignRenewal(const PeerCaller& caller, const std::string& csr_pem);
  // The member (not this node, not removed) whose hdb_nodes row carries `ca_pem`: who can
  // renew a certificate that CA issued. "" when none. Any thread.
  std::string MemberHoldingCa(const std::string& ca_pem);
  // Answers kOwnRowVersionCall: the version of this node's own hdb_nodes row, 0 when it has
  // none (deleted by a remove_node elsewhere). Any thread.
  Result<uint64_t> OwnRowVersion();

  [[nodiscard]] const std::string& node_name() const;
  [[nodiscard]] int default_port() const;

 private:
  class Impl;
  explicit ClusterManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshdb::replication
