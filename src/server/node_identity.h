// The node's certificate authority and replication identity for cluster membership
// (replication/cluster/node_identity.h), over the server's TLS contexts and <root>/keys.
//
// Signs joiners' CSRs with the node's own CA (its key must be known: a CA configured through
// tls.certificateAuthority without its key cannot sign, and joins through this node are
// refused with a message saying so). A certificate installed after a join is kept under
// <root>/keys (security::SaveReplicationCertificate) and presented by replication from the
// next handshake on, in both directions.
//
// Renewal: StartRenewal runs a thread that, once less than a third of the replication
// certificate's lifetime is left, renews it for the same key and names: when another
// member's CA issued it (a join), by a CSR over the live link to the member holding that CA
// (the RemoteRenewer; it signs only the requester's own names), else -- or when that member
// is unreachable or refuses -- from the node's own CA (which every member trusts through this
// node's hdb_nodes row). The log says which. The new certificate is kept like an installed
// one and presented from the next handshake on: links already up are not touched. The node
// certificate (what HTTPS presents unless operationsApi.tls.* is configured) is renewed the
// same way from the node's own CA and presented by HTTPS from the next handshake on. Only a
// generated identity renews (a configured certificate is the operator's).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "common/thread_annotations.h"
#include "replication/cluster/node_identity.h"
#include "security/node_certificates.h"
#include "security/openssl_owners.h"

namespace meshdb::server {

class TlsContexts;

// A renewal signed by another member.
struct RemoteRenewal {
  std::string signer;           // the member's node name
  std::string certificate_pem;  // signed by its CA
};
// Asks the member holding `issuer_ca_pem` to sign `csr_pem`; blocks (bounded) until it
// answers. Unavailable / PermissionDenied saying why not.
using RemoteRenewer = std::function<Result<RemoteRenewal>(const std::string& csr_pem,
                                                          const std::string& issuer_ca_pem)>;

class ServerNodeIdentity final : public replication::NodeIdentity {
 public:
  // `tls` as provisioned at start (holds private keys; kept in memory only). `contexts`
  // outlives this object. `validity_s`: replication.certificateValidityDays in seconds.
  ServerNodeIdentity(const security::NodeTls& tls, TlsContexts* contexts, std::string keys_dir,
                     std::string node_name, int64_t validity_s);
  ~ServerNodeIdentity() override;  // StopRenewal()
  ServerNodeIdentity(const ServerNodeIdentity&) = delete;
  ServerNodeIdentity& operator=(const ServerNodeIdentity&) = delete;

  // Starts the renewal thread; `on_renewed` runs on it after each renewal (membership then
  // rewrites this node's row with the new serial, and the hdb_certificate rows are
  // rewritten). `remote` renews over a link (may be empty: always local). No-op for a
  // configured identity.
  void StartRenewal(RemoteRenewer remote, std::function<void()> on_renewed);
  // Stops and joins the renewal thread (idempotent).
  void StopRenewal();
  // Renews the replication certificate now when less than a third of its lifetime is left
  // at `now_s` (or `force`); whether it did.
  Result<bool> RenewIfDue(int64_t now_s, bool force = false);
  // The same for the node certificate HTTPS presents (only when it is the generated one).
  Result<bool> RenewNodeCertificateIfDue(int64_t now_s);
  // A member this node dialled refused its replication certificate as untrusted
  // (ServiceOptions::on_certificate_refused): when another member's CA issued it -- one whose
  // member was removed, so no member trusts it any more -- the renewal thread replaces it
  // at once with one from this node's own CA, which every member trusts through this node's
  // hdb_nodes row, and logs why. Does not block. No-op for a configured identity or one its
  // own CA issued (a refusal of that is no CA's doing: revocation, removal).
  void RenewFromOwnCaAfterRefusal(const std::string& peer, const std::string& reason);
  // The identity as it is now (renewed certificates included), for hdb_certificate rows.
  [[nodiscard]] security::NodeTls CurrentTls() const;

  [[nodiscard]] std::string CaCertificatePem() const override;
  [[nodiscard]] std::string PresentedIssuerPem() const override;
  [[nodiscard]] bool UsesGeneratedCertificate() const override { return generated_; }
  [[nodiscard]] std::string CertificateSerial() const override;
  Result<std::string> CreateCsr(const std::set<std::string>& names) override;
  Result<std::string> SignCsr(const std::string& csr_pem,
                              const std::set<std::string>& allowed) override;
  Status TrustCa(const std::string& ca_pem) override;
  void DistrustCa(const std::string& ca_pem) override;
  Status InstallCertificate(const std::string& certificate_pem,
                            const std::string& issuer_ca_pem) override;

 private:
  // Renews `current_pem` (parsed: `current`) from the node's own CA; `why` ends the log line.
  // False when another certificate was installed meanwhile (a join): nothing changes then.
  Result<bool> RenewLocally(const std::string& current_pem, const security::X509Cert& current,
                            const std::string& why);
  // RenewLocally of what replication presents now, unless the node's own CA issued it.
  Result<bool> RenewFromOwnCa(const std::string& why);
  // InstallCertificate, only while `expected_pem` is still what replication presents (a
  // renewal must not replace a certificate a join installed while it ran). Whether it did.
  Result<bool> InstallIfUnchanged(const std::string& expected_pem,
                                  const std::string& certificate_pem,
                                  const std::string& issuer_ca_pem);
  Status InstallLocked(const std::string& certificate_pem, const std::string& issuer_ca_pem)
      REQUIRES(install_mu_);

  TlsContexts* const contexts_;
  const std::string keys_dir_;
  const std::string node_name_;
  const int64_t validity_s_;
  const bool generated_;
  const std::string ca_certificate_pem_;  // the node's own CA
  const std::string ca_private_key_pem_;  // SECRET; "" when the CA's key is not known
  const std::string private_key_pem_;     // SECRET: the replication identity's key

  // Held while a certificate is installed (files, contexts, fields); taken before mu_.
  common::Mutex install_mu_;
  mutable common::Mutex mu_;
  std::string certificate_pem_ GUARDED_BY(mu_);     // what replication presents now
  std::string certificate_serial_ GUARDED_BY(mu_);  // its serial (membership asks often)
  std::string issuer_pem_ GUARDED_BY(mu_);          // the CA that issued it
  std::set<std::string> trusted_ GUARDED_BY(mu_);
  security::NodeTls tls_ GUARDED_BY(mu_);   // as provisioned, with renewals; SECRET keys
  RemoteRenewer remote_;                    // set before the renewal thread starts
  std::condition_variable_any renewal_cv_;  // stopping_ or force_renewal_ was set
  bool stopping_ GUARDED_BY(mu_) = false;
  bool force_renewal_ GUARDED_BY(mu_) = false;  // the issuer's CA was distrusted
  // Set by RenewFromOwnCaAfterRefusal: why the renewal thread renews from the own CA now.
  std::optional<std::string> refused_ GUARDED_BY(mu_);
  std::thread renewal_thread_;
};

}  // namespace meshdb::server
