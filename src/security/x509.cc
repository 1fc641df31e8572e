#include "security/x509.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>

namespace meshdb::security {

namespace {

constexpr int64_t kSecondsPerDay = 86400;

// --- small owners for stacks and names used only here ----------------------------------

struct GeneralNamesDeleter {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
using GeneralNames = std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter>;

struct ExtensionStackDeleter {
  void operator()(STACK_OF(X509_EXTENSION) * p) const {
    sk_X509_EXTENSION_pop_free(p, X509_EXTENSION_free);
  }
};
using ExtensionStack = std::unique_ptr<STACK_OF(X509_EXTENSION), ExtensionStackDeleter>;

struct ExtensionDeleter {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
using Extension = std::unique_ptr<X509_EXTENSION, ExtensionDeleter>;

struct BignumDeleter {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using Bignum = std::unique_ptr<BIGNUM, BignumDeleter>;

struct OpenSslStringDeleter {
  void operator()(char* p) const { OPENSSL_free(p); }
};
using OpenSslString = std::unique_ptr<char, OpenSslStringDeleter>;

// The most recent OpenSSL error as OpenSSL prints it ("error:0480006C:PEM routines::no start
// line"), or `fallback` when the queue is empty. Clears the queue.
std::string TakeOpenSslError(const char* fallback) {
  unsigned long code = ERR_peek_last_error();
  std::string text = fallback;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    text = buf;
  }
  ERR_clear_error();
  return text;
}

Status OpenSslInternal(const char* what) {
  return Status::Internal(std::string(what) + ": " + TakeOpenSslError("OpenSSL failed"));
}

// Never prompts for a passphrase: an encrypted key simply fails to load.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return 0; }

Result<Bio> ReadBio(std::string_view pem) {
  ERR_clear_error();
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslInternal("BIO_new_mem_buf");
  return bio;
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

template <typename Writer>
Result<std::string> WritePem(Writer write, const char* what) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) return OpenSslInternal(what);
  return BioText(bio.get());
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The canonical text of an IP literal (inet_ntop's), or nullopt when `text` is not one.
std::optional<std::string> NormalisedIp(std::string_view text) {
  std::string s(text);
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    return std::string(inet_ntop(AF_INET, buf, out, sizeof(out)));
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    return std::string(inet_ntop(AF_INET6, buf, out, sizeof(out)));
  }
  return std::nullopt;
}

// The text of an IP SAN's octets, or "" when the length is neither 4 nor 16.
std::string IpText(const ASN1_OCTET_STRING* ip) {
  char out[INET6_ADDRSTRLEN];
  const unsigned char* data = ASN1_STRING_get0_data(ip);
  int len = ASN1_STRING_length(ip);
  if (len == 4) return inet_ntop(AF_INET, data, out, sizeof(out));
  if (len == 16) return inet_ntop(AF_INET6, data, out, sizeof(out));
  return "";
}

std::string Asn1Text(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

// The subject CN entries of `name`.
std::vector<std::string> CommonNames(const X509_NAME* name) {
  std::vector<std::string> out;
  int pos = -1;
  while ((pos = X509_NAME_get_index_by_NID(name, NID_commonName, pos)) >= 0) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, pos);
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
    if (len >= 0) out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
    OPENSSL_free(utf8);
  }
  return out;
}

// Adds the DNS and IP entries of `sans` (may be null) to `names`; sets `*other_types` (when
// not null) if an entry of another type is present.
void CollectSans(const GENERAL_NAMES* sans, SubjectNames& names, bool* other_types) {
  if (sans == nullptr) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
    if (gn->type == GEN_DNS) {
      names.dns_names.push_back(Asn1Text(gn->d.dNSName));
    } else if (gn->type == GEN_IPADD) {
      names.ip_addresses.push_back(IpText(gn->d.iPAddress));
    } else if (other_types != nullptr) {
      *other_types = true;
    }
  }
}

// The subjectAltName entries for `names`. InvalidArgument for an empty name or an IP entry
// that is not an IP address.
Result<GeneralNames> BuildSans(const SubjectNames& names) {
  GeneralNames sans(sk_GENERAL_NAME_new_null());
  if (!sans) return OpenSslInternal("sk_GENERAL_NAME_new_null");
  for (const std::string& dns : names.dns_names) {
    if (dns.empty()) return Status::InvalidArgument("empty DNS subjectAltName");
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_IA5STRING* text = ASN1_IA5STRING_new();
    if (gn == nullptr || text == nullptr ||
        ASN1_STRING_set(text, dns.data(), static_cast<int>(dns.size())) != 1) {
      GENERAL_NAME_free(gn);
      ASN1_IA5STRING_free(text);
      return OpenSslInternal("DNS subjectAltName");
    }
    GENERAL_NAME_set0_value(gn, GEN_DNS, text);
    sk_GENERAL_NAME_push(sans.get(), gn);
  }
  for (const std::string& ip : names.ip_addresses) {
    ASN1_OCTET_STRING* octets = a2i_IPADDRESS(ip.c_str());
    if (octets == nullptr) {
      ERR_clear_error();
      return Status::InvalidArgument("'" + ip + "' is not an IP address");
    }
    GENERAL_NAME* gn = GENERAL_NAME_new();
    if (gn == nullptr) {
      ASN1_OCTET_STRING_free(octets);
      return OpenSslInternal("IP subjectAltName");
    }
    GENERAL_NAME_set0_value(gn, GEN_IPADD, octets);
    sk_GENERAL_NAME_push(sans.get(), gn);
  }
  return sans;
}

Status SetSubjectCn(X509_NAME* name, const std::string& common_name) {
  if (common_name.empty()) return Status::InvalidArgument("empty common name");
  if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1) {
    return OpenSslInternal("common name");
  }
  return Status::Ok();
}

Status SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return OpenSslInternal("RAND_bytes");
  bytes[0] &= 0x7f;  // positive
  bytes[0] |= 0x40;  // and a full 16 bytes long
  Bignum bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return OpenSslInternal("serial number");
  }
  return Status::Ok();
}

// Adds extension `nid` with OpenSSL's config text `value` (fixed strings only, never names
// from a request), in the context of `issuer` signing `cert`.
Status AddConfExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  Extension ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) return OpenSslInternal(value);
  return Status::Ok();
}

// What kind of certificate BuildCertificate makes.
struct Profile {
  EVP_PKEY* subject_key = nullptr;  // its public half goes into the certificate
  const SubjectNames* names = nullptr;
  X509* issuer = nullptr;  // nullptr: self-signed
  EVP_PKEY* issuer_key = nullptr;
  bool is_ca = false;
  Validity validity;
};

Result<X509Cert> BuildCertificate(const Profile& p) {
  ERR_clear_error();
  X509Cert cert(X509_new());
  if (!cert) return OpenSslInternal("X509_new");
  X509* issuer = p.issuer != nullptr ? p.issuer : cert.get();
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return OpenSslInternal("version");
  RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), p.validity.not_before_offset_s) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                      p.validity.not_before_offset_s + p.validity.lifetime_s) == nullptr) {
    return OpenSslInternal("validity");
  }
  RETURN_IF_ERROR(SetSubjectCn(X509_get_subject_name(cert.get()), p.names->common_name));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer)) != 1 ||
      X509_set_pubkey(cert.get(), p.subject_key) != 1) {
    return OpenSslInternal("issuer or public key");
  }
  if (p.is_ca) {
    RETURN_IF_ERROR(
        AddConfExtension(cert.get(), issuer, NID_basic_constraints, "critical,CA:TRUE"));
    RETURN_IF_ERROR(
        AddConfExtension(cert.get(), issuer, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    RETURN_IF_ERROR(
        AddConfExtension(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE"));
    RETURN_IF_ERROR(AddConfExtension(cert.get(), issuer, NID_key_usage,
                                     "critical,digitalSignature,keyEncipherment"));
    RETURN_IF_ERROR(
        AddConfExtension(cert.get(), issuer, NID_ext_key_usage, "serverAuth,clientAuth"));
  }
  RETURN_IF_ERROR(AddConfExtension(cert.get(), issuer, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(
      AddConfExtension(cert.get(), issuer, NID_authority_key_identifier, "keyid:always"));
  if (!p.names->dns_names.empty() || !p.names->ip_addresses.empty()) {
    ASSIGN_OR_RETURN(GeneralNames sans, BuildSans(*p.names));
    if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, sans.get(), 0, X509V3_ADD_DEFAULT) !=
        1) {
      return OpenSslInternal("subjectAltName");
    }
  }
  if (X509_sign(cert.get(), p.issuer_key, EVP_sha256()) <= 0) return OpenSslInternal("X509_sign");
  return cert;
}

std::string NameText(const X509_NAME* name) {
  // node's X509Certificate.subject/issuer: one "CN=value" per line.
  constexpr unsigned long kFlags = ASN1_STRFLGS_ESC_2253 | ASN1_STRFLGS_ESC_CTRL |
                                   ASN1_STRFLGS_UTF8_CONVERT | XN_FLAG_SEP_MULTILINE |
                                   XN_FLAG_FN_SN;
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, kFlags) < 0) return "";
  return BioText(bio.get());
}

std::string TimeText(const ASN1_TIME* t) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || ASN1_TIME_print(bio.get(), t) != 1) return "";
  return BioText(bio.get());
}

// The DNS and IP subjectAltNames in certificate order, as node prints them.
std::string SanText(X509* cert) {
  GeneralNames sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  std::string out;
  if (!sans) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
    std::string entry;
    if (gn->type == GEN_DNS) {
      entry = "DNS:" + Asn1Text(gn->d.dNSName);
    } else if (gn->type == GEN_IPADD) {
      entry = "IP Address:" + IpText(gn->d.iPAddress);
    } else {
      continue;
    }
    out += (out.empty() ? "" : ", ") + entry;
  }
  return out;
}

// A DNS pattern from a certificate covers `host` (both lower case): equal, or "*.rest"
// where `host` is one label followed by ".rest".
bool DnsPatternCovers(const std::string& pattern, const std::string& host) {
  if (pattern == host) return true;
  if (pattern.size() < 3 || pattern.compare(0, 2, "*.") != 0) return false;
  size_t dot = host.find('.');
  return dot != std::string::npos && dot > 0 && host.substr(dot + 1) == pattern.substr(2);
}

std::string JoinSet(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

SubjectNames NamesForHosts(std::string common_name, const std::vector<std::string>& hosts) {
  SubjectNames names;
  names.common_name = std::move(common_name);
  std::set<std::string> seen;
  for (const std::string& host : hosts) {
    if (host.empty()) continue;
    if (std::optional<std::string> ip = NormalisedIp(host)) {
      if (seen.insert("ip:" + *ip).second) names.ip_addresses.push_back(*ip);
    } else if (seen.insert("dns:" + Lower(host)).second) {
      names.dns_names.push_back(host);
    }
  }
  return names;
}

Validity ValidForDays(int64_t days) { return Validity{0, days * kSecondsPerDay}; }
Validity ValidForSeconds(int64_t seconds) { return Validity{0, seconds}; }

Result<EvpPkey> GeneratePrivateKey() {
  ERR_clear_error();
  EvpPkey key(EVP_EC_gen(SN_X9_62_prime256v1));
  if (!key) return OpenSslInternal("EC P-256 key generation");
  return key;
}

Result<std::string> PrivateKeyToPem(EVP_PKEY* key) {
  return WritePem(
      [key](BIO* bio) {
        return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
      },
      "PEM_write_bio_PrivateKey");
}

Result<EvpPkey> ParsePrivateKeyPem(std::string_view pem) {
  ASSIGN_OR_RETURN(Bio bio, ReadBio(pem));
  EvpPkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) return Status::InvalidArgument(TakeOpenSslError("not a PEM private key"));
  return key;
}

Result<X509Cert> ParseCertificatePem(std::string_view pem) {
  ASSIGN_OR_RETURN(Bio bio, ReadBio(pem));
  X509Cert cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!cert) return Status::InvalidArgument(TakeOpenSslError("not a PEM certificate"));
  return cert;
}

Result<std::vector<X509Cert>> ParseCertificateChainPem(std::string_view pem) {
  ASSIGN_OR_RETURN(Bio bio, ReadBio(pem));
  std::vector<X509Cert> chain;
  while (true) {
    X509Cert cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
    if (!cert) break;
    chain.push_back(std::move(cert));
  }
  unsigned long last = ERR_peek_last_error();
  // Running out of input after at least one certificate is the normal end.
  bool clean_end = !chain.empty() && ERR_GET_LIB(last) == ERR_LIB_PEM &&
                   ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (chain.empty() || (last != 0 && !clean_end)) {
    return Status::InvalidArgument(TakeOpenSslError("not a PEM certificate"));
  }
  ERR_clear_error();
  return chain;
}

Result<std::string> CertificateToPem(X509* cert) {
  return WritePem([cert](BIO* bio) { return PEM_write_bio_X509(bio, cert); }, "PEM_write_bio_X509");
}

Result<X509Cert> CreateCaCertificate(EVP_PKEY* key, const std::string& common_name,
                                     const Validity& validity) {
  return IssueCaCertificate(key, common_name, nullptr, key, validity);  // self-signed
}

Result<X509Cert> IssueCaCertificate(EVP_PKEY* key, const std::string& common_name, X509* ca_cert,
                                    EVP_PKEY* ca_key, const Validity& validity) {
  SubjectNames names;
  names.common_name = common_name;
  return BuildCertificate(Profile{key, &names, ca_cert, ca_key, true, validity});
}

Result<X509Cert> IssueCertificate(EVP_PKEY* subject_key, const SubjectNames& names, X509* ca_cert,
                                  EVP_PKEY* ca_key, const Validity& validity) {
  return BuildCertificate(Profile{subject_key, &names, ca_cert, ca_key, false, validity});
}

SubjectNames NamesOf(X509* cert) {
  SubjectNames names;
  std::vector<std::string> cns = CommonNames(X509_get_subject_name(cert));
  if (!cns.empty()) names.common_name = cns.front();
  GeneralNames sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  CollectSans(sans.get(), names, nullptr);
  return names;
}

CertificateDetails DetailsOf(X509* cert) {
  CertificateDetails d;
  d.issuer = NameText(X509_get_issuer_name(cert));
  d.subject = NameText(X509_get_subject_name(cert));
  d.subject_alt_name = SanText(cert);
  Bignum serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (serial) {
    OpenSslString hex(BN_bn2hex(serial.get()));
    if (hex) d.serial_number = hex.get();
  }
  d.valid_from = TimeText(X509_get0_notBefore(cert));
  d.valid_to = TimeText(X509_get0_notAfter(cert));
  return d;
}

bool KeyMatchesCertificate(X509* cert, EVP_PKEY* key) {
  bool match = X509_check_private_key(cert, key) == 1;
  ERR_clear_error();
  return match;
}

Status CheckValidAt(X509* cert, int64_t unix_time_s) {
  time_t t = static_cast<time_t>(unix_time_s);
  if (X509_cmp_time(X509_get0_notAfter(cert), &t) < 0) {
    return Status::InvalidArgument("certificate expired on " + TimeText(X509_get0_notAfter(cert)));
  }
  if (X509_cmp_time(X509_get0_notBefore(cert), &t) > 0) {
    return Status::InvalidArgument("certificate is not valid before " +
                                   TimeText(X509_get0_notBefore(cert)));
  }
  return Status::Ok();
}

ValidityWindow ValidityOf(X509* cert) {
  auto seconds = [](const ASN1_TIME* t) -> int64_t {
    std::tm tm{};
    if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
    return static_cast<int64_t>(timegm(&tm));
  };
  return ValidityWindow{seconds(X509_get0_notBefore(cert)), seconds(X509_get0_notAfter(cert))};
}

bool CoversName(X509* cert, std::string_view name) {
  SubjectNames names = NamesOf(cert);
  if (std::optional<std::string> ip = NormalisedIp(name)) {
    for (const std::string& entry : names.ip_addresses) {
      if (entry == *ip) return true;
    }
    return NormalisedIp(names.common_name) == ip;
  }
  const std::string host = Lower(name);
  if (host.empty()) return false;
  for (const std::string& entry : names.dns_names) {
    if (DnsPatternCovers(Lower(entry), host)) return true;
  }
  return DnsPatternCovers(Lower(names.common_name), host);
}

bool IsSelfSigned(X509* cert) {
  // X509_self_signed checks the names and (with verify_signature) the signature.
  bool self = X509_self_signed(cert, 1) == 1;
  ERR_clear_error();
  return self;
}

bool IsCertificateAuthority(X509* cert) {
  bool ca = X509_check_ca(cert) >= 1 && (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
  ERR_clear_error();
  return ca;
}

Result<X509Req> CreateCsr(EVP_PKEY* key, const SubjectNames& names) {
  ERR_clear_error();
  X509Req csr(X509_REQ_new());
  if (!csr || X509_REQ_set_version(csr.get(), 0) != 1) return OpenSslInternal("X509_REQ_new");
  RETURN_IF_ERROR(SetSubjectCn(X509_REQ_get_subject_name(csr.get()), names.common_name));
  if (X509_REQ_set_pubkey(csr.get(), key) != 1) return OpenSslInternal("CSR public key");
  if (!names.dns_names.empty() || !names.ip_addresses.empty()) {
    ASSIGN_OR_RETURN(GeneralNames sans, BuildSans(names));
    ExtensionStack exts(sk_X509_EXTENSION_new_null());
    Extension san(X509V3_EXT_i2d(NID_subject_alt_name, 0, sans.get()));
    if (!exts || !san) return OpenSslInternal("CSR subjectAltName");
    X509_EXTENSION* owned_by_stack = san.release();
    if (sk_X509_EXTENSION_push(exts.get(), owned_by_stack) == 0) {
      X509_EXTENSION_free(owned_by_stack);
      return OpenSslInternal("CSR subjectAltName");
    }
    if (X509_REQ_add_extensions(csr.get(), exts.get()) != 1) {
      return OpenSslInternal("CSR extensions");
    }
  }
  if (X509_REQ_sign(csr.get(), key, EVP_sha256()) <= 0) return OpenSslInternal("X509_REQ_sign");
  return csr;
}

Result<std::string> CsrToPem(X509_REQ* csr) {
  return WritePem([csr](BIO* bio) { return PEM_write_bio_X509_REQ(bio, csr); },
                  "PEM_write_bio_X509_REQ");
}

Result<X509Req> ParseCsrPem(std::string_view pem) {
  ASSIGN_OR_RETURN(Bio bio, ReadBio(pem));
  X509Req csr(PEM_read_bio_X509_REQ(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!csr) return Status::InvalidArgument(TakeOpenSslError("not a PEM certificate request"));
  return csr;
}

Result<SubjectNames> NamesOfCsr(X509_REQ* csr) {
  SubjectNames names;
  std::vector<std::string> cns = CommonNames(X509_REQ_get_subject_name(csr));
  if (cns.size() > 1) {
    return Status::InvalidArgument("the certificate request holds more than one common name");
  }
  if (!cns.empty()) names.common_name = cns.front();
  ExtensionStack exts(X509_REQ_get_extensions(csr));
  ERR_clear_error();
  if (exts) {
    GeneralNames sans(static_cast<GENERAL_NAMES*>(
        X509V3_get_d2i(exts.get(), NID_subject_alt_name, nullptr, nullptr)));
    bool other_types = false;
    CollectSans(sans.get(), names, &other_types);
    if (other_types) {
      return Status::InvalidArgument(
          "the certificate request holds a subjectAltName that is neither DNS nor IP");
    }
  }
  return names;
}

Status CheckNamesAllowed(const SubjectNames& requested, const std::set<std::string>& allowed) {
  std::set<std::string> allowed_hosts;  // lower-cased names and normalised IPs
  for (const std::string& a : allowed) {
    std::optional<std::string> ip = NormalisedIp(a);
    allowed_hosts.insert(ip ? *ip : Lower(a));
  }
  auto refuse = [&](const char* kind, const std::string& entry, const char* why) {
    return Status::PermissionDenied("the certificate request names " + std::string(kind) + " '" +
                                    entry + "', " + why + " (allowed: " + JoinSet(allowed) + ")");
  };
  auto check = [&](const char* kind, const std::string& entry) -> Status {
    if (entry.find('*') != std::string::npos) return refuse(kind, entry, "a wildcard");
    std::optional<std::string> ip = NormalisedIp(entry);
    if (!allowed_hosts.contains(ip ? *ip : Lower(entry))) {
      return refuse(kind, entry, "which is not one of the allowed names");
    }
    return Status::Ok();
  };
  if (requested.common_name.empty()) {
    return Status::PermissionDenied("the certificate request has no common name");
  }
  RETURN_IF_ERROR(check("CN", requested.common_name));
  for (const std::string& dns : requested.dns_names) RETURN_IF_ERROR(check("DNS", dns));
  for (const std::string& ip : requested.ip_addresses) RETURN_IF_ERROR(check("IP", ip));
  return Status::Ok();
}

CsrPolicy AllowOnlyNames(std::set<std::string> allowed) {
  return [allowed = std::move(allowed)](const SubjectNames& requested) {
    return CheckNamesAllowed(requested, allowed);
  };
}

Result<X509Cert> SignCsr(X509_REQ* csr, X509* ca_cert, EVP_PKEY* ca_key, const Validity& validity,
                         const CsrPolicy& policy) {
  ERR_clear_error();
  EVP_PKEY* public_key = X509_REQ_get0_pubkey(csr);
  if (public_key == nullptr) {
    return Status::InvalidArgument(TakeOpenSslError("the certificate request has no public key"));
  }
  if (X509_REQ_verify(csr, public_key) != 1) {
    return Status::InvalidArgument("the certificate request's signature does not verify: " +
                                   TakeOpenSslError("bad signature"));
  }
  ASSIGN_OR_RETURN(SubjectNames names, NamesOfCsr(csr));
  RETURN_IF_ERROR(policy(names));
  return IssueCertificate(public_key, names, ca_cert, ca_key, validity);
}

}  // namespace meshdb::security
