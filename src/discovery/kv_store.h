// What discovery needs from a key-value store (docs/discovery.md "Key layout"): a liveness
// handle that keys are bound to (an etcd lease, a Consul session: when the node stops
// renewing it, its keys disappear), a create-if-absent claim for the seed key, and reads.
// Implemented by EtcdStore (etcd_store.h) and ConsulStore (consul_store.h).
//
// Keys are given without a leading '/' ("meshdb/seed"); each store spells them its own way.
// Values are opaque text (discovery writes JSON).
//
// Errors every method may return: Unavailable (the store cannot be reached or answered
// with a server error: try again later), PermissionDenied (credentials refused), NotFound
// (the liveness handle is gone: open a new one). Calls block for at most the store's
// request timeout. Thread-safety: one thread at a time.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace meshdb::discovery {

struct SeedClaim {
  bool won = false;          // this handle now holds the key
  std::string holder_value;  // the key's value: ours when won, else the holder's
};

class KvStore {
 public:
  virtual ~KvStore() = default;

  // Opens a new liveness handle living `ttl` without renewal; later writes bind to it.
  virtual Status OpenSession(std::chrono::seconds ttl) = 0;
  // Renews the handle. NotFound when it expired or was revoked.
  virtual Status KeepAlive() = 0;
  // Writes key = value bound to the handle. Conflict when another live handle holds the key
  // (Consul locks; an earlier incarnation of this node whose session has not expired yet).
  virtual Status PutBound(const std::string& key, const std::string& value) = 0;
  // Creates key = value bound to the handle unless the key exists; either way reports who
  // holds it. A key this handle already holds counts as won. Conflict when no holder can be
  // reported (it was deleted between two calls, or is in Consul's lock-delay: ask again
  // later).
  virtual Result<SeedClaim> ClaimOrRead(const std::string& key, const std::string& value) = 0;
  // The values of every key under `prefix` ("meshdb/nodes/").
  virtual Result<std::vector<std::string>> List(const std::string& prefix) = 0;
  // Ends the handle, so its keys go at once (a graceful leave). Best effort.
  virtual void CloseSession() = 0;
  // The endpoint in use now ("http://127.0.0.1:2379"), for status.
  [[nodiscard]] virtual std::string Endpoint() const = 0;
};

}  // namespace meshdb::discovery
