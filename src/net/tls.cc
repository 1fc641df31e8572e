#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>

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

}  // namespace

TlsContext::Identity::~Identity() { sk_X509_pop_free(chain, X509_free); }

TlsContext::TlsContext(Role role, ssl::context::method method) : role_(role), context_(method) {
  SSL_CTX_set_cert_cb(context_.native_handle(), &TlsContext::SelectIdentity, this);
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
  for (const std::string& ca : material.trusted_ca_pems) RETURN_IF_ERROR(made->Trust(ca));
  if (material.trust_system_roots) {
    boost::system::error_code ec;
    made->context_.set_default_verify_paths(ec);
    if (ec) return Status::InvalidArgument("cannot load the system root CAs: " + ec.message());
  }
  if (role == Role::kServer) {
    SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
  }
  // Both sides ask for the other's certificate; InspectPeer (or the dialer) decides.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, AcceptAnyChain);
  return made;
}

Status TlsContext::Trust(const std::string& ca_pem) {
  Result<std::vector<security::X509Cert>> certs = security::ParseCertificateChainPem(ca_pem);
  if (!certs.ok()) return Status::InvalidArgument("a trusted CA is not a PEM certificate");
  X509_STORE* store = SSL_CTX_get_cert_store(context_.native_handle());
  for (const security::X509Cert& cert : *certs) {
    if (X509_STORE_add_cert(store, cert.get()) != 1) {
      // Adding a certificate the store already has is not an error since OpenSSL 1.1.1;
      // anything else is.
      return Status::InvalidArgument("cannot trust a CA: " + OpenSslError("?"));
    }
  }
  return Status::Ok();
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
