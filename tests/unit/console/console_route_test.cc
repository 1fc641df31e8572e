#include "net/console_route.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "console/assets.h"
#include "net/http_handler.h"

namespace meshdb::net {
namespace {

std::string Header(const HttpReply& reply, const std::string& name) {
  for (const auto& [key, value] : reply.headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

TEST(ConsoleRoute, RootServesThePageWithAStrictPolicy) {
  std::optional<HttpReply> reply = ConsoleReply("GET", "/");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->content_type, "text/html; charset=utf-8");
  EXPECT_NE(reply->body.find(R"(<script type="module" src="/js/main.js"></script>)"),
            std::string::npos);
  // No inline script: every <script> of the page has a src.
  EXPECT_EQ(reply->body.find("<script>"), std::string::npos);
  const std::string csp = Header(*reply, "Content-Security-Policy");
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(csp.find("unsafe"), std::string::npos);
  EXPECT_EQ(Header(*reply, "X-Content-Type-Options"), "nosniff");
}

TEST(ConsoleRoute, EachFileHasItsContentType) {
  EXPECT_EQ(ConsoleReply("GET", "/js/main.js")->content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(ConsoleReply("GET", "/console.css")->content_type, "text/css; charset=utf-8");
  EXPECT_EQ(ConsoleReply("GET", "/favicon.svg")->content_type, "image/svg+xml");
}

TEST(ConsoleRoute, EmbeddedBytesAreTheFiles) {
  const console::Asset* index = console::FindAsset("/index.html");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->body.substr(0, 15), "<!doctype html>");
  EXPECT_EQ(index->body.back(), '\n');
  EXPECT_EQ(console::FindAsset("/"), index);
}

TEST(ConsoleRoute, OtherRequestsFallThrough) {
  EXPECT_FALSE(ConsoleReply("POST", "/").has_value());
  EXPECT_FALSE(ConsoleReply("GET", "/nope.js").has_value());
  EXPECT_FALSE(ConsoleReply("GET", "/js/").has_value());
  EXPECT_FALSE(ConsoleReply("GET", "/health").has_value());
}

TEST(ConsoleRoute, RouterServesTheConsoleOnGetAndOperationsOnPost) {
  HttpRequest get;
  get.method = "GET";
  get.target = "/?x=1";
  auto routed = RouteHttpRequest(get);
  ASSERT_TRUE(std::holds_alternative<HttpReply>(routed));
  EXPECT_EQ(std::get<HttpReply>(routed).content_type, "text/html; charset=utf-8");

  HttpRequest post;
  post.method = "POST";
  post.target = "/";
  post.content_type = "application/json";
  post.body = R"({"operation":"describe_all"})";
  EXPECT_TRUE(std::holds_alternative<ops::OpRequest>(RouteHttpRequest(post)));
}

}  // namespace
}  // namespace meshdb::net
