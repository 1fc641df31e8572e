#include "config/config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/yaml_json.h"

namespace meshdb::config {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// A fresh temporary directory per test, removed afterwards.
class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "meshdb-config-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  [[nodiscard]] std::string FilePath() const { return root_ + "/harperdb-config.yaml"; }
  [[nodiscard]] std::string BackupDir() const { return root_ + "/backup"; }

  void WriteConfig(const std::string& text) {
    std::ofstream out(FilePath());
    out << text;
  }
  [[nodiscard]] std::string ReadConfig() const {
    std::ifstream in(FilePath());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  [[nodiscard]] LoadOptions Options() const {
    LoadOptions options;
    options.root = root_;
    return options;
  }

  Result<Config> LoadWith(const std::map<std::string, std::string>& env,
                          const std::vector<std::pair<std::string, std::string>>& cli = {}) {
    LoadOptions options = Options();
    options.env = env;
    options.cli = cli;
    return Config::Load(options);
  }

  [[nodiscard]] size_t BackupCount() const {
    if (!fs::exists(BackupDir())) return 0;
    size_t n = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(BackupDir())) ++n;
    return n;
  }

  std::string root_;
};

TEST_F(ConfigTest, FirstLoadWritesDefaults) {
  Result<Config> config = Config::Load(Options());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_TRUE(fs::exists(FilePath()));
  EXPECT_EQ(config->file_path(), FilePath());
  const Settings& s = config->settings();
  EXPECT_EQ(s.root_path, root_);
  EXPECT_EQ(s.operations_host, "127.0.0.1");
  EXPECT_EQ(s.operations_port, 9925);
  EXPECT_EQ(s.max_body_bytes, 104857600u);
  EXPECT_EQ(s.log_level, "info");
  EXPECT_EQ(s.log_dir, root_ + "/log");
  EXPECT_FALSE(s.authorize_local);
  EXPECT_EQ(s.operation_token_timeout_s, 86400u);
  EXPECT_EQ(s.refresh_token_timeout_s, 30u * 86400u);
  EXPECT_EQ(s.auth_cache_ttl_ms, 30000u);
  EXPECT_EQ(s.storage_path, root_ + "/database");
  EXPECT_FALSE(s.storage_write_async);
  EXPECT_EQ(s.replication_hostname, "");
  EXPECT_TRUE(s.replication_routes.is_null());
  EXPECT_EQ(s.replication_databases, json::value("*"));
  EXPECT_EQ(s.replication_cluster_key, "");
  EXPECT_EQ(s.replication_reconnect_min_ms, 100u);
  EXPECT_EQ(s.replication_reconnect_max_ms, 5000u);
  // Replication over wss:// by default, as HarperDB; no plain ws:// listener.
  EXPECT_EQ(s.replication_secure_port, 9933);
  EXPECT_EQ(s.replication_port, 0);

  std::string text = ReadConfig();
  EXPECT_NE(text.find("securePort: 9933"), std::string::npos) << text;
  EXPECT_NE(text.find("operationsApi:"), std::string::npos) << text;
  EXPECT_NE(text.find("port: 9925"), std::string::npos) << text;
  EXPECT_NE(text.find("level: info"), std::string::npos) << text;
  EXPECT_NE(text.find("writeAsync: false"), std::string::npos) << text;
  EXPECT_NE(text.find("operationTokenTimeout: 1d"), std::string::npos) << text;

  // The written file reads back to the same settings.
  Result<Config> again = Config::Load(Options());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(json::serialize(again->tree()), json::serialize(config->tree()));
}

// A file written before wss:// was the default says `securePort: null`: it keeps meaning plain
// ws:// on the operations port. A file that does not mention the key gets the default, and an
// explicit replication.port stands beside it (the node's URL then uses ws://, server.cc).
TEST_F(ConfigTest, ReplicationSecurePortKeepsWhatAnExistingFileSays) {
  WriteConfig("replication:\n  port: null\n  securePort: null\n");
  Result<Config> old_file = Config::Load(Options());
  ASSERT_TRUE(old_file.ok()) << old_file.status().ToString();
  EXPECT_EQ(old_file->settings().replication_secure_port, 0);
  EXPECT_EQ(old_file->settings().replication_port, 0);
  EXPECT_NE(ReadConfig().find("securePort: null"), std::string::npos) << ReadConfig();

  WriteConfig("replication:\n  port: 9932\n");
  Result<Config> silent = Config::Load(Options());
  ASSERT_TRUE(silent.ok()) << silent.status().ToString();
  EXPECT_EQ(silent->settings().replication_secure_port, 9933);
  EXPECT_EQ(silent->settings().replication_port, 9932);

  Result<Config> off = LoadWith({{"REPLICATION_SECUREPORT", "null"}});
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(off->settings().replication_secure_port, 0);
}

TEST_F(ConfigTest, ReadsFileValues) {
  WriteConfig(
      "operationsApi:\n"
      "  network:\n"
      "    host: 0.0.0.0\n"
      "    port: 19925\n"
      "logging:\n"
      "  level: debug\n"
      "storage:\n"
      "  path: db\n"
      "  writeAsync: true\n"
      "replication:\n"
      "  hostname: node1.example\n"
      "  routes:\n"
      "    - node2.example\n"
      "    - hostname: 127.0.0.3\n"
      "      port: 9933\n"
      "  databases: [dev, {name: data, sharded: false}]\n"
      "tls:\n"
      "  certificate: \"/keys/cert.pem\"\n");
  Result<Config> config = Config::Load(Options());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const Settings& s = config->settings();
  EXPECT_EQ(s.operations_host, "0.0.0.0");
  EXPECT_EQ(s.operations_port, 19925);
  EXPECT_EQ(s.log_level, "debug");
  EXPECT_EQ(s.storage_path, root_ + "/db");  // relative paths hang from the root
  EXPECT_TRUE(s.storage_write_async);
  EXPECT_EQ(s.replication_hostname, "node1.example");
  EXPECT_EQ(json::serialize(s.replication_routes),
            R"(["node2.example",{"hostname":"127.0.0.3","port":9933}])");
  EXPECT_EQ(json::serialize(s.replication_databases), R"(["dev",{"name":"data","sharded":false}])");
  EXPECT_EQ(s.tls_certificate, "/keys/cert.pem");
  // Keys the file does not set keep their defaults.
  EXPECT_EQ(s.max_body_bytes, 104857600u);
  EXPECT_EQ(config->tree().at("logging").at("level"), json::value("debug"));
}

TEST_F(ConfigTest, LegacyClusteringRoutesAreRead) {
  WriteConfig(
      "clustering:\n"
      "  hubServer:\n"
      "    cluster:\n"
      "      network:\n"
      "        routes:\n"
      "          - host: 127.0.0.2\n"
      "            port: 9932\n");
  Result<Config> config = Config::Load(Options());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(json::serialize(config->settings().replication_routes),
            R"([{"host":"127.0.0.2","port":9932}])");
}

TEST_F(ConfigTest, QuotedYamlScalarsStayStrings) {
  WriteConfig("replication:\n  hostname: \"1234\"\n");
  Result<Config> config = Config::Load(Options());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->tree().at("replication").at("hostname").is_string());
  EXPECT_EQ(config->settings().replication_hostname, "1234");
}

TEST_F(ConfigTest, EnvOverridesFileButIsNotWrittenBack) {
  WriteConfig("logging:\n  level: warn\n");
  Result<Config> config = LoadWith({{"LOGGING_LEVEL", "trace"},
                                    {"operationsapi_network_port", "19000"},
                                    {"PATH", "/usr/bin"},
                                    {"SOME_UNRELATED_THING", "x"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->settings().log_level, "trace");
  EXPECT_EQ(config->settings().operations_port, 19000);
  EXPECT_EQ(ReadConfig(), "logging:\n  level: warn\n");
}

TEST_F(ConfigTest, LegacyEnvAliasesApplyButCanonicalNamesWin) {
  Result<Config> config = LoadWith({{"SERVER_PORT", "18000"}, {"LOG_LEVEL", "debug"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->settings().operations_port, 18000);
  EXPECT_EQ(config->settings().log_level, "debug");

  config = LoadWith({{"LOG_LEVEL", "debug"}, {"LOGGING_LEVEL", "error"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->settings().log_level, "error");
}

TEST_F(ConfigTest, HdbRootChoosesTheRootWhenNoneGiven) {
  LoadOptions options;
  options.env = {{"HDB_ROOT", root_ + "/nested"}};
  Result<Config> config = Config::Load(options);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->file_path(), root_ + "/nested/harperdb-config.yaml");
  EXPECT_EQ(config->settings().storage_path, root_ + "/nested/database");
}

TEST_F(ConfigTest, CliWinsOverEnv) {
  Result<Config> config =
      LoadWith({{"REPLICATION_HOSTNAME", "127.0.0.22"}},
               {{"REPLICATION_HOSTNAME", "127.0.0.2"}, {"logging.level", "debug"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->settings().replication_hostname, "127.0.0.2");
  EXPECT_EQ(config->settings().log_level, "debug");
}

TEST_F(ConfigTest, UnknownCliKeyIsAnErrorNamingIt) {
  Result<Config> config = LoadWith({}, {{"NO_SUCH_KEY", "1"}});
  ASSERT_FALSE(config.ok());
  EXPECT_TRUE(config.status().IsInvalidArgument());
  EXPECT_NE(config.status().message().find("NO_SUCH_KEY"), std::string::npos)
      << config.status().message();
}

TEST_F(ConfigTest, ValuesAreCast) {
  Result<Config> config = LoadWith({}, {{"STORAGE_WRITEASYNC", "true"},
                                        {"AUTHENTICATION_AUTHORIZELOCAL", "true"},
                                        {"THREADS_COUNT", "3"},
                                        {"AUTHENTICATION_OPERATIONTOKENTIMEOUT", "12h"},
                                        {"REPLICATION_DATABASES", "[\"dev\"]"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const json::value& tree = config->tree();
  EXPECT_EQ(tree.at("storage").at("writeAsync"), json::value(true));
  EXPECT_EQ(tree.at("threads").at("count"), json::value(3));
  EXPECT_TRUE(config->settings().storage_write_async);
  EXPECT_TRUE(config->settings().authorize_local);
  EXPECT_EQ(config->settings().threads, 3);
  EXPECT_EQ(config->settings().operation_token_timeout_s, 12u * 3600u);
  EXPECT_EQ(json::serialize(config->settings().replication_databases), R"(["dev"])");
}

TEST_F(ConfigTest, InertKeysAreReportedOnlyWhenSet) {
  // The generated defaults (null, true) leave nothing to report.
  Result<Config> plain = LoadWith({});
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_TRUE(plain->InertKeysSet().empty());

  // The TLS keys act now (docs/security.md): they are not reported.
  Result<Config> config = LoadWith({}, {{"TLS_CIPHERS", "TLS_AES_128_GCM_SHA256"},
                                        {"TLS_CERTIFICATE", "/no/such/cert.pem"},
                                        {"REPLICATION_SECUREPORT", "9933"},
                                        {"REPLICATION_ENABLEROOTCAS", "false"},
                                        {"LOGGING_STDSTREAMS", "false"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->InertKeysSet(), (std::vector<std::string>{"logging.stdStreams"}));
}

// The harperdb-config.yaml HarperDB 4.7.29 writes at install (`harperdb install` with the
// package defaults, "prod"; ROOT stands for its root), copied from a real install.
constexpr char kHarperDbInstalledConfig[] = R"(
http:
  compressionThreshold: 0
  cors: false
  corsAccessList:
    - null
  keepAliveTimeout: 30000
  port: null
  securePort: 9926
  mtls: false
  http2: false
  timeout: 120000
threads:
  count: 2
  debug: false
authentication:
  authorizeLocal: false
  cacheTTL: 30000
  enableSessions: true
  operationTokenTimeout: 1d
  refreshTokenTimeout: 30d
analytics:
  aggregatePeriod: 60
  replicate: false
replication:
  securePort: 9933
  enableRootCAs: true
  hostname: 127.0.0.1
  databases: '*'
  routes: null
componentsRoot: ROOT/components
localStudio:
  enabled: true
logging:
  auditAuthEvents:
    logFailed: false
    logSuccessful: false
  auditLog: true
  auditRetention: 3d
  file: true
  level: warn
  root: ROOT/log
  rotation:
    enabled: true
    compress: false
    interval: null
    maxSize: 64M
    path: ROOT/log
  stdStreams: false
mqtt:
  network:
    port: 1883
    securePort: 8883
    mtls: false
  webSocket: true
  requireAuthentication: true
operationsApi:
  network:
    cors: true
    corsAccessList:
      - '*'
    domainSocket: ROOT/operations-server
    port: null
    securePort: 9925
rootPath: ROOT
storage:
  writeAsync: false
  caching: true
  compression: true
  noReadAhead: false
  path: ROOT/database
  prefetchWrites: true
tls:
  privateKey: ROOT/keys/privateKey.pem
)";

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// "a.b" -> value for every leaf of `v` (arrays are leaves).
void Leaves(const json::value& v, const std::string& prefix,
            std::map<std::string, json::value>& out) {
  if (v.is_object()) {
    for (const auto& kv : v.as_object()) {
      Leaves(kv.value(),
             prefix.empty() ? std::string(kv.key()) : prefix + "." + std::string(kv.key()), out);
    }
    return;
  }
  out[prefix] = v;
}

// Issue 11: a new file holds every key of HarperDB's, with HarperDB's value except where
// meshdb acts on the key its own way; get_configuration shows them all.
TEST_F(ConfigTest, NewFileHasEveryHarperDbKeyWithItsDefault) {
  Result<Config> config = Config::Load(Options());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  Result<json::value> written = internal::ParseYaml(ReadConfig(), "written");
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  Result<json::value> harperdb =
      internal::ParseYaml(ReplaceAll(kHarperDbInstalledConfig, "ROOT", root_), "harperdb");
  ASSERT_TRUE(harperdb.ok()) << harperdb.status().ToString();

  // Where meshdb's default differs, deliberately (docs/configuration.md).
  const std::map<std::string, json::value> meshdb_own = {
      {"threads.count", 0},                  // one thread per core
      {"replication.hostname", nullptr},     // the operations host
      {"logging.level", "info"},             // HarperDB's dev default
      {"logging.stdStreams", true},          // meshdb always logs to stderr
      {"operationsApi.network.port", 9925},  // plain HTTP, as HarperDB's dev default
      {"operationsApi.network.securePort", nullptr},
      {"tls.privateKey", nullptr},  // the node generates its own under keys/
  };
  std::map<std::string, json::value> expected, in_file, shown;
  Leaves(*harperdb, "", expected);
  Leaves(*written, "", in_file);
  Leaves(config->RedactedTree(), "", shown);
  for (const auto& [key, harperdb_value] : expected) {
    auto own = meshdb_own.find(key);
    const json::value& want = own == meshdb_own.end() ? harperdb_value : own->second;
    ASSERT_TRUE(in_file.count(key)) << key << " is not in the new file:\n" << ReadConfig();
    EXPECT_EQ(json::serialize(in_file[key]), json::serialize(want)) << key;
    ASSERT_TRUE(shown.count(key)) << key << " is not shown by get_configuration";
    EXPECT_EQ(json::serialize(shown[key]), json::serialize(want)) << key;
  }
  // Each of HarperDB's keys is either one meshdb acts on (this list) or an inert one.
  const std::set<std::string> acted_on = {"threads.count",
                                          "authentication.authorizeLocal",
                                          "authentication.cacheTTL",
                                          "authentication.operationTokenTimeout",
                                          "authentication.refreshTokenTimeout",
                                          "replication.securePort",
                                          "replication.enableRootCAs",
                                          "replication.hostname",
                                          "replication.databases",
                                          "replication.routes",
                                          "logging.level",
                                          "logging.root",
                                          "logging.rotation.enabled",
                                          "logging.rotation.interval",
                                          "logging.rotation.maxSize",
                                          "operationsApi.network.port",
                                          "operationsApi.network.securePort",
                                          "rootPath",
                                          "storage.writeAsync",
                                          "storage.path",
                                          "tls.privateKey"};
  const std::vector<std::string> inert = Config::InertKeys();
  for (const auto& [key, unused] : expected) {
    const bool is_inert = std::find(inert.begin(), inert.end(), key) != inert.end();
    EXPECT_NE(is_inert, acted_on.count(key) == 1) << key;
  }
  // The sections the issue names, as whole sections.
  for (const char* section : {"http", "analytics", "componentsRoot", "localStudio", "mqtt"}) {
    EXPECT_NE(ReadConfig().find(std::string("\n") + section + ":"), std::string::npos) << section;
  }
  // Nothing HarperDB sets is reported as inert on a new node, and nothing is unknown.
  EXPECT_TRUE(config->InertKeysSet().empty());
  EXPECT_TRUE(config->UnknownKeysSet().empty());
}

// A file written by an older meshdb (few keys) keeps working unchanged: it is not rewritten,
// and get_configuration still shows HarperDB's sections at their defaults.
TEST_F(ConfigTest, OlderFileIsNotRewrittenAndShowsEveryKey) {
  const std::string old_file =
      "operationsApi:\n  network:\n    host: 127.0.0.1\n    port: 19925\n"
      "logging:\n  level: debug\n  stdStreams: true\nreplication:\n  securePort: null\n";
  WriteConfig(old_file);
  Result<Config> config = Config::Load(Options());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(ReadConfig(), old_file);
  json::value shown = config->RedactedTree();
  EXPECT_EQ(shown.at("http").at("securePort"), json::value(9926));
  EXPECT_EQ(shown.at("analytics").at("aggregatePeriod"), json::value(60));
  EXPECT_EQ(shown.at("componentsRoot"), json::value(root_ + "/components"));
  EXPECT_EQ(shown.at("localStudio").at("enabled"), json::value(true));
  EXPECT_EQ(shown.at("operationsApi").at("network").at("port"), json::value(19925));
  EXPECT_TRUE(config->InertKeysSet().empty());
  EXPECT_TRUE(config->UnknownKeysSet().empty());
}

TEST_F(ConfigTest, SecretsAreRedactedAndNothingElse) {
  Result<Config> config =
      LoadWith({}, {{"REPLICATION_CLUSTERKEY", "s3cret-key"},
                    {"DISCOVERY_AUTHORIZATION", "admin:pw"},
                    {"DISCOVERY_CONFIG", R"({"endpoints":["x"],"password":"p"})"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  json::value shown = config->RedactedTree();
  EXPECT_EQ(shown.at("replication").at("clusterKey"), json::value("[redacted]"));
  EXPECT_EQ(shown.at("discovery").at("authorization"), json::value("[redacted]"));
  EXPECT_EQ(shown.at("discovery").at("config").at("password"), json::value("[redacted]"));
  EXPECT_EQ(shown.at("discovery").at("config").at("endpoints"), json::value(json::array{"x"}));
  std::string text = json::serialize(shown);
  EXPECT_EQ(text.find("s3cret-key"), std::string::npos) << text;
  EXPECT_EQ(text.find("admin:pw"), std::string::npos) << text;
  // Only the secrets changed: the rest is the tree itself.
  json::value unredacted = config->tree();
  unredacted.as_object()["replication"].as_object()["clusterKey"] = "[redacted]";
  unredacted.as_object()["discovery"].as_object()["authorization"] = "[redacted]";
  unredacted.as_object()["discovery"].as_object()["config"].as_object()["password"] = "[redacted]";
  EXPECT_EQ(json::serialize(shown), json::serialize(unredacted));
}

// A HarperDB file (its dev defaults) starts meshdb; the inert keys it sets otherwise than
// meshdb's defaults are named, and so are the keys meshdb does not know.
TEST_F(ConfigTest, HarperDbFileNamesInertAndUnknownKeys) {
  WriteConfig(
      "http:\n  cors: true\n  corsAccessList:\n    - '*'\n  port: 9926\n  securePort: null\n"
      "  sessionAffinity: ip\n"
      "threads:\n  count: 1\n  debug: true\n"
      "logging:\n  stdStreams: true\n  rotation:\n    path: " +
      root_ +
      "/log\n"
      "componentsRoot: " +
      root_ +
      "/components\n"
      "clustering:\n  enabled: false\n  hubServer:\n    cluster:\n      network:\n"
      "        routes: null\n"
      "discovery:\n  config:\n    endpoints: [x]\n");
  Result<Config> config = Config::Load(Options());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->InertKeysSet(), (std::vector<std::string>{"http.cors", "http.corsAccessList",
                                                              "http.port", "threads.debug"}));
  EXPECT_EQ(config->UnknownKeysSet(),
            (std::vector<std::string>{"http.sessionAffinity", "clustering.enabled"}));
  // Every HarperDB key not acted on is in the inert list the docs describe.
  std::vector<std::string> inert = Config::InertKeys();
  for (const char* key : {"http.port", "mqtt.network.port", "analytics.aggregatePeriod",
                          "componentsRoot", "localStudio.enabled", "storage.caching",
                          "operationsApi.network.domainSocket", "logging.stdStreams"}) {
    EXPECT_NE(std::find(inert.begin(), inert.end(), key), inert.end()) << key;
  }
  for (const char* key : {"logging.level", "operationsApi.network.port", "rootPath"}) {
    EXPECT_EQ(std::find(inert.begin(), inert.end(), key), inert.end()) << key;
  }
}

// Inert keys are validated as HarperDB validates them, and are accepted from the CLI.
TEST_F(ConfigTest, InertKeysAreValidated) {
  struct Case {
    const char* key;
    const char* value;
    const char* message;
  };
  for (const Case& c : {
           Case{"LOCALSTUDIO_ENABLED", "yes", "'localStudio.enabled' must be a boolean, got 'yes'"},
           Case{"ANALYTICS_AGGREGATEPERIOD", "abc",
                "'analytics.aggregatePeriod' must be a number >= 0, got 'abc'"},
           Case{"STORAGE_COMPRESSION", "maybe",
                "'storage.compression' must be one of [boolean, object], got 'maybe'"},
           Case{"HTTP_PORT", "70000", "'http.port' must be a port number (1-65535), got '70000'"},
           Case{"HTTP_CORSACCESSLIST", "[1]",
                "'http.corsAccessList' must be an array of origins, got '[1]'"},
       }) {
    Result<Config> config = LoadWith({}, {{c.key, c.value}});
    ASSERT_FALSE(config.ok()) << c.key;
    EXPECT_EQ(config.status().message(), c.message);
  }
  Result<Config> config = LoadWith({}, {{"HTTP_PORT", "19926"},
                                        {"STORAGE_COMPRESSION", R"({"dictionary":null})"},
                                        {"THREADS_DEBUG", "true"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->InertKeysSet(),
            (std::vector<std::string>{"http.port", "threads.debug", "storage.compression"}));
}

TEST(LogRotationTest, SizesAndIntervalsInHarperDbUnits) {
  EXPECT_EQ(64000000u, *ParseLogSize("64M"));
  EXPECT_EQ(20000u, *ParseLogSize("20K"));
  EXPECT_EQ(2000000000u, *ParseLogSize("2G"));
  EXPECT_EQ(86400u, *ParseLogInterval("1D"));
  EXPECT_EQ(12u * 3600, *ParseLogInterval("12H"));
  EXPECT_EQ(30u * 60, *ParseLogInterval("30M"));  // minutes, as HarperDB reads M
  EXPECT_EQ(10u, *ParseLogInterval("10S"));
  for (const char* bad : {"", "64", "M", "0M", "1.5M", "64X", "-1M", "64MB"}) {
    EXPECT_FALSE(ParseLogSize(bad).ok()) << bad;
  }
  EXPECT_EQ(
      "InvalidArgument: 'soon' is not an interval such as \"1D\" (D days, H hours, M "
      "minutes, S seconds)",
      ParseLogInterval("soon").status().ToString());
}

TEST_F(ConfigTest, RotationAndMetricsSettings) {
  Result<Config> plain = LoadWith({});
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_TRUE(plain->settings().log_rotation_enabled);
  EXPECT_EQ(64000000u, plain->settings().log_rotation_max_bytes);
  EXPECT_EQ(0u, plain->settings().log_rotation_interval_s);
  EXPECT_TRUE(plain->settings().metrics_enabled);
  EXPECT_EQ((std::vector<std::string>{"127.0.0.0/8", "::1"}),
            plain->settings().metrics_allowed_ips);

  Result<Config> set = LoadWith({}, {{"LOGGING_ROTATION_MAXSIZE", "null"},
                                     {"LOGGING_ROTATION_INTERVAL", "12H"},
                                     {"METRICS_ALLOWEDIPS", "10.0.0.0/8,::1"},
                                     {"LOGGING_ROTATION_COMPRESS", "true"}});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(0u, set->settings().log_rotation_max_bytes);
  EXPECT_EQ(43200u, set->settings().log_rotation_interval_s);
  EXPECT_EQ((std::vector<std::string>{"10.0.0.0/8", "::1"}), set->settings().metrics_allowed_ips);
  EXPECT_EQ(set->InertKeysSet(), (std::vector<std::string>{"logging.rotation.compress"}));

  Result<Config> bad = LoadWith({}, {{"LOGGING_ROTATION_MAXSIZE", "64X"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(
      "InvalidArgument: 'logging.rotation.maxSize': '64X' is not a size such as \"64M\" "
      "(K, M or G: thousands, millions or billions of bytes)",
      bad.status().ToString());
  EXPECT_FALSE(LoadWith({}, {{"METRICS_ALLOWEDIPS", "[\"nope\"]"}}).ok());
}

TEST_F(ConfigTest, HashFunctionIsOneOfThree) {
  for (const char* name : {"md5", "sha256", "argon2id"}) {
    Result<Config> config = LoadWith({}, {{"AUTHENTICATION_HASHFUNCTION", name}});
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    EXPECT_EQ(config->settings().hash_function, name);
  }
  EXPECT_EQ(LoadWith({}, {})->settings().hash_function, "sha256");
  for (const char* other : {"bcrypt", "SHA256", ""}) {
    Result<Config> config = LoadWith({}, {{"AUTHENTICATION_HASHFUNCTION", other}});
    ASSERT_FALSE(config.ok()) << other;
    EXPECT_EQ(config.status().message(),
              "'authentication.hashFunction' must be one of [md5, sha256, argon2id]");
  }
}

TEST_F(ConfigTest, JsonRoutesFromEnv) {
  Result<Config> config = LoadWith(
      {{"REPLICATION_ROUTES", R"([{"hostname":"127.0.0.1","port":19933},"127.0.0.9:19999"])"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(json::serialize(config->settings().replication_routes),
            R"([{"hostname":"127.0.0.1","port":19933},"127.0.0.9:19999"])");
}

TEST_F(ConfigTest, ReplicationClusterKeyAndReconnectSettings) {
  Result<Config> config =
      LoadWith({{"REPLICATION_CLUSTERKEY", "s3cret"}},
               {{"replication.reconnectMinMs", "20"}, {"REPLICATION_RECONNECTMAXMS", "200"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->settings().replication_cluster_key, "s3cret");
  EXPECT_EQ(config->settings().replication_reconnect_min_ms, 20u);
  EXPECT_EQ(config->settings().replication_reconnect_max_ms, 200u);

  // A maximum below the minimum is refused, naming both.
  config =
      LoadWith({}, {{"replication.reconnectMinMs", "300"}, {"replication.reconnectMaxMs", "50"}});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            "'replication.reconnectMaxMs' (50) must not be below 'replication.reconnectMinMs' "
            "(300)");
  config = LoadWith({}, {{"replication.reconnectMinMs", "10000"}});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("(5000) must not be below"), std::string::npos)
      << config.status().message();

  // The URL peers dial must be one add_node would take.
  config = LoadWith({}, {{"REPLICATION_URL", "ftp://x"}});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("'replication.url' must be a ws:// or wss:// URL"),
            std::string::npos)
      << config.status().message();
  config = LoadWith({}, {{"REPLICATION_URL", "wss://node1.example:9933"}});
  EXPECT_TRUE(config.ok()) << config.status().ToString();

  config = LoadWith({}, {{"replication.reconnectMinMs", "0"}});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("'replication.reconnectMinMs' must be a positive"),
            std::string::npos)
      << config.status().message();
}

// Issue 9, insecure mode: replication.allowedIps is a list of IP addresses and CIDR blocks,
// empty by default; a bad entry stops the load with an error naming the key and the entry.
TEST_F(ConfigTest, ReplicationAllowedIps) {
  Result<Config> config = LoadWith({});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->settings().replication_allowed_ips.empty());
  EXPECT_NE(ReadConfig().find("allowedIps:"), std::string::npos) << ReadConfig();

  config = LoadWith({{"REPLICATION_ALLOWEDIPS", R"(["127.0.0.9","10.0.0.0/8","fd00::/8"])"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->settings().replication_allowed_ips,
            (std::vector<std::string>{"127.0.0.9", "10.0.0.0/8", "fd00::/8"}));

  // One string: entries separated by commas.
  config = LoadWith({}, {{"replication.allowedIps", "127.0.0.9, 192.168.0.0/16"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->settings().replication_allowed_ips,
            (std::vector<std::string>{"127.0.0.9", "192.168.0.0/16"}));

  config = LoadWith({{"REPLICATION_ALLOWEDIPS", "127.0.0.9"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->settings().replication_allowed_ips, std::vector<std::string>{"127.0.0.9"});

  WriteConfig("replication:\n  allowedIps:\n    - 127.0.0.7\n    - ::1\n");
  config = LoadWith({});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->settings().replication_allowed_ips,
            (std::vector<std::string>{"127.0.0.7", "::1"}));
}

TEST_F(ConfigTest, BadReplicationAllowedIpsNameTheKeyAndEntry) {
  struct Case {
    std::string value, message;
  };
  const Case cases[] = {
      {R"(["127.0.0.9","node2.example"])",
       "'replication.allowedIps': 'node2.example' is not an IP address or a CIDR block "
       "(10.0.0.0/8, fd00::/8)"},
      {R"(["10.0.0.0/33"])",
       "'replication.allowedIps': '10.0.0.0/33': the prefix length must be 0-32 for an IPv4 "
       "block"},
      {"10.0.0.1/8",
       "'replication.allowedIps': '10.0.0.1/8' has bits set past its /8 prefix (did you mean "
       "10.0.0.0/8?)"},
      {"127.0.0.1,,127.0.0.2",
       "'replication.allowedIps': '' is not an IP address or a CIDR block (10.0.0.0/8, "
       "fd00::/8)"},
      {"[42]",
       "'replication.allowedIps' must be an array of IP addresses and CIDR blocks, got "
       "'[42]'"},
      {"true",
       "'replication.allowedIps' must be an array of IP addresses and CIDR blocks, got "
       "'true'"},
  };
  for (const Case& c : cases) {
    Result<Config> config = LoadWith({}, {{"REPLICATION_ALLOWEDIPS", c.value}});
    ASSERT_FALSE(config.ok()) << c.value;
    EXPECT_TRUE(config.status().IsInvalidArgument());
    EXPECT_EQ(config.status().message(), c.message);
  }
}

TEST_F(ConfigTest, CertificateValidityDaysTakesFractionsAndRefusesTheRest) {
  Result<Config> config = LoadWith({});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->settings().certificate_validity_s, 90 * 86400);
  config = LoadWith({{"REPLICATION_CERTIFICATEVALIDITYDAYS", "0.5"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->settings().certificate_validity_s, 43200);
  for (const char* bad : {"0", "-1", "abc", "36501"}) {
    config = LoadWith({{"REPLICATION_CERTIFICATEVALIDITYDAYS", bad}});
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_NE(config.status().message().find(
                  "'replication.certificateValidityDays' must be a number > 0 (at most 36500)"),
              std::string::npos)
        << config.status().ToString();
  }
}

TEST_F(ConfigTest, SchemaFilesAreResolvedUnderTheRoot) {
  Result<Config> config = LoadWith({});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->settings().schema_files.empty());  // default: none besides schema.graphql

  config = LoadWith({{"SCHEMA_FILES", R"(["app/schema.graphql","/etc/meshdb/x.graphql"])"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_EQ(config->settings().schema_files.size(), 2u);
  EXPECT_EQ(config->settings().schema_files[0],
            (fs::path(root_) / "app/schema.graphql").lexically_normal().string());
  EXPECT_EQ(config->settings().schema_files[1], "/etc/meshdb/x.graphql");

  config = LoadWith({}, {{"schema.files", "[1]"}});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("'schema.files' must be an array of file names"),
            std::string::npos)
      << config.status().message();
  config = LoadWith({}, {{"schema.files", "x.graphql"}});
  EXPECT_FALSE(config.ok());
}

TEST_F(ConfigTest, InvalidValuesNameTheKey) {
  struct Case {
    std::string key, value, message;
  };
  const Case cases[] = {
      {"OPERATIONSAPI_NETWORK_PORT", "abc",
       "'operationsApi.network.port' must be a port number (0-65535), got 'abc'"},
      {"OPERATIONSAPI_NETWORK_PORT", "70000",
       "'operationsApi.network.port' must be a port number (0-65535), got '70000'"},
      {"REPLICATION_PORT", "0", "'replication.port' must be a port number (1-65535), got '0'"},
      {"LOGGING_LEVEL", "loud",
       "'logging.level' must be one of [notify, fatal, error, warn, info, debug, trace]"},
      {"STORAGE_WRITEASYNC", "maybe", "'storage.writeAsync' must be a boolean, got 'maybe'"},
      {"OPERATIONSAPI_NETWORK_MAXBODYSIZE", "0",
       "'operationsApi.network.maxBodySize' must be a positive integer, got '0'"},
      {"AUTHENTICATION_REFRESHTOKENTIMEOUT", "soon", "'authentication.refreshTokenTimeout'"},
      {"REPLICATION_ROUTES", "[42]", "'replication.routes' must be an array of strings"},
      {"REPLICATION_ROUTES", R"([{"hostname":"a","port":99999}])",
       "'replication.routes[0].port' must be a port number (1-65535), got '99999'"},
      {"REPLICATION_ROUTES", R"([{"port":9933}])", "'replication.routes[0]' must have"},
  };
  for (const Case& c : cases) {
    Result<Config> config = LoadWith({}, {{c.key, c.value}});
    ASSERT_FALSE(config.ok()) << c.key << "=" << c.value;
    EXPECT_TRUE(config.status().IsInvalidArgument());
    EXPECT_EQ(config.status().message().substr(0, c.message.size()), c.message)
        << config.status().message();
  }
}

// Issue 8 item 6: host names and URLs are capped (253 / 2048 characters) at start, with an
// error naming the key; values at the limit are accepted.
TEST_F(ConfigTest, OverLongHostNamesAndUrlsNameTheKey) {
  const std::string host_253(253, 'h');
  const std::string host_254(254, 'h');
  const std::string url_path(2048 - std::string("ws://h:1/").size(), 'p');
  struct Case {
    std::string key, value, message;
  };
  const Case cases[] = {
      {"REPLICATION_HOSTNAME", host_254,
       "'replication.hostname' length must be less than or equal to 253 characters long"},
      {"OPERATIONSAPI_NETWORK_HOST", host_254,
       "'operationsApi.network.host' length must be less than or equal to 253 characters long"},
      {"REPLICATION_URL", "ws://h:1/" + url_path + "p",
       "'replication.url' length must be less than or equal to 2048 characters long"},
      {"REPLICATION_URL", "ws://" + host_254 + ":1",
       "'replication.url' host length must be less than or equal to 253 characters long"},
      {"REPLICATION_ROUTES", R"(["ws://h:1/)" + url_path + R"(p"])",
       "'replication.routes[0]' length must be less than or equal to 2048 characters long"},
      {"REPLICATION_ROUTES", R"(["a", ")" + host_254 + R"(:9925"])",
       "'replication.routes[1]' host length must be less than or equal to 253 characters long"},
      {"REPLICATION_ROUTES", R"([{"hostname":")" + host_254 + R"("}])",
       "'replication.routes[0].hostname' length must be less than or equal to 253 characters "
       "long"},
      {"CLUSTERING_HUBSERVER_CLUSTER_NETWORK_ROUTES", R"([{"host":")" + host_254 + R"("}])",
       "'clustering.hubServer.cluster.network.routes[0].host' length must be less than or equal "
       "to 253 characters long"},
  };
  for (const Case& c : cases) {
    Result<Config> config = LoadWith({}, {{c.key, c.value}});
    ASSERT_FALSE(config.ok()) << c.key << " (" << c.value.size() << " characters)";
    EXPECT_TRUE(config.status().IsInvalidArgument());
    EXPECT_EQ(config.status().message(), c.message);
  }
  Result<Config> at_limit =
      LoadWith({}, {{"REPLICATION_HOSTNAME", host_253},
                    {"REPLICATION_URL", "ws://h:1/" + url_path},
                    {"REPLICATION_ROUTES",
                     R"([")" + host_253 + R"(:9925", {"hostname":")" + host_253 + R"("}])"}});
  ASSERT_TRUE(at_limit.ok()) << at_limit.status().ToString();
  EXPECT_EQ(at_limit->settings().replication_hostname, host_253);
  EXPECT_EQ(at_limit->settings().replication_url.size(), 2048u);
}

TEST_F(ConfigTest, PortZeroMeansAnyForTheOperationsApi) {
  Result<Config> config = LoadWith({}, {{"OPERATIONSAPI_NETWORK_PORT", "0"}});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->settings().operations_port, 0);
}

// HarperDB's production file: no plain port, the operations API on HTTPS only.
TEST_F(ConfigTest, NullPortServesTheOperationsApiOnTheSecurePortOnly) {
  WriteConfig("operationsApi:\n  network:\n    port: null\n    securePort: 9925\n");
  Result<Config> config = Config::Load(Options());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_FALSE(config->settings().operations_port.has_value());
  EXPECT_EQ(config->settings().operations_secure_port, 9925);
}

TEST_F(ConfigTest, NullPortWithoutASecurePortIsRefused) {
  Result<Config> config = LoadWith({}, {{"OPERATIONSAPI_NETWORK_PORT", "null"}});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            "'operationsApi.network.port' is null, so 'operationsApi.network.securePort' must be "
            "set: the operations API needs a port");
}

TEST_F(ConfigTest, InvalidFileIsReported) {
  WriteConfig("logging:\n  level: [unclosed\n");
  Result<Config> config = Config::Load(Options());
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find(FilePath()), std::string::npos)
      << config.status().message();

  WriteConfig("logging:\n  level: shouty\n");
  config = Config::Load(Options());
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("'logging.level'"), std::string::npos);
}

TEST_F(ConfigTest, SetInFileWritesCastValuesAndBacksUp) {
  ASSERT_TRUE(Config::Load(Options()).ok());
  std::string before = ReadConfig();
  json::object flat;
  flat["logging_level"] = "debug";
  flat["AUTHENTICATION_AUTHORIZELOCAL"] = "true";
  flat["replication_routes"] = R"(["127.0.0.2:9933"])";
  flat["replication_port"] = 9940;
  flat["not_a_key"] = "ignored";
  flat["operation"] = "set_configuration";
  Result<Config::SetReport> report = Config::SetInFile(FilePath(), BackupDir(), flat);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  // boost::json::object keeps insertion order: the report follows the request.
  EXPECT_EQ(report->keys,
            (std::vector<std::string>{"logging.level", "authentication.authorizeLocal",
                                      "replication.routes", "replication.port"}));
  EXPECT_TRUE(report->inert.empty());
  EXPECT_EQ(report->ignored, (std::vector<std::string>{"not_a_key", "operation"}));

  ASSERT_EQ(BackupCount(), 1u);
  fs::path backup = fs::directory_iterator(BackupDir())->path();
  std::string name = backup.filename().string();
  EXPECT_NE(name.find("-harperdb-config.yaml.bak"), std::string::npos) << name;
  EXPECT_EQ(name.find(':'), std::string::npos) << name;
  EXPECT_EQ(name[4], '-');
  EXPECT_EQ(name[10], 'T');
  std::ifstream in(backup);
  std::ostringstream backup_text;
  backup_text << in.rdbuf();
  EXPECT_EQ(backup_text.str(), before);

  Result<Config> config = Config::Load(Options());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->settings().log_level, "debug");
  EXPECT_TRUE(config->settings().authorize_local);
  EXPECT_EQ(config->settings().replication_port, 9940);
  EXPECT_EQ(json::serialize(config->settings().replication_routes), R"(["127.0.0.2:9933"])");
  EXPECT_EQ(ReadConfig().find("not_a_key"), std::string::npos);
  EXPECT_EQ(ReadConfig().find("operation:"), std::string::npos);
}

TEST_F(ConfigTest, SetInFileMatchesKeysPresentInTheFile) {
  WriteConfig("http:\n  port: 9926\nclustering:\n  enabled: false\n");
  json::object flat;
  flat["HTTP_PORT"] = "19926";
  flat["CLUSTERING_ENABLED"] = "true";  // unknown to meshdb, but in the file
  Result<Config::SetReport> report = Config::SetInFile(FilePath(), BackupDir(), flat);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  // http.port is HarperDB's and inert; clustering.enabled is unknown but was in the file:
  // both are written and both are reported as not acted on.
  EXPECT_EQ(report->keys, (std::vector<std::string>{"http.port", "clustering.enabled"}));
  EXPECT_EQ(report->inert, (std::vector<std::string>{"http.port", "clustering.enabled"}));
  EXPECT_TRUE(report->ignored.empty());
  Result<Config> config = Config::Load(Options());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->tree().at("http").at("port"), json::value(19926));
}

TEST_F(ConfigTest, SetInFileInvalidLeavesFileUntouched) {
  ASSERT_TRUE(Config::Load(Options()).ok());
  std::string before = ReadConfig();
  json::object flat;
  flat["logging_level"] = "debug";
  flat["logging_level"] = "verbose";
  Status s = Config::SetInFile(FilePath(), BackupDir(), flat).status();
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(s.message(),
            "'logging.level' must be one of [notify, fatal, error, warn, info, debug, trace]");
  EXPECT_EQ(ReadConfig(), before);
  EXPECT_EQ(BackupCount(), 0u);

  flat = json::object();
  flat["replication_routes"] = R"([{"hostname":"x","port":"no"}])";
  s = Config::SetInFile(FilePath(), BackupDir(), flat).status();
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("'replication.routes[0].port'"), std::string::npos) << s.message();
  EXPECT_EQ(ReadConfig(), before);
}

TEST_F(ConfigTest, SetPathInFileReplacesOneValue) {
  ASSERT_TRUE(Config::Load(Options()).ok());
  json::value routes = json::parse(R"([{"hostname":"127.0.0.5","port":9933}])");
  Status s = Config::SetPathInFile(FilePath(), BackupDir(), "replication.routes", routes);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(BackupCount(), 1u);
  Result<Config> config = Config::Load(Options());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(json::serialize(config->settings().replication_routes),
            R"([{"hostname":"127.0.0.5","port":9933}])");
  EXPECT_EQ(config->settings().operations_port, 9925);

  s = Config::SetPathInFile(FilePath(), BackupDir(), "replication.routes", json::value(7));
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(BackupCount(), 1u);
}

TEST_F(ConfigTest, StringsThatLookLikeOtherTypesSurviveARoundTrip) {
  ASSERT_TRUE(Config::Load(Options()).ok());
  json::value value = json::string("true");
  ASSERT_TRUE(Config::SetPathInFile(FilePath(), BackupDir(), "custom.flag", value).ok());
  ASSERT_TRUE(
      Config::SetPathInFile(FilePath(), BackupDir(), "custom.num", json::string("0123")).ok());
  ASSERT_TRUE(
      Config::SetPathInFile(FilePath(), BackupDir(), "custom.empty", json::string("")).ok());
  Result<Config> config = Config::Load(Options());
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->tree().at("custom").at("flag"), json::value("true"));
  EXPECT_EQ(config->tree().at("custom").at("num"), json::value("0123"));
  EXPECT_EQ(config->tree().at("custom").at("empty"), json::value(""));
}

TEST(ParseDurationSecondsTest, Units) {
  EXPECT_EQ(*ParseDurationSeconds("1d"), 86400u);
  EXPECT_EQ(*ParseDurationSeconds("30d"), 30u * 86400u);
  EXPECT_EQ(*ParseDurationSeconds("12h"), 12u * 3600u);
  EXPECT_EQ(*ParseDurationSeconds("15m"), 900u);
  EXPECT_EQ(*ParseDurationSeconds("45s"), 45u);
  EXPECT_EQ(*ParseDurationSeconds("500"), 500u);
  EXPECT_FALSE(ParseDurationSeconds("").ok());
  EXPECT_FALSE(ParseDurationSeconds("d").ok());
  EXPECT_FALSE(ParseDurationSeconds("1w").ok());
  EXPECT_FALSE(ParseDurationSeconds("-1d").ok());
  EXPECT_TRUE(ParseDurationSeconds("x").status().IsInvalidArgument());
}

}  // namespace
}  // namespace meshdb::config
