// Length limits on host names and URLs, shared by configuration validation (config/) and the
// cluster operations (replication/), so a configuration key and an operation refuse the same
// values with the same text. Pure functions; thread-safe.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace meshdb {

// A DNS name is at most 253 characters (RFC 1035 §2.3.4, written without the trailing dot).
// Node names are host names and key system.hdb_nodes rows (LMDB keys hold at most 511 bytes).
inline constexpr size_t kMaxHostNameLength = 253;

// URLs (replication URLs, routes written as URLs): 2048 characters, the usual practical limit.
inline constexpr size_t kMaxUrlLength = 2048;

// "'<field>' length must be less than or equal to <limit> characters long", the text of
// HarperDB's validator (Joi) for an over-long string.
std::string TooLongMessage(std::string_view field, size_t limit);

// OK when `url` is at most kMaxUrlLength characters and its host (when it parses as a URL, by
// Boost.URL) at most kMaxHostNameLength; else InvalidArgument naming `field`: "'url' length
// must be less than or equal to 2048 characters long", "'url' host length must be ...".
Status CheckUrlLength(std::string_view url, std::string_view field);

// The same limits for a replication route (the forms of replication/cluster/cluster_routes.h): a
// string at most kMaxUrlLength and its host ("host[:port]" or a URL's) at most
// kMaxHostNameLength; an object's `hostname`/`host` at most kMaxHostNameLength, e.g.
// "'routes[1].hostname' length must be ...". OK for entries that are not routes at all.
Status CheckRouteLength(const boost::json::value& entry, std::string_view field);

}  // namespace meshdb
