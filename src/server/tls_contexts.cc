#include "server/tls_contexts.h"

namespace meshdb::server {

namespace {

// The sources of trust beside net::kInitialTrust (the node's own CAs).
constexpr const char* kTrustCertificates = "hdb_certificate";
constexpr const char* kTrustMembers = "members";

net::TlsMaterial MaterialFor(const security::TlsIdentity& identity, const std::string& ciphers,
                             const std::vector<std::string>& own_cas, bool trust_system_roots) {
  net::TlsMaterial material;
  material.certificate_chain_pem = identity.certificate_pem;
  material.private_key_pem = identity.private_key_pem;
  material.trusted_ca_pems = own_cas;
  if (!identity.ca_certificate_pem.empty()) {
    material.trusted_ca_pems.push_back(identity.ca_certificate_pem);
  }
  material.trust_system_roots = trust_system_roots;
  material.ciphers = ciphers;
  return material;
}

}  // namespace

Result<std::unique_ptr<TlsContexts>> TlsContexts::Create(
    const security::NodeTls& identity, const std::vector<std::string>& trusted_cas,
    bool trust_system_roots) {
  using Role = net::TlsContext::Role;
  auto contexts = std::make_unique<TlsContexts>();
  std::vector<std::string> own_cas;
  // The CA that signed the replication certificate (a cross-signed join) signs our peers'.
  if (!identity.replication.ca_certificate_pem.empty()) {
    own_cas.push_back(identity.replication.ca_certificate_pem);
  }
  const net::TlsMaterial replication =
      MaterialFor(identity.replication, identity.ciphers, own_cas, trust_system_roots);
  ASSIGN_OR_RETURN(contexts->replication_, net::TlsContext::Create(Role::kServer, replication));
  ASSIGN_OR_RETURN(contexts->client_, net::TlsContext::Create(Role::kClient, replication));
  ASSIGN_OR_RETURN(
      contexts->operations_,
      net::TlsContext::Create(Role::kServer, MaterialFor(identity.operations_api, identity.ciphers,
                                                         {}, trust_system_roots)));
  RETURN_IF_ERROR(contexts->SetTrustedCertificates(trusted_cas));
  return contexts;
}

Status TlsContexts::SetReplicationIdentity(const std::string& certificate_pem,
                                           const std::string& private_key_pem) {
  RETURN_IF_ERROR(replication_->SetIdentity(certificate_pem, private_key_pem));
  return client_->SetIdentity(certificate_pem, private_key_pem);
}

Status TlsContexts::SetOperationsIdentity(const std::string& certificate_pem,
                                          const std::string& private_key_pem) {
  return operations_->SetIdentity(certificate_pem, private_key_pem);
}

std::vector<net::TlsContext*> TlsContexts::All() const {
  return {replication_.get(), client_.get(), operations_.get()};
}

Status TlsContexts::SetTrustedCertificates(const std::vector<std::string>& ca_pems) {
  for (net::TlsContext* context : All()) {
    RETURN_IF_ERROR(context->SetTrusted(kTrustCertificates, ca_pems));
  }
  return Status::Ok();
}

Status TlsContexts::TrustMember(const std::string& ca_pem) {
  for (net::TlsContext* context : All()) RETURN_IF_ERROR(context->Trust(ca_pem, kTrustMembers));
  return Status::Ok();
}

void TlsContexts::DistrustMember(const std::string& ca_pem) {
  for (net::TlsContext* context : All()) context->Distrust(ca_pem, kTrustMembers);
}

}  // namespace meshdb::server
