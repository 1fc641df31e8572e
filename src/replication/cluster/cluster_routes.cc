#include "replication/cluster/cluster_routes.h"

#include <boost/url/authority_view.hpp>
#include <boost/url/ipv6_address.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <string_view>
#include <utility>

#include "common/host_limits.h"
#include "replication/engine/ws_url.h"

namespace meshdb::replication {

namespace json = boost::json;
namespace urls = boost::urls;

namespace {

// A port from a number or a numeric string; 0 when absent/null; -1 when invalid.
int PortOf(const json::value* v) {
  if (v == nullptr || v->is_null()) return 0;
  int64_t n = -1;
  if (v->is_int64()) {
    n = v->get_int64();
  } else if (v->is_uint64()) {
    n = v->get_uint64() > 65535 ? -1 : static_cast<int64_t>(v->get_uint64());
  } else if (v->is_double()) {
    double d = v->get_double();
    n = d == static_cast<double>(static_cast<int64_t>(d)) ? static_cast<int64_t>(d) : -1;
  } else if (v->is_string()) {
    std::string_view s = v->get_string();
    if (s.empty()) return 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size()) n = -1;
  }
  if (n < 0 || n > 65535) return -1;
  return static_cast<int>(n);
}

// Host and port of an authority ("host", "host:port", "[v6]", "[v6]:port") or of a URL's
// authority, into route.host/port. `text` is the whole entry, for messages.
Status TakeHostPort(const urls::authority_view& authority, std::string_view text, Route& route) {
  route.host = authority.host_address();
  if (route.host.empty())
    return Status::InvalidArgument("empty host in '" + std::string(text) + "'");
  if (authority.has_port()) {
    json::value port_value = json::string(authority.port());
    int port = authority.port().empty() ? -1 : PortOf(&port_value);
    if (port <= 0) {
      return Status::InvalidArgument("invalid port '" + std::string(authority.port()) + "' in '" +
                                     std::string(text) + "'");
    }
    route.port = port;
  }
  return Status::Ok();
}

// "host", "host:port", "[v6]", "[v6]:port" (and a bare IPv6 literal) into route.host/port.
Status ParseHostPort(std::string_view text, Route& route) {
  if (text.empty()) return Status::InvalidArgument("empty host");
  if (urls::parse_ipv6_address(text)) {  // a bare IPv6 literal: no port
    route.host = std::string(text);
    return Status::Ok();
  }
  urls::result<urls::authority_view> authority = urls::parse_authority(text);
  if (!authority || authority->has_userinfo()) {
    return Status::InvalidArgument("not a host or host:port: '" + std::string(text) + "'");
  }
  return TakeHostPort(*authority, text, route);
}

// ParseUrl without the length limits: the engine's parser (dialing uses it too).
Result<Route> ParseUrlUnchecked(std::string_view url) {
  ASSIGN_OR_RETURN(WsUrl parsed, ParseWsUrl(url));
  Route route;
  route.scheme = std::move(parsed.scheme);
  route.host = std::move(parsed.host);
  route.port = parsed.port;
  return route;
}

// ParseRoute without the length limits.
Result<Route> ParseRouteUnchecked(const json::value& entry) {
  Route route;
  route.original = entry;
  if (entry.is_string()) {
    std::string_view text = entry.get_string();
    if (text.find("://") != std::string_view::npos) {
      ASSIGN_OR_RETURN(Route parsed, ParseUrlUnchecked(text));
      parsed.original = entry;
      return parsed;
    }
    RETURN_IF_ERROR(ParseHostPort(text, route));
    return route;
  }
  if (!entry.is_object()) return Status::InvalidArgument("a route must be a string or an object");
  const json::object& obj = entry.get_object();
  const json::value* host = obj.if_contains("hostname");
  if (host == nullptr || host->is_null()) host = obj.if_contains("host");
  if (host == nullptr || !host->is_string() || host->get_string().empty()) {
    return Status::InvalidArgument("a route object needs a 'hostname' (or 'host') string");
  }
  route.host = std::string(host->get_string());
  if (route.host.size() > 2 && route.host.front() == '[' && route.host.back() == ']') {
    route.host = route.host.substr(1, route.host.size() - 2);
  }
  int port = PortOf(obj.if_contains("port"));
  if (port < 0) return Status::InvalidArgument("invalid port in route to '" + route.host + "'");
  route.port = port;
  return route;
}

bool ContainsRoute(const std::vector<Route>& routes, const Route& route, int default_port) {
  for (const Route& r : routes) {
    if (SameRoute(r, route, default_port)) return true;
  }
  return false;
}

}  // namespace

std::string Route::Url(int default_port, std::string_view default_scheme) const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::string_view s = scheme.empty() ? default_scheme : std::string_view(scheme);
  return std::string(s) + "://" + h + ":" + std::to_string(EffectivePort(default_port));
}

Result<Route> ParseUrl(std::string_view url, std::string_view field) {
  RETURN_IF_ERROR(CheckUrlLength(url, field));
  return ParseUrlUnchecked(url);
}

Result<Route> ParseRoute(const json::value& entry, std::string_view field) {
  RETURN_IF_ERROR(CheckRouteLength(entry, field));
  return ParseRouteUnchecked(entry);
}

std::vector<Route> ParseRoutes(const json::value& routes, std::vector<std::string>* errors) {
  std::vector<Route> out;
  if (!routes.is_array()) return out;
  for (const json::value& entry : routes.get_array()) {
    Result<Route> route = ParseRoute(entry);
    if (route.ok()) {
      out.push_back(std::move(route).value());
    } else if (errors != nullptr) {
      errors->push_back(route.status().message());
    }
  }
  return out;
}

bool SameRoute(const Route& a, const Route& b, int default_port) {
  return a.host == b.host && a.EffectivePort(default_port) == b.EffectivePort(default_port);
}

Status ValidateRoutesField(const json::object& body) {
  const json::value* routes = body.if_contains("routes");
  if (routes == nullptr || routes->is_null())
    return Status::InvalidArgument("'routes' is required");
  if (!routes->is_array()) return Status::InvalidArgument("'routes' must be one of [array]");
  const json::array& entries = routes->get_array();
  for (size_t i = 0; i < entries.size(); ++i) {
    const json::value& entry = entries[i];
    // An over-long entry gets a message naming it; other faults get HarperDB's text.
    RETURN_IF_ERROR(CheckRouteLength(entry, "routes[" + std::to_string(i) + "]"));
    bool ok = false;
    if (entry.is_string()) {
      ok = ParseRoute(entry).ok();
    } else if (entry.is_object()) {
      const json::object& obj = entry.get_object();
      const json::value* port = obj.if_contains("port");
      bool port_ok = port == nullptr || port->is_null() || port->is_string() ||
                     (port->is_number() && PortOf(port) >= 0);
      ok = port_ok && ParseRoute(entry).ok();
    }
    if (!ok) return Status::InvalidArgument("'routes' does not match any of the allowed types");
  }
  return Status::Ok();
}

RouteChange AddRoutes(const json::value& current, const json::array& add, int default_port) {
  RouteChange change;
  std::vector<Route> present;
  if (current.is_array()) {
    for (const json::value& entry : current.get_array()) {
      change.routes.push_back(entry);
      if (Result<Route> r = ParseRoute(entry); r.ok()) present.push_back(std::move(r).value());
    }
  }
  for (const json::value& entry : add) {
    Result<Route> route = ParseRoute(entry);
    if (!route.ok() || ContainsRoute(present, *route, default_port)) {
      change.skipped.push_back(entry);
      continue;
    }
    present.push_back(*route);
    change.routes.push_back(entry);
    change.changed.push_back(entry);
  }
  return change;
}

RouteChange RemoveRoutes(const json::value& current, const json::array& remove, int default_port) {
  RouteChange change;
  std::vector<Route> doomed;
  for (const json::value& entry : remove) {
    if (Result<Route> r = ParseRoute(entry); r.ok()) doomed.push_back(std::move(r).value());
  }
  std::vector<bool> used(doomed.size(), false);
  if (current.is_array()) {
    for (const json::value& entry : current.get_array()) {
      Result<Route> route = ParseRoute(entry);
      bool drop = false;
      if (route.ok()) {
        for (size_t i = 0; i < doomed.size(); ++i) {
          if (SameRoute(doomed[i], *route, default_port)) {
            drop = true;
            used[i] = true;
          }
        }
      }
      if (!drop) change.routes.push_back(entry);
    }
  }
  size_t i = 0;
  for (const json::value& entry : remove) {
    bool parsed = ParseRoute(entry).ok();
    bool deleted = parsed && used[i];
    if (parsed) ++i;
    (deleted ? change.changed : change.skipped).push_back(entry);
  }
  return change;
}

}  // namespace meshdb::replication
