// Transport-free request handling: a parsed HTTP request in, a reply out. The session
// (http_session.cc) only moves bytes; every routing and envelope rule of the operations
// API lives here, so unit tests can drive it without sockets.
// Thread-safety: HandleHttpRequest may run concurrently; `reply` may be called on any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "ops/operations.h"

namespace meshdb::net {

struct HttpRequest {
  std::string method;                       // "POST", "GET", ...
  std::string target;                       // "/", "/health?x=1"
  std::optional<std::string> content_type;  // nullopt when the header is absent
  std::string authorization;                // "" when absent
  std::string origin;                       // the Origin header, "" when absent
  std::string remote_address;               // peer IP
  std::string body;
};

struct HttpReply {
  int status = 200;
  std::string content_type;  // "" sends no Content-Type
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (CORS)
  bool close = false;    // send Connection: close and close after the reply
  bool restart = false;  // after the reply is written, the node restarts
};

inline constexpr const char* kJsonType = "application/json";
inline constexpr const char* kJsonErrorType = "application/json; charset=utf-8";

using ReplyFn = std::function<void(HttpReply)>;

// Routes `request`: GET /health, OPTIONS and the envelope errors (415, 400, 404) give the
// reply at once; a POST / with a non-empty JSON body gives the OpRequest to execute (the
// body and headers are moved, not copied).
std::variant<HttpReply, ops::OpRequest> RouteHttpRequest(HttpRequest request);

// The reply for an operation's result: 200 application/json, or the mapped error status with
// the error body; restart_after_reply sets `close` and `restart`. Serializes the body, so it
// runs on an I/O thread, not in the Operations completion.
HttpReply ReplyForOpResult(ops::OpResult result);

// RouteHttpRequest, then ops->Execute and ReplyForOpResult when it routes to the operations
// API. `reply` is called exactly once, possibly on the thread that completes the operation.
// `*ops` must stay live until then.
void HandleHttpRequest(HttpRequest request, ops::Operations* ops, ReplyFn reply);

// The 413 reply for a body over `limit_bytes` (the connection is closed after it).
HttpReply TooLargeReply(uint64_t limit_bytes);

}  // namespace meshdb::net
