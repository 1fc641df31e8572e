// ClusterManager::Impl, insecure mode: the addresses of the routes' and members' hosts, from
// which plain ws:// replication is accepted (docs/security.md).
#include <string>
#include <utility>
#include <vector>

#include "replication/cluster/cluster_manager_impl.h"
#include "replication/cluster/peer_addresses.h"
#include "replication/engine/replication_service.h"

namespace meshdb::replication {

namespace {

// A host that did not resolve is tried again at the next recomputation this long after.
constexpr auto kRetryUnresolved = std::chrono::seconds(30);

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : "; ") + item;
  return out;
}

}  // namespace

void ClusterManager::Impl::RefreshPeerAddresses(const std::vector<NodeRow>& rows) {
  std::vector<std::string> hosts = PeerHosts(ParseRoutes(routes_), rows, options_.node_name);
  const auto now = std::chrono::steady_clock::now();
  const bool retry = !unresolved_hosts_.empty() && now - last_resolve_ >= kRetryUnresolved;
  if (resolved_once_ && hosts == peer_hosts_ && !retry) return;
  ResolvedHosts resolved =
      options_.resolve_hosts ? options_.resolve_hosts(hosts) : ResolveHosts(hosts);
  if (!resolved.unresolved.empty() && resolved.unresolved != unresolved_hosts_) {
    log_->warn(
        "cannot resolve {}: plain ws:// replication from those hosts is refused until they "
        "resolve (or are in replication.allowedIps)",
        Join(resolved.unresolved));
  }
  peer_hosts_ = std::move(hosts);
  unresolved_hosts_ = std::move(resolved.unresolved);
  last_resolve_ = now;
  resolved_once_ = true;
  options_.service->SetPeerAddresses(std::move(resolved.addresses));
}

}  // namespace meshdb::replication
