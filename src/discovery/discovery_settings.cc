#include "discovery/discovery_settings.h"

#include <boost/json/object.hpp>
#include <boost/url/parse.hpp>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "common/json_parse.h"
#include "config/config.h"
#include "security/base64.h"

namespace meshdb::discovery {

namespace json = boost::json;

namespace {

constexpr const char* kConfigFlag = "--disco-config (discovery.config)";
constexpr int64_t kMaxTtlSeconds = 86400;

Status ConfigError(const std::string& what) {
  return Status::InvalidArgument(std::string(kConfigFlag) + ": " + what);
}

// discovery.config as an object: given as one, as JSON text, or as a JSON file's path.
Result<json::object> ConfigObject(const json::value& config) {
  if (config.is_object()) return config.get_object();
  if (!config.is_string()) return ConfigError("missing: the store's address is needed");
  std::string text(config.get_string());
  size_t first = text.find_first_not_of(" \t\r\n");
  std::string origin = "JSON";
  if (first == std::string::npos) return ConfigError("empty");
  if (text[first] != '{') {
    std::ifstream file(text);
    std::ostringstream contents;
    if (!file || !(contents << file.rdbuf())) {
      return ConfigError("cannot read the file '" + text + "' (neither JSON nor a readable file)");
    }
    origin = "JSON in '" + text + "'";
    text = contents.str();
  }
  boost::system::error_code ec;
  ParseJsonInfo info;
  json::value parsed = ParseJson(text, ec, &info);
  if (ec) {
    return ConfigError("invalid " + origin + " at offset " + std::to_string(info.consumed) + ": " +
                       ec.message());
  }
  if (!parsed.is_object()) return ConfigError(origin + " is not an object");
  return std::move(parsed.get_object());
}

Result<std::string> TextField(const json::object& config, const char* name) {
  const json::value* v = config.if_contains(name);
  if (v == nullptr || v->is_null()) return std::string();
  if (!v->is_string()) return ConfigError("'" + std::string(name) + "' must be a string");
  return std::string(v->get_string());
}

// Seconds, from a number or a duration ("10s", "2m"); fractions allowed when `fractional`.
Result<double> SecondsField(const json::object& config, const char* name, bool fractional) {
  const json::value* v = config.if_contains(name);
  if (v == nullptr || v->is_null()) return 0.0;
  double seconds = -1;
  if (v->is_number()) {
    seconds = v->to_number<double>();
  } else if (v->is_string()) {
    Result<uint64_t> parsed = config::ParseDurationSeconds(std::string(v->get_string()));
    if (parsed.ok()) seconds = static_cast<double>(*parsed);
  }
  bool whole = seconds == std::floor(seconds);
  if (!(seconds > 0) || seconds > kMaxTtlSeconds || (!fractional && !whole)) {
    return ConfigError("'" + std::string(name) + "' must be " +
                       (fractional ? "a number of seconds" : "a whole number of seconds") +
                       R"( (or "10s", "1m") between 1 and 86400)");
  }
  return seconds;
}

Status RefuseUnknownFields(const json::object& config, const std::set<std::string>& known,
                           const std::string& mode) {
  for (const auto& field : config) {
    if (known.count(std::string(field.key())) == 0) {
      std::string list;
      for (const std::string& name : known) list += (list.empty() ? "" : ", ") + name;
      return ConfigError("unknown field '" + std::string(field.key()) + "' (" + mode + " takes " +
                         list + ")");
    }
  }
  return Status::Ok();
}

// "host:port" gets the scheme; a URL must be http(s)://host[:port] with nothing after.
Result<std::string> BaseUrl(std::string address, const std::string& scheme) {
  if (address.find("://") == std::string::npos) address = scheme + "://" + address;
  auto url = boost::urls::parse_uri(address);
  bool valid = url && (url->scheme() == "http" || url->scheme() == "https") &&
               !url->host().empty() && (url->path().empty() || url->path() == "/") &&
               !url->has_query();
  if (!valid) return ConfigError("'" + address + "' is not an address (host:port or URL)");
  if (address.back() == '/') address.pop_back();
  return address;
}

Result<HttpTlsFiles> TlsFiles(const json::object& config) {
  HttpTlsFiles tls;
  ASSIGN_OR_RETURN(tls.ca_file, TextField(config, "ca"));
  ASSIGN_OR_RETURN(tls.cert_file, TextField(config, "cert"));
  ASSIGN_OR_RETURN(tls.key_file, TextField(config, "key"));
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return ConfigError("'cert' and 'key' go together");
  }
  return tls;
}

bool UsesTls(const HttpTlsFiles& tls) { return !tls.ca_file.empty() || !tls.cert_file.empty(); }

Status ParseEtcd(const json::object& config, DiscoverySettings& out) {
  RETURN_IF_ERROR(RefuseUnknownFields(
      config, {"endpoints", "username", "password", "ca", "cert", "key", "ttl", "refresh_interval"},
      kEtcdMode));
  ASSIGN_OR_RETURN(out.etcd.tls, TlsFiles(config));
  const std::string scheme = UsesTls(out.etcd.tls) ? "https" : "http";
  const json::value* endpoints = config.if_contains("endpoints");
  if (endpoints == nullptr || !endpoints->is_array() || endpoints->get_array().empty()) {
    return ConfigError("etcd-kv needs 'endpoints', a list of host:port or URLs");
  }
  for (const json::value& endpoint : endpoints->get_array()) {
    if (!endpoint.is_string()) return ConfigError("'endpoints' must hold strings");
    ASSIGN_OR_RETURN(std::string url, BaseUrl(std::string(endpoint.get_string()), scheme));
    out.etcd.endpoints.push_back(std::move(url));
  }
  ASSIGN_OR_RETURN(out.etcd.username, TextField(config, "username"));
  ASSIGN_OR_RETURN(out.etcd.password, TextField(config, "password"));
  if (out.etcd.username.empty() && !out.etcd.password.empty()) {
    return ConfigError("'password' needs 'username'");
  }
  return Status::Ok();
}

Status ParseConsul(const json::object& config, const std::string& node_name,
                   DiscoverySettings& out) {
  RETURN_IF_ERROR(RefuseUnknownFields(
      config,
      {"address", "scheme", "token", "datacenter", "ca", "cert", "key", "ttl", "refresh_interval"},
      kConsulMode));
  ASSIGN_OR_RETURN(out.consul.tls, TlsFiles(config));
  ASSIGN_OR_RETURN(std::string scheme, TextField(config, "scheme"));
  if (scheme.empty()) scheme = UsesTls(out.consul.tls) ? "https" : "http";
  if (scheme != "http" && scheme != "https") return ConfigError("'scheme' must be http or https");
  ASSIGN_OR_RETURN(std::string address, TextField(config, "address"));
  if (address.empty()) address = "127.0.0.1:8500";
  if (address.find("://") != std::string::npos) {
    return ConfigError("'address' is host:port; the scheme goes in 'scheme'");
  }
  ASSIGN_OR_RETURN(out.consul.base_url, BaseUrl(address, scheme));
  ASSIGN_OR_RETURN(out.consul.token, TextField(config, "token"));
  ASSIGN_OR_RETURN(out.consul.datacenter, TextField(config, "datacenter"));
  out.consul.session_name = "meshdb " + node_name;
  return Status::Ok();
}

// "user:password" → "Basic <base64>"; "Basic ..." / "Bearer ..." as given.
std::string AuthorizationHeader(const std::string& value) {
  if (value.empty() || value.rfind("Basic ", 0) == 0 || value.rfind("Bearer ", 0) == 0) {
    return value;
  }
  return "Basic " + security::Base64Encode(value);
}

}  // namespace

Result<std::optional<DiscoverySettings>> ParseDiscoverySettings(const DiscoveryInputs& inputs) {
  if (inputs.mode.empty()) return std::optional<DiscoverySettings>();
  DiscoverySettings out;
  out.mode = inputs.mode;
  out.key = inputs.key;
  if (out.mode != kEtcdMode && out.mode != kConsulMode) {
    return Status::InvalidArgument(
        "--disco-mode (discovery.mode) must be etcd-kv or consul-kv, "
        "got '" +
        out.mode + "'");
  }
  ASSIGN_OR_RETURN(json::object config, ConfigObject(inputs.config));
  if (out.mode == kEtcdMode) {
    RETURN_IF_ERROR(ParseEtcd(config, out));
  } else {
    RETURN_IF_ERROR(ParseConsul(config, inputs.node_name, out));
  }
  ASSIGN_OR_RETURN(double ttl, SecondsField(config, "ttl", false));
  if (ttl > 0) out.ttl = std::chrono::seconds(static_cast<int64_t>(ttl));
  ASSIGN_OR_RETURN(double refresh, SecondsField(config, "refresh_interval", true));
  out.refresh = refresh > 0 ? std::chrono::milliseconds(std::llround(refresh * 1000))
                            : std::chrono::duration_cast<std::chrono::milliseconds>(out.ttl) / 3;
  if (out.refresh >= out.ttl) {
    return ConfigError("'refresh_interval' must be shorter than 'ttl' (" +
                       std::to_string(out.ttl.count()) + " s)");
  }
  out.authorization = AuthorizationHeader(inputs.authorization);
  return std::optional<DiscoverySettings>(std::move(out));
}

Result<std::unique_ptr<KvStore>> OpenKvStore(const DiscoverySettings& settings) {
  if (settings.mode == kEtcdMode) {
    ASSIGN_OR_RETURN(std::unique_ptr<EtcdStore> store, EtcdStore::Create(settings.etcd));
    return std::unique_ptr<KvStore>(std::move(store));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ConsulStore> store, ConsulStore::Create(settings.consul));
  return std::unique_ptr<KvStore>(std::move(store));
}

}  // namespace meshdb::discovery
