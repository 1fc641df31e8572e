// The calls linked members make of each other over their authenticated replication links
// (replication::PeerCall, docs/protocol.md), wired to this node's parts: answering a member's
// call, fanning a `replicated: true` certificate operation out to every member, renewing this
// node's certificate through the member whose CA issued it, and gathering the linked members'
// own links for cluster_status (`peer_links: true`, server/peer_links.h).
//
// Thread-safety: every function may be called from any thread; the pointees outlive the
// calls and their callbacks (the server stops replication before it destroys them).
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "common/status.h"
#include "server/node_identity.h"

namespace meshdb::ops {
class NodeOperations;
}
namespace meshdb::replication {
class ClusterManager;
class ReplicationService;
struct PeerCall;
struct PeerCallResult;
struct PeerCaller;
}  // namespace meshdb::replication

namespace meshdb::server {

inline constexpr const char* kRenewCertificateCall = "renew-certificate";
inline constexpr const char* kOperationCall = "operation";
inline constexpr const char* kLinkSummaryCall = "link-summary";

// How long cluster_status with `peer_links: true` waits for each member's link summary: short,
// so the console's once-a-second view stays live while a member hangs.
inline constexpr std::chrono::milliseconds kPeerLinksTimeout{750};

// ServiceOptions::on_peer_call. "renew-certificate": ClusterManager::SignRenewal of the
// payload (a CSR); the certificate. "operation": NodeOperations::ExecuteFannedOut of the
// payload (JSON); the operation's answer (JSON), or its error text as the call's error.
// "link-summary" (payload ignored): LinkSummaryAnswer of this node's links (`service`'s
// ConnectionsStatus). replication::kOwnRowVersionCall (payload ignored):
// ClusterManager::OwnRowVersion, in decimal. Anything else is answered with an error.
void AnswerPeerCall(replication::ClusterManager* cluster, ops::NodeOperations* operations,
                    replication::ReplicationService* service, const replication::PeerCaller& caller,
                    const replication::PeerCall& call,
                    std::function<void(replication::PeerCallResult)> reply);

// OpsDeps::fan_out: `request` to every other member as an "operation" call. `done` gets one
// entry per member, in name order: its answer with "node" added, or {"status": "failed",
// "reason", "node"} (no live link, no answer in time, or the member's error).
void FanOutOperation(replication::ClusterManager* cluster, replication::ReplicationService* service,
                     boost::json::object request, std::function<void(boost::json::array)> done);

// cluster_status's `peer_links`: a "link-summary" call to every peer this node has a link
// with (connected or not), each given kPeerLinksTimeout. `done` gets one PeerLinksEntry per
// peer, in name order (an empty array when there are none); a peer that does not answer is
// "unknown", never a failure of the whole.
void GatherPeerLinks(replication::ReplicationService* service,
                     std::function<void(boost::json::array)> done);

// RemoteRenewer: asks the member holding `issuer_ca_pem` (ClusterManager::MemberHoldingCa)
// to sign `csr_pem` over its link; blocks until it answers (the call's own deadline bounds
// it). Unavailable when no member holds that CA or none answered; PermissionDenied with the
// member's refusal.
Result<RemoteRenewal> RenewThroughIssuer(replication::ClusterManager* cluster,
                                         replication::ReplicationService* service,
                                         const std::string& csr_pem,
                                         const std::string& issuer_ca_pem);

}  // namespace meshdb::server
