// The cluster operations of ClusterManager::Impl, run on the membership thread.
#include <algorithm>
#include <boost/json/serialize.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "replication/cluster/cluster_manager_impl.h"
#include "replication/cluster/node_identity.h"
#include "replication/engine/link_summary.h"
#include "replication/engine/replication_service.h"
#include "security/secret_box.h"

namespace meshdb::replication {

namespace json = boost::json;

namespace {

// How many times remove_node writes the delete of a node's row that its own writes keep
// winning over (each later delete is stamped after the write that won).
constexpr int kRemoveAttempts = 3;

storage::WriteOp Delete(const char* table, const std::string& key) {
  storage::WriteOp op;
  op.kind = storage::WriteKind::kDelete;
  op.table = table;
  op.key = json::string(key);
  return op;
}

std::string HostOf(const std::string& url_or_host) {
  if (url_or_host.find("://") == std::string::npos) return url_or_host;
  Result<Route> r = ParseUrl(url_or_host);
  return r.ok() ? r->host : url_or_host;
}

}  // namespace

Result<std::string> ClusterManager::Impl::AddNodeSync(AddNodeRequest req, bool update) {
  if (req.name.empty() && !req.url.empty()) req.name = HostOf(req.url);
  if (req.url.empty()) req.url = MakeUrl(req.name, options_.default_port, options_.default_scheme);
  if (req.name.empty()) return Status::InvalidArgument("'hostname' or 'url' is required");
  if (req.name == options_.node_name || req.url == options_.node_url) {
    return Status::InvalidArgument("'" + req.name + "' is this node");
  }
  // First contact, before anything is written: a wss:// target whose certificate we do not
  // trust, or that is for another name, or that refuses to sign our certificate, is refused
  // outright (an unreachable target is added, and dialled until it answers, as HarperDB
  // does).
  std::string peer_ca;
  Status probe = FirstContact(req, &peer_ca);
  if (probe.code() == Status::Code::kPermissionDenied ||
      probe.code() == Status::Code::kInvalidArgument) {
    log_->warn("not adding node '{}' at {}: {}", req.name, req.url, probe.message());
    return Status::InvalidArgument("cannot add '" + req.url + "': " + probe.message());
  }
  // A target that did not answer is still added (and dialled until it does), but never in
  // place of a member known at another URL: that would send every member to an address
  // nobody listens on, and the member would be cut off.
  if (!probe.ok()) {
    for (const NodeRow& row : ReadRows()) {
      if (row.name != req.name || row.url.empty() || row.url == req.url) continue;
      log_->warn("not moving member '{}' from {} to {}, which could not be linked: {}", req.name,
                 row.url, req.url, probe.message());
      return Status::InvalidArgument("'" + req.name + "' is a member at " + row.url +
                                     ", and no link could be made to " + req.url + " (" +
                                     probe.message() + "): its URL is left as it is");
    }
  }
  if (!req.authorization.empty()) {
    if (Status s = EnsureClusterKey(); !s.ok()) return s;
  }
  std::map<std::string, LocalNodeState> local_states = ReadLocal(nullptr);
  LocalNodeState& mine = local_states[req.name];
  mine.removed = false;
  mine.subscriptions = req.subscriptions.is_array() ? req.subscriptions : json::value(nullptr);
  storage::WriteRequest write;
  write.database = kSystemDb;
  write.ops.push_back(OwnRowOp(PeerSubscriptionsOf(local_states)));
  json::object row{
      {"url", req.url},
      {"replicates", true},
      {"subscriptions", req.subscriptions},
      {"subscriptions_owner",
       req.subscriptions.is_array() ? json::value(options_.node_name) : json::value(nullptr)}};
  if (!req.start_time.is_null()) row["start_time"] = req.start_time;
  if (!req.shard.is_null()) row["shard"] = req.shard;
  if (!peer_ca.empty()) row["ca"] = peer_ca;
  write.ops.push_back(Upsert(kNodesTable, req.name, std::move(row)));
  json::object local{
      {"added", true}, {"removed", false}, {"seen", true}, {"subscriptions", mine.subscriptions}};
  if (!req.authorization.empty()) {
    local["authorization"] = nullptr;
    if (req.retain_authorization) {
      Result<std::string> sealed = options_.secret_box->Seal(req.authorization);
      if (!sealed.ok()) return sealed.status().WithPrefix("cannot keep the authorization");
      local["authorization"] = std::move(sealed).value();
    }
  }
  write.ops.push_back(Upsert(kNodeAuthTable, req.name, std::move(local)));
  if (self_removed_)
    write.ops.push_back(
        Upsert(kNodeAuthTable, options_.node_name, json::object{{"removed", false}}));
  Result<storage::WriteResult> written = options_.store->Write(std::move(write));
  if (!written.ok()) return written.status();
  if (self_removed_) {
    log_->info("rejoining the cluster: '{}' added", req.name);
    self_removed_ = false;
  }
  if (!req.authorization.empty() && !req.retain_authorization) {
    pending_authorization_[req.name] = req.authorization;
  } else {
    pending_authorization_.erase(req.name);
  }
  log_->info("{} node '{}' at {}", update ? "updated" : "added", req.name, req.url);
  Recompute();

  std::string message = update ? "Successfully updated '" + req.url + "'"
                               : "Successfully added '" + req.url + "' to cluster";
  if (!probe.ok()) {
    log_->warn("node '{}' at {} not reachable yet: {}", req.name, req.url, probe.message());
    message += " but there was an error updating target node: Error returned from " + req.url +
               ": " + probe.message();
  }
  return message;
}

Status ClusterManager::Impl::FirstContact(const AddNodeRequest& req, std::string* peer_ca) {
  ProbeRequest probe{req.url, req.authorization, req.verify_tls, std::nullopt};
  Result<Route> target = ParseUrl(req.url);
  const bool join = options_.identity != nullptr && !req.authorization.empty() && target.ok() &&
                    target->scheme == "wss";
  const bool want_certificate = join && options_.identity->UsesGeneratedCertificate();
  if (join) {
    probe.join = JoinRequest{options_.node_name, options_.node_url, "",
                             options_.identity->CaCertificatePem()};
  }
  if (want_certificate) {
    // The certificate this node will present to the cluster: its name and its URL's host.
    std::set<std::string> names{options_.node_name};
    if (Result<Route> own = ParseUrl(options_.node_url); own.ok()) names.insert(own->host);
    Result<std::string> csr = options_.identity->CreateCsr(names);
    if (!csr.ok()) return csr.status().WithPrefix("cannot make a certificate request");
    probe.join->csr_pem = std::move(csr).value();
  }
  ProbeResult result = ProbeSync(std::move(probe));
  if (join && result.status.code() == Status::Code::kUnauthenticated) {
    // Without a certificate signed by the target, no link could ever come up.
    return Status::PermissionDenied(result.status.message());
  }
  if (!result.status.ok() || !join) return result.status;
  if (!result.grant) return Status::PermissionDenied("the target answered the join with nothing");
  const JoinGrant& grant = *result.grant;
  // Before trusting anything it sent: a target calling itself this node, or a member whose
  // CA is another, is not that node (as GrantJoin refuses such a joiner).
  if (grant.node_name == options_.node_name) {
    return Status::PermissionDenied("the target calls itself '" + grant.node_name +
                                    "', this node's name");
  }
  for (const NodeRow& row : ReadRows()) {
    if (row.name == grant.node_name && !row.ca.empty() && row.ca != grant.ca_pem) {
      return Status::PermissionDenied("the target calls itself '" + grant.node_name +
                                      "', a member with another certificate authority");
    }
  }
  *peer_ca = grant.ca_pem;
  if (!grant.member_cas_pem.empty()) {
    if (Status s = options_.identity->TrustCa(grant.member_cas_pem); !s.ok()) {
      log_->warn("not trusting every member CA '{}' sent: {}", grant.node_name, s.message());
    }
  }
  if (!want_certificate) return Status::Ok();
  if (grant.certificate_pem.empty()) {
    return Status::PermissionDenied("'" + grant.node_name + "' signed no certificate");
  }
  if (Status s = options_.identity->InstallCertificate(grant.certificate_pem, grant.ca_pem);
      !s.ok()) {
    return Status::PermissionDenied("the certificate '" + grant.node_name +
                                    "' signed cannot be used: " + s.message());
  }
  log_->info("joined through '{}' ({}): replication now presents the certificate it signed",
             grant.node_name, req.url);
  return Status::Ok();
}

Result<JoinGrant> ClusterManager::Impl::GrantJoin(const JoinRequest& request) {
  if (options_.identity == nullptr) {
    return Status::PermissionDenied("this node has no certificate authority");
  }
  Result<Route> url = ParseUrl(request.node_url);
  if (request.node_name.empty() || !url.ok()) {
    return Status::InvalidArgument("a join needs the joiner's node name and URL");
  }
  const std::vector<NodeRow> rows = ReadRows();
  RETURN_IF_ERROR(CheckNamesOnlyNode(request.node_name, url->host, rows, "the joiner"));
  std::string member_cas;
  for (const NodeRow& row : rows) {
    if (row.name != options_.node_name && row.name != request.node_name && !row.ca.empty()) {
      member_cas += row.ca;
    }
    // The same node joining again keeps its CA (under its <root>/keys); another node
    // claiming a member's name does not have it.
    if (row.name == request.node_name && !row.ca.empty() && row.ca != request.ca_pem) {
      return Status::PermissionDenied("'" + row.name +
                                      "' is a member with another certificate authority");
    }
  }
  // A node with a configured (bring-your-own) certificate asks for none.
  std::string certificate;
  if (!request.csr_pem.empty()) {
    ASSIGN_OR_RETURN(certificate,
                     options_.identity->SignCsr(request.csr_pem, {request.node_name, url->host}));
  }
  if (!request.ca_pem.empty()) RETURN_IF_ERROR(options_.identity->TrustCa(request.ca_pem));
  // Its row (merged into any it has): dialled and trusted from now on, and gossiped.
  json::object row{{"url", request.node_url}, {"replicates", true}};
  if (!request.ca_pem.empty()) row["ca"] = request.ca_pem;
  storage::WriteRequest write;
  write.database = kSystemDb;
  write.ops.push_back(Upsert(kNodesTable, request.node_name, std::move(row)));
  Result<storage::WriteResult> written = options_.store->Write(std::move(write));
  if (!written.ok()) return written.status();
  return JoinGrant{options_.node_name, std::move(certificate),
                   options_.identity->CaCertificatePem(), std::move(member_cas)};
}

Status ClusterManager::Impl::CheckNamesOnlyNode(const std::string& name, const std::string& host,
                                                const std::vector<NodeRow>& rows,
                                                const std::string& who) const {
  std::string own_host = options_.node_name;
  if (Result<Route> own = ParseUrl(options_.node_url); own.ok()) own_host = own->host;
  for (const std::string& n : {name, host}) {
    if (n == options_.node_name || n == own_host) {
      return Status::PermissionDenied(who + " names this node ('" + n + "')");
    }
  }
  for (const NodeRow& row : rows) {
    if (row.name != name && row.name == host) {
      return Status::PermissionDenied(who + "'s URL names another member ('" + row.name + "')");
    }
  }
  return Status::Ok();
}

Result<std::string> ClusterManager::Impl::SignRenewal(const PeerCaller& caller,
                                                      const std::string& csr_pem) {
  if (options_.identity == nullptr) {
    return Status::PermissionDenied("this node has no certificate authority");
  }
  const std::vector<NodeRow> rows = ReadRows();
  auto row = std::find_if(rows.begin(), rows.end(),
                          [&](const NodeRow& r) { return r.name == caller.name; });
  if (caller.name.empty() || caller.name == options_.node_name || row == rows.end()) {
    return Status::PermissionDenied("'" + caller.name + "' is not a member");
  }
  std::map<std::string, LocalNodeState> local = ReadLocal(nullptr);
  if (auto it = local.find(caller.name); it != local.end() && it->second.removed) {
    return Status::PermissionDenied("'" + caller.name + "' was removed from the cluster");
  }
  Result<Route> url = ParseUrl(row->url.empty() ? caller.url : row->url);
  if (!url.ok()) return Status::PermissionDenied("'" + caller.name + "' has no URL");
  RETURN_IF_ERROR(CheckNamesOnlyNode(caller.name, url->host, rows, "the requester"));
  ASSIGN_OR_RETURN(std::string certificate,
                   options_.identity->SignCsr(csr_pem, {caller.name, url->host}));
  log_->info("signed a renewed replication certificate for member '{}' over its link", caller.name);
  return certificate;
}

std::string ClusterManager::Impl::MemberHoldingCa(const std::string& ca_pem) {
  if (ca_pem.empty()) return "";
  std::map<std::string, LocalNodeState> local = ReadLocal(nullptr);
  for (const NodeRow& row : ReadRows()) {
    if (row.name == options_.node_name || row.ca.find(ca_pem) == std::string::npos) continue;
    if (auto it = local.find(row.name); it != local.end() && it->second.removed) continue;
    return row.name;
  }
  return "";
}

std::vector<std::string> ClusterManager::Impl::MembersSync() {
  std::map<std::string, LocalNodeState> local = ReadLocal(nullptr);
  std::vector<std::string> out;
  for (const NodeRow& row : ReadRows()) {
    if (row.name == options_.node_name) continue;
    if (auto it = local.find(row.name); it != local.end() && it->second.removed) continue;
    out.push_back(row.name);
  }
  return out;
}

std::vector<std::string> ClusterManager::Impl::SerialsToRevoke(const NodeRow& removed,
                                                               const std::vector<NodeRow>& rows) {
  std::vector<std::string> out;
  auto add = [&](const std::string& serial, const char* where) {
    if (serial.empty() || std::find(out.begin(), out.end(), serial) != out.end()) return;
    // Never this node's own certificate, nor one another member's row says it presents.
    for (const NodeRow& row : rows) {
      if (row.name != removed.name && row.certificate_serial == serial) return;
    }
    if (options_.identity != nullptr && options_.identity->CertificateSerial() == serial) return;
    log_->info("revoking the certificate {} of node '{}' ({})", serial, removed.name, where);
    out.push_back(serial);
  };
  add(removed.certificate_serial, "its hdb_nodes row");
  for (const std::string& serial : options_.service->PresentedCertificateSerials(removed.name)) {
    add(serial, "presented on a link to this node");
  }
  return out;
}

Result<std::string> ClusterManager::Impl::RemoveNodeSync(const std::string& id) {
  std::vector<NodeRow> rows = ReadRows();
  const NodeRow* found = nullptr;
  for (const NodeRow& row : rows) {
    if (row.name == id || (!row.url.empty() && row.url == id)) found = &row;
  }
  if (found == nullptr && id.find("://") != std::string::npos) {
    for (const NodeRow& row : rows) {
      if (row.name == HostOf(id)) found = &row;
    }
  }
  if (found == nullptr) return Status::InvalidArgument(id + " does not exist");
  std::string name = found->name;
  if (name == options_.node_name) {
    return Status::InvalidArgument("'" + name + "' is this node; remove it from another node");
  }
  storage::WriteRequest write;
  write.database = kSystemDb;
  write.ops.push_back(Delete(kNodesTable, name));
  // Its certificates are revoked everywhere: gossiped in this node's row, kept by every node.
  const std::vector<std::string> serials = SerialsToRevoke(*found, rows);
  if (!serials.empty()) {
    std::set<std::string> revoked(serials.begin(), serials.end());
    for (const NodeRow& row : rows) {
      if (row.name == options_.node_name) {
        revoked.insert(row.revoked_certificates.begin(), row.revoked_certificates.end());
      }
    }
    json::array list;
    for (const std::string& s : revoked) list.emplace_back(s);
    write.ops.push_back(Upsert(kNodesTable, options_.node_name,
                               json::object{{"revoked_certificates", std::move(list)}}));
  }
  write.ops.push_back(Upsert(kNodeAuthTable, name,
                             json::object{{"added", false},
                                          {"removed", true},
                                          {"seen", false},
                                          {"authorization", nullptr},
                                          {"subscriptions", nullptr}}));
  Result<storage::WriteResult> written = options_.store->Write(std::move(write));
  if (!written.ok()) return written.status();
  pending_authorization_.erase(name);
  log_->info("removing node '{}': waiting for it to learn of its removal", name);
  bool answered = WaitForAck(name, written->sequence);
  for (int attempt = 2; RemovalLostToOwnWrite(name, written->version, answered); ++attempt) {
    if (attempt > kRemoveAttempts) {
      log_->warn(
          "node '{}' rewrote its hdb_nodes row after each of {} deletes: it is marked removed "
          "here, but its row may come back elsewhere; run remove_node again",
          name, kRemoveAttempts);
      break;
    }
    log_->warn(
        "node '{}' rewrote its hdb_nodes row before the delete reached it, and its write was "
        "the newer: deleting the row again",
        name);
    storage::WriteRequest again;
    again.database = kSystemDb;
    again.ops.push_back(Delete(kNodesTable, name));
    written = options_.store->Write(std::move(again));
    if (!written.ok()) return written.status();
    answered = WaitForAck(name, written->sequence);
  }
  Recompute();
  log_->info("removed node '{}'", name);
  return "Successfully removed '" + name + "' from cluster";
}

Result<json::value> ClusterManager::Impl::ConfigureClusterSync(
    std::vector<AddNodeRequest> requests) {
  std::set<std::string> wanted;
  for (size_t i = 0; i < requests.size(); ++i) {
    AddNodeRequest& req = requests[i];
    if (req.name.empty() && !req.url.empty()) req.name = HostOf(req.url);
    // Refused before any node is removed: bad input changes nothing.
    if (req.name.empty()) {
      return Status::InvalidArgument("'connections[" + std::to_string(i) +
                                     "]': 'hostname' or 'url' is required");
    }
    if (req.name == options_.node_name || req.url == options_.node_url) {
      return Status::InvalidArgument("'connections[" + std::to_string(i) + "]': '" + req.name +
                                     "' is this node");
    }
    wanted.insert(req.name);
  }
  for (const NodeRow& row : ReadRows()) {
    if (row.name == options_.node_name || wanted.count(row.name) != 0) continue;
    Result<std::string> removed = RemoveNodeSync(row.name);
    if (!removed.ok()) log_->warn("configure_cluster: {}", removed.status().message());
  }
  json::array connections;
  json::array failed;
  bool only_client_errors = true;  // every failure was the request's fault (a 4xx)
  std::string reasons;
  for (AddNodeRequest& req : requests) {
    std::string name = req.name;
    Result<std::string> added = AddNodeSync(std::move(req), false);
    if (added.ok()) {
      connections.push_back(json::object{{"node_name", name}, {"response", *added}});
    } else {
      log_->warn("configure_cluster: adding '{}' failed: {}", name, added.status().message());
      failed.push_back(json::value(name));
      const Status::Code code = added.status().code();
      only_client_errors = only_client_errors &&
                           (code == Status::Code::kInvalidArgument ||
                            code == Status::Code::kConflict || code == Status::Code::kNotFound);
      reasons += (reasons.empty() ? "" : "; ") + ("'" + name + "': " + added.status().message());
    }
  }
  if (!requests.empty() && failed.size() == requests.size()) {
    // HarperDB answers 500 whatever the cause; bad input is a 400 here, with the reasons.
    if (only_client_errors) {
      return Status::InvalidArgument("Failed to configure the cluster: " + reasons);
    }
    return Status::Internal("Failed to configure the cluster. Check the logs for more details.");
  }
  if (!failed.empty()) {
    return json::value(json::object{
        {"message",
         "Configure cluster was partially successful. Errors occurred when attempting to "
         "configure the following nodes. Check the logs for more details."},
        {"failed_nodes", failed},
        {"connections", connections}});
  }
  return json::value(
      json::object{{"message", "Configure cluster complete."}, {"connections", connections}});
}

json::object ClusterManager::Impl::StatusSync() {
  std::map<std::string, NodeRow> rows;
  for (NodeRow& row : ReadRows()) rows.emplace(row.name, std::move(row));
  std::map<std::string, LocalNodeState> local = ReadLocal(nullptr);
  json::array connections;
  for (json::value& entry : options_.service->ConnectionsStatus()) {
    if (!entry.is_object()) continue;
    json::object& conn = entry.get_object();
    std::string name = conn.contains("name") && conn.at("name").is_string()
                           ? std::string(conn.at("name").get_string())
                           : std::string();
    const NodeRow* row = nullptr;
    if (auto it = rows.find(name); it != rows.end()) row = &it->second;
    json::object out;
    if (row != nullptr && !row->url.empty()) {
      out["url"] = row->url;
    } else if (conn.contains("url")) {
      out["url"] = conn.at("url");
    }
    // A route that has not answered yet has no name: show the host it dials (HarperDB does).
    std::string shown = name;
    if (shown.empty() && conn.contains("url") && conn.at("url").is_string()) {
      shown = HostOf(std::string(conn.at("url").get_string()));
    }
    out["name"] = json::string(shown);
    if (const json::value* replicates = conn.if_contains("replicates")) {
      out["replicates"] = *replicates;
    }
    const LocalNodeState* state = nullptr;
    if (auto it = local.find(name); it != local.end()) state = &it->second;
    EffectiveSubscriptions subs = SubscriptionsForLink(options_.node_name, row, state);
    // What the engine enforces (the peer set's subscriptions), and who defined it: this
    // node, the peer (its view swapped), or this node's exclusions from the mesh.
    json::value enforced = nullptr;
    if (const json::value* v = conn.if_contains("subscriptions")) enforced = *v;
    if (subs.owner.empty() && !enforced.is_null()) subs.owner = options_.node_name;
    out["subscriptions"] = enforced;
    out["subscriptions_owner"] =
        subs.owner.empty() ? json::value(nullptr) : json::value(subs.owner);
    for (auto& kv : conn) {
      if (out.contains(kv.key())) continue;
      out[kv.key()] = kv.value();
    }
    connections.push_back(std::move(out));
  }
  json::object status;
  status["type"] = "cluster-status";
  status["connections"] = std::move(connections);
  status["node_name"] = json::string(options_.node_name);
  if (auto it = rows.find(options_.node_name); it != rows.end() && !it->second.url.empty()) {
    status["url"] = json::string(it->second.url);
  }
  status["is_enabled"] = true;
  if (options_.service != nullptr) {
    for (auto& kv : options_.service->ServiceStatus()) status[kv.key()] = kv.value();
  }
  if (options_.discovery_status) status["discovery"] = options_.discovery_status();
  return status;
}

bool ClusterManager::Impl::IsMemberSync(const std::string& name) {
  std::vector<NodeRow> rows = ReadRows();
  bool has_row =
      std::any_of(rows.begin(), rows.end(), [&](const NodeRow& row) { return row.name == name; });
  if (!has_row) return false;
  std::map<std::string, LocalNodeState> local = ReadLocal(nullptr);
  auto it = local.find(name);
  return it == local.end() || !it->second.removed;
}

Result<RouteChange> ClusterManager::Impl::ChangeRoutesSync(const json::array& routes, bool add) {
  RouteChange change = add ? AddRoutes(routes_, routes, options_.default_port)
                           : RemoveRoutes(routes_, routes, options_.default_port);
  if (!options_.config_file.empty()) {
    Status s = config::Config::SetPathInFile(options_.config_file, options_.backup_dir,
                                             "replication.routes", change.routes);
    if (!s.ok()) return s;
  }
  routes_ = change.routes;
  // Setting a route to a node removed here links it again; deleting the route to a known
  // node unlinks it here (without removing it from the cluster).
  storage::WriteRequest write;
  write.database = kSystemDb;
  std::map<std::string, LocalNodeState> local = ReadLocal(nullptr);
  std::vector<NodeRow> rows = ReadRows();
  for (const json::value& entry : change.changed) {
    Result<Route> route = ParseRoute(entry);
    if (!route.ok()) continue;
    for (const std::string& name : NamesForRoute(*route, rows, local)) {
      auto it = local.find(name);
      bool removed = it != local.end() && it->second.removed;
      if (add && removed) {
        write.ops.push_back(Upsert(kNodeAuthTable, name, json::object{{"removed", false}}));
      } else if (!add && !removed && !(it != local.end() && it->second.added)) {
        // "seen": its row, should it arrive after this (gossip lagging the link that named
        // the node), is not a node added again.
        write.ops.push_back(
            Upsert(kNodeAuthTable, name, json::object{{"removed", true}, {"seen", true}}));
      }
    }
  }
  if (!write.ops.empty()) {
    Result<storage::WriteResult> written = options_.store->Write(std::move(write));
    if (!written.ok()) return written.status();
  }
  log_->info("routes {}: now {}", add ? "set" : "deleted", json::serialize(routes_));
  Recompute();
  return change;
}

json::array ClusterManager::Impl::RoutesInForce() const {
  return routes_.is_array() ? routes_.get_array() : json::array();
}

void ClusterManager::Impl::OnPeerHelloSync(const std::string& name, const std::string& url,
                                           bool by_credentials) {
  if (name.empty() || name == options_.node_name) return;
  std::map<std::string, json::object> docs;
  std::map<std::string, LocalNodeState> local = ReadLocal(&docs);
  if (auto it = local.find(name); it != local.end() && it->second.removed) {
    log_->warn("hello from removed node '{}' ignored", name);
    return;
  }
  storage::WriteRequest write;
  write.database = kSystemDb;
  if (self_removed_ && !by_credentials) {
    // A member that has not learned of the removal yet: rejoining on its word would bring
    // this node's row back everywhere.
    log_->info(
        "'{}' linked to this node, which was removed: staying out of the cluster until "
        "added again (add_node with credentials)",
        name);
    return;
  }
  if (self_removed_) {
    log_->info("rejoining the cluster: linked by '{}'", name);
    self_removed_ = false;
    write.ops.push_back(OwnRowOp());
    write.ops.push_back(
        Upsert(kNodeAuthTable, options_.node_name, json::object{{"removed", false}}));
  }
  bool known = false;
  for (const NodeRow& row : ReadRows()) known = known || row.name == name;
  if (auto doc = docs.find(name); !known && doc != docs.end() && Seen(doc->second)) {
    // Its row was here and was deleted (remove_node, through gossip); the Recompute that marks
    // it removed has not run yet. Recording it now would write the row back, newer than the
    // delete, on every member.
    log_->info("hello from node '{}', whose hdb_nodes row was deleted: not recording it", name);
  } else if (!known) {
    log_->info("recording node '{}' ({}) that linked to us", name, url);
    write.ops.push_back(Upsert(
        kNodesTable, name,
        json::object{
            {"url",
             url.empty() ? MakeUrl(name, options_.default_port, options_.default_scheme) : url},
            {"replicates", true},
            {"subscriptions", nullptr}}));
  }
  if (write.ops.empty()) return;
  Result<storage::WriteResult> written = options_.store->Write(std::move(write));
  if (!written.ok()) log_->warn("recording node '{}': {}", name, written.status().message());
}

std::vector<std::string> ClusterManager::Impl::NamesForRoute(
    const Route& route, const std::vector<NodeRow>& rows,
    const std::map<std::string, LocalNodeState>& local) {
  std::vector<std::string> names;
  for (const NodeRow& row : rows) {
    Result<Route> row_route = ParseUrl(row.url);
    bool match = (row_route.ok() && SameRoute(*row_route, route, options_.default_port)) ||
                 (row.name == route.host &&
                  (route.port == 0 || (row_route.ok() && row_route->port == route.port)));
    if (match && row.name != options_.node_name) names.push_back(row.name);
  }
  if (options_.service != nullptr) {
    for (PeerLinkSummary& peer : SummarizeLinks(options_.service->ConnectionsStatus())) {
      Result<Route> peer_route = ParseUrl(peer.url);
      if (peer.name.empty() || peer.name == options_.node_name || !peer_route.ok() ||
          !SameRoute(*peer_route, route, options_.default_port) ||
          std::find(names.begin(), names.end(), peer.name) != names.end()) {
        continue;
      }
      names.push_back(std::move(peer.name));
    }
  }
  if (names.empty() && local.count(route.host) != 0) names.push_back(route.host);
  return names;
}

}  // namespace meshdb::replication
