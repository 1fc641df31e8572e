#include "server/node_identity.h"

#include "security/x509.h"
#include "server/tls_contexts.h"

namespace meshdb::server {

namespace sec = security;

ServerNodeIdentity::ServerNodeIdentity(const security::NodeTls& tls, TlsContexts* contexts,
                                       std::string keys_dir, std::string node_name,
                                       int64_t validity_days)
    : contexts_(contexts),
      keys_dir_(std::move(keys_dir)),
      node_name_(std::move(node_name)),
      validity_days_(validity_days),
      generated_(tls.node.source == "generated"),
      ca_certificate_pem_(tls.node.ca_certificate_pem),
      ca_private_key_pem_(tls.ca_private_key_pem),
      private_key_pem_(tls.replication.private_key_pem),
      certificate_pem_(tls.replication.certificate_pem) {}

std::string ServerNodeIdentity::CaCertificatePem() const { return ca_certificate_pem_; }

std::string ServerNodeIdentity::CertificateSerial() const {
  common::MutexLock lock(mu_);
  Result<sec::X509Cert> cert = sec::ParseCertificatePem(certificate_pem_);
  return cert.ok() ? sec::DetailsOf(cert->get()).serial_number : std::string();
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
                                sec::ValidForDays(validity_days_), sec::AllowOnlyNames(allowed)));
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
    RETURN_IF_ERROR(contexts_->Trust(one));
  }
  common::MutexLock lock(mu_);
  trusted_.insert(ca_pem);
  return Status::Ok();
}

Status ServerNodeIdentity::InstallCertificate(const std::string& certificate_pem,
                                              const std::string& issuer_ca_pem) {
  RETURN_IF_ERROR(sec::SaveReplicationCertificate(keys_dir_, node_name_, certificate_pem,
                                                  issuer_ca_pem, private_key_pem_));
  RETURN_IF_ERROR(TrustCa(issuer_ca_pem));
  RETURN_IF_ERROR(contexts_->SetReplicationIdentity(certificate_pem, private_key_pem_));
  common::MutexLock lock(mu_);
  certificate_pem_ = certificate_pem;
  return Status::Ok();
}

}  // namespace meshdb::server
