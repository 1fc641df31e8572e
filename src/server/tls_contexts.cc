#include "server/tls_contexts.h"

namespace meshdb::server {

namespace {

net::TlsMaterial MaterialFor(const security::TlsIdentity& identity, const std::string& ciphers,
                             const std::vector<std::string>& trusted_cas, bool trust_system_roots) {
  net::TlsMaterial material;
  material.certificate_chain_pem = identity.certificate_pem;
  material.private_key_pem = identity.private_key_pem;
  material.trusted_ca_pems = trusted_cas;
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
  std::vector<std::string> trusted = trusted_cas;
  // The CA that signed the replication certificate (a cross-signed join) signs our peers'.
  if (!identity.replication.ca_certificate_pem.empty()) {
    trusted.push_back(identity.replication.ca_certificate_pem);
  }
  const net::TlsMaterial replication =
      MaterialFor(identity.replication, identity.ciphers, trusted, trust_system_roots);
  ASSIGN_OR_RETURN(contexts->replication_, net::TlsContext::Create(Role::kServer, replication));
  ASSIGN_OR_RETURN(contexts->client_, net::TlsContext::Create(Role::kClient, replication));
  ASSIGN_OR_RETURN(
      contexts->operations_,
      net::TlsContext::Create(Role::kServer, MaterialFor(identity.operations_api, identity.ciphers,
                                                         trusted_cas, trust_system_roots)));
  return contexts;
}

Status TlsContexts::SetReplicationIdentity(const std::string& certificate_pem,
                                           const std::string& private_key_pem) {
  RETURN_IF_ERROR(replication_->SetIdentity(certificate_pem, private_key_pem));
  return client_->SetIdentity(certificate_pem, private_key_pem);
}

Status TlsContexts::Trust(const std::string& ca_pem) {
  RETURN_IF_ERROR(replication_->Trust(ca_pem));
  RETURN_IF_ERROR(client_->Trust(ca_pem));
  return operations_->Trust(ca_pem);
}

}  // namespace meshdb::server
