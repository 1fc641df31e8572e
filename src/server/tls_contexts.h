// The node's TLS contexts, built at start from its identity (security/node_certificates.h)
// and the CAs it trusts for peers, and kept trusting every CA added later.
//
//   operations_server    operationsApi.network.securePort (its own certificate when
//                        operationsApi.tls.* is configured)
//   replication_server   replication.securePort
//   replication_client   dialling wss:// peers
// Replication presents the replication identity (the certificate a cross-signed join got,
// else the node certificate) on both sides.
//
// Trusted for peers, live (net/tls.h): the node's own CA, the configured
// tls.certificateAuthority and the issuer of the replication certificate (fixed at start);
// every is_authority row of system.hdb_certificate (SetTrustedCertificates, after each
// add_certificate / remove_certificate); the members' CAs (TrustMember / DistrustMember, as
// cluster membership learns and removes them); and the system roots when
// replication.enableRootCAs is true. A CA is trusted while any of these holds it.
//
// Thread-safety: every method may be called from any thread, while connections use the
// contexts.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "net/tls.h"
#include "security/node_certificates.h"

namespace meshdb::server {

class TlsContexts {
 public:
  // InvalidArgument naming what OpenSSL refused (a cipher list, a CA that does not parse).
  // `trusted_cas`: the is_authority rows of system.hdb_certificate at start.
  static Result<std::unique_ptr<TlsContexts>> Create(const security::NodeTls& identity,
                                                     const std::vector<std::string>& trusted_cas,
                                                     bool trust_system_roots);

  [[nodiscard]] const std::shared_ptr<net::TlsContext>& operations_server() const {
    return operations_;
  }
  [[nodiscard]] const std::shared_ptr<net::TlsContext>& replication_server() const {
    return replication_;
  }
  [[nodiscard]] const std::shared_ptr<net::TlsContext>& replication_client() const {
    return client_;
  }

  // The is_authority rows of system.hdb_certificate are now `ca_pems`: every context trusts
  // exactly these (with the other sources) from the next handshake on.
  Status SetTrustedCertificates(const std::vector<std::string>& ca_pems);
  // A member's CA, trusted in every context from the next handshake on (idempotent).
  Status TrustMember(const std::string& ca_pem);
  // A removed member's CA: no longer trusted unless another source holds it.
  void DistrustMember(const std::string& ca_pem);
  // Replication (server and client) presents this certificate and key from the next
  // handshake on (net::TlsContext::SetIdentity).
  Status SetReplicationIdentity(const std::string& certificate_pem,
                                const std::string& private_key_pem);
  // The operations API's HTTPS presents this certificate and key from the next handshake on
  // (a renewed node certificate).
  Status SetOperationsIdentity(const std::string& certificate_pem,
                               const std::string& private_key_pem);

 private:
  std::shared_ptr<net::TlsContext> operations_;
  std::shared_ptr<net::TlsContext> replication_;
  std::shared_ptr<net::TlsContext> client_;
  // Every context, for the trust changes.
  [[nodiscard]] std::vector<net::TlsContext*> All() const;
};

}  // namespace meshdb::server
