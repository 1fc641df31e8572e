// system.hdb_certificate rows and the certificate operations against a real Store and a real
// Config in a temporary directory.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "call_op.h"
#include "config/config.h"
#include "ops/certificate_rows.h"
#include "ops/handlers.h"
#include "security/node_certificates.h"
#include "security/private_file.h"
#include "security/x509.h"
#include "storage/store.h"
#include "temp_dir.h"
#include "test_store.h"

namespace meshdb::ops {
namespace {

namespace json = boost::json;

class CertificateOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(
        meshdb::testing::OpenTestStore(temp_.path() + "/database", 64ull << 20, &store_));
    storage::TableDef def;
    def.database = "system";
    def.name = kCertificateTable;
    def.primary_key = "name";
    def.replicate = false;
    ASSERT_TRUE(store_->CreateTable(def).ok());

    config::LoadOptions load;
    load.root = temp_.path();
    auto config = config::Config::Load(load);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    config_ = std::make_unique<config::Config>(std::move(*config));
    env_.store = store_.get();
    env_.config = config_.get();
    caller_.username = "admin";
    caller_.super_user = true;

    security::NodeTlsOptions tls;
    tls.keys_dir = keys_dir();
    tls.node_name = "node1";
    auto provisioned = security::ProvisionNodeTls(tls);
    ASSERT_TRUE(provisioned.ok()) << provisioned.status().ToString();
    node_tls_ = std::move(provisioned->tls);
    ASSERT_TRUE(RecordNodeCertificates(store_.get(), node_tls_).ok());
  }
  void TearDown() override { store_.reset(); }

  [[nodiscard]] std::string keys_dir() const { return temp_.path() + "/keys"; }

  OpResult Run(Handler handler, const json::object& body) {
    OpResult r = testing::CallOp(handler, &env_, caller_, body);
    // No response ever carries key material.
    EXPECT_EQ(json::serialize(r.body).find("PRIVATE KEY"), std::string::npos);
    EXPECT_EQ(r.status.message().find("PRIVATE KEY"), std::string::npos);
    return r;
  }
  std::string Text(Handler handler, const json::object& body) {
    OpResult r = Run(handler, body);
    return r.status.ok() ? json::serialize(r.body) : r.status.ToString();
  }
  json::object Row(const std::string& name) {
    json::value list = Run(ListCertificates, {}).body;
    for (const json::value& row : list.as_array()) {
      if (row.as_object().at("name") == json::value(name)) return row.as_object();
    }
    return {};
  }

  // A certificate (and its key) issued by a fresh CA for `cn`.
  struct Issued {
    std::string cert_pem, key_pem, ca_pem;
  };
  static Issued IssueForeign(const std::string& cn) {
    auto ca_key = std::move(security::GeneratePrivateKey()).value();
    auto ca = std::move(security::CreateCaCertificate(ca_key.get(), "Foreign CA",
                                                      security::ValidForDays(1)))
                  .value();
    auto key = std::move(security::GeneratePrivateKey()).value();
    auto cert =
        std::move(security::IssueCertificate(key.get(), security::NamesForHosts(cn, {cn}), ca.get(),
                                             ca_key.get(), security::ValidForDays(1)))
            .value();
    return {*security::CertificateToPem(cert.get()), *security::PrivateKeyToPem(key.get()),
            *security::CertificateToPem(ca.get())};
  }

  meshdb::testing::TempDir temp_{"meshdb-certops"};  // outlives store_
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<config::Config> config_;
  security::NodeTls node_tls_;
  OpEnv env_;
  Caller caller_;
};

TEST_F(CertificateOpsTest, NodeRowsAtStart) {
  json::value list = Run(ListCertificates, {}).body;
  ASSERT_EQ(list.as_array().size(), 2u);
  json::object ca = Row("meshdb-Certificate-Authority-node1");
  EXPECT_EQ(ca.at("is_authority"), json::value(true));
  EXPECT_EQ(ca.at("uses"), json::array{});
  EXPECT_EQ(ca.at("private_key_name"), json::value("caPrivateKey.pem"));
  EXPECT_FALSE(ca.at("details").as_object().contains("subject_alt_name"));
  json::object node = Row("node1");
  EXPECT_EQ(node.at("uses"), json::array{"replication"});
  EXPECT_EQ(node.at("is_self_signed"), json::value(true));
  EXPECT_EQ(node.at("certificate").as_string(), PemWithCrlf(node_tls_.node.certificate_pem));
  EXPECT_FALSE(node.contains("__createdtime__"));

  // Recording again (a restart) changes nothing.
  const json::value updated = node.at("__updatedtime__");
  ASSERT_TRUE(RecordNodeCertificates(store_.get(), node_tls_).ok());
  EXPECT_EQ(Row("node1").at("__updatedtime__"), updated);

  auto trusted = TrustedCaPems(store_.get());
  ASSERT_TRUE(trusted.ok());
  EXPECT_EQ(*trusted, std::vector<std::string>{node_tls_.node.ca_certificate_pem});
}

TEST_F(CertificateOpsTest, AddListRemove) {
  Issued foreign = IssueForeign("peer");
  EXPECT_EQ(Text(AddCertificate, {{"name", "Leaf cert"},
                                  {"certificate", foreign.cert_pem},
                                  {"is_authority", false},
                                  {"private_key", foreign.key_pem}}),
            R"({"message":"Successfully added certificate: -eaf-cert"})");
  const std::string key_path = keys_dir() + "/-eaf-cert.pem";
  EXPECT_EQ(*security::ReadWholeFile(key_path), foreign.key_pem);
  struct stat st {};
  ASSERT_EQ(::stat(key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  json::object row = Row("Leaf cert");
  EXPECT_EQ(row.at("private_key_name"), json::value("-eaf-cert.pem"));
  EXPECT_EQ(row.at("details").as_object().at("subject_alt_name"), json::value("DNS:peer"));

  EXPECT_EQ(Text(AddCertificate,
                 {{"name", "foreign ca"}, {"certificate", foreign.ca_pem}, {"is_authority", true}}),
            R"({"message":"Successfully added certificate: foreign-ca"})");
  auto trusted = TrustedCaPems(store_.get());
  ASSERT_TRUE(trusted.ok());
  EXPECT_EQ(trusted->size(), 2u);
  EXPECT_NE(std::find(trusted->begin(), trusted->end(), foreign.ca_pem), trusted->end());

  EXPECT_EQ(Text(RemoveCertificate, {{"name", "Leaf cert"}}),
            R"({"message":"Successfully removed Leaf cert"})");
  EXPECT_FALSE(std::filesystem::exists(key_path));
  EXPECT_EQ(Text(RemoveCertificate, {{"name", "Leaf cert"}}),
            "InvalidArgument: Leaf cert not found");
  EXPECT_EQ(Text(RemoveCertificate, {}), "InvalidArgument: 'name' is required");
  // The node's own key is never deleted, even when its row is removed.
  EXPECT_EQ(Text(RemoveCertificate, {{"name", "node1"}}),
            R"({"message":"Successfully removed node1"})");
  EXPECT_TRUE(std::filesystem::exists(keys_dir() + "/privateKey.pem"));
}

// remove_certificate with `replicated: true` asks the members while the CA is still trusted
// here (removing it first would cut the links the request travels on), then removes it here,
// answers, and only then changes the trust.
TEST_F(CertificateOpsTest, ReplicatedRemovalReachesTheMembersBeforeTheTrustChangesHere) {
  Issued foreign = IssueForeign("peer");
  ASSERT_TRUE(Run(AddCertificate,
                  {{"name", "foreign"}, {"certificate", foreign.ca_pem}, {"is_authority", true}})
                  .status.ok());
  std::vector<std::string> events;
  env_.on_certificates_changed = [&] { events.emplace_back("trust changed"); };
  env_.fan_out = [&](json::object request, std::function<void(json::array)> done) {
    events.push_back(std::string("fan-out, row ") + (Row("foreign").empty() ? "gone" : "here"));
    EXPECT_FALSE(request.contains("replicated"));
    done(json::array{json::object{{"message", "Successfully removed foreign"}, {"node", "b"}}});
  };
  auto promise = std::make_shared<std::promise<OpResult>>();
  std::future<OpResult> future = promise->get_future();
  RemoveCertificate(OpCall{
      &env_, caller_, {{"name", "foreign"}, {"replicated", true}}, [&, promise](OpResult r) {
        events.push_back(std::string("answer, row ") + (Row("foreign").empty() ? "gone" : "here"));
        promise->set_value(std::move(r));
      }});
  OpResult r = future.get();
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(json::serialize(r.body), R"({"message":"Successfully removed foreign","replicated":)"
                                     R"([{"message":"Successfully removed foreign","node":"b"}]})");
  EXPECT_EQ(events,
            (std::vector<std::string>{"fan-out, row here", "answer, row gone", "trust changed"}));

  // An unknown name fans nothing out.
  events.clear();
  EXPECT_EQ(Text(RemoveCertificate, {{"name", "foreign"}, {"replicated", true}}),
            "InvalidArgument: foreign not found");
  EXPECT_TRUE(events.empty());
}

TEST_F(CertificateOpsTest, AddErrorsChangeNothing) {
  Issued foreign = IssueForeign("peer");
  EXPECT_EQ(Text(AddCertificate, {}),
            "InvalidArgument: 'name' is required. 'certificate' is required. 'is_authority' is "
            "required");
  EXPECT_EQ(Text(AddCertificate, {{"name", "x"}, {"certificate", "nope"}, {"is_authority", true}}),
            "Internal: error:0480006C:PEM routines::no start line");
  EXPECT_EQ(Text(AddCertificate,
                 {{"name", "x"}, {"certificate", foreign.cert_pem}, {"is_authority", false}}),
            "InvalidArgument: A suitable private key was not found for this certificate");
  EXPECT_EQ(Text(AddCertificate, {{"name", "x"},
                                  {"certificate", foreign.cert_pem},
                                  {"is_authority", false},
                                  {"private_key", node_tls_.node.private_key_pem}}),
            "InvalidArgument: A suitable private key was not found for this certificate");
  EXPECT_EQ(Run(ListCertificates, {}).body.as_array().size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(keys_dir() + "/x.pem"));
}

TEST_F(CertificateOpsTest, StoredKeyIsFoundForANewCertificate) {
  // The node's own certificate again under another name: its key is already stored.
  EXPECT_EQ(Text(AddCertificate, {{"name", "again"},
                                  {"certificate", node_tls_.node.certificate_pem},
                                  {"is_authority", false}}),
            R"({"message":"Successfully added certificate: again"})");
  EXPECT_EQ(Row("again").at("private_key_name"), json::value("privateKey.pem"));
}

TEST(CertificateRowsTest, LineEndings) {
  EXPECT_EQ(PemWithCrlf("a\nb\r\nc\n"), "a\r\nb\r\nc\r\n");
  EXPECT_EQ(PemWithLf("a\r\nb\r\n"), "a\nb\n");
}

}  // namespace
}  // namespace meshdb::ops
