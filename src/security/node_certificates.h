// The node's own TLS identity at start: generated on first start, loaded after, or taken
// from the configured tls.* / operationsApi.tls.* files.
//
// Generated (no tls.certificate / tls.privateKey / tls.certificateAuthority configured):
// <keys_dir> (mode 0700) holds, each mode 0600,
//   caPrivateKey.pem          the CA's private key (EC P-256)
//   certificateAuthority.pem  the self-signed CA "meshdb-Certificate-Authority-<node name>"
//   privateKey.pem            the node's private key (EC P-256)
//   nodeCertificate.pem       the node certificate, signed by the CA: CN = node name, SANs =
//                             node name, every listen address, localhost, 127.0.0.1, ::1
//   replicationCertificate.pem  (after a cross-signed join) the node's certificate for
//                               replication, signed by the CA of the node it joined through
//                               for the node's own key: CN and SANs = node name and URL host
//   replicationIssuer.pem       that CA's certificate
// The names hold upper-case letters, so add_certificate's key files ("<[a-z0-9.-]>.pem")
// never collide with them. Later starts load these files and generate nothing, except that
// a node certificate which is expired, does not match its key, was not issued by the CA, or
// no longer covers the node name and addresses is re-issued by the same CA (a warning says
// so). A file that exists but does not parse is an error (nothing is overwritten). A
// replication certificate that no longer verifies (expired, not the node key's, not issued by
// replicationIssuer.pem, not covering the node name) is ignored with a warning: replication
// then presents the node certificate.
//
// Configured: tls.certificate + tls.privateKey (both or neither; tls.certificateAuthority
// optional) replace the generated identity; operationsApi.tls.{certificate, privateKey,
// certificateAuthority} replace it for the operations API only. A missing or unreadable
// file, PEM that does not parse, a key that is not the certificate's, or a certificate that
// is expired or not yet valid is an error naming the config key; a node certificate whose
// CN/SANs do not cover the node name is a warning.
//
// Private keys live in the returned struct (memory) and in their files only: no function
// here logs, and no error message quotes key material.
//
// Thread-safety: ProvisionNodeTls touches files under keys_dir; call it once, at start.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace meshdb::security {

// One certificate with its key, ready for a TLS listener or client.
struct TlsIdentity {
  std::string certificate_pem;     // the certificate, then any chain the file held (PEM)
  std::string private_key_pem;     // SECRET: its private key (PEM); never log or return it
  std::string ca_certificate_pem;  // the CA that issued it (PEM); "" when not configured
  std::string certificate_name;    // its hdb_certificate row name (the node name)
  std::string ca_name;             // the CA's row name (its CN); "" when there is no CA
  std::string key_file;            // generated: the key's file name under keys_dir; else ""
  std::string ca_key_file;         // generated: the CA key's file name; else ""
  std::string source;              // "generated", or the config key ("tls.certificate", ...)
};

// What the listeners consume.
struct NodeTls {
  TlsIdentity node;            // the node certificate
  TlsIdentity operations_api;  // operationsApi.tls.*, else a copy of `node`
  // What replication (wss, both directions) presents: the cross-signed replication
  // certificate (its ca_certificate_pem is the issuer, to trust), else a copy of `node`.
  TlsIdentity replication;
  // SECRET: the generated CA's private key (PEM), which signs peers' CSRs; "" when the CA
  // comes from tls.certificateAuthority (its key is not configured).
  std::string ca_private_key_pem;
  std::string ciphers;  // tls.ciphers ("" means the listener's default list)
};

struct NodeTlsOptions {
  std::string keys_dir;   // <root>/keys
  std::string node_name;  // the node certificate's CN (replication.hostname, ...)
  // Addresses the node listens on (operationsApi.network.host, ...); wildcard addresses
  // (0.0.0.0, ::) and "" are skipped.
  std::vector<std::string> listen_addresses;
  int64_t validity_s =
      int64_t{90} * 86400;  // replication.certificateValidityDays, for generated certs
  // Configured files ("" when unset), absolute paths.
  std::string tls_certificate;
  std::string tls_private_key;
  std::string tls_certificate_authority;
  std::string ops_certificate;
  std::string ops_private_key;
  std::string ops_certificate_authority;
  std::string ciphers;  // tls.ciphers, copied into NodeTls
  int64_t now_s = 0;    // the time validity is checked at; 0 means the current time
};

struct ProvisionedTls {
  NodeTls tls;
  std::vector<std::string> warnings;  // to log at warn level (no key material in them)
};

// Keeps a certificate another node's CA signed for this node (the cross-signed join) as the
// replication certificate (the files above), replacing any before. InvalidArgument when it
// does not parse, is not for `private_key_pem`, does not cover `node_name`, is not valid at
// `now_s` (0: now) or was not issued by `issuer_ca_pem`; nothing is written then.
Status SaveReplicationCertificate(const std::string& keys_dir, const std::string& node_name,
                                  const std::string& certificate_pem,
                                  const std::string& issuer_ca_pem,
                                  const std::string& private_key_pem, int64_t now_s = 0);

// Replaces the generated node certificate (nodeCertificate.pem) with `certificate_pem`, a
// renewal by the node's own CA. IOError naming the file.
Status SaveNodeCertificate(const std::string& keys_dir, const std::string& certificate_pem);

// The CA name a generated identity uses: "meshdb-Certificate-Authority-<node_name>".
std::string GeneratedCaName(const std::string& node_name);

// Generates, loads or validates the node's identity as described above. InvalidArgument
// naming the config key for a bad configured file ("tls.certificate: cannot read
// '/x.pem': no such file"); IOError or Corruption naming the file under keys_dir.
Result<ProvisionedTls> ProvisionNodeTls(const NodeTlsOptions& options);

}  // namespace meshdb::security
