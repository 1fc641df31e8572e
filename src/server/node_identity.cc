#include "server/node_identity.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <utility>

#include "common/log.h"
#include "security/x509.h"
#include "server/tls_contexts.h"

namespace meshdb::server {

namespace sec = security;

namespace {

std::string SerialOf(const std::string& certificate_pem) {
  Result<sec::X509Cert> cert = sec::ParseCertificatePem(certificate_pem);
  return cert.ok() ? sec::DetailsOf(cert->get()).serial_number : std::string();
}

}  // namespace

ServerNodeIdentity::ServerNodeIdentity(const security::NodeTls& tls, TlsContexts* contexts,
                                       std::string keys_dir, std::string node_name,
                                       int64_t validity_s)
    : contexts_(contexts),
      keys_dir_(std::move(keys_dir)),
      node_name_(std::move(node_name)),
      validity_s_(validity_s),
      generated_(tls.node.source == "generated"),
      ca_certificate_pem_(tls.node.ca_certificate_pem),
      ca_private_key_pem_(tls.ca_private_key_pem),
      private_key_pem_(tls.replication.private_key_pem),
      certificate_pem_(tls.replication.certificate_pem),
      certificate_serial_(SerialOf(certificate_pem_)),
      issuer_pem_(tls.replication.ca_certificate_pem.empty() ? tls.node.ca_certificate_pem
                                                             : tls.replication.ca_certificate_pem),
      tls_(tls) {}

ServerNodeIdentity::~ServerNodeIdentity() { StopRenewal(); }

std::string ServerNodeIdentity::CaCertificatePem() const { return ca_certificate_pem_; }

std::string ServerNodeIdentity::PresentedIssuerPem() const {
  common::MutexLock lock(mu_);
  return issuer_pem_;
}

void ServerNodeIdentity::StartRenewal(RemoteRenewer remote, std::function<void()> on_renewed) {
  if (!generated_ || ca_private_key_pem_.empty() || renewal_thread_.joinable()) return;
  remote_ = std::move(remote);
  renewal_thread_ = std::thread([this, on_renewed = std::move(on_renewed)] {
    auto logger = log::For("tls");
    common::MutexLock lock(mu_);
    while (!stopping_) {
      const bool force = force_renewal_;
      force_renewal_ = false;
      const std::optional<std::string> refused = std::exchange(refused_, std::nullopt);
      lock.unlock();
      const int64_t now_s = static_cast<int64_t>(std::time(nullptr));
      Result<bool> renewed = refused ? RenewFromOwnCa(*refused) : RenewIfDue(now_s, force);
      if (!renewed.ok()) {
        logger->error("cannot renew the replication certificate: {}", renewed.status().message());
      }
      Result<bool> node_renewed = RenewNodeCertificateIfDue(now_s);
      if (!node_renewed.ok()) {
        logger->error("cannot renew the node certificate: {}", node_renewed.status().message());
      }
      if (((renewed.ok() && *renewed) || (node_renewed.ok() && *node_renewed)) && on_renewed) {
        on_renewed();
      }
      // Look again at a tenth of the lifetime (at most a minute, at least a second).
      const int64_t wait_s = std::clamp<int64_t>(validity_s_ / 10, 1, 60);
      lock.lock();
      renewal_cv_.wait_for(lock, std::chrono::seconds(wait_s), [this]() REQUIRES(mu_) {
        return stopping_ || force_renewal_ || refused_.has_value();
      });
    }
  });
}

void ServerNodeIdentity::StopRenewal() {
  {
    common::MutexLock lock(mu_);
    stopping_ = true;
  }
  renewal_cv_.notify_all();
  if (renewal_thread_.joinable()) renewal_thread_.join();
}

Result<bool> ServerNodeIdentity::RenewIfDue(int64_t now_s, bool force) {
  std::string current;
  std::string issuer;
  {
    common::MutexLock lock(mu_);
    current = certificate_pem_;
    issuer = issuer_pem_;
  }
  ASSIGN_OR_RETURN(sec::X509Cert cert, sec::ParseCertificatePem(current));
  const sec::ValidityWindow window = sec::ValidityOf(cert.get());
  const int64_t lifetime = window.not_after_s - window.not_before_s;
  if (!force && window.not_after_s - now_s > lifetime / 3) return false;
  const std::string old_serial = sec::DetailsOf(cert.get()).serial_number;
  if (issuer == ca_certificate_pem_ || !remote_) {
    return RenewLocally(current, cert, "this node's CA issued the certificate");
  }
  // Ask the member whose CA issued it, over the live link, for the same names.
  sec::SubjectNames names = sec::NamesOf(cert.get());
  std::set<std::string> wanted{node_name_};
  for (auto* list : {&names.dns_names, &names.ip_addresses}) {
    wanted.insert(list->begin(), list->end());
  }
  Result<std::string> csr = CreateCsr(wanted);
  Result<RemoteRenewal> remote =
      csr.ok() ? remote_(*csr, issuer) : Result<RemoteRenewal>(csr.status());
  Result<bool> installed = remote.ok()
                               ? InstallIfUnchanged(current, remote->certificate_pem, issuer)
                               : Result<bool>(remote.status());
  if (!installed.ok()) {
    return RenewLocally(current, cert,
                        "the member holding the issuing CA did not renew it (" +
                            installed.status().message() + ")");
  }
  if (*installed) {
    log::For("tls")->info(
        "renewed the replication certificate over the replication link: '{}' signed it (serial "
        "{} -> {}) with the CA that issued the old one",
        remote->signer, old_serial, CertificateSerial());
  }
  return *installed;
}

Result<bool> ServerNodeIdentity::RenewLocally(const std::string& current_pem,
                                              const sec::X509Cert& current,
                                              const std::string& why) {
  ASSIGN_OR_RETURN(sec::EvpPkey key, sec::ParsePrivateKeyPem(private_key_pem_));
  ASSIGN_OR_RETURN(sec::X509Cert ca, sec::ParseCertificatePem(ca_certificate_pem_));
  ASSIGN_OR_RETURN(sec::EvpPkey ca_key, sec::ParsePrivateKeyPem(ca_private_key_pem_));
  ASSIGN_OR_RETURN(sec::X509Cert renewed,
                   sec::IssueCertificate(key.get(), sec::NamesOf(current.get()), ca.get(),
                                         ca_key.get(), sec::ValidForSeconds(validity_s_)));
  ASSIGN_OR_RETURN(std::string pem, sec::CertificateToPem(renewed.get()));
  ASSIGN_OR_RETURN(bool installed, InstallIfUnchanged(current_pem, pem, ca_certificate_pem_));
  if (!installed) return false;
  log::For("tls")->info(
      "renewed the replication certificate locally (serial {} -> {}), valid {} s, issued by this "
      "node's CA: {}",
      sec::DetailsOf(current.get()).serial_number, sec::DetailsOf(renewed.get()).serial_number,
      validity_s_, why);
  return true;
}

void ServerNodeIdentity::RenewFromOwnCaAfterRefusal(const std::string& peer,
                                                    const std::string& reason) {
  if (!generated_ || ca_private_key_pem_.empty()) return;
  {
    common::MutexLock lock(mu_);
    if (issuer_pem_ == ca_certificate_pem_ || refused_) return;
    refused_ = "member '" + peer + "' refused the certificate another member's CA issued (" +
               reason + "); every member trusts this node's own CA through its hdb_nodes row";
  }
  renewal_cv_.notify_all();
}

Result<bool> ServerNodeIdentity::RenewFromOwnCa(const std::string& why) {
  std::string current;
  {
    common::MutexLock lock(mu_);
    if (issuer_pem_ == ca_certificate_pem_) return false;
    current = certificate_pem_;
  }
  ASSIGN_OR_RETURN(sec::X509Cert cert, sec::ParseCertificatePem(current));
  return RenewLocally(current, cert, why);
}

Result<bool> ServerNodeIdentity::InstallIfUnchanged(const std::string& expected_pem,
                                                    const std::string& certificate_pem,
                                                    const std::string& issuer_ca_pem) {
  common::MutexLock install(install_mu_);
  {
    common::MutexLock lock(mu_);
    if (certificate_pem_ != expected_pem) return false;
  }
  RETURN_IF_ERROR(InstallLocked(certificate_pem, issuer_ca_pem));
  return true;
}

Result<bool> ServerNodeIdentity::RenewNodeCertificateIfDue(int64_t now_s) {
  security::TlsIdentity node;
  bool https_uses_it = false;
  {
    common::MutexLock lock(mu_);
    node = tls_.node;
    https_uses_it = tls_.operations_api.source == "generated";
  }
  if (node.source != "generated") return false;
  ASSIGN_OR_RETURN(sec::X509Cert cert, sec::ParseCertificatePem(node.certificate_pem));
  const sec::ValidityWindow window = sec::ValidityOf(cert.get());
  if (window.not_after_s - now_s > (window.not_after_s - window.not_before_s) / 3) return false;
  ASSIGN_OR_RETURN(sec::EvpPkey key, sec::ParsePrivateKeyPem(node.private_key_pem));
  ASSIGN_OR_RETURN(sec::X509Cert ca, sec::ParseCertificatePem(ca_certificate_pem_));
  ASSIGN_OR_RETURN(sec::EvpPkey ca_key, sec::ParsePrivateKeyPem(ca_private_key_pem_));
  ASSIGN_OR_RETURN(sec::X509Cert renewed,
                   sec::IssueCertificate(key.get(), sec::NamesOf(cert.get()), ca.get(),
                                         ca_key.get(), sec::ValidForSeconds(validity_s_)));
  ASSIGN_OR_RETURN(std::string pem, sec::CertificateToPem(renewed.get()));
  RETURN_IF_ERROR(sec::SaveNodeCertificate(keys_dir_, pem));
  if (https_uses_it) RETURN_IF_ERROR(contexts_->SetOperationsIdentity(pem, node.private_key_pem));
  {
    common::MutexLock lock(mu_);
    tls_.node.certificate_pem = pem;
    if (https_uses_it) tls_.operations_api.certificate_pem = pem;
  }
  log::For("tls")->info(
      "renewed the node certificate (serial {} -> {}), valid {} s, issued by this node's CA{}",
      sec::DetailsOf(cert.get()).serial_number, sec::DetailsOf(renewed.get()).serial_number,
      validity_s_, https_uses_it ? "; HTTPS presents it from the next handshake on" : "");
  return true;
}

security::NodeTls ServerNodeIdentity::CurrentTls() const {
  common::MutexLock lock(mu_);
  return tls_;
}

std::string ServerNodeIdentity::CertificateSerial() const {
  common::MutexLock lock(mu_);
  return certificate_serial_;
}

Result<std::string> ServerNodeIdentity::CreateCsr(const std::set<std::string>& names) {
  if (names.empty()) return Status::InvalidArgument("a certificate request needs a name");
  ASSIGN_OR_RETURN(sec::EvpPkey key, sec::ParsePrivateKeyPem(private_key_pem_));
  // The node name is the CN, whatever its place in the set.
  std::vector<std::string> hosts{node_name_};
  for (const std::string& n : names) {
    if (n != node_name_) hosts.push_back(n);
  }
  ASSIGN_OR_RETURN(sec::X509Req csr,
                   sec::CreateCsr(key.get(), sec::NamesForHosts(node_name_, hosts)));
  return sec::CsrToPem(csr.get());
}

Result<std::string> ServerNodeIdentity::SignCsr(const std::string& csr_pem,
                                                const std::set<std::string>& allowed) {
  if (ca_private_key_pem_.empty() || ca_certificate_pem_.empty()) {
    return Status::PermissionDenied(
        "this node cannot sign certificates: its certificate authority (tls.certificateAuthority) "
        "was configured without its private key");
  }
  ASSIGN_OR_RETURN(sec::X509Req csr, sec::ParseCsrPem(csr_pem));
  ASSIGN_OR_RETURN(sec::X509Cert ca, sec::ParseCertificatePem(ca_certificate_pem_));
  ASSIGN_OR_RETURN(sec::EvpPkey ca_key, sec::ParsePrivateKeyPem(ca_private_key_pem_));
  ASSIGN_OR_RETURN(sec::X509Cert signed_cert,
                   sec::SignCsr(csr.get(), ca.get(), ca_key.get(),
                                sec::ValidForSeconds(validity_s_), sec::AllowOnlyNames(allowed)));
  return sec::CertificateToPem(signed_cert.get());
}

Status ServerNodeIdentity::TrustCa(const std::string& ca_pem) {
  {
    common::MutexLock lock(mu_);
    if (trusted_.count(ca_pem) != 0) return Status::Ok();
  }
  Result<std::vector<sec::X509Cert>> cas = sec::ParseCertificateChainPem(ca_pem);
  if (!cas.ok()) {
    return Status::InvalidArgument("a peer's CA does not parse: " + cas.status().message());
  }
  for (const sec::X509Cert& ca : *cas) {
    if (!sec::IsCertificateAuthority(ca.get())) {
      return Status::InvalidArgument("a peer's CA certificate is not a certificate authority");
    }
    ASSIGN_OR_RETURN(std::string one, sec::CertificateToPem(ca.get()));
    RETURN_IF_ERROR(contexts_->TrustMember(one));
  }
  common::MutexLock lock(mu_);
  trusted_.insert(ca_pem);
  return Status::Ok();
}

void ServerNodeIdentity::DistrustCa(const std::string& ca_pem) {
  contexts_->DistrustMember(ca_pem);
  common::MutexLock lock(mu_);
  trusted_.erase(ca_pem);
  // The certificate this node presents chains to it: peers stop verifying it, renew now.
  if (!issuer_pem_.empty() && issuer_pem_ != ca_certificate_pem_ &&
      ca_pem.find(issuer_pem_) != std::string::npos) {
    force_renewal_ = true;
    renewal_cv_.notify_all();
  }
}

Status ServerNodeIdentity::InstallCertificate(const std::string& certificate_pem,
                                              const std::string& issuer_ca_pem) {
  common::MutexLock install(install_mu_);
  return InstallLocked(certificate_pem, issuer_ca_pem);
}

Status ServerNodeIdentity::InstallLocked(const std::string& certificate_pem,
                                         const std::string& issuer_ca_pem) {
  RETURN_IF_ERROR(sec::SaveReplicationCertificate(keys_dir_, node_name_, certificate_pem,
                                                  issuer_ca_pem, private_key_pem_));
  RETURN_IF_ERROR(TrustCa(issuer_ca_pem));
  RETURN_IF_ERROR(contexts_->SetReplicationIdentity(certificate_pem, private_key_pem_));
  std::string serial = SerialOf(certificate_pem);
  common::MutexLock lock(mu_);
  certificate_pem_ = certificate_pem;
  certificate_serial_ = std::move(serial);
  issuer_pem_ = issuer_ca_pem;
  return Status::Ok();
}

}  // namespace meshdb::server
