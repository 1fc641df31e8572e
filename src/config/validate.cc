#include "config/validate.h"

#include <boost/json/serialize.hpp>
#include <cctype>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "common/host_limits.h"
#include "common/ip_allow_list.h"
#include "config/config.h"
#include "config/known_keys.h"

namespace meshdb::config {

namespace json = boost::json;

Result<uint64_t> ParseDurationSeconds(const std::string& text) {
  if (text.empty()) return Status::InvalidArgument("empty duration");
  uint64_t multiplier = 1;
  std::string digits = text;
  switch (text.back()) {
    case 'd':
      multiplier = 86400;
      digits.pop_back();
      break;
    case 'h':
      multiplier = 3600;
      digits.pop_back();
      break;
    case 'm':
      multiplier = 60;
      digits.pop_back();
      break;
    case 's':
      multiplier = 1;
      digits.pop_back();
      break;
    default:
      break;
  }
  if (digits.empty() || digits.size() > 12) {
    return Status::InvalidArgument("invalid duration '" + text + "'");
  }
  uint64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return Status::InvalidArgument("invalid duration '" + text + "'");
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n * multiplier;
}

namespace {

constexpr const char* kLogSizeShape =
    "a size such as \"64M\" (K, M or G: thousands, millions or billions of bytes)";
constexpr const char* kLogIntervalShape =
    "an interval such as \"1D\" (D days, H hours, M minutes, S seconds)";

// "<digits><unit>" with the unit's multiplier from `units` (upper-case letters; lower case is
// accepted too); InvalidArgument quoting `text` with `shape` otherwise.
Result<uint64_t> ParseUnitValue(const std::string& text,
                                std::initializer_list<std::pair<char, uint64_t>> units,
                                const char* shape) {
  auto invalid = [&] { return Status::InvalidArgument("'" + text + "' is not " + shape); };
  if (text.size() < 2 || text.size() > 16) return invalid();
  const char unit = static_cast<char>(std::toupper(static_cast<unsigned char>(text.back())));
  uint64_t multiplier = 0;
  for (const auto& [u, m] : units) {
    if (u == unit) multiplier = m;
  }
  if (multiplier == 0) return invalid();
  uint64_t n = 0;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return invalid();
    n = n * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (n == 0) return invalid();
  return n * multiplier;
}

}  // namespace

Result<uint64_t> ParseLogSize(const std::string& text) {
  return ParseUnitValue(text, {{'K', 1000}, {'M', 1000 * 1000}, {'G', 1000 * 1000 * 1000}},
                        kLogSizeShape);
}

Result<uint64_t> ParseLogInterval(const std::string& text) {
  return ParseUnitValue(text, {{'D', 86400}, {'H', 3600}, {'M', 60}, {'S', 1}}, kLogIntervalShape);
}

namespace internal {

namespace {

std::string Show(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  return json::serialize(v);
}

std::string Got(const json::value& v) { return ", got '" + Show(v) + "'"; }

// An integer held as a number or a numeric string.
std::optional<int64_t> AsInt(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() &&
      v.get_uint64() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    double d = v.get_double();
    if (std::floor(d) == d && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
    return std::nullopt;
  }
  if (v.is_string()) {
    json::value cast = CastValue(v.get_string());
    if (!cast.is_string()) return AsInt(cast);
  }
  return std::nullopt;
}

// A number, or a string that casts to one (command-line and environment values arrive as text).
std::optional<double> AsNumber(const json::value& v) {
  if (v.is_number()) return v.to_number<double>();
  if (v.is_string()) {
    json::value cast = CastValue(v.get_string());
    if (cast.is_number()) return cast.to_number<double>();
  }
  return std::nullopt;
}

Status CheckPort(const std::string& key, const json::value& v, bool allow_zero) {
  std::optional<int64_t> port = AsInt(v);
  int64_t low = allow_zero ? 0 : 1;
  if (!port || *port < low || *port > 65535) {
    return Status::InvalidArgument("'" + key + "' must be a port number (" + std::to_string(low) +
                                   "-65535)" + Got(v));
  }
  return Status::Ok();
}

Status CheckRoutes(const std::string& key, const json::value& v) {
  if (v.is_null()) return Status::Ok();
  const std::string shape = "'" + key + "' must be an array of strings or {hostname, port} objects";
  if (!v.is_array()) return Status::InvalidArgument(shape + Got(v));
  const json::array& routes = v.get_array();
  for (size_t i = 0; i < routes.size(); ++i) {
    const json::value& route = routes[i];
    std::string item = key + "[" + std::to_string(i) + "]";
    RETURN_IF_ERROR(CheckRouteLength(route, item));
    if (route.is_string()) {
      if (route.get_string().empty()) {
        return Status::InvalidArgument("'" + item + "' must not be empty");
      }
      continue;
    }
    if (!route.is_object()) return Status::InvalidArgument(shape + Got(v));
    const json::object& obj = route.get_object();
    const json::value* host = obj.if_contains("hostname");
    if (host == nullptr) host = obj.if_contains("host");
    if (host == nullptr || !host->is_string() || host->get_string().empty()) {
      return Status::InvalidArgument("'" + item + "' must have a 'hostname' (or 'host') string");
    }
    if (const json::value* port = obj.if_contains("port"); port != nullptr && !port->is_null()) {
      RETURN_IF_ERROR(CheckPort(item + ".port", *port, false));
    }
  }
  return Status::Ok();
}

Status CheckDatabases(const std::string& key, const json::value& v) {
  if (v.is_null()) return Status::Ok();
  if (v.is_string() && v.get_string() == "*") return Status::Ok();
  const std::string shape =
      "'" + key + "' must be '*' or an array of names or {name, sharded} objects";
  if (!v.is_array()) return Status::InvalidArgument(shape + Got(v));
  for (const json::value& db : v.get_array()) {
    if (db.is_string() && !db.get_string().empty()) continue;
    if (db.is_object()) {
      const json::value* name = db.get_object().if_contains("name");
      if (name != nullptr && name->is_string() && !name->get_string().empty()) continue;
    }
    return Status::InvalidArgument(shape + Got(v));
  }
  return Status::Ok();
}

// A kIpList value's entries; nullopt when the shape is wrong (not null, an array of strings
// or a string).
std::optional<std::vector<std::string>> IpListEntries(const json::value& v) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (v.is_string()) {
    std::string_view rest = v.get_string();
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      std::string_view entry = rest.substr(0, comma);
      while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
      while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
      out.emplace_back(entry);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    return out;
  }
  if (!v.is_array()) return std::nullopt;
  for (const json::value& entry : v.get_array()) {
    if (!entry.is_string()) return std::nullopt;
    out.emplace_back(entry.get_string());
  }
  return out;
}

Status CheckIpList(const std::string& key, const json::value& v) {
  std::optional<std::vector<std::string>> entries = IpListEntries(v);
  if (!entries) {
    return Status::InvalidArgument("'" + key +
                                   "' must be an array of IP addresses and CIDR blocks" + Got(v));
  }
  for (const std::string& entry : *entries) {
    Result<common::IpBlock> block = common::ParseIpBlock(entry);
    if (!block.ok()) {
      return Status::InvalidArgument("'" + key + "': " + block.status().message());
    }
  }
  return Status::Ok();
}

Status CheckOne(const KeyInfo& info, const json::value& v) {
  const std::string key = info.path;
  switch (info.kind) {
    case KeyKind::kString:
    case KeyKind::kHostName:
    case KeyKind::kUrl:
      if (!v.is_null() && !v.is_string() && !v.is_number()) {
        return Status::InvalidArgument("'" + key + "' must be a string" + Got(v));
      }
      if (!v.is_string()) return Status::Ok();
      if (info.kind == KeyKind::kHostName && v.get_string().size() > kMaxHostNameLength) {
        return Status::InvalidArgument(TooLongMessage(key, kMaxHostNameLength));
      }
      if (info.kind == KeyKind::kUrl) {
        RETURN_IF_ERROR(CheckUrlLength(v.get_string(), key));
        // The URL peers dial: add_node and routes take only these schemes.
        const std::string_view url = v.get_string();
        if (url.rfind("ws://", 0) != 0 && url.rfind("wss://", 0) != 0) {
          return Status::InvalidArgument("'" + key + "' must be a ws:// or wss:// URL" + Got(v));
        }
      }
      return Status::Ok();
    case KeyKind::kPort:
      if (v.is_null()) return Status::Ok();
      return CheckPort(key, v, false);
    case KeyKind::kPortOrAny:
      if (v.is_null()) return Status::Ok();
      return CheckPort(key, v, true);
    case KeyKind::kPositiveInt: {
      std::optional<int64_t> n = AsInt(v);
      if (!n || *n <= 0)
        return Status::InvalidArgument("'" + key + "' must be a positive integer" + Got(v));
      return Status::Ok();
    }
    case KeyKind::kPositiveNumber: {
      std::optional<double> d = AsNumber(v);
      if (!d || !(*d > 0) || *d > 36500) {
        return Status::InvalidArgument("'" + key + "' must be a number > 0 (at most 36500)" +
                                       Got(v));
      }
      return Status::Ok();
    }
    case KeyKind::kNonNegativeInt: {
      if (v.is_null()) return Status::Ok();
      std::optional<int64_t> n = AsInt(v);
      if (!n || *n < 0) {
        return Status::InvalidArgument("'" + key + "' must be an integer >= 0" + Got(v));
      }
      return Status::Ok();
    }
    case KeyKind::kBool:
      if (v.is_bool()) return Status::Ok();
      return Status::InvalidArgument("'" + key + "' must be a boolean" + Got(v));
    case KeyKind::kLogLevel: {
      static const char* levels[] = {"notify", "fatal", "error", "warn", "info", "debug", "trace"};
      if (v.is_string()) {
        for (const char* level : levels) {
          if (v.get_string() == level) return Status::Ok();
        }
      }
      return Status::InvalidArgument(
          "'" + key + "' must be one of [notify, fatal, error, warn, info, debug, trace]");
    }
    case KeyKind::kDuration: {
      if (AsInt(v).has_value() && *AsInt(v) >= 0) return Status::Ok();
      if (v.is_string() && ParseDurationSeconds(std::string(v.get_string())).ok()) {
        return Status::Ok();
      }
      return Status::InvalidArgument("'" + key +
                                     "' must be a duration such as \"1d\", \"12h\", \"15m\", "
                                     "\"45s\" or a number of seconds" +
                                     Got(v));
    }
    case KeyKind::kHashFunction:
      if (v.is_null()) return Status::Ok();
      // The three functions of security/password.h, as HarperDB names them.
      if (v.is_string() &&
          (v.get_string() == "md5" || v.get_string() == "sha256" || v.get_string() == "argon2id")) {
        return Status::Ok();
      }
      return Status::InvalidArgument("'" + key + "' must be one of [md5, sha256, argon2id]");
    case KeyKind::kRoutes:
      return CheckRoutes(key, v);
    case KeyKind::kDatabases:
      return CheckDatabases(key, v);
    case KeyKind::kStringList:
      if (v.is_null()) return Status::Ok();
      if (v.is_array()) {
        bool all = true;
        for (const json::value& s : v.get_array()) {
          all = all && s.is_string() && !s.get_string().empty();
        }
        if (all) return Status::Ok();
      }
      return Status::InvalidArgument("'" + key + "' must be an array of file names" + Got(v));
    case KeyKind::kIpList:
      return CheckIpList(key, v);
    case KeyKind::kDiscoveryMode:
      if (v.is_null() || (v.is_string() && (v.get_string().empty() || v.get_string() == "etcd-kv" ||
                                            v.get_string() == "consul-kv"))) {
        return Status::Ok();
      }
      return Status::InvalidArgument("'" + key + "' (--disco-mode) must be etcd-kv or consul-kv" +
                                     Got(v));
    case KeyKind::kDiscoveryKey: {
      bool valid = v.is_string() && !v.get_string().empty() && v.get_string().size() <= 128;
      for (char c : valid ? std::string_view(v.get_string()) : std::string_view()) {
        valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
      }
      if (valid) return Status::Ok();
      return Status::InvalidArgument(
          "'" + key + "' (--disco-key) must be 1-128 of a-z, 0-9, '_' and '-'" + Got(v));
    }
    case KeyKind::kLogSize:
    case KeyKind::kLogInterval: {
      if (v.is_null()) return Status::Ok();
      const bool size = info.kind == KeyKind::kLogSize;
      if (!v.is_string()) {
        return Status::InvalidArgument("'" + key + "' must be " +
                                       (size ? kLogSizeShape : kLogIntervalShape) + Got(v));
      }
      const std::string text(v.get_string());
      Result<uint64_t> parsed = size ? ParseLogSize(text) : ParseLogInterval(text);
      if (parsed.ok()) return Status::Ok();
      return Status::InvalidArgument("'" + key + "': " + parsed.status().message());
    }
    case KeyKind::kNumber: {
      if (v.is_null()) return Status::Ok();
      std::optional<double> d = AsNumber(v);
      if (!d || !(*d >= 0)) {
        return Status::InvalidArgument("'" + key + "' must be a number >= 0" + Got(v));
      }
      return Status::Ok();
    }
    case KeyKind::kBoolOrObject:
      if (v.is_bool() || v.is_object()) return Status::Ok();
      return Status::InvalidArgument("'" + key + "' must be one of [boolean, object]" + Got(v));
    case KeyKind::kOriginList:
      if (v.is_null()) return Status::Ok();
      if (v.is_array()) {
        bool all = true;
        for (const json::value& origin : v.get_array()) {
          all = all && (origin.is_string() || origin.is_null());
        }
        if (all) return Status::Ok();
      }
      return Status::InvalidArgument("'" + key + "' must be an array of origins" + Got(v));
    case KeyKind::kObjectOrText:
      if (v.is_null() || v.is_object() || v.is_string()) return Status::Ok();
      return Status::InvalidArgument("'" + key +
                                     "' must be a JSON object, JSON text or a file path" + Got(v));
  }
  return Status::Ok();
}

// HarperDB's production file sets operationsApi.network.port to null and serves the
// operations API on securePort alone; with both null or unset there would be no API at all.
Status CheckOperationsApiHasAPort(const json::value& tree) {
  const json::value* port = FindPath(tree, "operationsApi.network.port");
  if (port == nullptr || !port->is_null()) return Status::Ok();
  const json::value* secure = FindPath(tree, "operationsApi.network.securePort");
  if (secure != nullptr && !secure->is_null() && AsInt(*secure).value_or(0) != 0) {
    return Status::Ok();
  }
  return Status::InvalidArgument(
      "'operationsApi.network.port' is null, so 'operationsApi.network.securePort' must be set: "
      "the operations API needs a port");
}

// The redial backoff grows from reconnectMinMs to reconnectMaxMs: a maximum below the minimum
// is a typo the operator should hear about, not a value quietly raised.
Status CheckReconnectBounds(const json::value& tree) {
  const json::value* min = FindPath(tree, "replication.reconnectMinMs");
  const json::value* max = FindPath(tree, "replication.reconnectMaxMs");
  const int64_t low = min == nullptr || min->is_null() ? 100 : AsInt(*min).value_or(100);
  const int64_t high = max == nullptr || max->is_null() ? 5000 : AsInt(*max).value_or(5000);
  if (high >= low) return Status::Ok();
  return Status::InvalidArgument("'replication.reconnectMaxMs' (" + std::to_string(high) +
                                 ") must not be below 'replication.reconnectMinMs' (" +
                                 std::to_string(low) + ")");
}

}  // namespace

Status ValidateTree(const json::value& tree) {
  for (const KeyInfo& info : KnownKeys()) {
    const json::value* v = FindPath(tree, info.path);
    if (v == nullptr) continue;
    RETURN_IF_ERROR(CheckOne(info, *v));
  }
  RETURN_IF_ERROR(CheckReconnectBounds(tree));
  return CheckOperationsApiHasAPort(tree);
}

std::string ReadString(const json::value& tree, const char* path, const std::string& fallback) {
  const json::value* v = FindPath(tree, path);
  if (v == nullptr || v->is_null()) return fallback;
  return Show(*v);
}

int64_t ReadInt(const json::value& tree, const char* path, int64_t fallback) {
  const json::value* v = FindPath(tree, path);
  if (v == nullptr || v->is_null()) return fallback;
  return AsInt(*v).value_or(fallback);
}

double ReadNumber(const json::value& tree, const char* path, double fallback) {
  const json::value* v = FindPath(tree, path);
  if (v == nullptr || v->is_null()) return fallback;
  return AsNumber(*v).value_or(fallback);
}

bool ReadBool(const json::value& tree, const char* path, bool fallback) {
  const json::value* v = FindPath(tree, path);
  if (v == nullptr || !v->is_bool()) return fallback;
  return v->get_bool();
}

std::vector<std::string> ReadIpList(const json::value& tree, const char* path) {
  const json::value* v = FindPath(tree, path);
  if (v == nullptr) return {};
  return IpListEntries(*v).value_or(std::vector<std::string>{});
}

}  // namespace internal
}  // namespace meshdb::config
