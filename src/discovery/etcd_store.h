// KvStore over etcd's v3 JSON gateway (etcd 3.4+, `/v3/` paths; reference in
// docs/discovery.md): the liveness handle is a lease (grant, keepalive, revoke); bound keys
// are puts with that lease; the seed claim is one transaction comparing the key's create
// revision to 0, whose failure branch reads the holder in the same round trip. Keys are
// written as "/<key>" (base64 on the wire, as the gateway wants bytes).
//
// Endpoints are tried in order; the first that answers is used until it fails. With a
// username, the client authenticates (/v3/auth/authenticate) and sends the token, and
// authenticates again when etcd says the token is no longer valid.
#pragma once

#include <boost/json/object.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "discovery/kv_store.h"

namespace meshdb::discovery {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // base URLs: "http://127.0.0.1:2379"; at least one
  std::string username;                // "" = no authentication
  std::string password;
  HttpTlsFiles tls;
  std::chrono::milliseconds timeout{5000};  // per request
};

class EtcdStore final : public KvStore {
 public:
  // InvalidArgument when there is no endpoint or a TLS file cannot be loaded.
  static Result<std::unique_ptr<EtcdStore>> Create(EtcdOptions options);

  Status OpenSession(std::chrono::seconds ttl) override;
  Status KeepAlive() override;
  Status PutBound(const std::string& key, const std::string& value) override;
  Result<SeedClaim> ClaimOrRead(const std::string& key, const std::string& value) override;
  Result<std::vector<std::string>> List(const std::string& prefix) override;
  void CloseSession() override;
  [[nodiscard]] std::string Endpoint() const override;

 private:
  EtcdStore(EtcdOptions options, HttpClient client);
  // POSTs `body` to `path` on the endpoint in use (failing over), with the auth token.
  // Maps etcd's error codes to Status codes (5 → NotFound, 7/16 → PermissionDenied).
  Result<boost::json::object> Call(const std::string& path, const boost::json::object& body);
  Result<boost::json::object> CallOnce(const std::string& endpoint, const std::string& path,
                                       const boost::json::object& body);
  Status Authenticate(const std::string& endpoint);

  EtcdOptions options_;
  HttpClient client_;
  size_t current_ = 0;    // index of the endpoint in use
  std::string token_;     // auth token ("" = none yet)
  std::string lease_id_;  // decimal, as etcd prints int64 ("" = no lease)
};

}  // namespace meshdb::discovery
