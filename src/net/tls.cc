#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>

#include "security/openssl_owners.h"
#include "security/x509.h"

namespace meshdb::net {

namespace {

namespace ssl = boost::asio::ssl;

// Ids a server's session cache under; also required for resuming sessions that carried a
// client certificate.
constexpr unsigned char kSessionIdContext[] = "meshdb";

// The oldest error OpenSSL queued (the root cause), and clears the queue.
std::string OpenSslError(const std::string& fallback) {
  unsigned long code = ERR_get_error();
  std::string text = fallback;
  if (code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    text = buffer;
  }
  ERR_clear_error();
  return text;
}

// Drops TLS < 1.2, compression and renegotiation; sets the TLS 1.2 ciphers.
Status ApplyPolicy(SSL_CTX* ctx, const std::string& ciphers) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  const std::string& list = ciphers.empty() ? std::string(kDefaultTls12Ciphers) : ciphers;
  if (SSL_CTX_set_cipher_list(ctx, list.c_str()) != 1) {
    return Status::InvalidArgument("tls.ciphers '" + list + "' names no cipher OpenSSL supports: " +
                                   OpenSslError("no cipher match"));
  }
  return Status::Ok();
}

// Completes every handshake: the verification result stays in the SSL for InspectPeer.
int AcceptAnyChain(int /*preverified*/, X509_STORE_CTX* /*ctx*/) { return 1; }

bool EqualsIgnoreCase(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// One PEM per certificate in `ca_pem`, re-encoded, so equal certificates compare equal.
Result<std::vector<std::string>> SplitCertificates(const std::string& ca_pem) {
  Result<std::vector<security::X509Cert>> certs = security::ParseCertificateChainPem(ca_pem);
  if (!certs.ok() || certs->empty()) {
    return Status::InvalidArgument("a trusted CA is not a PEM certificate");
  }
  std::vector<std::string> out;
  for (const security::X509Cert& cert : *certs) {
    ASSIGN_OR_RETURN(std::string pem, security::CertificateToPem(cert.get()));
    out.push_back(std::move(pem));
  }
  return out;
}

}  // namespace

TlsContext::Identity::~Identity() { sk_X509_pop_free(chain, X509_free); }

TlsContext::TlsContext(Role role, ssl::context::method method) : role_(role), context_(method) {
  SSL_CTX* ctx = context_.native_handle();
  SSL_CTX_set_cert_cb(ctx, &TlsContext::SelectIdentity, this);
  SSL_CTX_set_cert_verify_callback(ctx, &TlsContext::VerifyChain, this);
  if (role == Role::kServer) {
    SSL_CTX_set_session_ticket_cb(ctx, &TlsContext::StampTicket, &TlsContext::CheckTicket, this);
  }
}

int TlsContext::VerifyChain(X509_STORE_CTX* ctx, void* self) {
  std::shared_ptr<X509_STORE> store = static_cast<TlsContext*>(self)->TrustSnapshot();
  X509_STORE_CTX* mine = X509_STORE_CTX_new();
  int error = X509_V_ERR_OUT_OF_MEM;
  if (mine != nullptr && X509_STORE_CTX_init(mine, store.get(), X509_STORE_CTX_get0_cert(ctx),
                                             X509_STORE_CTX_get0_untrusted(ctx)) == 1) {
    // The same purpose and checks as OpenSSL set up for this handshake.
    X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(mine), X509_STORE_CTX_get0_param(ctx));
    error = X509_verify_cert(mine) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(mine);
  }
  X509_STORE_CTX_free(mine);
  ERR_clear_error();
  X509_STORE_CTX_set_error(ctx, error);  // what SSL_get_verify_result reports
  return 1;  // the handshake completes; InspectPeer says whether the peer verified
}

int TlsContext::StampTicket(SSL* ssl, void* self) {
  const uint32_t generation = static_cast<TlsContext*>(self)->trust_generation_.load();
  return SSL_SESSION_set1_ticket_appdata(SSL_get0_session(ssl), &generation, sizeof generation);
}

SSL_TICKET_RETURN TlsContext::CheckTicket(SSL* /*ssl*/, SSL_SESSION* session,
                                          const unsigned char* /*key*/, size_t /*key_len*/,
                                          SSL_TICKET_STATUS status, void* self) {
  switch (status) {
    case SSL_TICKET_FATAL_ERR_MALLOC:
    case SSL_TICKET_FATAL_ERR_OTHER:
      return SSL_TICKET_RETURN_ABORT;
    case SSL_TICKET_SUCCESS:
    case SSL_TICKET_SUCCESS_RENEW: {
      void* data = nullptr;
      size_t size = 0;
      uint32_t generation = 0;
      if (SSL_SESSION_get0_ticket_appdata(session, &data, &size) == 1 &&
          size == sizeof generation) {
        std::memcpy(&generation, data, sizeof generation);
      }
      if (generation == static_cast<TlsContext*>(self)->trust_generation_.load()) {
        return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
      }
      return SSL_TICKET_RETURN_IGNORE_RENEW;  // verified under a trust that changed since
    }
    default:
      return SSL_TICKET_RETURN_IGNORE_RENEW;
  }
}

std::shared_ptr<X509_STORE> TlsContext::TrustSnapshot() const {
  common::MutexLock lock(trust_mu_);
  return trust_store_;
}

Status TlsContext::RebuildTrustLocked(bool shrank) {
  std::shared_ptr<X509_STORE> store(X509_STORE_new(), X509_STORE_free);
  if (!store) return Status::Internal("out of memory");
  std::set<std::string> all;
  for (const auto& [source, pems] : trusted_) all.insert(pems.begin(), pems.end());
  for (const std::string& pem : all) {
    Result<security::X509Cert> cert = security::ParseCertificatePem(pem);
    // Adding a certificate the store already has is not an error since OpenSSL 1.1.1.
    if (!cert.ok() || X509_STORE_add_cert(store.get(), cert->get()) != 1) {
      return Status::InvalidArgument("cannot trust a CA: " + OpenSslError("?"));
    }
  }
  if (trust_system_roots_ && X509_STORE_set_default_paths(store.get()) != 1) {
    return Status::InvalidArgument("cannot load the system root CAs: " + OpenSslError("?"));
  }
  trust_store_ = std::move(store);
  if (shrank) {
    // Sessions verified under the old trust are not resumed: tickets carry the generation,
    // and the server's cache is emptied.
    trust_generation_.fetch_add(1);
    if (role_ == Role::kServer) SSL_CTX_flush_sessions(context_.native_handle(), LONG_MAX);
  }
  return Status::Ok();
}

int TlsContext::SelectIdentity(SSL* ssl, void* self) {
  auto* context = static_cast<TlsContext*>(self);
  std::shared_ptr<const Identity> identity;
  {
    common::MutexLock lock(context->identity_mu_);
    identity = context->identity_;
  }
  if (!identity) return 1;  // a client without a certificate presents none
  // Copies its references: the SSL keeps them after the identity is replaced.
  return SSL_use_cert_and_key(ssl, identity->leaf.get(), identity->key.get(), identity->chain, 1) ==
                 1
             ? 1
             : 0;
}

Status TlsContext::SetIdentity(const std::string& certificate_chain_pem,
                               const std::string& private_key_pem) {
  Result<std::vector<security::X509Cert>> certs =
      security::ParseCertificateChainPem(certificate_chain_pem);
  if (!certs.ok() || certs->empty())
    return Status::InvalidArgument("the TLS certificate is not PEM");
  Result<security::EvpPkey> key = security::ParsePrivateKeyPem(private_key_pem);
  if (!key.ok()) return Status::InvalidArgument("the TLS private key is not PEM");
  if (!security::KeyMatchesCertificate(certs->front().get(), key->get())) {
    return Status::InvalidArgument("the TLS private key does not match the certificate");
  }
  auto identity = std::make_shared<Identity>();
  identity->chain = sk_X509_new_null();
  if (identity->chain == nullptr) return Status::Internal("out of memory");
  for (size_t i = 1; i < certs->size(); ++i) {
    if (sk_X509_push(identity->chain, (*certs)[i].get()) > 0) (void)(*certs)[i].release();
  }
  identity->leaf = std::move(certs->front());
  identity->key = std::move(key).value();
  common::MutexLock lock(identity_mu_);
  identity_ = std::move(identity);
  return Status::Ok();
}

Result<std::shared_ptr<TlsContext>> TlsContext::Create(Role role, const TlsMaterial& material) {
  const auto method = role == Role::kServer ? ssl::context::tls_server : ssl::context::tls_client;
  std::shared_ptr<TlsContext> made(new TlsContext(role, method));
  SSL_CTX* ctx = made->context_.native_handle();
  RETURN_IF_ERROR(ApplyPolicy(ctx, material.ciphers));
  if (role == Role::kServer || !material.certificate_chain_pem.empty()) {
    RETURN_IF_ERROR(made->SetIdentity(material.certificate_chain_pem, material.private_key_pem));
  }
  made->trust_system_roots_ = material.trust_system_roots;
  RETURN_IF_ERROR(made->SetTrusted(kInitialTrust, material.trusted_ca_pems));
  if (role == Role::kServer) {
    SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
  }
  // Both sides ask for the other's certificate; VerifyChain checks it against the trust of
  // the moment and InspectPeer (or the dialer) decides.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, AcceptAnyChain);
  return made;
}

Status TlsContext::Trust(const std::string& ca_pem, const std::string& source) {
  ASSIGN_OR_RETURN(std::vector<std::string> pems, SplitCertificates(ca_pem));
  common::MutexLock lock(trust_mu_);
  std::set<std::string>& trusted = trusted_[source];
  const size_t before = trusted.size();
  trusted.insert(pems.begin(), pems.end());
  return trusted.size() == before ? Status::Ok() : RebuildTrustLocked(/*shrank=*/false);
}

void TlsContext::Distrust(const std::string& ca_pem, const std::string& source) {
  Result<std::vector<std::string>> pems = SplitCertificates(ca_pem);
  if (!pems.ok()) return;
  common::MutexLock lock(trust_mu_);
  std::set<std::string>& trusted = trusted_[source];
  size_t erased = 0;
  for (const std::string& pem : *pems) erased += trusted.erase(pem);
  if (erased == 0) return;
  // Rebuilding from certificates that all parsed before cannot fail.
  (void)RebuildTrustLocked(/*shrank=*/true);
}

Status TlsContext::SetTrusted(const std::string& source, const std::vector<std::string>& ca_pems) {
  std::set<std::string> wanted;
  for (const std::string& ca : ca_pems) {
    ASSIGN_OR_RETURN(std::vector<std::string> pems, SplitCertificates(ca));
    wanted.insert(pems.begin(), pems.end());
  }
  common::MutexLock lock(trust_mu_);
  std::set<std::string>& trusted = trusted_[source];
  if (trusted == wanted && trust_store_) return Status::Ok();
  const bool shrank = std::any_of(trusted.begin(), trusted.end(),
                                  [&](const std::string& pem) { return !wanted.contains(pem); });
  trusted = std::move(wanted);
  return RebuildTrustLocked(shrank);
}

bool PeerCertificate::Names(const std::string& name) const {
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& own) { return EqualsIgnoreCase(own, name); });
}

PeerCertificate InspectPeer(SSL* ssl) {
  PeerCertificate out;
  security::X509Cert cert(SSL_get1_peer_certificate(ssl));
  if (!cert) return out;
  out.presented = true;
  const long result = SSL_get_verify_result(ssl);
  out.verified = result == X509_V_OK;
  if (!out.verified) out.verify_error = X509_verify_cert_error_string(result);
  security::SubjectNames names = security::NamesOf(cert.get());
  if (!names.common_name.empty()) out.names.push_back(std::move(names.common_name));
  for (std::string& dns : names.dns_names) out.names.push_back(std::move(dns));
  for (std::string& ip : names.ip_addresses) out.names.push_back(std::move(ip));
  out.serial_hex = security::DetailsOf(cert.get()).serial_number;
  return out;
}

}  // namespace meshdb::net
