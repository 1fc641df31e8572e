// GET of the web console's files (console/assets.h): the page at "/", its scripts and style.
// Every reply carries a strict Content-Security-Policy (scripts and styles from this origin
// only, no inline code, no framing), nosniff and no-store, so an operator's browser never
// runs anything the node did not ship.
#pragma once

#include <optional>
#include <string_view>

#include "net/http_handler.h"

namespace meshdb::net {

// The Content-Security-Policy of every console reply.
inline constexpr const char* kConsoleCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// The reply for `method` `path` (no query) when it names a console file, else nullopt.
// Only GET serves them; anything else falls through to the operations API's routing.
std::optional<HttpReply> ConsoleReply(std::string_view method, std::string_view path);

}  // namespace meshdb::net
