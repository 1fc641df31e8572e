#include "security/node_certificates.h"

#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <filesystem>

#include "security/private_file.h"
#include "security/x509.h"

namespace meshdb::security {

namespace {

constexpr char kCaKeyFile[] = "caPrivateKey.pem";
constexpr char kCaCertFile[] = "certificateAuthority.pem";
constexpr char kNodeKeyFile[] = "privateKey.pem";
constexpr char kNodeCertFile[] = "nodeCertificate.pem";
constexpr char kReplicationCertFile[] = "replicationCertificate.pem";
constexpr char kReplicationIssuerFile[] = "replicationIssuer.pem";
// The generated CA outlives the node certificates it issues: ten years, or the node
// validity when that is longer.
constexpr int64_t kMinCaValidityDays = 3650;

struct KeyAndCert {
  EvpPkey key;
  X509Cert cert;
};

std::string PathIn(const std::string& dir, const char* file) {
  return (std::filesystem::path(dir) / file).string();
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

// The names a generated node certificate covers, node name first.
std::vector<std::string> NodeHosts(const NodeTlsOptions& options) {
  std::vector<std::string> hosts{options.node_name};
  for (const std::string& a : options.listen_addresses) {
    if (a.empty() || a == "0.0.0.0" || a == "::" || a == "[::]" || a == "*") continue;
    hosts.push_back(a);
  }
  for (const char* local : {"localhost", "127.0.0.1", "::1"}) hosts.emplace_back(local);
  return hosts;
}

// --- generated identity -----------------------------------------------------------------

Result<EvpPkey> LoadKeyFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, ReadWholeFile(path));
  Result<EvpPkey> key = ParsePrivateKeyPem(pem);
  if (!key.ok()) return Status::Corruption(path + ": " + key.status().message());
  return key;
}

Result<X509Cert> LoadCertFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, ReadWholeFile(path));
  Result<X509Cert> cert = ParseCertificatePem(pem);
  if (!cert.ok()) return Status::Corruption(path + ": " + cert.status().message());
  return cert;
}

// Writes the key before the certificate: a present certificate file means a complete pair.
Status WritePair(const std::string& key_path, const std::string& cert_path,
                 const KeyAndCert& pair) {
  ASSIGN_OR_RETURN(std::string key_pem, PrivateKeyToPem(pair.key.get()));
  ASSIGN_OR_RETURN(std::string cert_pem, CertificateToPem(pair.cert.get()));
  RETURN_IF_ERROR(WritePrivateFile(key_path, key_pem));
  return WritePrivateFile(cert_path, cert_pem);
}

Result<KeyAndCert> LoadOrCreateCa(const NodeTlsOptions& options, int64_t now_s,
                                  std::vector<std::string>& warnings) {
  const std::string key_path = PathIn(options.keys_dir, kCaKeyFile);
  const std::string cert_path = PathIn(options.keys_dir, kCaCertFile);
  if (Exists(cert_path)) {
    if (!Exists(key_path)) {
      warnings.push_back(key_path + " is missing: a new certificate authority is generated");
    } else {
      ASSIGN_OR_RETURN(EvpPkey key, LoadKeyFile(key_path));
      ASSIGN_OR_RETURN(X509Cert cert, LoadCertFile(cert_path));
      if (!KeyMatchesCertificate(cert.get(), key.get())) {
        return Status::Corruption(key_path + " is not the private key of " + cert_path);
      }
      Status valid = CheckValidAt(cert.get(), now_s);
      if (valid.ok()) return KeyAndCert{std::move(key), std::move(cert)};
      warnings.push_back(cert_path + ": " + valid.message() +
                         ": a new certificate authority is generated");
    }
  }
  const int64_t seconds = std::max(kMinCaValidityDays * 86400, options.validity_s);
  ASSIGN_OR_RETURN(EvpPkey key, GeneratePrivateKey());
  ASSIGN_OR_RETURN(X509Cert cert, CreateCaCertificate(key.get(), GeneratedCaName(options.node_name),
                                                      ValidForSeconds(seconds)));
  KeyAndCert ca{std::move(key), std::move(cert)};
  RETURN_IF_ERROR(WritePair(key_path, cert_path, ca));
  return ca;
}

bool IssuedBy(X509* cert, X509* ca) {
  return X509_check_issued(ca, cert) == X509_V_OK && X509_verify(cert, X509_get0_pubkey(ca)) == 1;
}

// Why a stored node certificate cannot be used any more ("" when it can).
std::string NodeCertProblem(const KeyAndCert& node, const KeyAndCert& ca,
                            const std::vector<std::string>& hosts, int64_t now_s) {
  if (!KeyMatchesCertificate(node.cert.get(), node.key.get())) {
    return "it does not match its private key";
  }
  if (!IssuedBy(node.cert.get(), ca.cert.get())) {
    return "it was not issued by the certificate authority";
  }
  if (Status valid = CheckValidAt(node.cert.get(), now_s); !valid.ok()) return valid.message();
  for (const std::string& host : hosts) {
    if (!CoversName(node.cert.get(), host)) return "it does not cover '" + host + "'";
  }
  return "";
}

Result<KeyAndCert> LoadOrIssueNodeCert(const NodeTlsOptions& options, const KeyAndCert& ca,
                                       int64_t now_s, std::vector<std::string>& warnings) {
  const std::string key_path = PathIn(options.keys_dir, kNodeKeyFile);
  const std::string cert_path = PathIn(options.keys_dir, kNodeCertFile);
  const std::vector<std::string> hosts = NodeHosts(options);
  if (Exists(cert_path) && Exists(key_path)) {
    ASSIGN_OR_RETURN(EvpPkey key, LoadKeyFile(key_path));
    ASSIGN_OR_RETURN(X509Cert cert, LoadCertFile(cert_path));
    KeyAndCert node{std::move(key), std::move(cert)};
    std::string problem = NodeCertProblem(node, ca, hosts, now_s);
    if (problem.empty()) return node;
    warnings.push_back(cert_path + ": " + problem + ": a new node certificate is issued");
  }
  ASSIGN_OR_RETURN(EvpPkey key, GeneratePrivateKey());
  ASSIGN_OR_RETURN(
      X509Cert cert,
      IssueCertificate(key.get(), NamesForHosts(options.node_name, hosts), ca.cert.get(),
                       ca.key.get(), ValidForSeconds(options.validity_s)));
  KeyAndCert node{std::move(key), std::move(cert)};
  RETURN_IF_ERROR(WritePair(key_path, cert_path, node));
  return node;
}

// Why `cert_pem` cannot be this node's replication certificate ("" when it can).
std::string ReplicationCertProblem(const std::string& node_name, const std::string& cert_pem,
                                   const std::string& issuer_pem, EVP_PKEY* key, int64_t now_s) {
  Result<X509Cert> cert = ParseCertificatePem(cert_pem);
  if (!cert.ok()) return "the certificate does not parse: " + cert.status().message();
  Result<X509Cert> issuer = ParseCertificatePem(issuer_pem);
  if (!issuer.ok()) return "the issuer does not parse: " + issuer.status().message();
  if (!KeyMatchesCertificate(cert->get(), key)) return "it is not for this node's key";
  if (!IssuedBy(cert->get(), issuer->get())) return "it was not issued by its issuer";
  if (Status valid = CheckValidAt(cert->get(), now_s); !valid.ok()) return valid.message();
  if (!CoversName(cert->get(), node_name)) return "it does not cover '" + node_name + "'";
  return "";
}

// The replication certificate kept by SaveReplicationCertificate, when still usable.
TlsIdentity LoadReplicationIdentity(const NodeTlsOptions& options, const TlsIdentity& node,
                                    EVP_PKEY* key, int64_t now_s,
                                    std::vector<std::string>& warnings) {
  const std::string cert_path = PathIn(options.keys_dir, kReplicationCertFile);
  const std::string issuer_path = PathIn(options.keys_dir, kReplicationIssuerFile);
  if (!Exists(cert_path)) return node;
  Result<std::string> cert_pem = ReadWholeFile(cert_path);
  Result<std::string> issuer_pem = ReadWholeFile(issuer_path);
  std::string problem = !cert_pem.ok()     ? cert_pem.status().message()
                        : !issuer_pem.ok() ? issuer_pem.status().message()
                                           : ReplicationCertProblem(options.node_name, *cert_pem,
                                                                    *issuer_pem, key, now_s);
  if (!problem.empty()) {
    warnings.push_back(cert_path + ": " + problem +
                       ": replication presents the node certificate instead");
    return node;
  }
  TlsIdentity id = node;
  id.certificate_pem = std::move(cert_pem).value();
  id.ca_certificate_pem = std::move(issuer_pem).value();
  Result<X509Cert> issuer = ParseCertificatePem(id.ca_certificate_pem);
  id.ca_name = issuer.ok() ? NamesOf(issuer->get()).common_name : std::string();
  id.source = "replication";
  return id;
}

Result<NodeTls> GenerateOrLoad(const NodeTlsOptions& options, int64_t now_s,
                               std::vector<std::string>& warnings) {
  RETURN_IF_ERROR(EnsurePrivateDirectory(options.keys_dir));
  ASSIGN_OR_RETURN(KeyAndCert ca, LoadOrCreateCa(options, now_s, warnings));
  ASSIGN_OR_RETURN(KeyAndCert node, LoadOrIssueNodeCert(options, ca, now_s, warnings));
  NodeTls tls;
  TlsIdentity& id = tls.node;
  ASSIGN_OR_RETURN(id.certificate_pem, CertificateToPem(node.cert.get()));
  ASSIGN_OR_RETURN(id.private_key_pem, PrivateKeyToPem(node.key.get()));
  ASSIGN_OR_RETURN(id.ca_certificate_pem, CertificateToPem(ca.cert.get()));
  ASSIGN_OR_RETURN(tls.ca_private_key_pem, PrivateKeyToPem(ca.key.get()));
  id.certificate_name = options.node_name;
  id.ca_name = GeneratedCaName(options.node_name);
  id.key_file = kNodeKeyFile;
  id.ca_key_file = kCaKeyFile;
  id.source = "generated";
  tls.replication = LoadReplicationIdentity(options, id, node.key.get(), now_s, warnings);
  return tls;
}

// --- configured identity ----------------------------------------------------------------

// The config keys and paths of one configured identity.
struct ConfiguredFiles {
  const char* certificate_key;
  const std::string& certificate;
  const char* private_key_key;
  const std::string& private_key;
  const char* ca_key;
  const std::string& ca;

  [[nodiscard]] bool any() const {
    return !certificate.empty() || !private_key.empty() || !ca.empty();
  }
};

Result<std::string> ReadConfigured(const char* config_key, const std::string& path) {
  Result<std::string> text = ReadWholeFile(path);
  if (!text.ok()) {
    return Status::InvalidArgument(std::string(config_key) + ": cannot read " +
                                   text.status().message());
  }
  return text;
}

Status Bad(const char* config_key, const std::string& path, const std::string& why) {
  return Status::InvalidArgument(std::string(config_key) + ": '" + path + "': " + why);
}

// The certificates in the PEM file at `path`, each valid at `now_s`.
Result<std::vector<X509Cert>> LoadConfiguredChain(const char* config_key, const std::string& path,
                                                  int64_t now_s) {
  ASSIGN_OR_RETURN(std::string pem, ReadConfigured(config_key, path));
  Result<std::vector<X509Cert>> chain = ParseCertificateChainPem(pem);
  if (!chain.ok()) return Bad(config_key, path, chain.status().message());
  for (const X509Cert& cert : *chain) {
    if (Status valid = CheckValidAt(cert.get(), now_s); !valid.ok()) {
      return Bad(config_key, path, valid.message());
    }
  }
  return chain;
}

Result<std::string> ChainToPem(const std::vector<X509Cert>& chain) {
  std::string out;
  for (const X509Cert& cert : chain) {
    ASSIGN_OR_RETURN(std::string pem, CertificateToPem(cert.get()));
    out += pem;
  }
  return out;
}

Result<TlsIdentity> LoadConfigured(const ConfiguredFiles& files, const NodeTlsOptions& options,
                                   int64_t now_s) {
  if (files.certificate.empty() || files.private_key.empty()) {
    const char* missing = files.certificate.empty() ? files.certificate_key : files.private_key_key;
    const char* given = files.certificate.empty()
                            ? (files.private_key.empty() ? files.ca_key : files.private_key_key)
                            : files.certificate_key;
    return Status::InvalidArgument(std::string(missing) + " must be set when " + given +
                                   " is (both " + files.certificate_key + " and " +
                                   files.private_key_key + " are needed)");
  }
  ASSIGN_OR_RETURN(std::vector<X509Cert> chain,
                   LoadConfiguredChain(files.certificate_key, files.certificate, now_s));
  ASSIGN_OR_RETURN(std::string key_text, ReadConfigured(files.private_key_key, files.private_key));
  Result<EvpPkey> key = ParsePrivateKeyPem(key_text);
  if (!key.ok()) return Bad(files.private_key_key, files.private_key, key.status().message());
  if (!KeyMatchesCertificate(chain.front().get(), key->get())) {
    return Bad(files.private_key_key, files.private_key,
               std::string("not the private key of the certificate in ") + files.certificate_key +
                   " '" + files.certificate + "'");
  }
  TlsIdentity id;
  ASSIGN_OR_RETURN(id.certificate_pem, ChainToPem(chain));
  id.private_key_pem = std::move(key_text);
  id.certificate_name = options.node_name;
  id.source = files.certificate_key;
  if (!files.ca.empty()) {
    ASSIGN_OR_RETURN(std::vector<X509Cert> cas, LoadConfiguredChain(files.ca_key, files.ca, now_s));
    ASSIGN_OR_RETURN(id.ca_certificate_pem, ChainToPem(cas));
    id.ca_name = NamesOf(cas.front().get()).common_name;
    if (id.ca_name.empty()) id.ca_name = files.ca_key;
  }
  return id;
}

}  // namespace

Status SaveReplicationCertificate(const std::string& keys_dir, const std::string& node_name,
                                  const std::string& certificate_pem,
                                  const std::string& issuer_ca_pem,
                                  const std::string& private_key_pem, int64_t now_s) {
  if (now_s == 0) now_s = static_cast<int64_t>(std::time(nullptr));
  Result<EvpPkey> key = ParsePrivateKeyPem(private_key_pem);
  if (!key.ok()) return Status::InvalidArgument("this node's private key does not parse");
  std::string problem =
      ReplicationCertProblem(node_name, certificate_pem, issuer_ca_pem, key->get(), now_s);
  if (!problem.empty()) return Status::InvalidArgument("the signed certificate: " + problem);
  // The issuer first: a present certificate file means a complete pair.
  RETURN_IF_ERROR(WritePrivateFile(PathIn(keys_dir, kReplicationIssuerFile), issuer_ca_pem));
  return WritePrivateFile(PathIn(keys_dir, kReplicationCertFile), certificate_pem);
}

Status SaveNodeCertificate(const std::string& keys_dir, const std::string& certificate_pem) {
  return WritePrivateFile(PathIn(keys_dir, kNodeCertFile), certificate_pem);
}

std::string GeneratedCaName(const std::string& node_name) {
  return "meshdb-Certificate-Authority-" + node_name;
}

Result<ProvisionedTls> ProvisionNodeTls(const NodeTlsOptions& options) {
  const int64_t now_s =
      options.now_s != 0 ? options.now_s : static_cast<int64_t>(std::time(nullptr));
  ProvisionedTls out;
  const ConfiguredFiles node_files{"tls.certificate",          options.tls_certificate,
                                   "tls.privateKey",           options.tls_private_key,
                                   "tls.certificateAuthority", options.tls_certificate_authority};
  const ConfiguredFiles ops_files{
      "operationsApi.tls.certificate",          options.ops_certificate,
      "operationsApi.tls.privateKey",           options.ops_private_key,
      "operationsApi.tls.certificateAuthority", options.ops_certificate_authority};
  if (node_files.any()) {
    ASSIGN_OR_RETURN(out.tls.node, LoadConfigured(node_files, options, now_s));
    out.tls.replication = out.tls.node;
    ASSIGN_OR_RETURN(X509Cert leaf, ParseCertificatePem(out.tls.node.certificate_pem));
    if (!CoversName(leaf.get(), options.node_name)) {
      SubjectNames names = NamesOf(leaf.get());
      out.warnings.push_back("tls.certificate '" + options.tls_certificate + "' (CN '" +
                             names.common_name + "', subjectAltName '" +
                             DetailsOf(leaf.get()).subject_alt_name +
                             "') does not cover the node name '" + options.node_name +
                             "': peers verifying it by name will refuse it");
    }
  } else {
    ASSIGN_OR_RETURN(out.tls, GenerateOrLoad(options, now_s, out.warnings));
  }
  if (ops_files.any()) {
    ASSIGN_OR_RETURN(out.tls.operations_api, LoadConfigured(ops_files, options, now_s));
  } else {
    out.tls.operations_api = out.tls.node;
  }
  out.tls.ciphers = options.ciphers;
  return out;
}

}  // namespace meshdb::security
