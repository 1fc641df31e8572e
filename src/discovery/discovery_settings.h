// The discovery.* settings (docs/discovery.md), checked deeply at start: the store's
// connection (discovery.config: an object, JSON text, or the path of a JSON file), the
// key, the lease TTL and refresh interval, and the credentials joins present. Every error
// names the flag and the key it came from, e.g.
//   "--disco-config (discovery.config): invalid JSON at offset 1: syntax error".
//
// discovery.config fields:
//   etcd-kv    endpoints (list of "host:port" or URLs; tried in order), username, password,
//              ca, cert, key (PEM files: TLS to etcd), ttl, refresh_interval
//   consul-kv  address ("host:port", default 127.0.0.1:8500), scheme (http|https), token,
//              datacenter, ca, cert, key, ttl, refresh_interval
// ttl: seconds (number, or "10s", "1m"), default 10; refresh_interval: seconds (fractions
// allowed) or a duration, default ttl/3, below ttl. Any other field is refused.
#pragma once

#include <boost/json/value.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "discovery/consul_store.h"
#include "discovery/etcd_store.h"
#include "discovery/kv_store.h"

namespace meshdb::discovery {

inline constexpr const char* kEtcdMode = "etcd-kv";
inline constexpr const char* kConsulMode = "consul-kv";

struct DiscoverySettings {
  std::string mode;  // kEtcdMode or kConsulMode
  std::string key;   // [a-z0-9_-]+
  std::chrono::seconds ttl{10};
  std::chrono::milliseconds refresh{0};
  EtcdOptions etcd;      // mode etcd-kv
  ConsulOptions consul;  // mode consul-kv
  // The HTTP Authorization value joins present ("Basic ..." from "user:password", or the
  // value as given); "" = none. A secret.
  std::string authorization;
};

struct DiscoveryInputs {
  std::string mode;           // discovery.mode
  boost::json::value config;  // discovery.config
  std::string key;            // discovery.key
  std::string authorization;  // discovery.authorization
  std::string node_name;      // names the Consul session
};

// nullopt when discovery is off (no mode). InvalidArgument naming the flag otherwise.
Result<std::optional<DiscoverySettings>> ParseDiscoverySettings(const DiscoveryInputs& inputs);

// The store the settings describe. InvalidArgument when a TLS file cannot be loaded.
Result<std::unique_ptr<KvStore>> OpenKvStore(const DiscoverySettings& settings);

}  // namespace meshdb::discovery
