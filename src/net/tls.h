// TLS for the listeners and the replication dialer: an asio::ssl::context built once from PEM
// text, whose trusted CAs can grow while it is in use, and what a handshake proved about the
// peer's certificate.
//
// Policy, for every context: TLS 1.2 at least (1.3 preferred: OpenSSL negotiates the highest
// both sides speak), no compression or renegotiation, session resumption (a server keeps a
// session cache and issues TLS 1.3 tickets; a client keeps one session per peer, in memory,
// and offers it on its next connection to that peer: OfferSession / KeepSession), and a
// TLS 1.2 cipher list limited to ECDHE with AEAD ciphers unless the operator sets `ciphers`
// (tls.ciphers). TLS 1.3 ciphersuites are OpenSSL's defaults, all of them AEAD.
//
// A server context asks every client for a certificate and completes the handshake whether
// or not one came and whether or not it verified: the HTTP layer decides (a replication link
// takes a verified certificate as the peer's identity, otherwise it needs credentials; the
// operations API ignores client certificates). InspectPeer says what was proven.
//
// Trust is live: peers are verified against the union of named sets of CAs ("sources", e.g.
// the node's own, the added certificates, the cluster members'), snapshotted per handshake.
// A CA removed from every source is no longer trusted from the next handshake on, and
// sessions verified before are not resumed (a server context refuses their tickets and
// forgets its cache, a client context forgets the sessions it kept), so a removed CA takes
// effect without a restart. Connections already up are the owner's to re-check
// (SetTrustShrankHandler, Reverify).
//
// The context's own certificate and key (its identity) are chosen per handshake, so
// SetIdentity replaces them while connections use the context: a certificate renewed or
// signed by a peer takes effect from the next handshake, and no connection is dropped.
//
// Thread-safety: a TlsContext is used by many connections at once; Trust, Distrust,
// SetTrusted and SetIdentity may be called from any thread while it is (the trust store and
// the identity are immutable snapshots swapped under a mutex).
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "security/openssl_owners.h"

namespace meshdb::net {

// What a context is made of. PEM text, never file names: the caller reads the files (and
// keeps the key out of logs).
struct TlsMaterial {
  std::string certificate_chain_pem;  // own certificate first, then any intermediates
  std::string private_key_pem;        // the key of that certificate
  // Peers' certificates are verified against these (and the system roots when
  // trust_system_roots). Each entry may hold several PEM certificates. They form the
  // source kInitialTrust.
  std::vector<std::string> trusted_ca_pems;
  bool trust_system_roots = false;
  std::string ciphers;  // TLS 1.2 cipher list in OpenSSL syntax; "" for kDefaultTls12Ciphers
};

// ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only (forward secrecy, AEAD).
inline constexpr const char* kDefaultTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// The source the CAs of TlsMaterial::trusted_ca_pems belong to.
inline constexpr const char* kInitialTrust = "initial";

struct PeerCertificate;

class TlsContext {
 public:
  enum class Role { kServer, kClient };
  // InvalidArgument naming what is wrong: a certificate or key that does not parse, a key
  // that does not match the certificate, a cipher list OpenSSL rejects. A client context
  // may have no certificate (it then presents none).
  static Result<std::shared_ptr<TlsContext>> Create(Role role, const TlsMaterial& material);

  boost::asio::ssl::context& native() { return context_; }
  [[nodiscard]] Role role() const { return role_; }

  // Trusts the CA(s) in `ca_pem` (PEM, possibly several certificates) as part of `source`
  // from the next handshake on. Idempotent. InvalidArgument when it does not parse (nothing
  // changes then).
  Status Trust(const std::string& ca_pem, const std::string& source = kInitialTrust);
  // `source` no longer vouches for the CA(s) in `ca_pem`: they stay trusted only while another
  // source holds them. Unparsable or unknown PEM changes nothing.
  void Distrust(const std::string& ca_pem, const std::string& source);
  // Replaces everything `source` vouches for. InvalidArgument when an entry does not parse
  // (nothing changes then).
  Status SetTrusted(const std::string& source, const std::vector<std::string>& ca_pems);

  // Presents `certificate_chain_pem` (own certificate first) with `private_key_pem` from the
  // next handshake on. InvalidArgument when either does not parse or the key is not the
  // certificate's; the identity in use is then unchanged.
  Status SetIdentity(const std::string& certificate_chain_pem, const std::string& private_key_pem);

  // Whether `peer` (what a handshake with a context trusting the same CAs proved) still
  // verifies against the trust of this moment, at this time: Ok, else PermissionDenied with
  // OpenSSL's reason ("unable to get local issuer certificate", "certificate has expired",
  // ...; "it presented none" without a certificate). `peer_is_client`: the peer was the TLS
  // client of that handshake, so its certificate is checked for client use (else for
  // server use). Any thread.
  [[nodiscard]] Status Reverify(const PeerCertificate& peer, bool peer_is_client) const;
  // Calls `on_shrink` after every change that made a CA leave a source (Distrust, or a
  // SetTrusted that dropped one), on the thread that made it and with no lock of this context
  // held, so the owner can Reverify its connections (the CA may still be trusted through
  // another source). Replaces the previous handler; an empty function removes it, and once
  // that call returned the old handler is not running and never runs again.
  void SetTrustShrankHandler(std::function<void()> on_shrink);

  // Client contexts: session resumption, per peer (`peer` is any stable key, e.g. the URL
  // dialled), in memory. Before the handshake of a connection to `peer`: sets the session
  // KeepSession kept for it on `ssl`, unless a CA stopped being trusted or the identity changed
  // since it was kept (then it is forgotten: the handshake is a full one, verified against
  // today's CAs, presenting today's certificate). Returns the epoch to hand to KeepSession.
  uint64_t OfferSession(SSL* ssl, const std::string& peer);
  // After the connection on `ssl` proved good (e.g. a replication link went live): keeps its
  // session for `peer`, replacing the previous one, when the peer's certificate verified, the
  // session is resumable and `epoch` (OfferSession's) is still current. TLS 1.3 tickets
  // arrive after the handshake, so call it after the first read from the peer. At most
  // kMaxKeptSessions peers are kept (an arbitrary one is dropped beyond).
  void KeepSession(SSL* ssl, const std::string& peer, uint64_t epoch);
  // Forgets the session kept for `peer` (a connection that resumed it failed).
  void ForgetSession(const std::string& peer);
  static constexpr size_t kMaxKeptSessions = 1024;

 private:
  // A parsed certificate chain and its key.
  struct Identity {
    security::X509Cert leaf;
    STACK_OF(X509) * chain = nullptr;  // owned; the certificates after the leaf
    security::EvpPkey key;
    ~Identity();
  };

  TlsContext(Role role, boost::asio::ssl::context::method method);
  // SSL_CTX_set_cert_cb's callback: hands the current identity to the handshake.
  static int SelectIdentity(SSL* ssl, void* self);
  // SSL_CTX_set_cert_verify_callback's: verifies the peer's chain against the trust snapshot
  // of the moment, records the result for InspectPeer and lets the handshake complete.
  static int VerifyChain(X509_STORE_CTX* ctx, void* self);
  // Session tickets carry the trust generation they were issued under and the intermediate
  // certificates the peer sent; a ticket from an older generation is not resumed (a full
  // handshake verifies the peer again).
  static int StampTicket(SSL* ssl, void* self);
  static SSL_TICKET_RETURN CheckTicket(SSL* ssl, SSL_SESSION* session, const unsigned char* key,
                                       size_t key_len, SSL_TICKET_STATUS status, void* self);
  // The trust store of the moment (never null after Create).
  std::shared_ptr<X509_STORE> TrustSnapshot() const;
  // Rebuilds the store from trusted_ (each PEM in it is one certificate); when a CA left the
  // union, starts a new generation (older sessions are not resumed) and returns true.
  Result<bool> RebuildTrustLocked() REQUIRES(trust_mu_);
  // Runs the SetTrustShrankHandler handler, if any.
  void NotifyTrustShrank() EXCLUDES(handler_mu_);

  struct SessionFree {
    void operator()(SSL_SESSION* session) const { SSL_SESSION_free(session); }
  };
  struct KeptSession {
    std::unique_ptr<SSL_SESSION, SessionFree> session;
    uint64_t epoch = 0;
  };

  const Role role_;
  boost::asio::ssl::context context_;
  bool trust_system_roots_ = false;  // set by Create, constant after
  std::atomic<uint32_t> trust_generation_{1};
  // Moves on with trust_generation_ and with every SetIdentity: a client's kept sessions
  // from an older epoch are not offered.
  std::atomic<uint64_t> session_epoch_{1};
  mutable common::Mutex trust_mu_;
  // source -> the certificates it vouches for (PEM, one certificate each, as re-encoded).
  std::map<std::string, std::set<std::string>> trusted_ GUARDED_BY(trust_mu_);
  std::shared_ptr<X509_STORE> trust_store_ GUARDED_BY(trust_mu_);
  std::set<std::string> trusted_union_ GUARDED_BY(trust_mu_);  // what trust_store_ was built of
  common::Mutex identity_mu_;
  std::shared_ptr<const Identity> identity_ GUARDED_BY(identity_mu_);  // null: none
  // Held while the handler runs, so that replacing it waits for a call in progress.
  common::Mutex handler_mu_;
  std::function<void()> on_trust_shrank_ GUARDED_BY(handler_mu_);
  common::Mutex sessions_mu_;
  // A client's kept sessions, by peer. Locked after trust_mu_ when both are.
  std::map<std::string, KeptSession> sessions_ GUARDED_BY(sessions_mu_);
};

// The certificates a peer sent (its own first), kept for TlsContext::Reverify (tls.cc).
struct PeerChain;

// What the handshake proved about the peer's certificate (call after it completed).
struct PeerCertificate {
  bool presented = false;    // the peer sent a certificate
  bool verified = false;     // ... and it chains to a trusted CA and is within its validity
  std::string verify_error;  // why not verified ("" when verified or none presented)
  // The subject CN, then every DNS and IP subjectAltName (IPs in their text form).
  std::vector<std::string> names;
  std::string serial_hex;  // upper-case hex, no separators
  // The handshake resumed an earlier session: nothing was verified now, and the fields above
  // are those the session recorded when it was verified.
  bool resumed = false;
  // Null when none was presented. On a resumed handshake it holds what the first one
  // proved: a server's session (a ticket) keeps only the peer's own certificate, so the
  // intermediates the peer sent travel inside the ticket (encrypted with it) and come back
  // here, and TlsContext::Reverify checks the whole chain again.
  std::shared_ptr<const PeerChain> chain;
  // Whether `name` is the CN or one of the subjectAltNames (exact, case-insensitive for DNS
  // names; wildcards are never honoured).
  [[nodiscard]] bool Names(const std::string& name) const;
};
PeerCertificate InspectPeer(SSL* ssl);

}  // namespace meshdb::net
