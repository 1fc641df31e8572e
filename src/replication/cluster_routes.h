// Replication routes: parsing the forms `replication.routes` (and the legacy
// `clustering.hubServer.cluster.network.routes`) accepts, and the set/delete arithmetic of
// cluster_set_routes / cluster_delete_routes. Pure functions; no I/O.
//
// Accepted route forms:
//   "host"                      -> ws://host:<default port>
//   "host:port"                 -> ws://host:port   (HarperDB mis-parses this one; we do not)
//   "ws://host:port", "wss://host:port" (a path, if any, is dropped)
//   {"hostname": "host", "port": 9925} or {"host": "host", "port": "9925"}; port optional
// IPv6 literals are written in brackets: "[::1]:9925", "ws://[::1]:9925".
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace meshdb::replication {

struct Route {
  std::string scheme = "ws";    // "ws" or "wss"
  std::string host;             // without brackets
  int port = 0;                 // 0: not given (the node's default port applies)
  boost::json::value original;  // the entry as configured

  // ws://host:port with `default_port` standing in for a missing port.
  std::string Url(int default_port) const;
  int EffectivePort(int default_port) const { return port != 0 ? port : default_port; }
};

// InvalidArgument describing the problem when `entry` is not a route.
Result<Route> ParseRoute(const boost::json::value& entry);

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

// Host and port of a ws:// or wss:// URL (port 0 when absent); InvalidArgument otherwise.
Result<Route> ParseUrl(const std::string& url);

}  // namespace meshdb::replication
