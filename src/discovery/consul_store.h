// KvStore over Consul's HTTP API (/v1; reference in docs/discovery.md): the liveness handle
// is a session with a TTL, Behavior "delete" and no node checks (so it lives exactly as long
// as this node renews it) and a 1 s lock-delay; bound keys and the seed claim are
// `PUT /v1/kv/<key>?acquire=<session>` (only acquire binds a key to the session, so the key
// goes when the holder dies); a lost claim reads the holder with a GET. Keys are sent as
// given (no leading '/'), which Consul 1.21.5+'s key check accepts for discovery's
// [a-z0-9_-] segments.
//
// Tested against tests/integration/consul_standin.py, not a real Consul (none can be had
// here): see docs/discovery.md.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "discovery/kv_store.h"

namespace meshdb::discovery {

struct ConsulOptions {
  std::string base_url;    // "http://127.0.0.1:8500"
  std::string token;       // X-Consul-Token ("" = none)
  std::string datacenter;  // ?dc= ("" = the agent's)
  std::string session_name;
  HttpTlsFiles tls;
  std::chrono::milliseconds timeout{5000};  // per request
};

class ConsulStore final : public KvStore {
 public:
  // InvalidArgument when a TLS file cannot be loaded.
  static Result<std::unique_ptr<ConsulStore>> Create(ConsulOptions options);

  Status OpenSession(std::chrono::seconds ttl) override;
  Status KeepAlive() override;
  Status PutBound(const std::string& key, const std::string& value) override;
  Result<SeedClaim> ClaimOrRead(const std::string& key, const std::string& value) override;
  Result<std::vector<std::string>> List(const std::string& prefix) override;
  void CloseSession() override;
  [[nodiscard]] std::string Endpoint() const override { return options_.base_url; }

 private:
  ConsulStore(ConsulOptions options, HttpClient client);
  // Sends one request; 403 → PermissionDenied, 5xx → Unavailable (an "invalid session"
  // → NotFound: the session is gone).
  Result<HttpResponse> Call(const std::string& method, std::string target,
                            const std::string& body = {});
  // PUT /v1/kv/<key>?acquire=<session>: true when this session holds the key now.
  Result<bool> Acquire(const std::string& key, const std::string& value);

  ConsulOptions options_;
  HttpClient client_;
  std::string session_id_;  // "" = no session
};

}  // namespace meshdb::discovery
