#include "net/http_handler.h"

#include <gtest/gtest.h>

#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "fake_operations.h"

namespace meshdb::net {
namespace {

namespace json = boost::json;

HttpRequest Post(std::optional<std::string> content_type, std::string body) {
  HttpRequest request;
  request.method = "POST";
  request.target = "/";
  request.content_type = std::move(content_type);
  request.body = std::move(body);
  request.authorization = "Basic YWRtaW46cGFzc3dvcmQ=";
  request.remote_address = "127.0.0.1";
  return request;
}

// Runs HandleHttpRequest and returns its (synchronous, with FakeOperations) reply.
HttpReply Handle(HttpRequest request, FakeOperations& ops) {
  std::optional<HttpReply> reply;
  int calls = 0;
  HandleHttpRequest(std::move(request), &ops, [&](HttpReply r) {
    ++calls;
    reply = std::move(r);
  });
  EXPECT_EQ(calls, 1);
  return reply.value_or(HttpReply{});
}

std::string Describe(const HttpReply& reply) {
  return std::to_string(reply.status) + " [" + reply.content_type + "] " + reply.body +
         (reply.close ? " close" : "") + (reply.restart ? " restart" : "");
}

TEST(HttpHandlerTest, JsonPostGoesToOperationsWithHeaders) {
  FakeOperations ops;
  HttpReply reply = Handle(Post("application/json", R"({"operation":"describe_all"})"), ops);
  EXPECT_EQ(Describe(reply), R"(200 [application/json] {"message":"ok"})");
  ASSERT_EQ(ops.requests.size(), 1u);
  EXPECT_EQ(ops.requests[0].body, R"({"operation":"describe_all"})");
  EXPECT_EQ(ops.requests[0].authorization, "Basic YWRtaW46cGFzc3dvcmQ=");
  EXPECT_EQ(ops.requests[0].remote_address, "127.0.0.1");
}

TEST(HttpHandlerTest, JsonWithCharsetAndCaseIsAccepted) {
  FakeOperations ops;
  EXPECT_EQ(Handle(Post("Application/JSON; charset=utf-8", "{}"), ops).status, 200);
  EXPECT_EQ(ops.requests.size(), 1u);
}

TEST(HttpHandlerTest, QueryStringOnRootIsAccepted) {
  FakeOperations ops;
  HttpRequest request = Post("application/json", "{}");
  request.target = "/?x=1";
  EXPECT_EQ(Handle(std::move(request), ops).status, 200);
}

TEST(HttpHandlerTest, MissingContentTypeIs415Undefined) {
  FakeOperations ops;
  EXPECT_EQ(
      Describe(Handle(Post(std::nullopt, "{}"), ops)),
      R"(415 [application/json; charset=utf-8] {"error":"Unsupported Media Type: undefined"})");
  EXPECT_TRUE(ops.requests.empty());
}

TEST(HttpHandlerTest, TextPlainIsFastifyBadRequest) {
  FakeOperations ops;
  EXPECT_EQ(Describe(Handle(Post("text/plain", R"({"operation":"x"})"), ops)),
            "400 [application/json; charset=utf-8] "
            R"({"statusCode":400,"error":"Bad Request","message":)"
            R"("Request body must include an 'operation' property."})");
  EXPECT_TRUE(ops.requests.empty());
}

TEST(HttpHandlerTest, OtherMediaTypeIs415) {
  FakeOperations ops;
  EXPECT_EQ(Describe(Handle(Post("application/xml", "<x/>"), ops)),
            "415 [application/json; charset=utf-8] "
            R"({"error":"Unsupported Media Type: application/xml"})");
}

TEST(HttpHandlerTest, EmptyJsonBodyIs400) {
  FakeOperations ops;
  EXPECT_EQ(Describe(Handle(Post("application/json", ""), ops)),
            "400 [application/json; charset=utf-8] "
            R"({"error":"Body cannot be empty when content-type is set to 'application/json'"})");
  EXPECT_TRUE(ops.requests.empty());
}

TEST(HttpHandlerTest, HealthIsPlainText) {
  FakeOperations ops;
  HttpRequest request;
  request.method = "GET";
  request.target = "/health";
  EXPECT_EQ(Describe(Handle(std::move(request), ops)), "200 [text/plain] HarperDB is running.");
}

TEST(HttpHandlerTest, OptionsIs204WithCors) {
  FakeOperations ops;
  HttpRequest request;
  request.method = "OPTIONS";
  request.target = "/";
  request.origin = "http://studio.example";
  HttpReply reply = Handle(std::move(request), ops);
  EXPECT_EQ(Describe(reply), "204 [] ");
  std::string headers;
  for (auto& [name, value] : reply.headers) headers += name + ": " + value + "\n";
  EXPECT_EQ(headers,
            "Access-Control-Allow-Methods: POST, GET, PUT, DELETE, PATCH, OPTIONS\n"
            "Access-Control-Allow-Headers: Accept, Content-Type, Authorization\n"
            "Access-Control-Allow-Origin: http://studio.example\n"
            "Access-Control-Allow-Credentials: true\n");
}

TEST(HttpHandlerTest, OtherMethodsAndPathsAre404) {
  FakeOperations ops;
  for (auto [method, target] :
       {std::pair{"PUT", "/"}, std::pair{"GET", "/index.htm"}, std::pair{"GET", "/status"},
        std::pair{"POST", "/other"}, std::pair{"DELETE", "/"}}) {
    HttpRequest request = Post("application/json", "{}");
    request.method = method;
    request.target = target;
    EXPECT_EQ(Describe(Handle(std::move(request), ops)), "404 [] Not found\n")
        << method << " " << target;
  }
  EXPECT_TRUE(ops.requests.empty());
}

TEST(HttpHandlerTest, OperationErrorIsMappedWithExtraFields) {
  FakeOperations ops;
  ops.next_result.status = Status::PermissionDenied("not authorized");
  ops.next_result.body = json::object{{"unauthorized_access", json::array{}}};
  EXPECT_EQ(Describe(Handle(Post("application/json", "{}"), ops)),
            "403 [application/json; charset=utf-8] "
            R"({"error":"not authorized","unauthorized_access":[]})");
}

TEST(HttpHandlerTest, RestartClosesAndSignals) {
  FakeOperations ops;
  ops.next_result.body = json::object{{"message", "Restarting HarperDB."}};
  ops.next_result.restart_after_reply = true;
  EXPECT_EQ(Describe(Handle(Post("application/json", "{}"), ops)),
            R"(200 [application/json] {"message":"Restarting HarperDB."} close restart)");
}

TEST(HttpHandlerTest, ReplyMayComeLater) {
  FakeOperations ops;
  ops.hold = true;
  std::optional<HttpReply> reply;
  HandleHttpRequest(Post("application/json", "{}"), &ops,
                    [&](HttpReply r) { reply = std::move(r); });
  EXPECT_FALSE(reply.has_value());
  ops.CompleteHeld();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 200);
}

TEST(HttpHandlerTest, TooLargeReplyNamesTheLimitAndCloses) {
  EXPECT_EQ(Describe(TooLargeReply(1024)),
            "413 [application/json; charset=utf-8] "
            R"({"error":"Request body is larger than the limit of 1024 bytes"} close)");
}

}  // namespace
}  // namespace meshdb::net
