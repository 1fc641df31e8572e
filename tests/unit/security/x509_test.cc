#include "security/x509.h"

#include <gtest/gtest.h>

#include <ctime>
#include <string>

namespace meshdb::security {
namespace {

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

// A CA and its key, made once per test.
struct TestCa {
  EvpPkey key;
  X509Cert cert;
};

TestCa MakeCa(const std::string& name = "meshdb-Certificate-Authority-node1") {
  Result<EvpPkey> key = GeneratePrivateKey();
  EXPECT_TRUE(key.ok()) << key.status().ToString();
  Result<X509Cert> cert = CreateCaCertificate(key->get(), name, ValidForDays(365));
  EXPECT_TRUE(cert.ok()) << cert.status().ToString();
  return TestCa{std::move(key).value(), std::move(cert).value()};
}

X509Cert MakeNodeCert(const TestCa& ca, EVP_PKEY* key, const SubjectNames& names,
                      Validity validity = ValidForDays(30)) {
  Result<X509Cert> cert = IssueCertificate(key, names, ca.cert.get(), ca.key.get(), validity);
  EXPECT_TRUE(cert.ok()) << cert.status().ToString();
  return std::move(cert).value();
}

EvpPkey NewKey() {
  Result<EvpPkey> key = GeneratePrivateKey();
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

TEST(X509Test, CaIsSelfSignedAuthorityWithDetails) {
  TestCa ca = MakeCa();
  EXPECT_TRUE(IsSelfSigned(ca.cert.get()));
  EXPECT_TRUE(IsCertificateAuthority(ca.cert.get()));
  EXPECT_TRUE(KeyMatchesCertificate(ca.cert.get(), ca.key.get()));
  CertificateDetails d = DetailsOf(ca.cert.get());
  EXPECT_EQ(d.subject, "CN=meshdb-Certificate-Authority-node1");
  EXPECT_EQ(d.issuer, d.subject);
  EXPECT_EQ(d.subject_alt_name, "");
  EXPECT_EQ(d.serial_number.size(), 32u) << d.serial_number;
  EXPECT_EQ(d.serial_number.find_first_not_of("0123456789ABCDEF"), std::string::npos);
  // "Mon DD HH:MM:SS YYYY GMT", the form node's X509Certificate gives.
  EXPECT_EQ(d.valid_from.size(), 24u) << d.valid_from;
  EXPECT_EQ(d.valid_from.substr(d.valid_from.size() - 4), " GMT");
}

TEST(X509Test, NodeCertificateCarriesNamesAndChainsToCa) {
  TestCa ca = MakeCa();
  EvpPkey key = NewKey();
  SubjectNames names =
      NamesForHosts("node1", {"node1", "localhost", "127.0.0.1", "::1", "127.0.0.1", "NODE1"});
  EXPECT_EQ(names.dns_names, (std::vector<std::string>{"node1", "localhost"}));
  EXPECT_EQ(names.ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
  X509Cert cert = MakeNodeCert(ca, key.get(), names);

  CertificateDetails d = DetailsOf(cert.get());
  EXPECT_EQ(d.subject, "CN=node1");
  EXPECT_EQ(d.issuer, "CN=meshdb-Certificate-Authority-node1");
  EXPECT_EQ(d.subject_alt_name, "DNS:node1, DNS:localhost, IP Address:127.0.0.1, IP Address:::1");
  EXPECT_FALSE(IsSelfSigned(cert.get()));
  EXPECT_FALSE(IsCertificateAuthority(cert.get()));
  EXPECT_TRUE(KeyMatchesCertificate(cert.get(), key.get()));
  EXPECT_FALSE(KeyMatchesCertificate(cert.get(), ca.key.get()));

  SubjectNames read = NamesOf(cert.get());
  EXPECT_EQ(read.common_name, "node1");
  EXPECT_EQ(read.dns_names, names.dns_names);
  EXPECT_EQ(read.ip_addresses, names.ip_addresses);

  // The certificate verifies against the CA.
  EXPECT_EQ(X509_verify(cert.get(), X509_get0_pubkey(ca.cert.get())), 1);
}

TEST(X509Test, CoversNameBySanOrCn) {
  TestCa ca = MakeCa();
  EvpPkey key = NewKey();
  SubjectNames names = NamesForHosts("node1", {"*.example.com", "127.0.0.2", "0:0::1"});
  X509Cert cert = MakeNodeCert(ca, key.get(), names);
  EXPECT_TRUE(CoversName(cert.get(), "node1"));  // the CN
  EXPECT_TRUE(CoversName(cert.get(), "NODE1"));
  EXPECT_TRUE(CoversName(cert.get(), "a.example.com"));
  EXPECT_FALSE(CoversName(cert.get(), "a.b.example.com"));
  EXPECT_FALSE(CoversName(cert.get(), "example.com"));
  EXPECT_TRUE(CoversName(cert.get(), "127.0.0.2"));
  EXPECT_TRUE(CoversName(cert.get(), "::1"));
  EXPECT_FALSE(CoversName(cert.get(), "127.0.0.3"));
  EXPECT_FALSE(CoversName(cert.get(), "node2"));
  EXPECT_FALSE(CoversName(cert.get(), ""));
}

TEST(X509Test, ValidityWindow) {
  TestCa ca = MakeCa();
  EvpPkey key = NewKey();
  SubjectNames names = NamesForHosts("node1", {});
  X509Cert current = MakeNodeCert(ca, key.get(), names, ValidForSeconds(60));
  EXPECT_TRUE(CheckValidAt(current.get(), Now()).ok());
  Status later = CheckValidAt(current.get(), Now() + 120);
  EXPECT_TRUE(later.IsInvalidArgument());
  EXPECT_EQ(later.message(), "certificate expired on " + DetailsOf(current.get()).valid_to);

  X509Cert expired = MakeNodeCert(ca, key.get(), names, Validity{-200, 100});
  EXPECT_EQ(CheckValidAt(expired.get(), Now()).message().rfind("certificate expired on ", 0), 0u);

  X509Cert future = MakeNodeCert(ca, key.get(), names, Validity{3600, 3600});
  Status early = CheckValidAt(future.get(), Now());
  EXPECT_EQ(early.message(),
            "certificate is not valid before " + DetailsOf(future.get()).valid_from);
}

TEST(X509Test, PemRoundTripsAndErrors) {
  TestCa ca = MakeCa();
  Result<std::string> cert_pem = CertificateToPem(ca.cert.get());
  ASSERT_TRUE(cert_pem.ok());
  EXPECT_EQ(cert_pem->rfind("-----BEGIN CERTIFICATE-----\n", 0), 0u);
  Result<X509Cert> parsed = ParseCertificatePem(*cert_pem);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(X509_cmp(parsed->get(), ca.cert.get()), 0);

  Result<std::string> key_pem = PrivateKeyToPem(ca.key.get());
  ASSERT_TRUE(key_pem.ok());
  EXPECT_EQ(key_pem->rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  Result<EvpPkey> key = ParsePrivateKeyPem(*key_pem);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_TRUE(KeyMatchesCertificate(ca.cert.get(), key->get()));

  // HarperDB answers invalid PEM with OpenSSL's own error string.
  Result<X509Cert> bad = ParseCertificatePem("not a certificate");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalidArgument());
  EXPECT_EQ(bad.status().message(), "error:0480006C:PEM routines::no start line");
  Result<EvpPkey> bad_key = ParsePrivateKeyPem("garbage");
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.status().message(), "error:1E08010C:DECODER routines::unsupported");
  // A truncated body is an error too, with OpenSSL's text.
  std::string truncated = cert_pem->substr(0, 60) + "\n-----END CERTIFICATE-----\n";
  Result<X509Cert> cut = ParseCertificatePem(truncated);
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().message().rfind("error:", 0), 0u) << cut.status().message();
}

TEST(X509Test, ChainParsing) {
  TestCa ca = MakeCa();
  EvpPkey key = NewKey();
  X509Cert leaf = MakeNodeCert(ca, key.get(), NamesForHosts("node1", {}));
  std::string chain = *CertificateToPem(leaf.get()) + *CertificateToPem(ca.cert.get());
  Result<std::vector<X509Cert>> parsed = ParseCertificateChainPem(chain);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ(X509_cmp((*parsed)[0].get(), leaf.get()), 0);
  EXPECT_EQ(X509_cmp((*parsed)[1].get(), ca.cert.get()), 0);
  EXPECT_FALSE(ParseCertificateChainPem("").ok());
  EXPECT_FALSE(ParseCertificateChainPem(chain + "-----BEGIN CERTIFICATE-----\nAAAA\n").ok());
}

TEST(X509Test, InvalidNamesAreRefused) {
  TestCa ca = MakeCa();
  EvpPkey key = NewKey();
  SubjectNames bad_ip;
  bad_ip.common_name = "node1";
  bad_ip.ip_addresses = {"300.1.1.1"};
  Result<X509Cert> cert =
      IssueCertificate(key.get(), bad_ip, ca.cert.get(), ca.key.get(), ValidForDays(1));
  ASSERT_FALSE(cert.ok());
  EXPECT_EQ(cert.status().message(), "'300.1.1.1' is not an IP address");
  EXPECT_FALSE(CreateCsr(key.get(), SubjectNames{}).ok());
}

TEST(X509Test, CsrSignedWithinPolicy) {
  TestCa ca = MakeCa();
  EvpPkey key = NewKey();
  Result<X509Req> csr = CreateCsr(key.get(), NamesForHosts("node2", {"node2", "127.0.0.2"}));
  ASSERT_TRUE(csr.ok()) << csr.status().ToString();
  Result<std::string> pem = CsrToPem(csr->get());
  ASSERT_TRUE(pem.ok());
  Result<X509Req> parsed = ParseCsrPem(*pem);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  Result<SubjectNames> names = NamesOfCsr(parsed->get());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->common_name, "node2");

  Result<X509Cert> signed_cert = SignCsr(parsed->get(), ca.cert.get(), ca.key.get(),
                                         ValidForDays(10), AllowOnlyNames({"node2", "127.0.0.2"}));
  ASSERT_TRUE(signed_cert.ok()) << signed_cert.status().ToString();
  EXPECT_TRUE(KeyMatchesCertificate(signed_cert->get(), key.get()));
  EXPECT_EQ(DetailsOf(signed_cert->get()).subject_alt_name, "DNS:node2, IP Address:127.0.0.2");
  EXPECT_EQ(DetailsOf(signed_cert->get()).issuer, "CN=meshdb-Certificate-Authority-node1");
  EXPECT_EQ(X509_verify(signed_cert->get(), X509_get0_pubkey(ca.cert.get())), 1);
}

// Signs a CSR for `cn` + `hosts` under the policy "only node2 and 127.0.0.2"; the error.
Status SignFor(const TestCa& ca, const std::string& cn, const std::vector<std::string>& hosts) {
  EvpPkey key = NewKey();
  Result<X509Req> csr = CreateCsr(key.get(), NamesForHosts(cn, hosts));
  EXPECT_TRUE(csr.ok());
  Result<X509Cert> cert = SignCsr(csr->get(), ca.cert.get(), ca.key.get(), ValidForDays(1),
                                  AllowOnlyNames({"node2", "127.0.0.2"}));
  return cert.ok() ? Status::Ok() : cert.status();
}

TEST(X509Test, CsrPolicyRefusalsNameTheEntry) {
  TestCa ca = MakeCa();
  const std::string allowed = " (allowed: 127.0.0.2, node2)";
  EXPECT_EQ(SignFor(ca, "node2", {"NODE2", "127.0.0.2"}).ToString(), "OK");
  EXPECT_EQ(
      SignFor(ca, "node3", {"node2"}).message(),
      "the certificate request names CN 'node3', which is not one of the allowed names" + allowed);
  EXPECT_EQ(
      SignFor(ca, "node2", {"node1"}).message(),
      "the certificate request names DNS 'node1', which is not one of the allowed names" + allowed);
  EXPECT_EQ(SignFor(ca, "node2", {"*.example.com"}).message(),
            "the certificate request names DNS '*.example.com', a wildcard" + allowed);
  EXPECT_EQ(SignFor(ca, "*", {}).message(),
            "the certificate request names CN '*', a wildcard" + allowed);
  EXPECT_EQ(SignFor(ca, "node2", {"127.0.0.2", "10.0.0.1"}).message(),
            "the certificate request names IP '10.0.0.1', which is not one of the allowed names" +
                allowed);
  EXPECT_TRUE(SignFor(ca, "node2", {"10.0.0.1"}).IsPermissionDenied());
}

TEST(X509Test, CsrWithBadSignatureIsRefused) {
  TestCa ca = MakeCa();
  EvpPkey key = NewKey();
  EvpPkey other = NewKey();
  Result<X509Req> csr = CreateCsr(key.get(), NamesForHosts("node2", {}));
  ASSERT_TRUE(csr.ok());
  // Swap the public key after signing: the signature no longer matches.
  ASSERT_EQ(X509_REQ_set_pubkey(csr->get(), other.get()), 1);
  Result<X509Cert> cert =
      SignCsr(csr->get(), ca.cert.get(), ca.key.get(), ValidForDays(1), AllowOnlyNames({"node2"}));
  ASSERT_FALSE(cert.ok());
  EXPECT_TRUE(cert.status().IsInvalidArgument());
  EXPECT_EQ(cert.status().message().rfind("the certificate request's signature does not verify", 0),
            0u);
}

TEST(X509Test, CheckNamesAllowedDirectly) {
  SubjectNames names = NamesForHosts("node2", {"::1"});
  EXPECT_TRUE(CheckNamesAllowed(names, {"node2", "0:0:0:0:0:0:0:1"}).ok());
  EXPECT_FALSE(CheckNamesAllowed(names, {"node2"}).ok());
  EXPECT_EQ(CheckNamesAllowed(SubjectNames{}, {"node2"}).message(),
            "the certificate request has no common name");
}

}  // namespace
}  // namespace meshdb::security
