// The table of configuration keys: every key meshdb knows, how it is checked, the value a new
// file gets, and whether meshdb acts on it. HarperDB's keys, names and defaults are those of
// HarperDB 4.7.29's installed harperdb-config.yaml (its package default, with the paths the
// installer fills in); where meshdb acts on a key its own default is used (the operations API
// on plain HTTP 9925, logging.level info, threads.count 0, tls.privateKey unset).
// docs/configuration.md describes each key; keep the two in step (key_docs_test.cc checks).
#include <boost/json/parse.hpp>
#include <boost/json/string.hpp>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "config/known_keys.h"

namespace meshdb::config::internal {

namespace json = boost::json;

namespace {

constexpr KeyUse kActed = KeyUse::kActedOn;
constexpr KeyUse kInert = KeyUse::kInert;
constexpr std::string_view kRootMarker = "<root>";

}  // namespace

const std::vector<KeyInfo>& KnownKeys() {
  using K = KeyKind;
  static const std::vector<KeyInfo> keys = {
      // HarperDB's application HTTP server (components, REST, MQTT over WebSocket): meshdb
      // serves only the operations API.
      {"http.compressionThreshold", K::kNonNegativeInt, "0", kInert},
      {"http.cors", K::kBool, "false", kInert},
      {"http.corsAccessList", K::kOriginList, "[null]", kInert},
      {"http.keepAliveTimeout", K::kNonNegativeInt, "30000", kInert},
      {"http.port", K::kPort, "null", kInert},
      {"http.securePort", K::kPort, "9926", kInert},
      {"http.mtls", K::kBoolOrObject, "false", kInert},
      {"http.http2", K::kBool, "false", kInert},
      {"http.timeout", K::kNonNegativeInt, "120000", kInert},
      {"threads.count", K::kNonNegativeInt, "0", kActed},
      {"threads.debug", K::kBoolOrObject, "false", kInert},
      {"authentication.authorizeLocal", K::kBool, "false", kActed},
      {"authentication.cacheTTL", K::kNonNegativeInt, "30000", kActed},
      {"authentication.enableSessions", K::kBool, "true", kInert},
      {"authentication.operationTokenTimeout", K::kDuration, R"("1d")", kActed},
      {"authentication.refreshTokenTimeout", K::kDuration, R"("30d")", kActed},
      {"authentication.hashFunction", K::kHashFunction, R"("sha256")", kActed},
      {"analytics.aggregatePeriod", K::kNumber, "60", kInert},
      {"analytics.replicate", K::kBool, "false", kInert},
      // wss:// by default, as HarperDB: a new node's own URL is wss://<name>:9933 (an explicit
      // replication.port still comes first and gives ws://; null turns the listener off).
      {"replication.securePort", K::kPort, "9933", kActed},
      {"replication.enableRootCAs", K::kBool, "true", kActed},
      {"replication.hostname", K::kHostName, "null", kActed},
      {"replication.databases", K::kDatabases, R"("*")", kActed},
      {"replication.routes", K::kRoutes, "null", kActed},
      {"replication.url", K::kUrl, "null", kActed},
      {"replication.port", K::kPort, "null", kActed},
      {"replication.clusterKey", K::kString, "null", kActed, /*secret=*/true},
      {"replication.allowedIps", K::kIpList, "[]", kActed},
      {"replication.reconnectMinMs", K::kPositiveInt, "100", kActed},
      {"replication.reconnectMaxMs", K::kPositiveInt, "5000", kActed},
      {"replication.logRetention", K::kDuration, R"("7d")", kActed},
      {"replication.logRetentionBytes", K::kPositiveInt, "1073741824", kActed},
      {"replication.logTrimIntervalMs", K::kPositiveInt, "60000", kActed},
      {"replication.copyStoredRows", K::kBool, "true", kActed},
      {"replication.certificateValidityDays", K::kPositiveNumber, "90", kActed},
      {"componentsRoot", K::kString, R"("<root>/components")", kInert},
      // meshdb's console (docs/console.md) is always served at GET /.
      {"localStudio.enabled", K::kBool, "true", kInert},
      {"logging.auditAuthEvents.logFailed", K::kBool, "false", kInert},
      {"logging.auditAuthEvents.logSuccessful", K::kBool, "false", kInert},
      {"logging.auditLog", K::kBool, "true", kInert},
      {"logging.auditRetention", K::kDuration, R"("3d")", kInert},
      // meshdb always writes hdb.log.
      {"logging.file", K::kBool, "true", kInert},
      {"logging.level", K::kLogLevel, R"("info")", kActed},
      {"logging.root", K::kString, R"("<root>/log")", kActed},
      {"logging.rotation.enabled", K::kBool, "true", kActed},
      // meshdb does not compress rotated logs and keeps them next to hdb.log.
      {"logging.rotation.compress", K::kBool, "false", kInert},
      {"logging.rotation.interval", K::kLogInterval, "null", kActed},
      {"logging.rotation.maxSize", K::kLogSize, R"("64M")", kActed},
      {"logging.rotation.path", K::kString, R"("<root>/log")", kInert},
      // meshdb always logs to stderr as well.
      {"logging.stdStreams", K::kBool, "true", kInert},
      {"mqtt.network.port", K::kPort, "1883", kInert},
      {"mqtt.network.securePort", K::kPort, "8883", kInert},
      {"mqtt.network.mtls", K::kBoolOrObject, "false", kInert},
      {"mqtt.webSocket", K::kBool, "true", kInert},
      {"mqtt.requireAuthentication", K::kBool, "true", kInert},
      // meshdb answers CORS requests from any origin (net/http_handler.cc) and has no unix
      // socket.
      {"operationsApi.network.cors", K::kBool, "true", kInert},
      {"operationsApi.network.corsAccessList", K::kOriginList, R"(["*"])", kInert},
      {"operationsApi.network.domainSocket", K::kString, R"("<root>/operations-server")", kInert},
      {"operationsApi.network.port", K::kPortOrAny, "9925", kActed},
      {"operationsApi.network.securePort", K::kPort, "null", kActed},
      {"operationsApi.network.host", K::kHostName, R"("127.0.0.1")", kActed},
      {"operationsApi.network.maxBodySize", K::kPositiveInt, "104857600", kActed},
      {"operationsApi.tls.certificate", K::kString, "null", kActed},
      {"operationsApi.tls.privateKey", K::kString, "null", kActed},
      {"operationsApi.tls.certificateAuthority", K::kString, "null", kActed},
      {"rootPath", K::kString, R"("<root>")", kActed},
      {"storage.writeAsync", K::kBool, "false", kActed},
      {"storage.caching", K::kBool, "true", kInert},
      {"storage.compression", K::kBoolOrObject, "true", kInert},
      {"storage.noReadAhead", K::kBool, "false", kInert},
      {"storage.path", K::kString, R"("<root>/database")", kActed},
      {"storage.prefetchWrites", K::kBool, "true", kInert},
      // Unset: the node generates its own certificate under <root>/keys (docs/security.md).
      {"tls.certificate", K::kString, "null", kActed},
      {"tls.privateKey", K::kString, "null", kActed},
      {"tls.certificateAuthority", K::kString, "null", kActed},
      {"tls.ciphers", K::kString, "null", kActed},
      // meshdb's own sections.
      {"metrics.enabled", K::kBool, "true", kActed},
      {"metrics.allowedIps", K::kIpList, R"(["127.0.0.0/8", "::1"])", kActed},
      {"schema.files", K::kStringList, "[]", kActed},
      {"clustering.hubServer.cluster.network.routes", K::kRoutes, "null", kActed},
      {"discovery.mode", K::kDiscoveryMode, "null", kActed},
      {"discovery.config", K::kObjectOrText, "null", kActed},
      {"discovery.key", K::kDiscoveryKey, R"("meshdb")", kActed},
      {"discovery.authorization", K::kString, "null", kActed, /*secret=*/true},
  };
  return keys;
}

json::value DefaultValue(const KeyInfo& info, const std::string& root) {
  // The table is constant: a default that does not parse is a bug (config_test loads them all).
  boost::system::error_code ec;
  json::value value = json::parse(info.default_json, ec);
  if (ec) {
    std::fprintf(stderr, "meshdb: bad default for %s in key_table.cc\n", info.path);
    std::abort();
  }
  if (value.is_string()) {
    std::string_view text = value.get_string();
    if (text.substr(0, kRootMarker.size()) == kRootMarker) {
      value = json::string(root + std::string(text.substr(kRootMarker.size())));
    }
  }
  return value;
}

}  // namespace meshdb::config::internal
