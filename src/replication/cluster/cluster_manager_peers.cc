// ClusterManager::Impl's peer set: recomputing it from the stored membership, dropping
// one-time authorizations, draining a removed node (and deleting its row again when its own
// write won over the delete), probing a new one.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <future>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "replication/cluster/cluster_manager_impl.h"
#include "replication/cluster/node_identity.h"
#include "replication/engine/link_summary.h"
#include "replication/engine/replication_service.h"

namespace meshdb::replication {

namespace json = boost::json;

namespace {

// How long remove_node waits for the peer to acknowledge the delete of its row before the
// link is closed (so the removed node learns it was removed).
constexpr auto kRemoveDrainTimeout = std::chrono::milliseconds(3000);
// PollUntil looks again this often (WaitForAck at the acknowledged sequence).
constexpr auto kAckPoll = std::chrono::milliseconds(20);
constexpr auto kProbeTimeout = std::chrono::seconds(15);

std::string SpecKey(const PeerSpec& p) {
  std::string key = p.name + '\n' + p.url + '\n' + (p.dial ? "d" : "-") + '\n' + p.authorization +
                    '\n' + (p.start_time_ms ? std::to_string(*p.start_time_ms) : "") + '\n';
  for (const TableSubscription& s : p.subscriptions) {
    key += s.database + '.' + s.table + (s.publish ? "p" : "-") + (s.subscribe ? "s" : "-") + ',';
  }
  return key;
}

}  // namespace

void ClusterManager::Impl::Recompute() {
  recompute_queued_.store(false);
  std::vector<NodeRow> rows = ReadRows();
  RefreshPeerAddresses(rows);
  std::map<std::string, json::object> docs;
  std::map<std::string, LocalNodeState> local = ReadLocal(&docs);
  std::set<std::string> present;
  for (const NodeRow& row : rows) present.insert(row.name);
  TrustMemberCas(rows);

  storage::WriteRequest write;
  write.database = kSystemDb;
  ApplyRevocations(rows, write);
  if (own_row_written_ && !self_removed_ && present.count(options_.node_name) == 0) {
    log_->warn(
        "this node's hdb_nodes row was deleted (remove_node elsewhere): leaving the "
        "cluster until a node links to it again");
    self_removed_ = true;
    write.ops.push_back(
        Upsert(kNodeAuthTable, options_.node_name, json::object{{"removed", true}}));
  }
  if (own_row_written_ && !self_removed_) {
    // The own row's peer_subscriptions follow the local choices, and its ca and
    // certificate_serial this node's identity (a row rewritten by a peer that did not know
    // them yet is repaired: rows replicate whole, last writer wins).
    // An update, not an upsert: when the row was deleted since `rows` was read (remove_node
    // elsewhere), a repair would write it back newer than the delete and win.
    json::value want = PeerSubscriptionsOf(local);
    for (const NodeRow& row : rows) {
      if (row.name == options_.node_name &&
          (row.peer_subscriptions != want || !OwnCertificateFieldsMatch(row))) {
        storage::WriteOp repair = OwnRowOp(want);
        repair.kind = storage::WriteKind::kUpdate;
        write.ops.push_back(std::move(repair));
      }
    }
  }
  for (const NodeRow& row : rows) {
    if (row.name == options_.node_name) continue;
    auto doc = docs.find(row.name);
    if (doc != docs.end() && Seen(doc->second)) continue;
    json::object fields{{"seen", true}};
    if (local[row.name].removed) {
      log_->info("node '{}' was added again", row.name);
      fields["removed"] = false;
      local[row.name].removed = false;
    }
    write.ops.push_back(Upsert(kNodeAuthTable, row.name, std::move(fields)));
  }
  for (const auto& [name, doc] : docs) {
    // A node already removed here keeps its mark as it is (seen: a route deleted here).
    if (name == options_.node_name || present.count(name) != 0 || !Seen(doc) ||
        local[name].removed) {
      continue;
    }
    log_->info("node '{}' was removed from the cluster", name);
    json::object fields{{"seen", false}, {"removed", true}, {"added", false}};
    local[name].removed = true;
    write.ops.push_back(Upsert(kNodeAuthTable, name, std::move(fields)));
  }
  if (!write.ops.empty()) {
    Result<storage::WriteResult> written = options_.store->Write(std::move(write));
    if (!written.ok()) log_->warn("updating hdb_node_auth: {}", written.status().message());
  }

  // The refusal set is the persisted removed marks (so it survives a restart), less nodes
  // still draining their removal.
  std::vector<std::string> removed;
  for (const auto& [name, state] : local) {
    if (state.removed && name != options_.node_name && draining_.count(name) == 0) {
      removed.push_back(name);
    }
  }

  DropUsedAuthorizations();
  std::vector<PeerSpec> peers;
  if (!self_removed_) {
    PeerInputs in;
    in.self_name = options_.node_name;
    in.self_url = options_.node_url;
    in.default_port = options_.default_port;
    in.default_scheme = options_.default_scheme;
    in.routes = ParseRoutes(routes_);
    in.nodes = std::move(rows);
    in.local = std::move(local);
    in.pending_authorization = pending_authorization_;
    peers = ComputePeers(in);
    // A node being removed keeps its link until it acknowledged the delete of its row.
    for (const PeerSpec& p : last_peers_) {
      if (draining_.count(p.name) != 0) peers.push_back(p);
    }
  }
  std::string key;
  for (const PeerSpec& p : peers) key += SpecKey(p) + '\x1e';
  if (key == last_key_ && applied_once_) {
    if (removed != last_removed_) {
      last_removed_ = removed;
      options_.service->SetRemovedNodes(std::move(removed));
    }
    return;
  }
  std::string names;
  for (const PeerSpec& p : peers) {
    names +=
        (names.empty() ? "" : ", ") + (p.name.empty() ? p.url : p.name) + (p.dial ? " (dial)" : "");
  }
  log_->info("peers: [{}]", names);
  last_key_ = key;
  last_peers_ = peers;
  applied_once_ = true;
  // Refusals this update lifts go first: SetPeers starts dialing a node added back, and a
  // dial that ran before the lift would be refused by our own stale mark.
  std::vector<std::string> still_removed;
  std::set_intersection(last_removed_.begin(), last_removed_.end(), removed.begin(), removed.end(),
                        std::back_inserter(still_removed));
  if (still_removed != last_removed_) options_.service->SetRemovedNodes(still_removed);
  options_.service->SetPeers(std::move(peers));
  // After SetPeers: the persisted marks, not the peers SetPeers just dropped, decide who is
  // refused (a node that left the cluster must still accept the node that adds it back).
  last_removed_ = removed;
  options_.service->SetRemovedNodes(std::move(removed));
}

void ClusterManager::Impl::DropUsedAuthorizations() {
  if (pending_authorization_.empty()) return;
  for (const PeerLinkSummary& peer : SummarizeLinks(options_.service->ConnectionsStatus())) {
    if (peer.SystemLinkLive()) pending_authorization_.erase(peer.name);
  }
}

bool ClusterManager::Impl::WaitForAck(const std::string& name, uint64_t sequence) {
  draining_.insert(name);
  const bool acknowledged = PollUntil(
      [&] {
        for (const PeerLinkSummary& peer : SummarizeLinks(options_.service->ConnectionsStatus())) {
          if (peer.name != name) continue;
          for (const SocketSummary& s : peer.SystemSockets()) {
            if (s.connected && s.acked_sequence < sequence) return false;
          }
        }
        return true;
      },
      kRemoveDrainTimeout);
  draining_.erase(name);
  return acknowledged;
}

bool ClusterManager::Impl::RemovalLostToOwnWrite(const std::string& name, uint64_t delete_version,
                                                 bool node_answers) {
  // A node that left the delete unacknowledged would not answer the call either: asking
  // would only double remove_node's wait.
  Result<std::string> payload =
      Status::Unavailable("it did not acknowledge the delete within " +
                          std::to_string(kRemoveDrainTimeout.count()) + " ms");
  if (node_answers) {
    std::promise<Result<std::string>> answer;
    options_.service->CallPeer(
        name, kOwnRowVersionCall, "", kRemoveDrainTimeout,
        [&answer](Result<std::string> r) { answer.set_value(std::move(r)); });
    payload = answer.get_future().get();
  }
  uint64_t theirs = 0;
  if (payload.ok()) {
    const char* end = payload->data() + payload->size();
    auto [ptr, ec] = std::from_chars(payload->data(), end, theirs);
    if (ec != std::errc() || ptr != end) {
      payload = Status::InvalidArgument("not a version: '" + *payload + "'");
    }
  }
  if (!payload.ok()) {
    log_->info("removing node '{}': it did not say which version of its row it holds ({})", name,
               payload.status().message());
    Result<uint64_t> here = RowVersion(name);
    return here.ok() && *here > delete_version;
  }
  if (theirs <= delete_version) return false;  // the delete is the newer: it holds there
  // Its write reaches this node over the link still open: wait for it, so the next delete is
  // stamped after it (applying a write advances this node's clock past its version).
  const bool arrived = PollUntil(
      [&] {
        Result<uint64_t> here = RowVersion(name);
        return here.ok() && *here >= theirs;
      },
      kRemoveDrainTimeout);
  if (!arrived) {
    log_->warn("removing node '{}': its row's newer version {} did not reach this node", name,
               theirs);
  }
  return true;
}

bool ClusterManager::Impl::PollUntil(const std::function<bool()>& done,
                                     std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    // Wake at once when Stop sets stopping_ (no uninterruptible sleep).
    common::MutexLock lock(mu_);
    if (cv_.wait_until(lock, std::min(now + kAckPoll, deadline),
                       [this]() REQUIRES(mu_) { return stopping_; })) {
      return false;
    }
  }
}

ProbeResult ClusterManager::Impl::ProbeSync(ProbeRequest request) {
  auto promise = std::make_shared<std::promise<ProbeResult>>();
  std::future<ProbeResult> result = promise->get_future();
  options_.service->Probe(std::move(request),
                          [promise](ProbeResult r) { promise->set_value(std::move(r)); });
  if (result.wait_for(kProbeTimeout) != std::future_status::ready) {
    return ProbeResult{Status::Unavailable("timed out"), std::nullopt};
  }
  return result.get();
}

bool ClusterManager::Impl::OwnCertificateFieldsMatch(const NodeRow& own) const {
  return options_.identity == nullptr ||
         (own.ca == options_.identity->CaCertificatePem() &&
          own.certificate_serial == options_.identity->CertificateSerial());
}

void ClusterManager::Impl::ApplyRevocations(const std::vector<NodeRow>& rows,
                                            storage::WriteRequest& write) {
  std::set<std::string> all;
  const NodeRow* own = nullptr;
  for (const NodeRow& row : rows) {
    all.insert(row.revoked_certificates.begin(), row.revoked_certificates.end());
    if (row.name == options_.node_name) own = &row;
  }
  if (own != nullptr && !self_removed_ &&
      std::set<std::string>(own->revoked_certificates.begin(), own->revoked_certificates.end()) !=
          all) {
    json::array serials;
    for (const std::string& s : all) serials.emplace_back(s);
    write.ops.push_back(
        Upsert(kNodesTable, options_.node_name, json::object{{"revoked_certificates", serials}}));
  }
  if (all != last_revoked_) {
    last_revoked_ = all;
    options_.service->SetRevokedCertificates(std::vector<std::string>(all.begin(), all.end()));
  }
}

void ClusterManager::Impl::TrustMemberCas(const std::vector<NodeRow>& rows) {
  if (options_.identity == nullptr) return;
  std::map<std::string, std::string> now;
  std::set<std::string> carried;
  for (const NodeRow& row : rows) {
    if (row.name == options_.node_name || row.ca.empty()) continue;
    now[row.name] = row.ca;
    carried.insert(row.ca);
    if (trusted_cas_.count(row.ca) != 0) continue;
    if (Status s = options_.identity->TrustCa(row.ca); !s.ok()) {
      log_->warn("not trusting the CA in node '{}''s row: {}", row.name, s.message());
    } else {
      log_->info("trusting the certificate authority of node '{}'", row.name);
    }
    trusted_cas_.insert(row.ca);  // tried once: a bad one is not retried on every commit
  }
  for (const auto& [name, ca] : member_cas_) {
    if (now.count(name) != 0 || carried.count(ca) != 0) continue;
    log_->info("no longer trusting the certificate authority of node '{}' (removed)", name);
    options_.identity->DistrustCa(ca);
    trusted_cas_.erase(ca);
  }
  member_cas_ = std::move(now);
}

}  // namespace meshdb::replication
