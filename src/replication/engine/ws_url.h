// Peer URLs (ws://host[:port], wss://host[:port]): the one parser behind the links' dialing
// and membership's routes (cluster_routes.h ParseUrl adds the length limits).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace meshdb::replication {

struct WsUrl {
  std::string scheme;  // "ws" or "wss"
  std::string host;    // without brackets
  int port = 0;        // 0: not given
};

// A path, query or fragment is dropped; so are credentials in the authority. InvalidArgument
// naming the problem when `url` is not a ws:// or wss:// URL with a host (and a valid port).
Result<WsUrl> ParseWsUrl(std::string_view url);

}  // namespace meshdb::replication
