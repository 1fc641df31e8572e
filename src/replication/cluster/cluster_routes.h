// Replication routes: parsing the forms `replication.routes` (and the legacy
// `clustering.hubServer.cluster.network.routes`) accepts, and the set/delete arithmetic of
// cluster_set_routes / cluster_delete_routes. Pure functions; no I/O.
//
// Accepted route forms:
//   "host"                      -> <default scheme>://host:<default port>
//   "host:port"                 -> <default scheme>://host:port   (HarperDB mis-parses this
//                                  one; we do not)
//   "ws://host:port", "wss://host:port" (a path, if any, is dropped)
//   {"hostname": "host", "port": 9925} or {"host": "host", "port": "9925"}; port optional
// The defaults are the node's own: the scheme and port of its own URL (wss://…:9933 in a new
// configuration, docs/configuration.md), as HarperDB completes a route from its own ports.
// IPv6 literals are written in brackets: "[::1]:9925", "ws://[::1]:9925". Hosts and URLs are
// parsed with Boost.URL.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/host_limits.h"
#include "common/status.h"

namespace meshdb::replication {

struct Route {
  std::string scheme;           // "ws", "wss", or empty: not given (the node's own applies)
  std::string host;             // without brackets
  int port = 0;                 // 0: not given (the node's default port applies)
  boost::json::value original;  // the entry as configured

  // scheme://host:port with `default_scheme` and `default_port` standing in for what the
  // route does not give.
  [[nodiscard]] std::string Url(int default_port, std::string_view default_scheme) const;
  [[nodiscard]] int EffectivePort(int default_port) const {
    return port != 0 ? port : default_port;
  }
};

// InvalidArgument describing the problem when `entry` is not a route, or when it breaks the
// length limits (CheckRouteLength in common/host_limits.h, whose messages name `field`).
Result<Route> ParseRoute(const boost::json::value& entry, std::string_view field = "route");

// Every valid entry of a routes array (null or a non-array gives none); invalid entries are
// appended to `errors` (may be null) and skipped.
std::vector<Route> ParseRoutes(const boost::json::value& routes,
                               std::vector<std::string>* errors = nullptr);

// Two routes name the same peer when host AND effective port are equal (the scheme is
// ignored). HarperDB compared only ports when `hostname` was absent; we compare both.
bool SameRoute(const Route& a, const Route& b, int default_port);

// Validates the `routes` field of cluster_set_routes / cluster_delete_routes with HarperDB's
// texts: "'routes' is required", "'routes' must be one of [array]", "'routes' does not match
// any of the allowed types". Strings and objects may be mixed (the documented example does).
// An over-long entry is named: "'routes[1].hostname' length must be less than or equal to 253
// characters long", "'routes[0]' host length must be ...".
Status ValidateRoutesField(const boost::json::object& body);

struct RouteChange {
  boost::json::array routes;   // the resulting set, as configured entries
  boost::json::array changed;  // `set` or `deleted`, as given in the request
  boost::json::array skipped;  // entries that changed nothing
};

// cluster_set_routes: appends each requested route not already present (by SameRoute, also
// against earlier entries of the same request).
RouteChange AddRoutes(const boost::json::value& current, const boost::json::array& add,
                      int default_port);

// cluster_delete_routes: removes each requested route present in `current`; the others are
// skipped.
RouteChange RemoveRoutes(const boost::json::value& current, const boost::json::array& remove,
                         int default_port);

// Scheme, host (IPv6 without brackets) and port (0 when absent) of a ws:// or wss:// URL, parsed
// by Boost.URL (RFC 3986); credentials, path, query and fragment are ignored. InvalidArgument
// for another scheme, a missing host, a port outside 1-65535, or a URL that breaks the length
// limits (CheckUrlLength in common/host_limits.h, whose messages name `field`). Meant as the one
// URL parser of the replication module (link.cc's dialer can use it too).
Result<Route> ParseUrl(std::string_view url, std::string_view field = "url");

}  // namespace meshdb::replication
