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
// certificate's lifetime is left, issues a new one for the same key and names from the
// node's own CA (which every member trusts through this node's hdb_nodes row), keeps it like
// an installed one and presents it from the next handshake on: links already up are not
// touched. Only a generated identity renews (a configured certificate is the operator's).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "common/thread_annotations.h"
#include "replication/cluster/node_identity.h"
#include "security/node_certificates.h"

namespace meshdb::server {

class TlsContexts;

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
  // rewrites this node's row with the new serial). No-op for a configured identity.
  void StartRenewal(std::function<void()> on_renewed);
  // Stops and joins the renewal thread (idempotent).
  void StopRenewal();
  // Renews now when less than a third of the lifetime is left at `now_s`; whether it did.
  Result<bool> RenewIfDue(int64_t now_s);

  [[nodiscard]] std::string CaCertificatePem() const override;
  [[nodiscard]] std::string PresentedIssuerPem() const override;
  [[nodiscard]] bool UsesGeneratedCertificate() const override { return generated_; }
  [[nodiscard]] std::string CertificateSerial() const override;
  Result<std::string> CreateCsr(const std::set<std::string>& names) override;
  Result<std::string> SignCsr(const std::string& csr_pem,
                              const std::set<std::string>& allowed) override;
  Status TrustCa(const std::string& ca_pem) override;
  Status InstallCertificate(const std::string& certificate_pem,
                            const std::string& issuer_ca_pem) override;

 private:
  TlsContexts* const contexts_;
  const std::string keys_dir_;
  const std::string node_name_;
  const int64_t validity_s_;
  const bool generated_;
  const std::string ca_certificate_pem_;  // the node's own CA
  const std::string ca_private_key_pem_;  // SECRET; "" when the CA's key is not known
  const std::string private_key_pem_;     // SECRET: the replication identity's key

  mutable common::Mutex mu_;
  std::string certificate_pem_ GUARDED_BY(mu_);     // what replication presents now
  std::string certificate_serial_ GUARDED_BY(mu_);  // its serial (membership asks often)
  std::string issuer_pem_ GUARDED_BY(mu_);          // the CA that issued it
  std::set<std::string> trusted_ GUARDED_BY(mu_);
  std::condition_variable_any renewal_cv_;  // stopping_ was set
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread renewal_thread_;
};

}  // namespace meshdb::server
