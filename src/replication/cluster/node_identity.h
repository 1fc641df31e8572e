// This node's certificate authority and TLS identity, as cluster membership needs them for
// the cross-signed join (docs/security.md "Joining a cluster"):
//
//   joiner (add_node to a wss:// peer with a super_user's credentials)
//     sends a JoinRequest {its name, URL, CreateCsr() (only when UsesGeneratedCertificate),
//     CaCertificatePem()};
//     on the peer's JoinGrant: TrustCa(grant CA), InstallCertificate(grant certificate);
//   target (ClusterManager::GrantJoin)
//     SignCsr(the joiner's CSR, {its name, its URL's host}), TrustCa(the joiner's CA).
//
// Implemented by the server over its TLS contexts and <root>/keys (server/node_identity.h);
// unit tests substitute their own.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <set>
#include <string>

#include "common/status.h"

namespace meshdb::replication {

class NodeIdentity {
 public:
  virtual ~NodeIdentity() = default;

  // This node's CA certificate (PEM): what a node must trust to accept certificates this
  // node signs. Carried in this node's hdb_nodes row (`ca`), so it spreads by gossip.
  [[nodiscard]] virtual std::string CaCertificatePem() const = 0;
  // The CA that issued the certificate this node presents now (PEM): its own CA, or the
  // member's that signed it at a join. A peer must trust it to verify this node.
  [[nodiscard]] virtual std::string PresentedIssuerPem() const = 0;
  // Whether the node made its certificate itself (its own CA): a join then asks the target
  // to sign one. A configured (bring-your-own) certificate is presented as it is.
  [[nodiscard]] virtual bool UsesGeneratedCertificate() const = 0;
  // The serial number (upper-case hex) of the certificate this node presents now.
  [[nodiscard]] virtual std::string CertificateSerial() const = 0;
  // A certificate signing request, signed with this node's key, for `names` (the node's
  // name first, then the host of its URL when that differs).
  virtual Result<std::string> CreateCsr(const std::set<std::string>& names) = 0;
  // Signs `csr_pem` with this node's CA when its CN and SANs are all in `allowed` (no
  // wildcard): PermissionDenied naming the first other name; InvalidArgument for a CSR
  // that does not parse or verify. The certificate (PEM), valid for the configured
  // replication.certificateValidityDays.
  virtual Result<std::string> SignCsr(const std::string& csr_pem,
                                      const std::set<std::string>& allowed) = 0;
  // Trusts every certificate in `ca_pem` (one or several, concatenated) for peers from the
  // next handshake on (idempotent). InvalidArgument when one is not a CA certificate; the
  // ones before it are trusted.
  virtual Status TrustCa(const std::string& ca_pem) = 0;
  // A removed member's CA (one or several certificates): no longer trusted for peers from
  // the next handshake on, unless another source (hdb_certificate, this node's own) holds it.
  // When it issued the certificate this node presents, that certificate is renewed at once.
  virtual void DistrustCa(const std::string& ca_pem) = 0;
  // Presents `certificate_pem` (issued for this node's key by `issuer_ca_pem`) from the next
  // handshake on, and keeps it across restarts. InvalidArgument when it is not for this
  // node's key or name, or does not verify against `issuer_ca_pem`; nothing changes then.
  virtual Status InstallCertificate(const std::string& certificate_pem,
                                    const std::string& issuer_ca_pem) = 0;
};

}  // namespace meshdb::replication
