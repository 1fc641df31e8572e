#include "server/node_discovery.h"

#include <chrono>
#include <future>
#include <utility>

#include "common/log.h"
#include "replication/cluster/cluster_manager.h"
#include "replication/cluster/node_identity.h"

namespace meshdb::server {

namespace {

// How long a join (add_node's first contact and writes) may take before the round gives up.
constexpr std::chrono::seconds kJoinTimeout{60};

// Runs `start(done)` and waits for done's value (at most `timeout`).
template <typename T, typename Start>
std::optional<T> Await(Start start, std::chrono::seconds timeout) {
  auto promise = std::make_shared<std::promise<T>>();
  std::future<T> future = promise->get_future();
  start([promise](T value) { promise->set_value(std::move(value)); });
  if (future.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  try {
    return future.get();
  } catch (const std::future_error&) {
    return std::nullopt;  // membership stopped and dropped the callback
  }
}

}  // namespace

Result<std::optional<discovery::DiscoverySettings>> ReadDiscoverySettings(
    const config::Settings& settings, const std::string& node_name) {
  discovery::DiscoveryInputs inputs;
  inputs.mode = settings.discovery_mode;
  inputs.config = settings.discovery_config;
  inputs.key = settings.discovery_key;
  inputs.authorization = settings.discovery_authorization;
  inputs.node_name = node_name;
  return discovery::ParseDiscoverySettings(inputs);
}

Result<std::unique_ptr<discovery::DiscoveryService>> CreateNodeDiscovery(
    NodeDiscoveryInputs inputs) {
  ASSIGN_OR_RETURN(std::unique_ptr<discovery::KvStore> store,
                   discovery::OpenKvStore(inputs.settings));
  if (inputs.settings.authorization.empty()) {
    log::For("discovery")
        ->warn(
            "discovery.authorization is not set: joins carry no credentials, and a seed "
            "refuses them unless this node is already a member (docs/discovery.md)");
  }
  replication::ClusterManager* cluster = inputs.cluster;
  replication::NodeIdentity* identity = inputs.identity;
  discovery::DiscoveryServiceOptions options;
  options.store = std::move(store);
  options.mode = inputs.settings.mode;
  options.key = inputs.settings.key;
  options.self = std::move(inputs.self);
  if (identity != nullptr) {
    options.current_ca = [identity] {
      std::string own = identity->CaCertificatePem();
      std::string issuer = identity->PresentedIssuerPem();
      return issuer.empty() || issuer == own ? own : own + issuer;
    };
  }
  options.ttl = inputs.settings.ttl;
  options.refresh = inputs.settings.refresh;
  options.is_member = [cluster](const std::string& name) {
    std::optional<bool> member =
        Await<bool>([&](auto done) { cluster->IsMember(name, std::move(done)); }, kJoinTimeout);
    return member.value_or(true);  // unknown: do not join twice
  };
  options.join = [cluster, identity, authorization = inputs.settings.authorization](
                     const discovery::NodeRecord& seed) -> Status {
    // The seed's CA came from the discovery store, which the operator secures: trusting it
    // lets the first contact verify the seed's certificate instead of skipping the check.
    if (identity != nullptr && !seed.ca.empty() && seed.url.starts_with("wss://")) {
      RETURN_IF_ERROR(identity->TrustCa(seed.ca).WithPrefix("the seed's published CA"));
    }
    replication::AddNodeRequest request;
    request.name = seed.name;
    request.url = seed.url;
    request.authorization = authorization;
    std::optional<Result<std::string>> added = Await<Result<std::string>>(
        [&](auto done) { cluster->AddNode(std::move(request), false, std::move(done)); },
        kJoinTimeout);
    if (!added) return Status::Unavailable("add_node did not finish in time");
    if (!added->ok()) return added->status();
    log::For("discovery")->info("{}", added->value());
    return Status::Ok();
  };
  return std::make_unique<discovery::DiscoveryService>(std::move(options));
}

}  // namespace meshdb::server
