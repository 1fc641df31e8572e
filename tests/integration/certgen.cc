// meshdb_certgen: certificates for integration tests, made with the OpenSSL API through
// security/x509.h (the same code the node uses). Writes PEM files into DIR:
//
//   meshdb_certgen ca DIR NAME
//       DIR/NAME.pem (a self-signed CA, CN NAME, valid 1 day) and DIR/NAME.key
//   meshdb_certgen intermediate DIR CA NAME
//       DIR/NAME.pem (a CA, CN NAME, valid 1 day, issued by DIR/CA.{pem,key}) and DIR/NAME.key
//   meshdb_certgen node DIR CA NAME CN [HOST ...] [--seconds N] [--expired]
//       DIR/NAME.pem and DIR/NAME.key: CN, SANs HOST..., issued by DIR/CA.{pem,key};
//       valid 1 day, N seconds with --seconds, or expired an hour ago with --expired
//
// Exit status 0, or 1 with a message on stderr.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "security/x509.h"

namespace {

namespace sec = meshdb::security;

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int Fail(const std::string& message) {
  std::cerr << "meshdb_certgen: " << message << "\n";
  return 1;
}

// Writes DIR/NAME.pem and DIR/NAME.key.
int Save(const std::string& dir, const std::string& name, X509* cert, EVP_PKEY* key) {
  auto cert_pem = sec::CertificateToPem(cert);
  auto key_pem = sec::PrivateKeyToPem(key);
  if (!cert_pem.ok() || !key_pem.ok()) return Fail("cannot encode PEM");
  if (!WriteFile(dir + "/" + name + ".pem", *cert_pem) ||
      !WriteFile(dir + "/" + name + ".key", *key_pem)) {
    return Fail("cannot write into " + dir);
  }
  return 0;
}

int MakeCa(const std::string& dir, const std::string& name) {
  auto key = sec::GeneratePrivateKey();
  if (!key.ok()) return Fail(key.status().ToString());
  auto cert = sec::CreateCaCertificate(key->get(), name, sec::ValidForDays(1));
  if (!cert.ok()) return Fail(cert.status().ToString());
  return Save(dir, name, cert->get(), key->get());
}

// DIR/CA.pem and DIR/CA.key, or a message saying why not.
struct Issuer {
  sec::X509Cert cert;
  sec::EvpPkey key;
};
meshdb::Result<Issuer> ReadIssuer(const std::string& dir, const std::string& ca) {
  auto ca_cert = sec::ParseCertificatePem(ReadFile(dir + "/" + ca + ".pem"));
  auto ca_key = sec::ParsePrivateKeyPem(ReadFile(dir + "/" + ca + ".key"));
  if (!ca_cert.ok() || !ca_key.ok()) {
    return meshdb::Status::InvalidArgument("cannot read CA " + ca + " in " + dir);
  }
  return Issuer{std::move(ca_cert).value(), std::move(ca_key).value()};
}

int MakeIntermediate(const std::string& dir, const std::string& ca, const std::string& name) {
  auto issuer = ReadIssuer(dir, ca);
  if (!issuer.ok()) return Fail(issuer.status().message());
  auto key = sec::GeneratePrivateKey();
  if (!key.ok()) return Fail(key.status().ToString());
  auto cert = sec::IssueCaCertificate(key->get(), name, issuer->cert.get(), issuer->key.get(),
                                      sec::ValidForDays(1));
  if (!cert.ok()) return Fail(cert.status().ToString());
  return Save(dir, name, cert->get(), key->get());
}

int MakeNode(const std::string& dir, const std::string& ca, const std::string& name,
             const std::vector<std::string>& args) {
  std::string cn;
  std::vector<std::string> hosts;
  sec::Validity validity = sec::ValidForDays(1);
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--seconds" && i + 1 < args.size()) {
      validity = sec::ValidForSeconds(std::stoll(args[++i]));
    } else if (args[i] == "--expired") {
      validity = sec::Validity{-7200, 3600};
    } else if (cn.empty()) {
      cn = args[i];
    } else {
      hosts.push_back(args[i]);
    }
  }
  if (cn.empty()) return Fail("node needs a CN");
  auto issuer = ReadIssuer(dir, ca);
  if (!issuer.ok()) return Fail(issuer.status().message());
  auto key = sec::GeneratePrivateKey();
  if (!key.ok()) return Fail(key.status().ToString());
  auto cert = sec::IssueCertificate(key->get(), sec::NamesForHosts(cn, hosts), issuer->cert.get(),
                                    issuer->key.get(), validity);
  if (!cert.ok()) return Fail(cert.status().ToString());
  return Save(dir, name, cert->get(), key->get());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 3 && args[0] == "ca") return MakeCa(args[1], args[2]);
  if (args.size() >= 4 && args[0] == "intermediate") {
    return MakeIntermediate(args[1], args[2], args[3]);
  }
  if (args.size() >= 5 && args[0] == "node") {
    return MakeNode(args[1], args[2], args[3], {args.begin() + 4, args.end()});
  }
  return Fail(
      "usage: meshdb_certgen ca DIR NAME | intermediate DIR CA NAME | node DIR CA NAME CN "
      "[HOST ...] "
      "[--seconds N] [--expired]");
}
