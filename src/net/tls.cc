#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

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

// The SSL ex_data slot of the peer's intermediate certificates restored from a session
// ticket (CheckTicket): a resumed session keeps only the peer's own certificate.
void FreeTicketChain(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/,
                     long /*argl*/, void* /*argp*/) {
  sk_X509_pop_free(static_cast<STACK_OF(X509)*>(ptr), X509_free);
}
int TicketChainIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &FreeTicketChain);
  return index;
}

// The certificates the peer sent after its own: from the handshake, or on a resumed one from
// its ticket (TicketChainIndex). Null when there are none.
STACK_OF(X509) * PeerIntermediates(SSL* ssl) {
  STACK_OF(X509)* sent = SSL_get_peer_cert_chain(ssl);
  if (SSL_session_reused(ssl) == 1 && (sent == nullptr || sk_X509_num(sent) == 0)) {
    sent = static_cast<STACK_OF(X509)*>(SSL_get_ex_data(ssl, TicketChainIndex()));
  }
  return sent;
}

// A ticket's app data: the trust generation (4 bytes, host order), then each intermediate
// certificate the peer sent (not its own), as a 4-byte length and DER.
std::string EncodeTicketData(uint32_t generation, SSL* ssl) {
  std::string out(reinterpret_cast<const char*>(&generation), sizeof generation);
  STACK_OF(X509)* chain = PeerIntermediates(ssl);
  X509* leaf = SSL_get0_peer_certificate(ssl);
  for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
    X509* one = sk_X509_value(chain, i);
    if (leaf != nullptr && X509_cmp(one, leaf) == 0) continue;
    const int size = i2d_X509(one, nullptr);
    if (size <= 0) continue;
    const auto length = static_cast<uint32_t>(size);
    out.append(reinterpret_cast<const char*>(&length), sizeof length);
    std::string der(static_cast<size_t>(size), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_X509(one, &p) != size) return out.substr(0, sizeof generation);
    out += der;
  }
  return out;
}

// The generation and the intermediates (owned by the caller; null when none, or when the
// data is malformed) of EncodeTicketData's text.
uint32_t DecodeTicketData(const unsigned char* data, size_t size, STACK_OF(X509) * *chain) {
  *chain = nullptr;
  uint32_t generation = 0;
  if (size < sizeof generation) return 0;
  std::memcpy(&generation, data, sizeof generation);
  size_t at = sizeof generation;
  STACK_OF(X509)* out = nullptr;
  while (at + sizeof(uint32_t) <= size) {
    uint32_t length = 0;
    std::memcpy(&length, data + at, sizeof length);
    at += sizeof length;
    const unsigned char* p = data + at;
    X509* one = length <= size - at ? d2i_X509(nullptr, &p, static_cast<long>(length)) : nullptr;
    if (one == nullptr) {
      sk_X509_pop_free(out, X509_free);
      ERR_clear_error();
      return 0;  // a generation no context has: the ticket is not resumed
    }
    if (out == nullptr) out = sk_X509_new_null();
    if (out == nullptr || sk_X509_push(out, one) <= 0) {
      X509_free(one);
      sk_X509_pop_free(out, X509_free);
      return 0;
    }
    at += length;
  }
  *chain = out;
  return generation;
}

}  // namespace

struct PeerChain {
  security::X509Cert leaf;
  STACK_OF(X509) * untrusted = nullptr;  // owned; the certificates the peer sent after its own
  PeerChain() = default;
  PeerChain(const PeerChain&) = delete;
  PeerChain& operator=(const PeerChain&) = delete;
  ~PeerChain() { sk_X509_pop_free(untrusted, X509_free); }
};

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
  const std::string data = EncodeTicketData(generation, ssl);
  return SSL_SESSION_set1_ticket_appdata(SSL_get0_session(ssl), data.data(), data.size());
}

SSL_TICKET_RETURN TlsContext::CheckTicket(SSL* ssl, SSL_SESSION* session,
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
      STACK_OF(X509)* chain = nullptr;
      uint32_t generation = 0;
      if (SSL_SESSION_get0_ticket_appdata(session, &data, &size) == 1) {
        generation = DecodeTicketData(static_cast<const unsigned char*>(data), size, &chain);
      }
      if (generation != static_cast<TlsContext*>(self)->trust_generation_.load()) {
        sk_X509_pop_free(chain, X509_free);
        return SSL_TICKET_RETURN_IGNORE_RENEW;  // verified under a trust that changed since
      }
      // The peer's intermediates, for InspectPeer (and so Reverify) and the renewed ticket.
      sk_X509_pop_free(static_cast<STACK_OF(X509)*>(SSL_get_ex_data(ssl, TicketChainIndex())),
                       X509_free);
      SSL_set_ex_data(ssl, TicketChainIndex(), chain);
      return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
    }
    default:
      return SSL_TICKET_RETURN_IGNORE_RENEW;
  }
}

std::shared_ptr<X509_STORE> TlsContext::TrustSnapshot() const {
  common::MutexLock lock(trust_mu_);
  return trust_store_;
}

Result<bool> TlsContext::RebuildTrustLocked() {
  std::shared_ptr<X509_STORE> store(X509_STORE_new(), X509_STORE_free);
  if (!store) return Status::Internal("out of memory");
  std::set<std::string> all;
  for (const auto& [source, pems] : trusted_) all.insert(pems.begin(), pems.end());
  const bool shrank = std::any_of(trusted_union_.begin(), trusted_union_.end(),
                                  [&](const std::string& pem) { return !all.contains(pem); });
  for (const std::string& pem : all) {
    Result<security::X509Cert> cert = security::ParseCertificatePem(pem);
    // OpenSSL 3.0 fills a certificate's cache of decoded extensions (key identifiers, ...)
    // lazily, on first use; two handshakes verifying against the same new CA at once raced
    // there (ThreadSanitizer: one thread writing the CA's subject key identifier under the
    // store's lock while another compared it). X509_check_purpose(-1) fills it now, before
    // any handshake can see the certificate.
    if (cert.ok()) X509_check_purpose(cert->get(), -1, 0);
    // Adding a certificate the store already has is not an error since OpenSSL 1.1.1.
    if (!cert.ok() || X509_STORE_add_cert(store.get(), cert->get()) != 1) {
      return Status::InvalidArgument("cannot trust a CA: " + OpenSslError("?"));
    }
  }
  if (trust_system_roots_ && X509_STORE_set_default_paths(store.get()) != 1) {
    return Status::InvalidArgument("cannot load the system root CAs: " + OpenSslError("?"));
  }
  trust_store_ = std::move(store);
  trusted_union_ = std::move(all);
  if (shrank) {
    // Sessions verified under the old trust are not resumed: tickets carry the generation,
    // the server's cache is emptied, and a client forgets the sessions it kept.
    trust_generation_.fetch_add(1);
    session_epoch_.fetch_add(1);
    if (role_ == Role::kServer) SSL_CTX_flush_sessions(context_.native_handle(), LONG_MAX);
    common::MutexLock lock(sessions_mu_);
    sessions_.clear();
  }
  return shrank;
}

void TlsContext::SetTrustShrankHandler(std::function<void()> on_shrink) {
  common::MutexLock lock(handler_mu_);
  on_trust_shrank_ = std::move(on_shrink);
}

void TlsContext::NotifyTrustShrank() {
  common::MutexLock lock(handler_mu_);
  if (on_trust_shrank_) on_trust_shrank_();
}

Status TlsContext::Reverify(const PeerCertificate& peer, bool peer_is_client) const {
  if (!peer.chain || !peer.chain->leaf) return Status::PermissionDenied("it presented none");
  std::shared_ptr<X509_STORE> store = TrustSnapshot();
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  int error = X509_V_ERR_OUT_OF_MEM;
  if (ctx != nullptr &&
      X509_STORE_CTX_init(ctx, store.get(), peer.chain->leaf.get(), peer.chain->untrusted) == 1) {
    // The purpose and checks OpenSSL sets up for a handshake (ssl_verify_cert_chain).
    X509_STORE_CTX_set_default(ctx, peer_is_client ? "ssl_client" : "ssl_server");
    error = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  }
  X509_STORE_CTX_free(ctx);
  ERR_clear_error();
  if (error == X509_V_OK) return Status::Ok();
  return Status::PermissionDenied(X509_verify_cert_error_string(error));
}

uint64_t TlsContext::OfferSession(SSL* ssl, const std::string& peer) {
  const uint64_t epoch = session_epoch_.load();
  common::MutexLock lock(sessions_mu_);
  auto it = sessions_.find(peer);
  if (it == sessions_.end()) return epoch;
  if (it->second.epoch != epoch || SSL_SESSION_is_resumable(it->second.session.get()) != 1) {
    sessions_.erase(it);
    return epoch;
  }
  // Takes its own reference. A session OpenSSL finds unusable for this connection (another
  // version, say) only means a full handshake.
  (void)SSL_set_session(ssl, it->second.session.get());
  return epoch;
}

void TlsContext::KeepSession(SSL* ssl, const std::string& peer, uint64_t epoch) {
  if (SSL_get_verify_result(ssl) != X509_V_OK) return;
  // The latest session (with TLS 1.3, the one of the last ticket read), copied: OpenSSL
  // marks a connection's session unresumable when the connection later fails, which says
  // nothing about the ticket.
  std::unique_ptr<SSL_SESSION, SessionFree> session(SSL_SESSION_dup(SSL_get0_session(ssl)));
  if (!session || SSL_SESSION_is_resumable(session.get()) != 1) return;
  common::MutexLock lock(sessions_mu_);
  if (epoch != session_epoch_.load()) return;  // trust or identity changed since the offer
  if (sessions_.size() >= kMaxKeptSessions && !sessions_.contains(peer)) {
    sessions_.erase(sessions_.begin());
  }
  sessions_[peer] = KeptSession{std::move(session), epoch};
}

void TlsContext::ForgetSession(const std::string& peer) {
  common::MutexLock lock(sessions_mu_);
  sessions_.erase(peer);
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
  {
    common::MutexLock lock(identity_mu_);
    identity_ = std::move(identity);
  }
  // A kept session would present the old certificate again (the server resumes what it
  // verified then): the next handshakes are full ones.
  session_epoch_.fetch_add(1);
  common::MutexLock lock(sessions_mu_);
  sessions_.clear();
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
    // Sessions are kept per peer by KeepSession, not in OpenSSL's cache.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
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
  if (trusted.size() == before) return Status::Ok();
  return RebuildTrustLocked().status();  // adding never shrinks the union
}

void TlsContext::Distrust(const std::string& ca_pem, const std::string& source) {
  Result<std::vector<std::string>> pems = SplitCertificates(ca_pem);
  if (!pems.ok()) return;
  bool shrank = false;
  {
    common::MutexLock lock(trust_mu_);
    std::set<std::string>& trusted = trusted_[source];
    size_t erased = 0;
    for (const std::string& pem : *pems) erased += trusted.erase(pem);
    if (erased == 0) return;
    // Rebuilding from certificates that all parsed before fails only out of memory.
    Result<bool> rebuilt = RebuildTrustLocked();
    shrank = rebuilt.ok() && *rebuilt;
  }
  if (shrank) NotifyTrustShrank();
}

Status TlsContext::SetTrusted(const std::string& source, const std::vector<std::string>& ca_pems) {
  std::set<std::string> wanted;
  for (const std::string& ca : ca_pems) {
    ASSIGN_OR_RETURN(std::vector<std::string> pems, SplitCertificates(ca));
    wanted.insert(pems.begin(), pems.end());
  }
  bool shrank = false;
  {
    common::MutexLock lock(trust_mu_);
    std::set<std::string>& trusted = trusted_[source];
    if (trusted == wanted && trust_store_) return Status::Ok();
    trusted = std::move(wanted);
    ASSIGN_OR_RETURN(shrank, RebuildTrustLocked());
  }
  if (shrank) NotifyTrustShrank();
  return Status::Ok();
}

bool PeerCertificate::Names(const std::string& name) const {
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& own) { return EqualsIgnoreCase(own, name); });
}

PeerCertificate InspectPeer(SSL* ssl) {
  PeerCertificate out;
  out.resumed = SSL_session_reused(ssl) == 1;
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
  auto chain = std::make_shared<PeerChain>();
  chain->leaf = std::move(cert);
  // A client's chain holds the leaf (the peer sent it); a server's does not (the peer's
  // certificate is got separately): either way the leaf is skipped.
  if (STACK_OF(X509)* sent = PeerIntermediates(ssl); sent != nullptr) {
    chain->untrusted = sk_X509_new_null();
    for (int i = 0; chain->untrusted != nullptr && i < sk_X509_num(sent); ++i) {
      X509* one = sk_X509_value(sent, i);
      if (X509_cmp(one, chain->leaf.get()) == 0) continue;
      if (X509_up_ref(one) == 1 && sk_X509_push(chain->untrusted, one) <= 0) X509_free(one);
    }
  }
  out.chain = std::move(chain);
  return out;
}

}  // namespace meshdb::net
