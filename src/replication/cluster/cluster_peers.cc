#include "replication/cluster/cluster_peers.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <utility>

#include "replication/engine/publish_filter.h"
#include "security/base64.h"

namespace meshdb::replication {

namespace json = boost::json;

namespace {

std::string StringField(const json::object& doc, const char* name) {
  const json::value* v = doc.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

bool BoolField(const json::object& doc, const char* name) {
  const json::value* v = doc.if_contains(name);
  return v != nullptr && v->is_bool() && v->get_bool();
}

// Milliseconds since the epoch from ISO-8601 text; nullopt when it does not parse.
std::optional<uint64_t> ParseIso8601(const std::string& text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &year, &month, &day, &consumed) != 3 ||
      consumed != 10) {
    return std::nullopt;
  }
  size_t pos = 10;
  double fraction = 0;
  int offset_minutes = 0;
  if (pos < text.size() && (text[pos] == 'T' || text[pos] == 't' || text[pos] == ' ')) {
    int n = 0;
    if (std::sscanf(text.c_str() + pos + 1, "%2d:%2d%n", &hour, &minute, &n) != 2 || n != 5) {
      return std::nullopt;
    }
    pos += 1 + n;
    if (pos < text.size() && text[pos] == ':') {
      if (std::sscanf(text.c_str() + pos + 1, "%2d%n", &second, &n) != 1 || n != 2) {
        return std::nullopt;
      }
      pos += 1 + n;
      if (pos < text.size() && text[pos] == '.') {
        size_t start = pos;
        ++pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
        fraction = std::stod("0" + text.substr(start, pos - start));
      }
    }
    if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
      ++pos;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
      int oh = 0, om = 0;
      if (std::sscanf(text.c_str() + pos + 1, "%2d:%2d%n", &oh, &om, &n) == 2 && n == 5) {
        offset_minutes = (text[pos] == '-' ? -1 : 1) * (oh * 60 + om);
        pos += 1 + n;
      } else {
        return std::nullopt;
      }
    }
  }
  if (pos != text.size()) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  time_t seconds = timegm(&tm);
  int64_t ms = static_cast<int64_t>(seconds) * 1000 + std::llround(fraction * 1000) -
               static_cast<int64_t>(offset_minutes) * 60000;
  if (ms < 0) return std::nullopt;
  return static_cast<uint64_t>(ms);
}

}  // namespace

NodeRow NodeRow::FromRecord(const json::object& doc) {
  NodeRow row;
  row.name = StringField(doc, "name");
  row.url = StringField(doc, "url");
  row.ca = StringField(doc, "ca");
  row.certificate_serial = StringField(doc, "certificate_serial");
  if (const json::value* v = doc.if_contains("revoked_certificates"); v && v->is_array()) {
    for (const json::value& serial : v->get_array()) {
      if (serial.is_string()) row.revoked_certificates.emplace_back(serial.get_string());
    }
  }
  if (const json::value* v = doc.if_contains("subscriptions")) row.subscriptions = *v;
  if (const json::value* v = doc.if_contains("start_time")) row.start_time = *v;
  if (const json::value* v = doc.if_contains("peer_subscriptions"); v && v->is_object()) {
    row.peer_subscriptions = *v;
  }
  return row;
}

std::vector<TableSubscription> SwapSubscriptions(std::vector<TableSubscription> subs) {
  for (TableSubscription& s : subs) std::swap(s.publish, s.subscribe);
  return subs;
}

EffectiveSubscriptions SubscriptionsForLink(const std::string& self_name, const NodeRow* peer_row,
                                            const LocalNodeState* local) {
  EffectiveSubscriptions out;
  if (local != nullptr && local->subscriptions.is_array()) {
    out.subscriptions = ParseSubscriptions(local->subscriptions);
    out.owner = self_name;
    return out;
  }
  if (peer_row != nullptr && peer_row->peer_subscriptions.is_object()) {
    const json::value* mine = peer_row->peer_subscriptions.get_object().if_contains(self_name);
    if (mine != nullptr && mine->is_array()) {
      out.subscriptions = SwapSubscriptions(ParseSubscriptions(*mine));
      out.owner = peer_row->name;
    }
  }
  return out;
}

json::value PeerSubscriptionsOf(const std::map<std::string, LocalNodeState>& local) {
  json::object out;
  for (const auto& [name, state] : local) {
    if (state.removed || !state.subscriptions.is_array()) continue;
    out[name] = state.subscriptions;
  }
  if (out.empty()) return nullptr;
  return out;
}

json::value SubscriptionsJson(const std::vector<TableSubscription>& subs) {
  if (subs.empty()) return nullptr;
  json::array out;
  for (const TableSubscription& s : subs) {
    out.push_back(json::object{{"database", s.database},
                               {"table", s.table},
                               {"publish", s.publish},
                               {"subscribe", s.subscribe}});
  }
  return out;
}

std::string MakeUrl(const std::string& host, int port, const std::string& scheme) {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + std::to_string(port);
}

std::vector<TableSubscription> ParseSubscriptions(const json::value& subscriptions) {
  std::vector<TableSubscription> out;
  if (!subscriptions.is_array()) return out;
  for (const json::value& item : subscriptions.get_array()) {
    if (!item.is_object()) continue;
    const json::object& obj = item.get_object();
    TableSubscription sub;
    sub.database = StringField(obj, "database");
    if (sub.database.empty()) sub.database = StringField(obj, "schema");
    sub.table = StringField(obj, "table");
    sub.subscribe = BoolField(obj, "subscribe");
    sub.publish = BoolField(obj, "publish");
    if (sub.database.empty()) continue;
    out.push_back(std::move(sub));
  }
  return out;
}

Result<std::optional<uint64_t>> ParseStartTime(const json::value& start_time) {
  if (start_time.is_null()) return std::optional<uint64_t>();
  if (start_time.is_number()) {
    double ms = start_time.to_number<double>();
    if (ms < 0 || !std::isfinite(ms)) {
      return Status::InvalidArgument("'start_time' must be a date or milliseconds since 1970");
    }
    return std::optional<uint64_t>(static_cast<uint64_t>(ms));
  }
  if (start_time.is_string()) {
    std::string text(start_time.get_string());
    if (!text.empty() &&
        std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::optional<uint64_t>(std::stoull(text));
    }
    if (std::optional<uint64_t> ms = ParseIso8601(text)) return ms;
  }
  return Status::InvalidArgument("'start_time' must be a date or milliseconds since 1970");
}

Result<std::string> AuthorizationHeader(const json::value& authorization) {
  if (authorization.is_null()) return std::string();
  if (authorization.is_string()) return std::string(authorization.get_string());
  if (authorization.is_object()) {
    const json::object& obj = authorization.get_object();
    const json::value* user = obj.if_contains("username");
    const json::value* pass = obj.if_contains("password");
    if (user != nullptr && user->is_string() && pass != nullptr && pass->is_string()) {
      return "Basic " + security::Base64Encode(std::string(user->get_string()) + ":" +
                                               std::string(pass->get_string()));
    }
  }
  return Status::InvalidArgument(
      "'authorization' must be {username, password} or an HTTP Authorization string");
}

std::vector<PeerSpec> ComputePeers(const PeerInputs& in) {
  std::map<std::string, PeerSpec> by_name;
  auto state_of = [&](const std::string& name) -> const LocalNodeState* {
    auto it = in.local.find(name);
    return it == in.local.end() ? nullptr : &it->second;
  };
  for (const NodeRow& row : in.nodes) {
    if (row.name.empty() || row.name == in.self_name) continue;
    const LocalNodeState* state = state_of(row.name);
    if (state != nullptr && state->removed) continue;
    PeerSpec spec;
    spec.name = row.name;
    spec.url = !row.url.empty() ? row.url : MakeUrl(row.name, in.default_port, in.default_scheme);
    if (spec.url == in.self_url) continue;
    spec.dial = (state != nullptr && state->added) || in.self_name < row.name;
    if (auto it = in.pending_authorization.find(row.name); it != in.pending_authorization.end()) {
      spec.authorization = it->second;
    } else if (state != nullptr) {
      spec.authorization = state->authorization;
    }
    spec.subscriptions = SubscriptionsForLink(in.self_name, &row, state).subscriptions;
    if (Result<std::optional<uint64_t>> t = ParseStartTime(row.start_time); t.ok()) {
      spec.start_time_ms = *t;
    }
    by_name.emplace(row.name, std::move(spec));
  }

  // A database this node subscribed explicitly with some peer leaves its automatic mesh
  // (links without explicit subscriptions of their own), every table of it: what the
  // explicit link leaves out, listed or not, must not reach that peer's cluster another way.
  // Of the system database only the listed tables leave: membership must keep flowing.
  // Everything else still replicates fully ("*"/"*").
  std::vector<TableSubscription> excluded;
  auto exclude_once = [&](const std::string& database, const std::string& table) {
    for (const TableSubscription& e : excluded) {
      if (e.database == database && e.table == table) return;
    }
    excluded.push_back(TableSubscription{database, table, false, false});
  };
  for (const auto& [name, state] : in.local) {
    if (state.removed || !state.subscriptions.is_array()) continue;
    for (const TableSubscription& s : ParseSubscriptions(state.subscriptions)) {
      exclude_once(s.database, s.database == kSystemDatabase ? s.table : "*");
    }
  }
  if (!excluded.empty()) excluded.insert(excluded.begin(), TableSubscription{"*", "*", true, true});
  auto exclude = [&](PeerSpec& spec, const NodeRow* row) {
    if (excluded.empty()) return;
    if (!SubscriptionsForLink(in.self_name, row, state_of(spec.name)).owner.empty()) return;
    spec.subscriptions = excluded;
  };
  for (const NodeRow& row : in.nodes) {
    if (auto it = by_name.find(row.name); it != by_name.end()) exclude(it->second, &row);
  }

  Result<Route> self_route = ParseUrl(in.self_url);
  std::vector<PeerSpec> unnamed;
  for (const Route& route : in.routes) {
    std::string url = route.Url(in.default_port, in.default_scheme);
    if (url == in.self_url || (self_route.ok() && SameRoute(*self_route, route, in.default_port))) {
      continue;  // a route to this node itself
    }
    PeerSpec* match = nullptr;
    for (auto& [name, spec] : by_name) {
      Result<Route> spec_route = ParseUrl(spec.url);
      bool same_url =
          spec.url == url || (spec_route.ok() && SameRoute(*spec_route, route, in.default_port));
      bool same_name = name == route.host &&
                       (route.port == 0 || (spec_route.ok() && spec_route->port == route.port));
      if (same_url || same_name) {
        match = &spec;
        break;
      }
    }
    if (match != nullptr) {
      match->dial = true;
      continue;
    }
    // A route to a node removed here stays unlinked until the route is set again.
    if (const LocalNodeState* state = state_of(route.host); state != nullptr && state->removed) {
      continue;
    }
    bool duplicate = false;
    for (const PeerSpec& spec : unnamed) duplicate = duplicate || spec.url == url;
    if (duplicate) continue;
    PeerSpec spec;
    spec.url = url;
    spec.dial = true;
    exclude(spec, nullptr);
    unnamed.push_back(std::move(spec));
  }

  std::vector<PeerSpec> out;
  out.reserve(by_name.size() + unnamed.size());
  for (auto& [name, spec] : by_name) out.push_back(std::move(spec));
  std::sort(unnamed.begin(), unnamed.end(),
            [](const PeerSpec& a, const PeerSpec& b) { return a.url < b.url; });
  for (PeerSpec& spec : unnamed) out.push_back(std::move(spec));
  return out;
}

}  // namespace meshdb::replication
