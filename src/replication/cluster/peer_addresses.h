// Insecure mode (docs/security.md): which remote addresses may open plain ws:// replication
// links with a node token. They are the addresses of the hosts of the routes in force and of
// the known members' URLs (system.hdb_nodes rows); ClusterManager resolves them on its
// membership thread and hands them to ReplicationService::SetPeerAddresses.
#pragma once

#include <string>
#include <vector>

#include "common/ip_allow_list.h"
#include "replication/cluster/cluster_peers.h"
#include "replication/cluster/cluster_routes.h"

namespace meshdb::replication {

// The hosts of `routes` and of `rows`' URLs (a row without a URL: its name, as ComputePeers
// dials it), without the row named `self_name` and rows whose URL does not parse. Sorted,
// without duplicates. Pure.
std::vector<std::string> PeerHosts(const std::vector<Route>& routes,
                                   const std::vector<NodeRow>& rows, const std::string& self_name);

struct ResolvedHosts {
  common::IpAllowList addresses;
  // Hosts that gave no address, each with the resolver's reason ("node9.example: Name or
  // service not known").
  std::vector<std::string> unresolved;
};

// The addresses of `hosts`: an IP literal is its own address, a name every IPv4 and IPv6
// address the system resolver (getaddrinfo) gives for it. Blocks on DNS for as long as the
// resolver takes: call it off the I/O threads. Thread-safe.
ResolvedHosts ResolveHosts(const std::vector<std::string>& hosts);

}  // namespace meshdb::replication
