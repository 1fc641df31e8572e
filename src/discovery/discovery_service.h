// This node's presence in the discovery store and its way into the cluster
// (docs/discovery.md). One thread repeats, every refresh interval:
//   1. keep the liveness handle (etcd lease / Consul session) alive; open a new one when it
//      was lost (then everything below is written again);
//   2. register <key>/nodes/<id> with this node's record;
//   3. claim <key>/seed, or read who holds it (create-if-absent: exactly one node wins);
//   4. the island rule: when the seed is another node that is not a member here, join it
//      (add_node with discovery.authorization); gossip then links this node to every other.
//      A join can take seconds, longer than the TTL: while it runs a second thread renews
//      the handle every third of the TTL, and the round renews it again when it returns.
// The seed is only a meeting point: it has no authority, any node serves writes, and a
// stale or doubled seed is harmless. When the holder dies its key expires with its handle
// and the next round of a live node claims it (failover within TTL + one refresh).
//
// The store being away never stops the node: a failed round is retried with capped
// exponential backoff (from the refresh interval up to 30 s, with jitter), logged once per
// change of error, and the node is registered again when the store answers.
//
// Thread-safety: Status() from any thread; Start/Stop from one thread.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "discovery/kv_store.h"

namespace spdlog {
class logger;
}

namespace meshdb::discovery {

// What a node publishes about itself (nothing secret): the value of its registration and,
// while it holds the seed, of the seed key.
struct NodeRecord {
  std::string name;            // node name (hdb_nodes key)
  std::string url;             // replication URL: what add_node dials
  std::string operations_url;  // operations API
  std::string ca;              // PEM of the node's CA (public), to verify its wss:// link

  [[nodiscard]] std::string ToJson() const;
  // InvalidArgument unless `text` is an object with non-empty string `name` and `url`.
  static Result<NodeRecord> FromJson(const std::string& text);
};

// <id> of a node's key: the name lower-cased, each character outside [a-z0-9_-] as '-'.
std::string NodeKeyId(const std::string& node_name);

struct DiscoveryServiceOptions {
  std::unique_ptr<KvStore> store;
  std::string mode;  // for status
  std::string key;   // the key prefix: <key>/seed, <key>/nodes/<id>
  NodeRecord self;
  // The CA certificates (PEM, concatenated) a peer needs to verify this node now, asked
  // every round: the certificate a node presents changes when a join signs it. Null: self.ca.
  std::function<std::string()> current_ca;
  std::chrono::seconds ttl{10};
  std::chrono::milliseconds refresh{3333};
  // Whether `name` is a member this node links with (blocking; discovery thread).
  std::function<bool(const std::string& name)> is_member;
  // Joins `seed` as add_node does (blocking; discovery thread). The result is logged and
  // shown as last_error when it failed; the next round tries again.
  std::function<Status(const NodeRecord& seed)> join;
};

class DiscoveryService {
 public:
  explicit DiscoveryService(DiscoveryServiceOptions options);
  ~DiscoveryService();  // Stop(false)
  DiscoveryService(const DiscoveryService&) = delete;
  DiscoveryService& operator=(const DiscoveryService&) = delete;

  void Start();
  // Ends the thread (waits for a round in progress, at most the store's request timeout).
  // `leave`: ends the liveness handle too, so this node's keys go at once and another node
  // may claim the seed without waiting for the TTL.
  void Stop(bool leave);

  // cluster_status's "discovery": mode, key, endpoint, registered, is_seed, seed (holder's
  // name or null), last_error (null when the last round succeeded), ttl_s, refresh_ms.
  [[nodiscard]] boost::json::object Status() const;

 private:
  void Run();
  // One round (steps 1-4). Returns the error that ended it early.
  meshdb::Status Round();
  meshdb::Status EnsureSession();
  // options_.join(seed), with the handle renewed every third of the TTL while it runs.
  meshdb::Status JoinKeepingSessionAlive(const NodeRecord& seed);
  // Records the outcome of a round: logs when the error changed.
  void Record(const meshdb::Status& outcome);
  [[nodiscard]] std::chrono::milliseconds NextDelay(int failures) const;

  DiscoveryServiceOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  std::thread thread_;

  mutable common::Mutex mu_;
  std::condition_variable_any wake_;
  bool stopping_ GUARDED_BY(mu_) = false;
  // Status, written by the discovery thread.
  std::string endpoint_ GUARDED_BY(mu_);
  bool session_open_ GUARDED_BY(mu_) = false;
  bool registered_ GUARDED_BY(mu_) = false;
  std::string registered_record_;  // the value last written to nodes/<id> (discovery thread)
  std::optional<std::string> seed_ GUARDED_BY(mu_);
  std::optional<std::string> last_error_ GUARDED_BY(mu_);
};

}  // namespace meshdb::discovery
