// Internal to config/: the table of configuration keys meshdb knows (key_table.cc: their
// kinds, defaults and whether meshdb acts on them), and the flattened-key matching and value
// casting HarperDB applies to env vars, CLI arguments and set_configuration. Not part of the
// public API (config.h is).
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshdb::config::internal {

// How a key's value is checked (validate.cc).
enum class KeyKind {
  kString,          // any scalar (numbers are accepted and stringified) or null
  kHostName,        // as kString, at most kMaxHostNameLength (253) characters
  kUrl,             // as kString, at most kMaxUrlLength (2048) characters, host at most 253
  kPort,            // 1-65535, number or numeric string; null allowed
  kPortOrAny,       // as kPort, 0 also allowed ("pick any free port"); null: no listener
  kPositiveInt,     // integer > 0
  kPositiveNumber,  // number > 0 (fractions allowed)
  kNonNegativeInt,  // integer >= 0
  kBool,            // true / false
  kLogLevel,        // notify, fatal, error, warn, info, debug, trace
  kDuration,        // "1d", "30d", "12h", "15m", "45s", or seconds
  kHashFunction,    // md5, sha256, argon2id
  kRoutes,          // null or array of strings or {host|hostname, port} objects (URL and
                    // host name lengths as kUrl)
  kDatabases,       // "*" or array of names or {name, sharded} objects
  kStringList,      // null or an array of non-empty strings
  kIpList,          // null, an array of IP addresses / CIDR blocks, or one string of them
                    // separated by commas (common/ip_allow_list.h)
  kDiscoveryMode,   // null, "", "etcd-kv" or "consul-kv"
  kDiscoveryKey,    // 1-128 of [a-z0-9_-] (a key segment both etcd and Consul accept)
  kObjectOrText,    // null, an object, or a string (JSON text or a file path, read at start)
  kLogSize,         // null or a size with a K, M or G unit: "64M" (config.h ParseLogSize)
  kLogInterval,     // null or a time with a D, H, M or S unit: "1D" (config.h ParseLogInterval)
  kNumber,          // null or a number >= 0 (fractions allowed)
  kBoolOrObject,    // true / false or an object (HarperDB's mtls, threads.debug, compression)
  kOriginList,      // null or an array of strings and nulls (HarperDB's corsAccessList)
};

// Whether meshdb acts on a key.
enum class KeyUse {
  kActedOn,  // read by the server (docs/configuration.md "Keys")
  kInert,    // HarperDB's key: accepted, validated, kept in the file and shown by
             // get_configuration, but meshdb does not act on it; reported when set to anything
             // but its default (docs/configuration.md "Keys accepted but not acted on")
};

struct KeyInfo {
  const char* path;  // dotted, HarperDB's spelling: "operationsApi.network.port"
  KeyKind kind;
  // The value a new file gets, as JSON text. A string starting with "<root>" stands for the
  // node's root directory followed by the rest ("<root>/log").
  const char* default_json;
  KeyUse use = KeyUse::kActedOn;
  // Shown as "[redacted]" by get_configuration (discovery.config's password and token are
  // redacted inside it: config.cc).
  bool secret = false;
};

// Every key meshdb knows, in the order a new file lists them (HarperDB's sections first, in
// HarperDB's order, then meshdb's own). The one place keys, kinds and defaults are written.
const std::vector<KeyInfo>& KnownKeys();

// The default of `info` for a node whose root is `root` (an absolute path).
boost::json::value DefaultValue(const KeyInfo& info, const std::string& root);

// The table entry of a dotted path (exact spelling), or nullptr.
const KeyInfo* FindKey(std::string_view dotted_path);

// Appends to `out` the dotted paths of the leaves of `tree` (under `prefix`) that are not
// known keys; a known key's value is not looked into (discovery.config's fields are its own).
void CollectUnknownLeaves(const boost::json::value& tree, const std::string& prefix,
                          std::vector<std::string>& out);

// "operationsApi.network.port" -> "operationsapi_network_port".
std::string FlattenPath(std::string_view dotted_path);

// Matches a flattened key (case-insensitive; '.' accepted for '_') against the known keys
// and HarperDB's legacy aliases (SERVER_PORT, LOG_LEVEL, HDB_ROOT, MAX_HDB_PROCESSES).
// Returns the dotted path, or nullopt.
std::optional<std::string> MatchKnownKey(std::string_view flat_key);

// As MatchKnownKey, but also against the leaf paths present in `tree` (keys from a HarperDB
// file meshdb does not use).
std::optional<std::string> MatchKey(std::string_view flat_key, const boost::json::value& tree);

// HarperDB's casting of a string value: "true"/"false" -> bool, "null" -> null, numeric ->
// number, '[' or '{' first -> parsed JSON (left a string when it does not parse); else the
// string itself.
boost::json::value CastValue(std::string_view text);

// The default configuration tree for a node whose root is `root` (an absolute path): every
// known key at its default, as a new file is written.
boost::json::value DefaultTree(const std::string& root);

// Helpers on JSON trees addressed by dotted paths.
const boost::json::value* FindPath(const boost::json::value& tree, std::string_view dotted_path);
// Sets the value, creating (or replacing non-object) intermediate objects.
void SetPath(boost::json::value& tree, std::string_view dotted_path, boost::json::value value);
// Copies every leaf of `overlay` into `base` (objects merge; everything else replaces).
void MergeInto(boost::json::value& base, const boost::json::value& overlay);

}  // namespace meshdb::config::internal
