#include "net/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>

namespace meshdb::net {

namespace {

namespace ssl = boost::asio::ssl;

// Ids a server's session cache under; also required for resuming sessions that carried a
// client certificate.
constexpr unsigned char kSessionIdContext[] = "meshdb";

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, GeneralNamesFree>;

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

// Every certificate in `pem`, in order.
std::vector<X509Ptr> ParseCertificates(const std::string& pem) {
  std::vector<X509Ptr> out;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return out;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(cert);
  }
  ERR_clear_error();  // the read past the last certificate queues "no start line"
  return out;
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

Status UseIdentity(SSL_CTX* ctx, const TlsMaterial& material) {
  std::vector<X509Ptr> chain = ParseCertificates(material.certificate_chain_pem);
  if (chain.empty()) return Status::InvalidArgument("the TLS certificate is not PEM");
  if (SSL_CTX_use_certificate(ctx, chain.front().get()) != 1) {
    return Status::InvalidArgument("the TLS certificate was refused: " + OpenSslError("?"));
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    // add_extra_chain_cert takes ownership on success.
    if (SSL_CTX_add_extra_chain_cert(ctx, chain[i].get()) == 1) (void)chain[i].release();
  }
  BioPtr bio(BIO_new_mem_buf(material.private_key_pem.data(),
                             static_cast<int>(material.private_key_pem.size())));
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (key == nullptr) {
    ERR_clear_error();  // the key's text stays out of the message
    return Status::InvalidArgument("the TLS private key is not PEM");
  }
  const int used = SSL_CTX_use_PrivateKey(ctx, key);
  EVP_PKEY_free(key);
  if (used != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("the TLS private key does not match the certificate");
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

std::string CommonName(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  return out;
}

void AppendAltNames(X509* cert, std::vector<std::string>* names) {
  GeneralNamesPtr alt(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!alt) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(alt.get()); ++i) {
    const GENERAL_NAME* entry = sk_GENERAL_NAME_value(alt.get(), i);
    if (entry->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = entry->d.dNSName;
      names->emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                          static_cast<size_t>(ASN1_STRING_length(dns)));
    } else if (entry->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = entry->d.iPAddress;
      const unsigned char* bytes = ASN1_STRING_get0_data(ip);
      if (ASN1_STRING_length(ip) == 4) {
        boost::asio::ip::address_v4::bytes_type v4;
        std::copy_n(bytes, 4, v4.begin());
        names->push_back(boost::asio::ip::address_v4(v4).to_string());
      } else if (ASN1_STRING_length(ip) == 16) {
        boost::asio::ip::address_v6::bytes_type v6;
        std::copy_n(bytes, 16, v6.begin());
        names->push_back(boost::asio::ip::address_v6(v6).to_string());
      }
    }
  }
}

std::string SerialHex(X509* cert) {
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (serial == nullptr) return "";
  char* hex = BN_bn2hex(serial);
  std::string out = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(serial);
  return out;
}

}  // namespace

TlsContext::TlsContext(Role role, ssl::context::method method) : role_(role), context_(method) {}

Result<std::shared_ptr<TlsContext>> TlsContext::Create(Role role, const TlsMaterial& material) {
  const auto method = role == Role::kServer ? ssl::context::tls_server : ssl::context::tls_client;
  std::shared_ptr<TlsContext> made(new TlsContext(role, method));
  SSL_CTX* ctx = made->context_.native_handle();
  RETURN_IF_ERROR(ApplyPolicy(ctx, material.ciphers));
  if (role == Role::kServer || !material.certificate_chain_pem.empty()) {
    RETURN_IF_ERROR(UseIdentity(ctx, material));
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
  std::vector<X509Ptr> certs = ParseCertificates(ca_pem);
  if (certs.empty()) return Status::InvalidArgument("a trusted CA is not a PEM certificate");
  X509_STORE* store = SSL_CTX_get_cert_store(context_.native_handle());
  for (const X509Ptr& cert : certs) {
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
  X509Ptr cert(SSL_get1_peer_certificate(ssl));
  if (!cert) return out;
  out.presented = true;
  const long result = SSL_get_verify_result(ssl);
  out.verified = result == X509_V_OK;
  if (!out.verified) out.verify_error = X509_verify_cert_error_string(result);
  std::string cn = CommonName(cert.get());
  if (!cn.empty()) out.names.push_back(std::move(cn));
  AppendAltNames(cert.get(), &out.names);
  out.serial_hex = SerialHex(cert.get());
  return out;
}

}  // namespace meshdb::net
