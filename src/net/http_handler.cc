#include "net/http_handler.h"

#include <algorithm>
#include <cctype>
#include <string_view>

#include "common/json_text.h"
#include "net/console_route.h"
#include "net/http_status.h"
#include "net/metrics_endpoint.h"
#include "ops/operations.h"

namespace meshdb::net {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The media type of a Content-Type value, lower-cased, without parameters.
std::string MediaType(std::string_view content_type) {
  std::string_view type = Trim(content_type.substr(0, content_type.find(';')));
  std::string lower(type);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

HttpReply JsonError(int status, std::string body) {
  HttpReply reply;
  reply.status = status;
  reply.content_type = kJsonErrorType;
  reply.body = std::move(body);
  return reply;
}

HttpReply NotFound() {
  HttpReply reply;
  reply.status = 404;
  reply.body = "Not found\n";
  return reply;
}

}  // namespace

HttpReply ReplyForOpResult(ops::OpResult result) {
  HttpReply reply;
  reply.status = HttpStatusFor(result.status);
  if (result.status.ok()) {
    reply.content_type = kJsonType;
    reply.body = ToJsonText(result.body);
  } else {
    reply.content_type = kJsonErrorType;
    reply.body = ErrorBody(result.status, result.body);
  }
  if (result.restart_after_reply) {
    reply.close = true;
    reply.restart = true;
  }
  return reply;
}

HttpReply TooLargeReply(uint64_t limit_bytes) {
  HttpReply reply = JsonError(413, ErrorBody("Request body is larger than the limit of " +
                                             std::to_string(limit_bytes) + " bytes"));
  reply.close = true;
  return reply;
}

std::variant<HttpReply, ops::OpRequest> RouteHttpRequest(HttpRequest request) {
  std::string_view path(request.target);
  path = path.substr(0, path.find('?'));
  if (auto console = ConsoleReply(request.method, path)) return std::move(*console);

  if (request.method == "OPTIONS") {
    HttpReply r;
    r.status = 204;
    r.headers = {
        {"Access-Control-Allow-Methods", "POST, GET, PUT, DELETE, PATCH, OPTIONS"},
        {"Access-Control-Allow-Headers", "Accept, Content-Type, Authorization"},
        {"Access-Control-Allow-Origin", request.origin.empty() ? "*" : request.origin},
        {"Access-Control-Allow-Credentials", "true"},
    };
    return r;
  }
  if (request.method == "GET" && path == "/health") {
    HttpReply r;
    r.content_type = "text/plain";
    r.body = "HarperDB is running.";
    return r;
  }
  if (request.method == "GET" && path == "/metrics") return MetricsReply(request);
  if (request.method != "POST" || path != "/") return NotFound();

  if (!request.content_type.has_value()) {
    return JsonError(415, ErrorBody("Unsupported Media Type: undefined"));
  }
  std::string media_type = MediaType(*request.content_type);
  if (media_type == "text/plain") {
    // Fastify parses text/plain as a string, which then has no 'operation' property.
    return JsonError(400, R"({"statusCode":400,"error":"Bad Request","message":)"
                          R"("Request body must include an 'operation' property."})");
  }
  if (media_type != "application/json") {
    return JsonError(415, ErrorBody("Unsupported Media Type: " + media_type));
  }
  if (request.body.empty()) {
    return JsonError(
        400, ErrorBody("Body cannot be empty when content-type is set to 'application/json'"));
  }

  ops::OpRequest op;
  op.body = std::move(request.body);
  op.authorization = std::move(request.authorization);
  op.remote_address = std::move(request.remote_address);
  return op;
}

void HandleHttpRequest(HttpRequest request, ops::Operations* ops, ReplyFn reply) {
  std::variant<HttpReply, ops::OpRequest> routed = RouteHttpRequest(std::move(request));
  if (auto* immediate = std::get_if<HttpReply>(&routed)) return reply(std::move(*immediate));
  ops->Execute(std::move(std::get<ops::OpRequest>(routed)),
               [reply = std::move(reply)](ops::OpResult result) {
                 reply(ReplyForOpResult(std::move(result)));
               });
}

}  // namespace meshdb::net
