#include "discovery/discovery_settings.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <fstream>

#include "temp_dir.h"

namespace meshdb::discovery {
namespace {

namespace json = boost::json;

DiscoveryInputs Etcd(json::value config) {
  DiscoveryInputs inputs;
  inputs.mode = "etcd-kv";
  inputs.key = "meshdb";
  inputs.config = std::move(config);
  inputs.node_name = "n1";
  return inputs;
}

std::string ErrorOf(const DiscoveryInputs& inputs) {
  Result<std::optional<DiscoverySettings>> parsed = ParseDiscoverySettings(inputs);
  EXPECT_FALSE(parsed.ok());
  return parsed.ok() ? std::string() : parsed.status().message();
}

TEST(DiscoverySettingsTest, NoModeMeansOff) {
  DiscoveryInputs inputs;
  Result<std::optional<DiscoverySettings>> parsed = ParseDiscoverySettings(inputs);
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->has_value());
}

TEST(DiscoverySettingsTest, EtcdFromJsonText) {
  Result<std::optional<DiscoverySettings>> parsed = ParseDiscoverySettings(
      Etcd(json::string(R"({"endpoints":["127.0.0.1:2379","https://e2:2379/"],"ttl":"6s"})")));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const DiscoverySettings& settings = **parsed;
  EXPECT_EQ(settings.etcd.endpoints,
            (std::vector<std::string>{"http://127.0.0.1:2379", "https://e2:2379"}));
  EXPECT_EQ(settings.ttl.count(), 6);
  EXPECT_EQ(settings.refresh.count(), 2000);  // ttl / 3
}

TEST(DiscoverySettingsTest, ConsulFromAFileWithDefaults) {
  testing::TempDir dir;
  std::string path = dir.path() + "/disco.json";
  std::ofstream(path) << R"({"token":"t0ken","ttl":12,"refresh_interval":0.5})";
  DiscoveryInputs inputs = Etcd(json::string(path));
  inputs.mode = "consul-kv";
  Result<std::optional<DiscoverySettings>> parsed = ParseDiscoverySettings(inputs);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ((*parsed)->consul.base_url, "http://127.0.0.1:8500");
  EXPECT_EQ((*parsed)->consul.token, "t0ken");
  EXPECT_EQ((*parsed)->refresh.count(), 500);
}

TEST(DiscoverySettingsTest, CredentialsBecomeAnAuthorizationHeader) {
  DiscoveryInputs inputs = Etcd(json::parse(R"({"endpoints":["e:1"]})"));
  inputs.authorization = "admin:pw";
  EXPECT_EQ((*ParseDiscoverySettings(inputs).value()).authorization, "Basic YWRtaW46cHc=");
  inputs.authorization = "Bearer abc";
  EXPECT_EQ((*ParseDiscoverySettings(inputs).value()).authorization, "Bearer abc");
}

TEST(DiscoverySettingsTest, BadInputNamesTheFlag) {
  DiscoveryInputs bad_mode = Etcd(json::parse(R"({"endpoints":["e:1"]})"));
  bad_mode.mode = "zookeeper";
  EXPECT_NE(ErrorOf(bad_mode).find("--disco-mode"), std::string::npos);

  EXPECT_NE(ErrorOf(Etcd(json::string("{not json")))
                .find("--disco-config (discovery.config): "
                      "invalid JSON at offset 1"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Etcd(json::string("/nonexistent/disco.json"))).find("cannot read the file"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Etcd(json::parse("{}"))).find("needs 'endpoints'"), std::string::npos);
  EXPECT_NE(
      ErrorOf(Etcd(json::parse(R"({"endpoints":["e:1"],"ttll":3})"))).find("unknown field 'ttll'"),
      std::string::npos);
  EXPECT_NE(ErrorOf(Etcd(json::parse(R"({"endpoints":["e:1"],"ttl":0})"))).find("'ttl'"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Etcd(json::parse(R"({"endpoints":["e:1"],"ttl":3,"refresh_interval":3})")))
                .find("shorter than 'ttl'"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Etcd(json::parse(R"({"endpoints":["ftp://e:1"]})"))).find("not an address"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Etcd(json::parse(R"({"endpoints":["e:1"],"cert":"c.pem"})")))
                .find("'cert' and 'key' go together"),
            std::string::npos);
}

TEST(DiscoverySettingsTest, MissingTlsFileIsRefusedWhenTheStoreOpens) {
  Result<std::optional<DiscoverySettings>> parsed =
      ParseDiscoverySettings(Etcd(json::parse(R"({"endpoints":["e:1"],"ca":"/nonexistent.pem"})")));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ((*parsed)->etcd.endpoints.front(), "https://e:1");  // TLS files imply https
  Result<std::unique_ptr<KvStore>> store = OpenKvStore(**parsed);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("/nonexistent.pem"), std::string::npos);
}

}  // namespace
}  // namespace meshdb::discovery
