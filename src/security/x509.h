// X.509 certificates, keys and certificate signing requests with the OpenSSL 3 API (never the
// `openssl` command).
//
// Keys are EC P-256 (prime256v1); every signature is ECDSA with SHA-256. A CA certificate
// carries basicConstraints CA:TRUE (critical) and keyUsage keyCertSign, cRLSign; a node
// certificate carries CA:FALSE, keyUsage digitalSignature, keyEncipherment, extendedKeyUsage
// serverAuth, clientAuth, and its subjectAltNames. Subjects hold only a CN. Serial numbers
// are 128 random bits.
//
// Errors: PEM that does not parse gives InvalidArgument whose message is OpenSSL's own error
// string (e.g. "error:0480006C:PEM routines::no start line", the text HarperDB answers with).
// A CSR refused by its policy gives PermissionDenied naming the offending entry. OpenSSL
// failures that are not the caller's fault give Internal.
//
// Thread-safety: free functions with no shared state. The OpenSSL objects passed in are only
// read (and must stay valid during the call); returned owners belong to the caller.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "security/openssl_owners.h"

namespace meshdb::security {

// The names a certificate or a CSR is for.
struct SubjectNames {
  std::string common_name;                // the subject CN ("" when absent)
  std::vector<std::string> dns_names;     // subjectAltName DNS entries, in order
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries as text (127.0.0.1, ::1)
};

// A CN plus SANs for `hosts`: IP literals become IP entries (normalised text), anything else
// a DNS entry; duplicates (after normalisation) are dropped, first occurrence kept.
SubjectNames NamesForHosts(std::string common_name, const std::vector<std::string>& hosts);

// When a new certificate is valid: from now + `not_before_offset_s` (negative backdates it;
// positive makes a certificate that is not valid yet, for tests) for `lifetime_s` seconds.
struct Validity {
  int64_t not_before_offset_s = 0;
  int64_t lifetime_s = 0;
};
// `days` whole days from now (replication.certificateValidityDays).
Validity ValidForDays(int64_t days);
// `seconds` from now: short-lived certificates for tests.
Validity ValidForSeconds(int64_t seconds);

// HarperDB's `details` of a certificate row, in the text forms node's X509Certificate gives.
struct CertificateDetails {
  std::string issuer;            // "CN=meshdb-Certificate-Authority-node1" (RDNs one a line)
  std::string subject;           // "CN=node1"
  std::string subject_alt_name;  // "DNS:node1, IP Address:127.0.0.1"; "" when there is none
  std::string serial_number;     // upper-case hex, e.g. "5A0F…"
  std::string valid_from;        // "Dec  3 13:52:34 2026 GMT"
  std::string valid_to;          // same form
};

// --- Keys -------------------------------------------------------------------------------

// A new EC P-256 key pair. Internal when OpenSSL fails.
Result<EvpPkey> GeneratePrivateKey();
// Unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). The text is a secret: never log it.
Result<std::string> PrivateKeyToPem(EVP_PKEY* key);
// The first private key in `pem` (any algorithm OpenSSL reads). Encrypted keys are refused
// (no passphrase prompt ever runs). InvalidArgument with OpenSSL's error string.
Result<EvpPkey> ParsePrivateKeyPem(std::string_view pem);

// --- Certificates -----------------------------------------------------------------------

// The first certificate in `pem`. InvalidArgument with OpenSSL's error string.
Result<X509Cert> ParseCertificatePem(std::string_view pem);
// Every certificate in `pem`, in order (a chain: leaf first). InvalidArgument when there is
// none or one does not parse.
Result<std::vector<X509Cert>> ParseCertificateChainPem(std::string_view pem);
// PEM text with LF line endings.
Result<std::string> CertificateToPem(X509* cert);

// A self-signed CA certificate for `key` with subject CN `common_name`.
Result<X509Cert> CreateCaCertificate(EVP_PKEY* key, const std::string& common_name,
                                     const Validity& validity);

// An intermediate CA certificate for `key` with subject CN `common_name`, issued by `ca_cert`
// (whose private key is `ca_key`).
Result<X509Cert> IssueCaCertificate(EVP_PKEY* key, const std::string& common_name, X509* ca_cert,
                                    EVP_PKEY* ca_key, const Validity& validity);

// A node certificate for `subject_key`'s public half and `names`, issued by `ca_cert`
// (whose private key is `ca_key`). InvalidArgument when an IP entry is not an IP address or
// a name is empty.
Result<X509Cert> IssueCertificate(EVP_PKEY* subject_key, const SubjectNames& names, X509* ca_cert,
                                  EVP_PKEY* ca_key, const Validity& validity);

// The CN and subjectAltNames of `cert` (other SAN types are ignored).
SubjectNames NamesOf(X509* cert);
// HarperDB's details fields of `cert`.
CertificateDetails DetailsOf(X509* cert);
// Whether `key` is the private key of `cert`'s public key.
bool KeyMatchesCertificate(X509* cert, EVP_PKEY* key);
// Ok when `unix_time_s` lies within the validity window; InvalidArgument
// "certificate expired on <valid_to>" or "certificate is not valid before <valid_from>".
Status CheckValidAt(X509* cert, int64_t unix_time_s);
// The validity window of `cert` in Unix seconds.
struct ValidityWindow {
  int64_t not_before_s = 0;
  int64_t not_after_s = 0;
};
ValidityWindow ValidityOf(X509* cert);
// Whether the CN or a subjectAltName covers `name`: an IP literal matches an IP entry (or
// the CN text); a host name matches a DNS entry or the CN, case-insensitively, where a
// "*.example.com" entry covers exactly one leftmost label.
bool CoversName(X509* cert, std::string_view name);
// Whether the subject equals the issuer and the signature verifies with its own key.
bool IsSelfSigned(X509* cert);
// Whether basicConstraints says CA:TRUE.
bool IsCertificateAuthority(X509* cert);

// --- Certificate signing requests -------------------------------------------------------

// A CSR for `names`, signed with `key`. InvalidArgument as IssueCertificate.
Result<X509Req> CreateCsr(EVP_PKEY* key, const SubjectNames& names);
Result<std::string> CsrToPem(X509_REQ* csr);
// InvalidArgument with OpenSSL's error string.
Result<X509Req> ParseCsrPem(std::string_view pem);
// The CN and SANs a CSR asks for. InvalidArgument when it holds more than one CN or a SAN
// type other than DNS and IP (which no policy could check).
Result<SubjectNames> NamesOfCsr(X509_REQ* csr);

// Decides whether a CSR's names may be signed: Ok, or the error to return.
using CsrPolicy = std::function<Status(const SubjectNames& requested)>;

// The policy "name only what `allowed` holds": the CN, every DNS entry and every IP entry
// must be in `allowed` (host names compared case-insensitively, IPs after normalisation); a
// name with '*' is always refused. PermissionDenied naming the first offending entry, e.g.
// "the certificate request names DNS 'node3', which is not one of the allowed names
// (node2, 127.0.0.2)". An empty CN is refused too.
Status CheckNamesAllowed(const SubjectNames& requested, const std::set<std::string>& allowed);
CsrPolicy AllowOnlyNames(std::set<std::string> allowed);

// Verifies the CSR's own signature, asks `policy` about its names, then issues a node
// certificate for them (IssueCertificate) with the CSR's public key. InvalidArgument when
// the CSR is malformed or its signature does not verify; the policy's error as it is.
Result<X509Cert> SignCsr(X509_REQ* csr, X509* ca_cert, EVP_PKEY* ca_key, const Validity& validity,
                         const CsrPolicy& policy);

}  // namespace meshdb::security
