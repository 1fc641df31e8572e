// The implementation behind replication/cluster/cluster_manager.h. Private to src/replication:
// include only from cluster_manager*.cc.
//
// Split across files:
//   cluster_manager.cc         ClusterManager's public methods (each posts to the membership
//                              thread), Create, and the Impl's lifecycle: Start/Stop/Post, the
//                              membership thread's loop (Run) and StartOnThread;
//   cluster_manager_ops.cc     the cluster operations (*Sync), run on the membership thread;
//   cluster_manager_tables.cc  reading and writing system.hdb_nodes / hdb_node_auth /
//                              hdb_cluster_keys (ReadRows, ReadLocal, ReadKeys, OwnRowOp,
//                              EnsureClusterKey) and the write helpers shared by the others;
//   cluster_manager_peers.cc   the peer set: Recompute, DropUsedAuthorizations, WaitForAck,
//                              RemovalLostToOwnWrite, ProbeSync;
//   cluster_manager_addresses.cc  insecure mode: the peers' addresses (RefreshPeerAddresses).
//
// Threads: Start, Stop and Post are called from any thread. Every other member function runs on the
// membership thread, one task at a time, and only it touches the members under "Membership thread
// only". The task queue is guarded by mu_; recompute_queued_ is set by the store's commit listener
// (a storage thread) and cleared by Recompute.
#pragma once

#include <atomic>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "replication/cluster/cluster_manager.h"
#include "replication/cluster/cluster_peers.h"
#include "replication/cluster/cluster_routes.h"
#include "replication/engine/replication_service.h"
#include "storage/store.h"

namespace meshdb::replication {

inline constexpr const char* kSystemDb = "system";
inline constexpr const char* kKeysTable = "hdb_cluster_keys";

// Helpers shared by the cluster_manager*.cc files (defined in cluster_manager_tables.cc).
// An upsert of `fields` (plus "name" = key) into the system table `table`.
storage::WriteOp Upsert(const char* table, const std::string& key, boost::json::object fields);
// Whether a hdb_node_auth row says this node has seen the node's hdb_nodes row (set by
// Recompute; a row seen and then gone is a removal through gossip).
bool Seen(const boost::json::object& doc);

class ClusterManager::Impl {
 public:
  explicit Impl(ClusterOptions options);
  ~Impl();  // Stop()

  // Starts the membership thread, runs StartOnThread on it and, when that succeeded, starts
  // watching commits to the system database (each schedules a Recompute).
  Status Start();
  // Stops watching, drops pending tasks and joins the membership thread.
  void Stop();
  // Queues `task` for the membership thread; dropped once stopping.
  void Post(std::function<void()> task);

  // --- Operations, on the membership thread. ---

  Result<std::string> AddNodeSync(AddNodeRequest req, bool update);
  Result<std::string> RemoveNodeSync(const std::string& id);
  // What remove_node revokes of `removed` (logged, each with where it was found): the serial
  // its hdb_nodes row carries and those it presented on links to this node
  // (ReplicationService::PresentedCertificateSerials), so the removal holds even when its
  // own row has not arrived yet. Never this node's serial or one another row carries.
  std::vector<std::string> SerialsToRevoke(const NodeRow& removed,
                                           const std::vector<NodeRow>& rows);
  Result<boost::json::value> ConfigureClusterSync(std::vector<AddNodeRequest> requests);
  boost::json::object StatusSync();
  bool IsMemberSync(const std::string& name);
  Result<RouteChange> ChangeRoutesSync(const boost::json::array& routes, bool add);
  [[nodiscard]] boost::json::array RoutesInForce() const;
  void OnPeerHelloSync(const std::string& name, const std::string& url, bool by_credentials);
  // The identity changed: Recompute rewrites the own row (OwnCertificateFieldsMatch).
  void RefreshOwnRowSync() { Recompute(); }
  // Any thread (reads and writes only the store and the identity).
  Result<JoinGrant> GrantJoin(const JoinRequest& request);
  Result<std::string> SignRenewal(const PeerCaller& caller, const std::string& csr_pem);
  std::string MemberHoldingCa(const std::string& ca_pem);
  Result<uint64_t> OwnRowVersion() { return RowVersion(options_.node_name); }
  // The version of `name`'s live hdb_nodes row here, 0 when there is none. Any thread.
  Result<uint64_t> RowVersion(const std::string& name);
  // On the membership thread.
  std::vector<std::string> MembersSync();

  [[nodiscard]] const ClusterOptions& options() const { return options_; }

 private:
  // The membership thread's loop: runs posted tasks until Stop.
  void Run();
  // Start's work on the membership thread: notes a persisted self-removal, writes this
  // node's own row and the configured cluster key, then the first Recompute.
  Status StartOnThread();

  // This node's own hdb_nodes row, carrying its explicit subscriptions by peer.
  [[nodiscard]] storage::WriteOp OwnRowOp(boost::json::value peer_subscriptions) const;
  storage::WriteOp OwnRowOp();
  // Creates a cluster key when none exists.
  Status EnsureClusterKey();
  // The keys of system.hdb_cluster_keys.
  std::vector<std::string> ReadKeys();
  // The rows of system.hdb_nodes (rows without a name skipped).
  std::vector<NodeRow> ReadRows();
  // This node's local state per node (system.hdb_node_auth); the raw rows into `docs` when
  // not null.
  std::map<std::string, LocalNodeState> ReadLocal(std::map<std::string, boost::json::object>* docs);
  // Known node names a route designates (by URL or host, and port when the route has one): of
  // the hdb_nodes rows, and of the peers the service dialed at the route's URL (named by their
  // Hello before their row reached us).
  std::vector<std::string> NamesForRoute(const Route& route, const std::vector<NodeRow>& rows,
                                         const std::map<std::string, LocalNodeState>& local);

  // Recomputes the peer set from the stored membership and hands it to the service when it
  // changed. Also records gossip-learned nodes and removals seen through gossip.
  void Recompute();
  // Insecure mode: resolves the hosts of the routes in force and of `rows`' URLs and hands
  // their addresses to ReplicationService::SetPeerAddresses, when the hosts changed since the
  // last call (or some did not resolve and kRetryUnresolved passed). Blocks on DNS.
  void RefreshPeerAddresses(const std::vector<NodeRow>& rows);
  // One-time authorizations are dropped once the peer is connected on the system database.
  void DropUsedAuthorizations();
  // Keeps `name` linked until its system-database socket acknowledged `sequence` (or the
  // link is down, or the timeout passes). False only when the timeout passed while a link was
  // up: the node is there but does not answer (hung, stopped).
  bool WaitForAck(const std::string& name, uint64_t sequence);
  // After remove_node's delete of `name`'s row (at `delete_version`) was acknowledged:
  // whether the node's own write of its row won over the delete, so the delete must be
  // written again. Asks the node for its row's version (kOwnRowVersionCall) unless
  // `node_answers` is false; when that is newer than the delete, waits (up to
  // kRemoveDrainTimeout) until that write arrived here, so the next delete is stamped after
  // it. Without an answer (an older node, the link gone, a node that did not acknowledge),
  // whether the row is back here decides.
  bool RemovalLostToOwnWrite(const std::string& name, uint64_t delete_version, bool node_answers);
  // Calls `done` until it returns true (then true), every kAckPoll for up to `timeout`; false
  // when the time is up or Stop was called (at once). For state that signals no change.
  bool PollUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout);
  // Asks the service to probe `request`'s URL; Unavailable "timed out" after kProbeTimeout.
  ProbeResult ProbeSync(ProbeRequest request);
  // add_node's first contact: a probe, or a join for a wss:// target when there are
  // credentials and a TLS identity. A grant is installed (its CA trusted, its certificate
  // presented from then on) and its CA returned in `peer_ca` for the target's row.
  Status FirstContact(const AddNodeRequest& req, std::string* peer_ca);
  // A certificate for node `name` reached at `host` names that node only: neither this node
  // nor another member (`who` names the asker in the PermissionDenied text).
  Status CheckNamesOnlyNode(const std::string& name, const std::string& host,
                            const std::vector<NodeRow>& rows, const std::string& who) const;
  // Whether this node's own row carries its identity's CA and certificate serial.
  [[nodiscard]] bool OwnCertificateFieldsMatch(const NodeRow& own) const;
  // Trusts the `ca` of every hdb_nodes row not trusted yet (gossip spreads members' CAs), and
  // no longer trusts the CA of a member whose row went (remove_node) unless a row still
  // carries it.
  void TrustMemberCas(const std::vector<NodeRow>& rows);
  // The union of every row's revoked_certificates: handed to the service when it changed,
  // and kept in this node's own row (so it outlives the node that revoked them). Adds the
  // own-row write to `write` when needed.
  void ApplyRevocations(const std::vector<NodeRow>& rows, storage::WriteRequest& write);

  const ClusterOptions options_;
  std::shared_ptr<spdlog::logger> log_;

  common::Mutex mu_;
  std::condition_variable_any cv_;  // a task was posted, or stopping_ was set
  std::deque<std::function<void()>> tasks_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;
  uint64_t listener_id_ = 0;
  bool has_listener_ = false;
  std::atomic<bool> recompute_queued_{false};

  // Membership thread only.
  boost::json::value routes_;
  bool self_removed_ = false;
  bool own_row_written_ = false;
  std::map<std::string, std::string> pending_authorization_;
  std::set<std::string> draining_;
  std::vector<PeerSpec> last_peers_;
  std::vector<std::string> last_removed_;  // last handed to SetRemovedNodes
  std::string last_key_;
  bool applied_once_ = false;
  std::set<std::string> trusted_cas_;
  std::map<std::string, std::string> member_cas_;  // member name -> the ca its row carried
  std::set<std::string> last_revoked_;             // last handed to SetRevokedCertificates
  // RefreshPeerAddresses: the hosts last resolved, those that did not resolve, and when.
  std::vector<std::string> peer_hosts_;
  std::vector<std::string> unresolved_hosts_;
  std::chrono::steady_clock::time_point last_resolve_;
  bool resolved_once_ = false;
};

}  // namespace meshdb::replication
