#include "config/known_keys.h"

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <functional>

namespace meshdb::config::internal {

namespace json = boost::json;

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct Alias {
  const char* flat;  // lower case
  const char* path;
};

// HarperDB's legacy environment/CLI aliases that map onto keys meshdb uses.
constexpr Alias kAliases[] = {
    {"server_port", "operationsApi.network.port"},
    {"log_level", "logging.level"},
    {"hdb_root", "rootPath"},
    {"max_hdb_processes", "threads.count"},
    // rqlite's flags (meshdb run --disco-mode etcd-kv ...).
    {"disco-mode", "discovery.mode"},
    {"disco-config", "discovery.config"},
    {"disco-key", "discovery.key"},
};

bool IsNumberText(std::string_view s) {
  if (s.empty()) return false;
  bool digit = false;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E') {
      return false;
    }
  }
  return digit;
}

void CollectLeaves(const json::value& v, const std::string& prefix, std::vector<std::string>& out) {
  if (v.is_object() && (!v.as_object().empty() || prefix.empty())) {
    for (const auto& kv : v.as_object()) {
      std::string path =
          prefix.empty() ? std::string(kv.key()) : prefix + "." + std::string(kv.key());
      CollectLeaves(kv.value(), path, out);
    }
    return;
  }
  if (!prefix.empty()) out.push_back(prefix);
}

}  // namespace

const KeyInfo* FindKey(std::string_view dotted_path) {
  for (const KeyInfo& info : KnownKeys()) {
    if (dotted_path == info.path) return &info;
  }
  return nullptr;
}

void CollectUnknownLeaves(const json::value& tree, const std::string& prefix,
                          std::vector<std::string>& out) {
  if (!tree.is_object()) return;
  for (const auto& kv : tree.as_object()) {
    std::string path =
        prefix.empty() ? std::string(kv.key()) : prefix + "." + std::string(kv.key());
    if (FindKey(path) != nullptr) continue;
    if (kv.value().is_object() && !kv.value().as_object().empty()) {
      CollectUnknownLeaves(kv.value(), path, out);
    } else {
      out.push_back(std::move(path));
    }
  }
}

std::string FlattenPath(std::string_view dotted_path) {
  std::string out = Lower(dotted_path);
  std::replace(out.begin(), out.end(), '.', '_');
  return out;
}

std::optional<std::string> MatchKnownKey(std::string_view flat_key) {
  std::string key = FlattenPath(flat_key);
  for (const KeyInfo& info : KnownKeys()) {
    if (FlattenPath(info.path) == key) return std::string(info.path);
  }
  for (const Alias& alias : kAliases) {
    if (key == alias.flat) return std::string(alias.path);
  }
  return std::nullopt;
}

std::optional<std::string> MatchKey(std::string_view flat_key, const json::value& tree) {
  if (auto known = MatchKnownKey(flat_key)) return known;
  std::string key = FlattenPath(flat_key);
  std::vector<std::string> leaves;
  CollectLeaves(tree, "", leaves);
  for (const std::string& leaf : leaves) {
    if (FlattenPath(leaf) == key) return leaf;
  }
  return std::nullopt;
}

json::value CastValue(std::string_view text) {
  if (text == "true") return json::value(true);
  if (text == "false") return json::value(false);
  if (text == "null") return json::value(nullptr);
  if (IsNumberText(text)) {
    int64_t i = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
    if (ec == std::errc() && end == text.data() + text.size()) return json::value(i);
    uint64_t u = 0;
    auto [uend, uec] = std::from_chars(text.data(), text.data() + text.size(), u);
    if (uec == std::errc() && uend == text.data() + text.size()) return json::value(u);
    std::string s(text);
    char* dend = nullptr;
    double d = std::strtod(s.c_str(), &dend);
    if (dend == s.c_str() + s.size()) return json::value(d);
  }
  if (!text.empty() && (text.front() == '[' || text.front() == '{')) {
    boost::system::error_code ec;
    json::value parsed = json::parse(text, ec);
    if (!ec) return parsed;
  }
  return json::value(json::string(text));
}

json::value DefaultTree(const std::string& root) {
  json::value tree = json::object();
  for (const KeyInfo& info : KnownKeys()) SetPath(tree, info.path, DefaultValue(info, root));
  return tree;
}

const json::value* FindPath(const json::value& tree, std::string_view dotted_path) {
  const json::value* cur = &tree;
  size_t start = 0;
  while (true) {
    size_t dot = dotted_path.find('.', start);
    std::string_view part = dotted_path.substr(
        start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!cur->is_object()) return nullptr;
    const json::value* next = cur->as_object().if_contains(part);
    if (next == nullptr) return nullptr;
    cur = next;
    if (dot == std::string_view::npos) return cur;
    start = dot + 1;
  }
}

void SetPath(json::value& tree, std::string_view dotted_path, json::value value) {
  json::value* cur = &tree;
  size_t start = 0;
  while (true) {
    size_t dot = dotted_path.find('.', start);
    std::string_view part = dotted_path.substr(
        start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!cur->is_object()) *cur = json::object();
    json::object& obj = cur->as_object();
    if (dot == std::string_view::npos) {
      obj[part] = std::move(value);
      return;
    }
    cur = &obj[part];
    start = dot + 1;
  }
}

void MergeInto(json::value& base, const json::value& overlay) {
  if (!overlay.is_object() || !base.is_object()) {
    base = overlay;
    return;
  }
  json::object& b = base.as_object();
  for (const auto& kv : overlay.as_object()) {
    json::value* existing = b.if_contains(kv.key());
    // An empty YAML section ("replication:") reads as null: it keeps the defaults under it.
    if (existing != nullptr && existing->is_object() && kv.value().is_null()) continue;
    if (existing != nullptr && existing->is_object() && kv.value().is_object()) {
      MergeInto(*existing, kv.value());
    } else {
      b[kv.key()] = kv.value();
    }
  }
}

}  // namespace meshdb::config::internal
