#include "config/config.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "config/known_keys.h"
#include "config/validate.h"
#include "config/yaml_json.h"

namespace meshdb::config {

namespace json = boost::json;
namespace fs = std::filesystem;
using internal::FindPath;
using internal::ReadBool;
using internal::ReadInt;
using internal::ReadNumber;
using internal::ReadString;

namespace {

constexpr char kFileName[] = "harperdb-config.yaml";
constexpr char kHeader[] =
    "meshdb node configuration, with HarperDB's key names.\n"
    "Every key, its default and its meaning: docs/configuration.md.\n"
    "Environment variables and --KEY value arguments override these values for one run;\n"
    "they are not written back to this file.";

// Serialises the read-modify-write of config files within this process.
std::mutex& FileMutex() {
  static std::mutex mu;
  return mu;
}

std::string ErrnoText(const std::string& what, const std::string& path) {
  return what + " '" + path + "': " + std::strerror(errno);
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError(ErrnoText("cannot read", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::IOError(ErrnoText("cannot read", path));
  return text.str();
}

// Writes `content` to a temporary file beside `path`, fsyncs it and renames it over `path`,
// so a reader sees either the old file or the new one.
Status WriteFileAtomically(const std::string& path, const std::string& content) {
  std::error_code ec;
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) return Status::IOError("cannot create '" + parent.string() + "': " + ec.message());
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError(ErrnoText("cannot create", tmp));
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Status::IOError(ErrnoText("cannot write", tmp));
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    Status s = Status::IOError(ErrnoText("cannot sync", tmp));
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Status::IOError(ErrnoText("cannot rename onto", path));
    ::unlink(tmp.c_str());
    return s;
  }
  return Status::Ok();
}

// "2024-05-01T12-34-56.789Z": ISO 8601 UTC with '-' for ':' (HarperDB's backup names).
std::string BackupTimestamp() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H-%M-%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

Status BackupFile(const std::string& file_path, const std::string& backup_dir) {
  std::error_code ec;
  if (!fs::exists(file_path, ec)) return Status::Ok();
  fs::create_directories(backup_dir, ec);
  if (ec) return Status::IOError("cannot create '" + backup_dir + "': " + ec.message());
  std::string base = (fs::path(backup_dir) / (BackupTimestamp() + "-" + kFileName)).string();
  std::string target = base + ".bak";
  for (int i = 1; fs::exists(target, ec); ++i) target = base + "." + std::to_string(i) + ".bak";
  fs::copy_file(file_path, target, ec);
  if (ec)
    return Status::IOError("cannot back up '" + file_path + "' to '" + target +
                           "': " + ec.message());
  return Status::Ok();
}

std::string AbsolutePath(const std::string& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (ec) return path;
  return abs.lexically_normal().string();
}

// A path from the config, made absolute relative to the root.
std::string ResolveUnder(const std::string& root, const std::string& path) {
  if (path.empty()) return path;
  fs::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  return (fs::path(root) / p).lexically_normal().string();
}

uint64_t ReadDurationSeconds(const json::value& tree, const char* path, uint64_t fallback) {
  const json::value* v = FindPath(tree, path);
  if (v == nullptr || v->is_null()) return fallback;
  if (v->is_string()) {
    Result<uint64_t> parsed = ParseDurationSeconds(std::string(v->get_string()));
    if (parsed.ok()) return *parsed;
  }
  int64_t n = ReadInt(tree, path, -1);
  return n < 0 ? fallback : static_cast<uint64_t>(n);
}

json::value ReadJson(const json::value& tree, const char* path) {
  const json::value* v = FindPath(tree, path);
  return v == nullptr ? json::value(nullptr) : *v;
}

Settings ToSettings(const json::value& tree, const std::string& root) {
  Settings s;
  s.root_path = AbsolutePath(ReadString(tree, "rootPath", root));
  s.operations_host = ReadString(tree, "operationsApi.network.host", "127.0.0.1");
  if (const json::value* port = FindPath(tree, "operationsApi.network.port");
      port != nullptr && port->is_null()) {
    s.operations_port.reset();
  } else {
    s.operations_port = static_cast<int>(ReadInt(tree, "operationsApi.network.port", 9925));
  }
  s.max_body_bytes =
      static_cast<uint64_t>(ReadInt(tree, "operationsApi.network.maxBodySize", 104857600));
  s.threads = static_cast<int>(ReadInt(tree, "threads.count", 0));
  s.log_level = ReadString(tree, "logging.level", "info");
  s.log_dir = ResolveUnder(s.root_path, ReadString(tree, "logging.root", "log"));
  s.log_rotation_enabled = ReadBool(tree, "logging.rotation.enabled", true);
  // Validated already: "" (null or missing) is the only text that does not parse.
  Result<uint64_t> max_bytes = ParseLogSize(ReadString(tree, "logging.rotation.maxSize", ""));
  s.log_rotation_max_bytes = max_bytes.ok() ? *max_bytes : 0;
  Result<uint64_t> interval = ParseLogInterval(ReadString(tree, "logging.rotation.interval", ""));
  s.log_rotation_interval_s = interval.ok() ? *interval : 0;
  s.metrics_enabled = ReadBool(tree, "metrics.enabled", true);
  if (const json::value* ips = FindPath(tree, "metrics.allowedIps"); ips && !ips->is_null()) {
    s.metrics_allowed_ips = internal::ReadIpList(tree, "metrics.allowedIps");
  } else {
    s.metrics_allowed_ips = {"127.0.0.0/8", "::1"};
  }
  s.authorize_local = ReadBool(tree, "authentication.authorizeLocal", false);
  s.operation_token_timeout_s =
      ReadDurationSeconds(tree, "authentication.operationTokenTimeout", 86400);
  s.refresh_token_timeout_s =
      ReadDurationSeconds(tree, "authentication.refreshTokenTimeout", uint64_t{30} * 86400);
  s.auth_cache_ttl_ms = static_cast<uint64_t>(ReadInt(tree, "authentication.cacheTTL", 30000));
  s.hash_function = ReadString(tree, "authentication.hashFunction", "sha256");
  s.storage_path = ResolveUnder(s.root_path, ReadString(tree, "storage.path", "database"));
  s.storage_write_async = ReadBool(tree, "storage.writeAsync", false);
  s.replication_hostname = ReadString(tree, "replication.hostname", "");
  s.replication_url = ReadString(tree, "replication.url", "");
  s.replication_port = static_cast<int>(ReadInt(tree, "replication.port", 0));
  s.replication_secure_port = static_cast<int>(ReadInt(tree, "replication.securePort", 0));
  s.operations_secure_port = static_cast<int>(ReadInt(tree, "operationsApi.network.securePort", 0));
  s.replication_enable_root_cas = ReadBool(tree, "replication.enableRootCAs", true);
  s.replication_routes = ReadJson(tree, "replication.routes");
  if (s.replication_routes.is_null()) {
    // The legacy NATS-era key is read when the replication one is unset.
    s.replication_routes = ReadJson(tree, "clustering.hubServer.cluster.network.routes");
  }
  s.replication_databases = ReadJson(tree, "replication.databases");
  if (s.replication_databases.is_null()) s.replication_databases = "*";
  s.replication_cluster_key = ReadString(tree, "replication.clusterKey", "");
  s.replication_allowed_ips = internal::ReadIpList(tree, "replication.allowedIps");
  s.replication_reconnect_min_ms =
      static_cast<uint32_t>(ReadInt(tree, "replication.reconnectMinMs", 100));
  s.replication_reconnect_max_ms =
      static_cast<uint32_t>(ReadInt(tree, "replication.reconnectMaxMs", 5000));
  s.replication_log_retention_s =
      ReadDurationSeconds(tree, "replication.logRetention", uint64_t{7} * 86400);
  s.replication_log_retention_bytes =
      static_cast<uint64_t>(ReadInt(tree, "replication.logRetentionBytes", int64_t{1} << 30));
  s.replication_log_trim_interval_ms =
      static_cast<uint32_t>(ReadInt(tree, "replication.logTrimIntervalMs", 60000));
  s.replication_copy_stored_rows = ReadBool(tree, "replication.copyStoredRows", true);
  if (const json::value* files = FindPath(tree, "schema.files");
      files != nullptr && files->is_array()) {
    for (const json::value& f : files->get_array()) {
      if (!f.is_string()) continue;
      s.schema_files.push_back(ResolveUnder(s.root_path, std::string(f.get_string())));
    }
  }
  s.tls_certificate = ResolveUnder(s.root_path, ReadString(tree, "tls.certificate", ""));
  s.tls_private_key = ResolveUnder(s.root_path, ReadString(tree, "tls.privateKey", ""));
  s.tls_certificate_authority =
      ResolveUnder(s.root_path, ReadString(tree, "tls.certificateAuthority", ""));
  s.tls_ciphers = ReadString(tree, "tls.ciphers", "");
  s.ops_tls_certificate =
      ResolveUnder(s.root_path, ReadString(tree, "operationsApi.tls.certificate", ""));
  s.ops_tls_private_key =
      ResolveUnder(s.root_path, ReadString(tree, "operationsApi.tls.privateKey", ""));
  s.ops_tls_certificate_authority =
      ResolveUnder(s.root_path, ReadString(tree, "operationsApi.tls.certificateAuthority", ""));
  s.certificate_validity_s = std::max<int64_t>(
      1, std::llround(ReadNumber(tree, "replication.certificateValidityDays", 90) * 86400));
  s.discovery_mode = ReadString(tree, "discovery.mode", "");
  if (const json::value* disco = internal::FindPath(tree, "discovery.config")) {
    s.discovery_config = *disco;
  }
  s.discovery_key = ReadString(tree, "discovery.key", "meshdb");
  s.discovery_authorization = ReadString(tree, "discovery.authorization", "");
  return s;
}

// Env vars that name known keys, legacy aliases first so the canonical names win.
void ApplyEnv(const std::map<std::string, std::string>& env, json::value& tree) {
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& [name, value] : env) {
      std::optional<std::string> path = internal::MatchKnownKey(name);
      if (!path) continue;
      bool canonical = internal::FlattenPath(*path) == internal::FlattenPath(name);
      if (canonical != (pass == 1)) continue;
      internal::SetPath(tree, *path, internal::CastValue(value));
    }
  }
}

Status ApplyCli(const std::vector<std::pair<std::string, std::string>>& cli, json::value& tree) {
  for (const auto& [name, value] : cli) {
    std::optional<std::string> path = internal::MatchKnownKey(name);
    if (!path) {
      return Status::InvalidArgument("unknown configuration key '--" + name +
                                     "' (see docs/configuration.md)");
    }
    internal::SetPath(tree, *path, internal::CastValue(value));
  }
  return Status::Ok();
}

// The root a file's relative defaults hang from: its rootPath, else the file's directory.
std::string RootOfFile(const json::value& file_tree, const std::string& file_path) {
  std::string dir = fs::path(AbsolutePath(file_path)).parent_path().string();
  return AbsolutePath(ReadString(file_tree, "rootPath", dir));
}

Result<json::value> ReadConfigFile(const std::string& file_path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(file_path));
  return internal::ParseYaml(text, file_path);
}

// Validates the file tree merged over the defaults, then backs up and rewrites the file.
Status WriteValidated(const std::string& file_path, const std::string& backup_dir,
                      const json::value& file_tree) {
  json::value effective = internal::DefaultTree(RootOfFile(file_tree, file_path));
  internal::MergeInto(effective, file_tree);
  RETURN_IF_ERROR(internal::ValidateTree(effective));
  RETURN_IF_ERROR(BackupFile(file_path, backup_dir));
  return WriteFileAtomically(file_path, internal::EmitYaml(file_tree, kHeader));
}

}  // namespace

Result<Config> Config::Load(const LoadOptions& options) {
  std::string root = options.root;
  if (root.empty()) {
    for (const char* name : {"HDB_ROOT", "ROOTPATH"}) {
      auto it = options.env.find(name);
      if (it != options.env.end() && !it->second.empty()) {
        root = it->second;
        break;
      }
    }
  }
  if (root.empty()) root = "./data";
  root = AbsolutePath(root);

  Config config;
  config.file_path_ = AbsolutePath(
      options.config_file.empty() ? (fs::path(root) / kFileName).string() : options.config_file);
  json::value file_tree;
  {
    std::lock_guard lock(FileMutex());
    std::error_code ec;
    if (!fs::exists(config.file_path_, ec)) {
      file_tree = internal::DefaultTree(root);
      RETURN_IF_ERROR(
          WriteFileAtomically(config.file_path_, internal::EmitYaml(file_tree, kHeader)));
    } else {
      ASSIGN_OR_RETURN(file_tree, ReadConfigFile(config.file_path_));
    }
  }
  json::value tree = internal::DefaultTree(root);
  internal::MergeInto(tree, file_tree);
  ApplyEnv(options.env, tree);
  RETURN_IF_ERROR(ApplyCli(options.cli, tree));
  RETURN_IF_ERROR(internal::ValidateTree(tree));
  config.settings_ = ToSettings(tree, root);
  config.tree_ = std::move(tree);
  return config;
}

json::value Config::RedactedTree() const {
  static constexpr const char* kRedacted = "[redacted]";
  json::value tree = tree_;
  for (const internal::KeyInfo& info : internal::KnownKeys()) {
    if (!info.secret) continue;
    const json::value* v = FindPath(tree, info.path);
    if (v != nullptr && !v->is_null()) internal::SetPath(tree, info.path, kRedacted);
  }
  const json::value* disco = FindPath(tree, "discovery.config");
  if (disco != nullptr && disco->is_object()) {
    json::object redacted = disco->get_object();
    for (const char* field : {"password", "token"}) {
      if (redacted.contains(field)) redacted[field] = kRedacted;
    }
    internal::SetPath(tree, "discovery.config", std::move(redacted));
  } else if (disco != nullptr && disco->is_string() &&
             (disco->get_string().find("password") != json::string::npos ||
              disco->get_string().find("token") != json::string::npos)) {
    internal::SetPath(tree, "discovery.config", kRedacted);  // JSON text holding a secret
  }
  return tree;
}

Result<Config::SetReport> Config::SetInFile(const std::string& file_path,
                                            const std::string& backup_dir,
                                            const json::object& flat) {
  std::lock_guard lock(FileMutex());
  ASSIGN_OR_RETURN(json::value file_tree, ReadConfigFile(file_path));
  SetReport report;
  for (const auto& kv : flat) {
    std::optional<std::string> path = internal::MatchKey(kv.key(), file_tree);
    if (!path) {  // unknown keys are ignored, as HarperDB does
      report.ignored.emplace_back(kv.key());
      continue;
    }
    json::value value =
        kv.value().is_string() ? internal::CastValue(kv.value().get_string()) : kv.value();
    internal::SetPath(file_tree, *path, std::move(value));
    const internal::KeyInfo* info = internal::FindKey(*path);
    if (info == nullptr || info->use == internal::KeyUse::kInert) report.inert.push_back(*path);
    report.keys.push_back(std::move(*path));
  }
  RETURN_IF_ERROR(WriteValidated(file_path, backup_dir, file_tree));
  return report;
}

Status Config::SetPathInFile(const std::string& file_path, const std::string& backup_dir,
                             const std::string& dotted_path, const json::value& value) {
  if (dotted_path.empty()) return Status::InvalidArgument("empty configuration path");
  std::lock_guard lock(FileMutex());
  ASSIGN_OR_RETURN(json::value file_tree, ReadConfigFile(file_path));
  internal::SetPath(file_tree, dotted_path, value);
  return WriteValidated(file_path, backup_dir, file_tree);
}

std::string FormatYaml(const json::value& tree) { return internal::EmitYaml(tree, ""); }

std::string Config::KnownKeyPath(std::string_view flat_key) {
  return internal::MatchKnownKey(flat_key).value_or("");
}

std::vector<std::string> Config::InertKeys() {
  std::vector<std::string> keys;
  for (const internal::KeyInfo& info : internal::KnownKeys()) {
    if (info.use == internal::KeyUse::kInert) keys.emplace_back(info.path);
  }
  return keys;
}

std::vector<std::string> Config::InertKeysSet() const {
  std::vector<std::string> set;
  for (const internal::KeyInfo& info : internal::KnownKeys()) {
    if (info.use != internal::KeyUse::kInert) continue;
    const json::value* v = FindPath(tree_, info.path);
    // Null reads as HarperDB's default too (HarperDB fills in the paths at install).
    if (v == nullptr || v->is_null()) continue;
    if (*v == internal::DefaultValue(info, settings_.root_path)) continue;
    set.emplace_back(info.path);
  }
  return set;
}

std::vector<std::string> Config::UnknownKeysSet() const {
  std::vector<std::string> unknown;
  internal::CollectUnknownLeaves(tree_, "", unknown);
  return unknown;
}

}  // namespace meshdb::config
