// The replication engine of one node: WebSocket links per (peer, database), publishing this
// node's transaction log to peers and applying theirs (see docs/protocol.md and
// docs/replication.md). Cluster membership (hdb_nodes, routes, the cluster operations) lives
// in cluster_manager.h and drives this service through SetPeers.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/ip_allow_list.h"
#include "common/status.h"
#include "replication/wire/message.h"

namespace meshdb::net {
class UpgradeHandler;
class TlsContext;
}  // namespace meshdb::net
namespace meshdb::ops {
class Auth;
}
namespace meshdb::storage {
class Store;
}

namespace meshdb::replication {

// How long a PeerCall waits for its answer unless its caller asks for less (docs/protocol.md).
inline constexpr std::chrono::milliseconds kPeerCallTimeout{10000};

// Per-table replication choice for one peer (add_node `subscriptions`).
struct TableSubscription {
  std::string database;
  std::string table;
  bool publish = true;    // send this node's transactions on the table to the peer
  bool subscribe = true;  // apply the peer's transactions on the table
  bool operator==(const TableSubscription&) const = default;
};

// A peer this node replicates with.
struct PeerSpec {
  std::string name;  // node name; "" when only the URL is known yet (learned at Hello)
  std::string url;   // ws://host:port
  // Dial this peer (routes, add_node) rather than only accepting its connections.
  bool dial = true;
  // The Authorization header to send on the next connection ("" = use the node token).
  std::string authorization;
  // Empty: full replication of every replicated database and table.
  std::vector<TableSubscription> subscriptions;
  // Set: a new subscription starts streaming from this time instead of copying.
  std::optional<uint64_t> start_time_ms;
};

// Who made a PeerCall: the peer its link authenticated (by its verified certificate or its
// node token, as for any link), never a name the call's payload claims.
struct PeerCaller {
  std::string name;  // its node name
  std::string url;   // its replication URL, from its Hello
};

struct ServiceOptions {
  storage::Store* store = nullptr;  // outlives the service
  ops::Auth* auth = nullptr;        // outlives the service; verifies Basic credentials
  std::string node_name;
  std::string node_url;
  std::string bind_address;  // local address for outgoing connections
  // Dials wss:// peers with this client context (its certificate is our identity, its
  // trusted CAs decide whom we trust; it keeps each peer's session, so a redial resumes it).
  // Null: wss:// URLs cannot be dialled. Its trust is also the trust of the inbound wss://
  // links (the replication listener's context trusts the same CAs, server/tls_contexts.h):
  // when a CA stops being trusted, every live link whose peer certificate no longer verifies
  // against it is closed, in either direction (the service is its SetTrustShrankHandler
  // from Start to Stop).
  std::shared_ptr<net::TlsContext> tls_client;
  std::vector<std::string> databases;  // replication.databases; empty = all
  uint32_t reconnect_min_ms = 100;
  uint32_t reconnect_max_ms = 5000;
  size_t max_frame_bytes = 16u << 20;
  // replication.clusterKey: a cluster key known in addition to system.hdb_cluster_keys (node
  // tokens are signed with it when set). "" = none.
  std::string cluster_key;
  // replication.allowedIps: addresses whose plain ws:// upgrades are accepted besides those
  // SetPeerAddresses hands over (docs/security.md "Insecure mode"). Empty: none besides them.
  common::IpAllowList allowed_ips;
  // Transaction-log retention (replication.logRetention / logRetentionBytes /
  // logTrimIntervalMs): see storage::RetentionPolicy. 0 disables a limit.
  uint64_t log_retention_ms = 7ull * 86400 * 1000;
  uint64_t log_retention_bytes = 1ull << 30;
  uint32_t log_trim_interval_ms = 60000;
  // Initial copies and merge resyncs (publisher side) run on a pool of at most this many
  // threads; more wait for a free one (in order). Each blocks while its peer drains the link.
  size_t copy_threads = 4;
  // replication.copyStoredRows: initial copies ship rows as they are stored (compressed, with
  // their dictionaries) to peers that announce "copy-stored", and this node announces it. False:
  // copies in either direction carry record bytes, as before the capability existed.
  bool copy_stored_rows = true;
  // Called when a peer subscribed on an inbound system-database link, so membership can
  // record the node (name, url); `by_credentials` when the link was upgraded with a
  // super_user's credentials (add_node) rather than a node token. May be called on any thread.
  std::function<void(const std::string& name, const std::string& url, bool by_credentials)>
      on_peer_hello;
  // Answers a JoinRequest that arrived on a connection upgraded with a super_user's
  // credentials (membership signs the joiner's CSR). Runs on a link's strand: it must not
  // wait for other links. Null: joins are refused.
  std::function<Result<JoinGrant>(const JoinRequest& request)> on_join;
  // Answers a PeerCall from a live link's peer. `reply` must be called exactly once, from any
  // thread (it posts to the link). Null: every call is answered with an error.
  std::function<void(const PeerCaller& caller, const PeerCall& call,
                     std::function<void(PeerCallResult)> reply)>
      on_peer_call;
  // Called when a peer this node dialled refused its TLS certificate as untrusted (e.g. its
  // issuer was a removed member's CA): `peer` names it, `reason` is its answer. Runs on a
  // dialer's strand: it must not block. Null: nothing is done.
  std::function<void(const std::string& peer, const std::string& reason)> on_certificate_refused;
};

// One connection attempt for add_node (ReplicationService::Probe).
struct ProbeRequest {
  std::string url;
  std::string authorization;  // "" = the node token
  // wss://: false accepts a certificate that does not verify (add_node's verify_tls: false,
  // the bootstrap of a node whose CA we do not know yet). The name must still match.
  bool verify_tls = true;
  // Set: sent instead of Hello once upgraded; the peer's JoinGrant is the result.
  std::optional<JoinRequest> join;
};
struct ProbeResult {
  Status status;                   // Ok when the peer accepted the upgrade (and the join)
  std::optional<JoinGrant> grant;  // the peer's answer to `join`
};

// One linked peer's answer to cluster_verify.
struct PeerTableHash {
  std::string table;
  uint64_t hash = 0;          // sum of live rows' storage::RowHash
  uint64_t record_count = 0;  // live rows
};
struct PeerVerifyResult {
  std::string peer;
  std::string error;         // "" when the peer answered
  bool unreachable = false;  // a member with no live link for the database (error says so)
  std::vector<PeerTableHash> tables;
};

class ReplicationService {
 public:
  static Result<std::unique_ptr<ReplicationService>> Create(const ServiceOptions& options);
  virtual ~ReplicationService() = default;

  virtual void Start() = 0;
  // Closes every link (WebSocket close "service_restart") and joins threads.
  virtual void Stop() = 0;

  // The whole set of peers, replacing the previous one (live): new peers are dialed (when
  // `dial`), peers no longer listed are disconnected and their inbound connections refused
  // (until listed again or a SetRemovedNodes call replaces the refusals).
  virtual void SetPeers(std::vector<PeerSpec> peers) = 0;

  // The nodes membership knows as removed from the cluster (its persisted marks, so also
  // after a restart), replacing the previous set and the refusals of earlier SetPeers calls:
  // from then on exactly these names are refused. Until a later call drops a name, its
  // inbound upgrades and Hellos are refused (and logged), its links are closed, entries
  // learned from its Hello are dropped and it is not shown in ConnectionsStatus. Membership
  // calls it after each SetPeers and whenever the set changes, before the upgrade handler
  // is served.
  virtual void SetRemovedNodes(std::vector<std::string> names) = 0;

  // Serial numbers (upper-case hex) of revoked certificates, replacing the previous set. A
  // peer presenting one is refused from then on: an inbound upgrade authenticated by a node
  // token (a super_user's credentials still pass, so a removed node can join again and get
  // a new certificate), and any wss:// peer this node dials. Live links presenting one are
  // closed.
  virtual void SetRevokedCertificates(std::vector<std::string> serials) = 0;
  // Serials (upper-case hex) of the verified TLS certificates the node `name` presented on
  // links to or from this node since start, live or closed, most recent last (a few per
  // name), so remove_node can revoke what the node really uses even before its hdb_nodes row
  // (certificate_serial) arrived. Empty without TLS. Any thread.
  virtual std::vector<std::string> PresentedCertificateSerials(const std::string& /*name*/) {
    return {};
  }
  // Insecure mode (docs/security.md): the addresses of the hosts of the routes in force and
  // of the members' URLs, resolved by membership off the I/O threads. Replaces the previous
  // set, atomically with respect to upgrades being authenticated. An inbound upgrade on a
  // plain (non-TLS) connection with a valid node token is accepted only from an address in
  // this set or in ServiceOptions::allowed_ips; from any other it is answered 403, logged and
  // counted in link_errors. A super_user's Basic credentials (add_node's first contact) are
  // accepted from any address; bad credentials get 401 before the address is looked at.
  // Upgrades over TLS are not checked by address (the certificate is the identity). Until the
  // first call the set is empty (ClusterManager::Start makes one before the listeners open).
  // Links already open are not re-checked.
  virtual void SetPeerAddresses(common::IpAllowList addresses) = 0;

  // Inbound WebSocket upgrades on /replication (hand to net::HttpServerOptions).
  virtual net::UpgradeHandler* upgrade_handler() = 0;

  // cluster_status's `connections` array (HarperDB's fields plus positions and lag;
  // docs/replication.md).
  virtual boost::json::array ConnectionsStatus() = 0;
  // cluster_status's node-wide replication counters (link_errors, last_link_error;
  // docs/replication.md). Empty by default.
  virtual boost::json::object ServiceStatus() { return {}; }

  // cluster_verify: asks every peer with a live link for `database` for its table hashes
  // (`table` "" = every replicated table). `done` runs once, on a service thread, within
  // about 10 s (peers that did not answer carry an error). Every other member of the cluster
  // (a peer SetPeers listed, not removed) is in the results too, as unreachable.
  virtual void VerifyPeers(const std::string& database, const std::string& table,
                           std::function<void(std::vector<PeerVerifyResult>)> done) = 0;

  // Calls `method` of the member `name` with `payload` over a live link to it (its system
  // database link when that is live, else any). `done` runs once, on a service thread, with
  // the answer's payload; Unavailable when no link to it is live, it takes no calls, the link
  // closes first or no answer came within `timeout` (kPeerCallTimeout unless the caller needs
  // a shorter one); PermissionDenied with the peer's error text when it answered with one.
  virtual void CallPeer(const std::string& name, std::string method, std::string payload,
                        std::chrono::milliseconds timeout,
                        std::function<void(Result<std::string>)> done) = 0;

  // Tries one connection to request.url with its authorization and reports whether the peer
  // accepted it (for add_node's "error updating target node" message) and, for a join, what
  // it granted. A join refused by the peer is PermissionDenied with the peer's reason; a
  // certificate we do not trust or that is for another name is PermissionDenied too. Calls
  // `done` once, on a service thread.
  virtual void Probe(ProbeRequest request, std::function<void(ProbeResult)> done) = 0;
};

}  // namespace meshdb::replication
