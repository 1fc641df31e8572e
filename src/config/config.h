// Node configuration: harperdb-config.yaml, overridden by environment variables, overridden
// by command-line `--KEY value` pairs (CLI wins), with HarperDB's key names.
//
// A flattened key is the path joined by '_' and matched case-insensitively against the known
// keys: OPERATIONSAPI_NETWORK_PORT -> operationsApi.network.port. Values are cast as
// HarperDB casts them: "true"/"false" -> booleans, numeric strings -> numbers, strings
// starting with '[' or '{' -> parsed JSON. Environment variables that match no known key
// are ignored (the environment holds many unrelated variables); a CLI key that matches none
// is an error.
//
// The file is written with documented defaults (docs/configuration.md) on first start.
// Overrides are not written back to the file: they apply to this run.
//
// Thread-safety: a Config is immutable after Load; the static file helpers serialise their
// own file access.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace meshdb::config {

// The typed, validated view of the keys the server uses. Defaults in brackets.
struct Settings {
  std::string root_path;        // rootPath [the --root directory, "./data"]
  std::string operations_host;  // operationsApi.network.host ["127.0.0.1"]
  // operationsApi.network.port [9925]; 0 picks any free port. Empty when the file sets it to
  // null, as HarperDB's production default does: the operations API is then served on
  // operations_secure_port only (validation requires one of the two).
  std::optional<int> operations_port = 9925;
  uint64_t max_body_bytes = 0;  // operationsApi.network.maxBodySize [104857600]
  int threads = 0;              // threads.count [0: one per core]
  std::string log_level;        // logging.level ["info"]
  std::string log_dir;          // logging.root ["<root>/log"]
  // logging.rotation.enabled [true], .maxSize ["64M": 64,000,000 bytes; 0 when null],
  // .interval [null: 0]: hdb.log is renamed hdb.1.log (older ones shifted up, the 10 newest
  // kept) when it reaches maxSize or interval after it was opened (docs/operations.md).
  bool log_rotation_enabled = true;
  uint64_t log_rotation_max_bytes = 0;
  uint64_t log_rotation_interval_s = 0;
  // metrics.enabled [true], metrics.allowedIps [["127.0.0.0/8", "::1"]]: who may read
  // GET /metrics (docs/operations.md). Null allowedIps reads as the default; [] allows nobody.
  bool metrics_enabled = true;
  std::vector<std::string> metrics_allowed_ips;
  bool authorize_local = false;                  // authentication.authorizeLocal [false]
  uint64_t operation_token_timeout_s = 0;        // authentication.operationTokenTimeout ["1d"]
  uint64_t refresh_token_timeout_s = 0;          // authentication.refreshTokenTimeout ["30d"]
  uint64_t auth_cache_ttl_ms = 0;                // authentication.cacheTTL [30000]
  std::string hash_function;                     // authentication.hashFunction ["sha256"]
  std::string storage_path;                      // storage.path ["<root>/database"]
  bool storage_write_async = false;              // storage.writeAsync [false: durable commits]
  std::string replication_hostname;              // replication.hostname [""]
  std::string replication_url;                   // replication.url [""]
  int replication_port = 0;                      // replication.port [0: unset]
  int replication_secure_port = 0;               // replication.securePort [9933; 0: null]
  int operations_secure_port = 0;                // operationsApi.network.securePort [0: unset]
  bool replication_enable_root_cas = true;       // replication.enableRootCAs [true]
  boost::json::value replication_routes;         // replication.routes [null]
  boost::json::value replication_databases;      // replication.databases ["*"]
  std::string replication_cluster_key;           // replication.clusterKey ["": none]
  uint32_t replication_reconnect_min_ms = 100;   // replication.reconnectMinMs [100]
  uint32_t replication_reconnect_max_ms = 5000;  // replication.reconnectMaxMs [5000]
  uint64_t replication_log_retention_s = uint64_t{7} * 86400;  // replication.logRetention ["7d"]
  uint64_t replication_log_retention_bytes = 1ull << 30;  // replication.logRetentionBytes [1 GiB]
  uint32_t replication_log_trim_interval_ms = 60000;      // replication.logTrimIntervalMs [60000]
  bool replication_copy_stored_rows = true;               // replication.copyStoredRows [true]
  // replication.allowedIps [[]]: IP addresses and CIDR blocks whose plain ws:// replication
  // links are accepted besides routes' and members' addresses (docs/security.md).
  std::vector<std::string> replication_allowed_ips;
  // schema.files [[]]: GraphQL schema files loaded at start besides <root>/schema.graphql
  // (when present); relative paths are resolved under rootPath.
  std::vector<std::string> schema_files;
  // TLS files (docs/security.md), absolute: relative paths are resolved under rootPath.
  // "" when unset: the node generates its own under <root>/keys.
  std::string tls_certificate;            // tls.certificate [""]
  std::string tls_private_key;            // tls.privateKey [""]
  std::string tls_certificate_authority;  // tls.certificateAuthority [""]
  std::string tls_ciphers;                // tls.ciphers ["": the listeners' default list]
  // operationsApi.tls.{certificate,privateKey,certificateAuthority} [""]: the operations API's
  // own certificate instead of the node's.
  std::string ops_tls_certificate;
  std::string ops_tls_private_key;
  std::string ops_tls_certificate_authority;
  // replication.certificateValidityDays [90], in seconds: lifetime of the node certificates
  // this node generates or signs. Short enough that a leaked key ages out within a season,
  // long enough that a node renewing at a third of its validity left has a month of margin.
  // Fractions of a day are allowed (tests use seconds).
  int64_t certificate_validity_s = int64_t{90} * 86400;
  // Self-forming clusters (docs/discovery.md): discovery.mode (--disco-mode) ["": off],
  // discovery.config (--disco-config: an object, JSON text or a JSON file's path, parsed at
  // start by discovery/discovery_settings.h) [null], discovery.key (--disco-key) ["meshdb"],
  // discovery.authorization (the credentials joins present; a secret: never logged or
  // returned) [""].
  std::string discovery_mode;
  boost::json::value discovery_config;
  std::string discovery_key = "meshdb";
  std::string discovery_authorization;
};

struct LoadOptions {
  std::string root;                        // --root; "" means "./data"
  std::string config_file;                 // --config; "" means <root>/harperdb-config.yaml
  std::map<std::string, std::string> env;  // the process environment
  std::vector<std::pair<std::string, std::string>> cli;  // --KEY value pairs, in order
};

class Config {
 public:
  // Reads (or first writes) the file, applies env then CLI overrides, validates.
  // InvalidArgument naming the key ("'operationsApi.network.port' must be a port number
  // (1-65535), got 'abc'") when a value is invalid; IOError when the file cannot be read or
  // written.
  static Result<Config> Load(const LoadOptions& options);

  [[nodiscard]] const Settings& settings() const { return settings_; }
  [[nodiscard]] const std::string& file_path() const { return file_path_; }
  // The effective configuration (file + overrides) as a JSON tree, for get_configuration.
  [[nodiscard]] const boost::json::value& tree() const { return tree_; }
  // tree() with every secret replaced by "[redacted]" (the keys key_table.cc marks secret:
  // replication.clusterKey, discovery.authorization; and discovery.config's password and
  // token): what get_configuration shows.
  [[nodiscard]] boost::json::value RedactedTree() const;

  // Keys accepted (validated, kept in the file, shown by get_configuration) but not acted on:
  // HarperDB's keys for the parts meshdb does not have or does its own way (http.*, mqtt.*,
  // analytics.*, componentsRoot, localStudio.enabled, logging.stdStreams, ...; the table in
  // key_table.cc, listed in docs/configuration.md). InertKeysSet() returns those this
  // configuration sets to anything but null or their default, in table order; the server
  // warns about them at start.
  [[nodiscard]] std::vector<std::string> InertKeysSet() const;
  static std::vector<std::string> InertKeys();
  // Leaves of the configuration that meshdb does not know at all (a HarperDB file's
  // clustering.enabled, http.sessionAffinity, ...): kept in the file, shown by
  // get_configuration, not checked and not acted on; the server names them at start.
  [[nodiscard]] std::vector<std::string> UnknownKeysSet() const;

  // What SetInFile wrote, by dotted path.
  struct SetReport {
    std::vector<std::string> keys;  // every key written, in request order
    // Of those, the keys meshdb does not act on: inert ones and keys it does not know that
    // were already in the file.
    std::vector<std::string> inert;
    std::vector<std::string> ignored;  // the request's keys that matched nothing (not written)
  };

  // set_configuration: `flat` maps flattened keys (replication_routes, logging_level, ...)
  // to values (cast as above). Unknown keys are ignored, as HarperDB does (and listed in the
  // report). The merged file
  // is validated first (InvalidArgument naming the key; nothing written), then the old file
  // is copied to <root>/backup/<time>-harperdb-config.yaml.bak and the new one written.
  static Result<SetReport> SetInFile(const std::string& file_path, const std::string& backup_dir,
                                     const boost::json::object& flat);

  // Replaces the value at a dotted path (e.g. "replication.routes") in the file, keeping the
  // rest; used by cluster_set_routes. Validates and backs up as SetInFile does.
  // The dotted path of a flattened key as set_configuration and env vars name it
  // ("LOGGING_LEVEL", "log_level" -> "logging.level"), or "" when meshdb knows no such key.
  static std::string KnownKeyPath(std::string_view flat_key);

  static Status SetPathInFile(const std::string& file_path, const std::string& backup_dir,
                              const std::string& dotted_path, const boost::json::value& value);

 private:
  Settings settings_;
  std::string file_path_;
  boost::json::value tree_;
};

// `tree` as block YAML (the CLI's output; strings that would read back as another type are
// quoted).
std::string FormatYaml(const boost::json::value& tree);

// Parses "1d", "30d", "12h", "15m", "45s", "500" (seconds) into seconds.
Result<uint64_t> ParseDurationSeconds(const std::string& text);
// logging.rotation.maxSize, as HarperDB reads it: "64M" -> 64000000 (K, M, G are powers of
// 1000). InvalidArgument for anything else (no unit, zero, a fraction).
Result<uint64_t> ParseLogSize(const std::string& text);
// logging.rotation.interval in seconds: "1D", "12H", "30M" (minutes, as HarperDB reads it),
// and "10S" (seconds: meshdb's addition). InvalidArgument for anything else.
Result<uint64_t> ParseLogInterval(const std::string& text);

}  // namespace meshdb::config
