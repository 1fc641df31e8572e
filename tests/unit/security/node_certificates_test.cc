#include "security/node_certificates.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <fstream>

#include "security/private_file.h"
#include "security/x509.h"
#include "temp_dir.h"

namespace meshdb::security {
namespace {

using meshdb::testing::TempDir;

int ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<int>(st.st_mode & 0777);
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

class NodeCertificatesTest : public ::testing::Test {
 protected:
  [[nodiscard]] NodeTlsOptions Options() const {
    NodeTlsOptions o;
    o.keys_dir = dir_.path() + "/keys";
    o.node_name = "node1";
    o.listen_addresses = {"127.0.0.5", "0.0.0.0"};
    o.validity_s = 30 * 86400;
    return o;
  }
  [[nodiscard]] std::string Key(const char* file) const { return dir_.path() + "/keys/" + file; }

  // Writes a certificate for `names` (signed by a fresh CA), its key and the CA under the
  // temp dir with `prefix`; returns nothing, the paths are prefix + {cert,key,ca}.pem.
  void WriteOwnCertificate(const std::string& prefix, const SubjectNames& names,
                           Validity validity = ValidForDays(10)) {
    EvpPkey ca_key = std::move(GeneratePrivateKey()).value();
    X509Cert ca = std::move(CreateCaCertificate(ca_key.get(), "Test CA", ValidForDays(10))).value();
    EvpPkey key = std::move(GeneratePrivateKey()).value();
    X509Cert cert =
        std::move(IssueCertificate(key.get(), names, ca.get(), ca_key.get(), validity)).value();
    WriteText(prefix + "cert.pem", *CertificateToPem(cert.get()));
    WriteText(prefix + "key.pem", *PrivateKeyToPem(key.get()));
    WriteText(prefix + "ca.pem", *CertificateToPem(ca.get()));
  }

  TempDir dir_{"meshdb-certs"};
};

TEST_F(NodeCertificatesTest, FirstStartGeneratesPrivateFiles) {
  Result<ProvisionedTls> p = ProvisionNodeTls(Options());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->warnings.empty());
  EXPECT_EQ(ModeOf(dir_.path() + "/keys"), 0700);
  for (const char* f :
       {"caPrivateKey.pem", "certificateAuthority.pem", "privateKey.pem", "nodeCertificate.pem"}) {
    EXPECT_EQ(ModeOf(Key(f)), 0600) << f;
  }
  const TlsIdentity& id = p->tls.node;
  EXPECT_EQ(id.source, "generated");
  EXPECT_EQ(id.certificate_name, "node1");
  EXPECT_EQ(id.ca_name, "meshdb-Certificate-Authority-node1");
  EXPECT_EQ(id.key_file, "privateKey.pem");
  EXPECT_EQ(id.ca_key_file, "caPrivateKey.pem");
  EXPECT_EQ(id.private_key_pem, *ReadWholeFile(Key("privateKey.pem")));
  EXPECT_EQ(p->tls.ca_private_key_pem, *ReadWholeFile(Key("caPrivateKey.pem")));
  EXPECT_EQ(p->tls.operations_api.certificate_pem, id.certificate_pem);

  X509Cert cert = std::move(ParseCertificatePem(id.certificate_pem)).value();
  CertificateDetails d = DetailsOf(cert.get());
  EXPECT_EQ(d.subject, "CN=node1");
  EXPECT_EQ(d.issuer, "CN=meshdb-Certificate-Authority-node1");
  EXPECT_EQ(d.subject_alt_name,
            "DNS:node1, DNS:localhost, IP Address:127.0.0.5, IP Address:127.0.0.1, "
            "IP Address:::1");
  X509Cert ca = std::move(ParseCertificatePem(id.ca_certificate_pem)).value();
  EXPECT_TRUE(IsCertificateAuthority(ca.get()));
  EXPECT_TRUE(IsSelfSigned(ca.get()));
  // The node certificate lives validity_s.
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  EXPECT_TRUE(CheckValidAt(cert.get(), now + 29 * 86400).ok());
  EXPECT_FALSE(CheckValidAt(cert.get(), now + 31 * 86400).ok());
}

TEST_F(NodeCertificatesTest, LaterStartsReuseTheFiles) {
  Result<ProvisionedTls> first = ProvisionNodeTls(Options());
  ASSERT_TRUE(first.ok());
  Result<ProvisionedTls> second = ProvisionNodeTls(Options());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(second->warnings.empty());
  EXPECT_EQ(second->tls.node.certificate_pem, first->tls.node.certificate_pem);
  EXPECT_EQ(second->tls.node.private_key_pem, first->tls.node.private_key_pem);
  EXPECT_EQ(second->tls.node.ca_certificate_pem, first->tls.node.ca_certificate_pem);
}

TEST_F(NodeCertificatesTest, NodeCertificateIsReissuedWhenTheNameChanges) {
  ASSERT_TRUE(ProvisionNodeTls(Options()).ok());
  const std::string ca_before = *ReadWholeFile(Key("certificateAuthority.pem"));
  NodeTlsOptions o = Options();
  o.listen_addresses = {"127.0.0.6"};
  Result<ProvisionedTls> p = ProvisionNodeTls(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->warnings.size(), 1u);
  EXPECT_NE(p->warnings[0].find("it does not cover '127.0.0.6': a new node certificate is issued"),
            std::string::npos)
      << p->warnings[0];
  EXPECT_EQ(*ReadWholeFile(Key("certificateAuthority.pem")), ca_before);
  X509Cert cert = std::move(ParseCertificatePem(p->tls.node.certificate_pem)).value();
  EXPECT_TRUE(CoversName(cert.get(), "127.0.0.6"));
}

TEST_F(NodeCertificatesTest, ExpiredNodeCertificateIsReissued) {
  ASSERT_TRUE(ProvisionNodeTls(Options()).ok());
  NodeTlsOptions o = Options();
  o.now_s = static_cast<int64_t>(std::time(nullptr)) + 40 * 86400;
  Result<ProvisionedTls> p = ProvisionNodeTls(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->warnings.size(), 1u);
  EXPECT_NE(p->warnings[0].find("certificate expired on"), std::string::npos) << p->warnings[0];
}

TEST_F(NodeCertificatesTest, CorruptKeyFileIsAnErrorAndNotOverwritten) {
  ASSERT_TRUE(ProvisionNodeTls(Options()).ok());
  WriteText(Key("privateKey.pem"), "garbage");
  Result<ProvisionedTls> p = ProvisionNodeTls(Options());
  ASSERT_FALSE(p.ok());
  EXPECT_TRUE(p.status().code() == Status::Code::kCorruption) << p.status().ToString();
  EXPECT_NE(p.status().message().find("privateKey.pem"), std::string::npos);
  EXPECT_EQ(*ReadWholeFile(Key("privateKey.pem")), "garbage");
}

TEST_F(NodeCertificatesTest, ConfiguredCertificateIsLoaded) {
  const std::string prefix = dir_.path() + "/own-";
  WriteOwnCertificate(prefix, NamesForHosts("node1", {"node1"}));
  NodeTlsOptions o = Options();
  o.tls_certificate = prefix + "cert.pem";
  o.tls_private_key = prefix + "key.pem";
  o.tls_certificate_authority = prefix + "ca.pem";
  o.ciphers = "TLS_AES_128_GCM_SHA256";
  Result<ProvisionedTls> p = ProvisionNodeTls(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->warnings.empty());
  EXPECT_EQ(p->tls.node.source, "tls.certificate");
  EXPECT_EQ(p->tls.node.ca_name, "Test CA");
  EXPECT_EQ(p->tls.node.key_file, "");
  EXPECT_EQ(p->tls.ca_private_key_pem, "");
  EXPECT_EQ(p->tls.ciphers, "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(p->tls.node.private_key_pem, *ReadWholeFile(prefix + "key.pem"));
  EXPECT_FALSE(std::filesystem::exists(Key("privateKey.pem")));
}

TEST_F(NodeCertificatesTest, ConfiguredCertificateForAnotherNameWarns) {
  const std::string prefix = dir_.path() + "/own-";
  WriteOwnCertificate(prefix, NamesForHosts("other", {"other.example.com"}));
  NodeTlsOptions o = Options();
  o.tls_certificate = prefix + "cert.pem";
  o.tls_private_key = prefix + "key.pem";
  Result<ProvisionedTls> p = ProvisionNodeTls(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->warnings.size(), 1u);
  EXPECT_EQ(p->warnings[0],
            "tls.certificate '" + o.tls_certificate +
                "' (CN 'other', subjectAltName 'DNS:other.example.com') does not cover the node "
                "name 'node1': peers verifying it by name will refuse it");
}

TEST_F(NodeCertificatesTest, ConfigurationErrorsNameTheKey) {
  const std::string prefix = dir_.path() + "/own-";
  WriteOwnCertificate(prefix, NamesForHosts("node1", {}));
  const std::string other = dir_.path() + "/other-";
  WriteOwnCertificate(other, NamesForHosts("node1", {}));
  const std::string expired = dir_.path() + "/expired-";
  WriteOwnCertificate(expired, NamesForHosts("node1", {}), Validity{-200, 100});
  WriteText(dir_.path() + "/garbage.pem", "garbage");

  struct Case {
    std::string cert, key, ca, error_prefix;
  };
  const std::vector<Case> cases = {
      {"/no/such/cert.pem", prefix + "key.pem", "",
       "tls.certificate: cannot read /no/such/cert.pem: no such file"},
      {prefix + "cert.pem", "/no/such/key.pem", "",
       "tls.privateKey: cannot read /no/such/key.pem: no such file"},
      {prefix + "cert.pem", prefix + "key.pem", "/no/such/ca.pem",
       "tls.certificateAuthority: cannot read /no/such/ca.pem: no such file"},
      {dir_.path(), prefix + "key.pem", "",
       "tls.certificate: cannot read " + dir_.path() + ": not a regular file"},
      {dir_.path() + "/garbage.pem", prefix + "key.pem", "",
       "tls.certificate: '" + dir_.path() +
           "/garbage.pem': error:0480006C:PEM routines::no start line"},
      {prefix + "cert.pem", other + "key.pem", "",
       "tls.privateKey: '" + other +
           "key.pem': not the private key of the certificate in "
           "tls.certificate '" +
           prefix + "cert.pem'"},
      {expired + "cert.pem", expired + "key.pem", "",
       "tls.certificate: '" + expired + "cert.pem': certificate expired on "},
      {prefix + "cert.pem", "", "", "tls.privateKey must be set when tls.certificate is"},
      {"", prefix + "key.pem", "", "tls.certificate must be set when tls.privateKey is"},
      {"", "", prefix + "ca.pem", "tls.certificate must be set when tls.certificateAuthority is"},
  };
  for (const Case& c : cases) {
    NodeTlsOptions o = Options();
    o.tls_certificate = c.cert;
    o.tls_private_key = c.key;
    o.tls_certificate_authority = c.ca;
    Result<ProvisionedTls> p = ProvisionNodeTls(o);
    ASSERT_FALSE(p.ok()) << c.error_prefix;
    EXPECT_TRUE(p.status().IsInvalidArgument()) << p.status().ToString();
    EXPECT_EQ(p.status().message().substr(0, c.error_prefix.size()), c.error_prefix)
        << p.status().message();
    // No key material in any error.
    EXPECT_EQ(p.status().message().find("PRIVATE KEY"), std::string::npos);
  }
  // Nothing was generated while the configuration was wrong.
  EXPECT_FALSE(std::filesystem::exists(Key("privateKey.pem")));
}

TEST_F(NodeCertificatesTest, OperationsApiOverride) {
  const std::string prefix = dir_.path() + "/ops-";
  WriteOwnCertificate(prefix, NamesForHosts("api.example.com", {"api.example.com"}));
  NodeTlsOptions o = Options();
  o.ops_certificate = prefix + "cert.pem";
  o.ops_private_key = prefix + "key.pem";
  Result<ProvisionedTls> p = ProvisionNodeTls(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->tls.node.source, "generated");
  EXPECT_EQ(p->tls.operations_api.source, "operationsApi.tls.certificate");
  EXPECT_NE(p->tls.operations_api.certificate_pem, p->tls.node.certificate_pem);

  o.ops_private_key = "/no/such/key.pem";
  Result<ProvisionedTls> bad = ProvisionNodeTls(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "operationsApi.tls.privateKey: cannot read /no/such/key.pem: no such file");
}

}  // namespace
}  // namespace meshdb::security
