// The one place a Status becomes an HTTP status code and error body.
// Thread-safety: pure functions.
#pragma once

#include <boost/json/fwd.hpp>
#include <string>

#include "common/status.h"

namespace meshdb::net {

// OK 200, InvalidArgument 400, Unauthenticated 401, PermissionDenied 403, NotFound 404,
// Conflict 409, TooLarge 413, Unavailable 503, Corruption/IOError/Internal 500.
int HttpStatusFor(const Status& status);

// The JSON error body for a failed operation: {"error": status.message()} followed by the
// fields of `extra` when it is an object. When `extra` is an object that has its own "error"
// it is the whole body, as given (e.g. the Fastify-shaped 400 for `{}`).
std::string ErrorBody(const Status& status, const boost::json::value& extra);

// {"error": message}, JSON-escaped.
std::string ErrorBody(const std::string& message);

}  // namespace meshdb::net
