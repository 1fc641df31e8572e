// Discovery for this server (docs/discovery.md): the discovery.* settings checked at start,
// and the DiscoveryService wired to cluster membership — a seed this node does not know is
// joined with add_node, presenting discovery.authorization, after trusting the CA the seed
// published (so a wss:// first contact verifies, as with `verify_tls: true`).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "config/config.h"
#include "discovery/discovery_service.h"
#include "discovery/discovery_settings.h"

namespace meshdb::replication {
class ClusterManager;
class NodeIdentity;
}  // namespace meshdb::replication

namespace meshdb::server {

// The settings, or nullopt when discovery is off. InvalidArgument naming the flag.
Result<std::optional<discovery::DiscoverySettings>> ReadDiscoverySettings(
    const config::Settings& settings, const std::string& node_name);

struct NodeDiscoveryInputs {
  discovery::DiscoverySettings settings;
  discovery::NodeRecord self;
  // Outlive the service (stop it first).
  replication::ClusterManager* cluster = nullptr;
  replication::NodeIdentity* identity = nullptr;
};

// The service (not started). InvalidArgument when a TLS file for the store cannot be loaded.
Result<std::unique_ptr<discovery::DiscoveryService>> CreateNodeDiscovery(
    NodeDiscoveryInputs inputs);

}  // namespace meshdb::server
