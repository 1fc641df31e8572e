#include "replication/cluster/cluster_routes.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace meshdb::replication {
namespace {

namespace json = boost::json;

Route Parse(const char* json_text) {
  Result<Route> r = ParseRoute(json::parse(json_text));
  EXPECT_TRUE(r.ok()) << json_text << ": " << r.status().ToString();
  return r.ok() ? *r : Route{};
}

TEST(ClusterRoutesTest, ParsesEveryForm) {
  Route host = Parse(R"("node2.example")");
  EXPECT_EQ(host.host, "node2.example");
  EXPECT_EQ(host.port, 0);
  EXPECT_EQ(host.scheme, "");
  // A bare host takes the node's own scheme and port (wss://…:9933 in a new configuration).
  EXPECT_EQ(host.Url(9933, "wss"), "wss://node2.example:9933");
  EXPECT_EQ(host.Url(9925, "ws"), "ws://node2.example:9925");

  // HarperDB turned this into wss://127.0.0.9:199:19999; we keep host and port apart.
  Route host_port = Parse(R"("127.0.0.9:19999")");
  EXPECT_EQ(host_port.host, "127.0.0.9");
  EXPECT_EQ(host_port.port, 19999);
  EXPECT_EQ(host_port.Url(9925, "ws"), "ws://127.0.0.9:19999");
  EXPECT_EQ(host_port.Url(9933, "wss"), "wss://127.0.0.9:19999");

  Route url = Parse(R"("wss://server-two:9933/replication")");
  EXPECT_EQ(url.scheme, "wss");
  EXPECT_EQ(url.host, "server-two");
  EXPECT_EQ(url.port, 9933);

  Route ws = Parse(R"("ws://127.0.0.2:18925")");
  // A scheme given in the route wins over the node's own.
  EXPECT_EQ(ws.Url(1, "wss"), "ws://127.0.0.2:18925");
  EXPECT_EQ(url.Url(1, "ws"), "wss://server-two:9933");

  Route obj = Parse(R"({"hostname":"server-three","port":9930})");
  EXPECT_EQ(obj.host, "server-three");
  EXPECT_EQ(obj.port, 9930);
  EXPECT_EQ(obj.original, json::parse(R"({"hostname":"server-three","port":9930})"));
  EXPECT_EQ(obj.Url(9933, "wss"), "wss://server-three:9930");

  // Legacy {host, port} with the port as a string.
  Route legacy = Parse(R"({"host":"127.0.0.3","port":"18925"})");
  EXPECT_EQ(legacy.host, "127.0.0.3");
  EXPECT_EQ(legacy.port, 18925);

  Route v6 = Parse(R"("[::1]:9940")");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 9940);
  EXPECT_EQ(v6.Url(0, "ws"), "ws://[::1]:9940");
}

TEST(ClusterRoutesTest, RejectsBadRoutes) {
  for (const char* text :
       {R"("")", R"("host:abc")", R"("host:99999")", R"("http://x:1")", R"({"port":9925})",
        R"({"hostname":"h","port":-1})", "42", R"("ws://:9925")"}) {
    EXPECT_FALSE(ParseRoute(json::parse(text)).ok()) << text;
  }
}

TEST(ClusterRoutesTest, ParseUrlTakesSchemeHostAndPort) {
  Result<Route> v6 = ParseUrl("WSS://user:pw@[::1]:9940/replication?x=1#f");
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->scheme, "wss");
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9940);
  Result<Route> no_port = ParseUrl("ws://node-a");
  ASSERT_TRUE(no_port.ok()) << no_port.status().ToString();
  EXPECT_EQ(no_port->port, 0);
  for (const char* bad : {"ws://h:99999", "ws://h:0", "ws://h:", "ws://:1", "ws:h", "h:1",
                          "http://h:1", "ws://h:1x", ""}) {
    EXPECT_FALSE(ParseUrl(bad).ok()) << bad;
  }
  // Bare IPv6 literals stay accepted as routes (no port); credentials are not a host.
  EXPECT_EQ(Parse(R"("fe80::1")").host, "fe80::1");
  EXPECT_FALSE(ParseRoute(json::value("user@h:1")).ok());
}

// Issue 8 item 6: host names and URLs are capped, with messages naming the field.
TEST(ClusterRoutesTest, OverLongHostsAndUrlsAreRefusedNamingTheField) {
  const std::string host_253(253, 'h');
  const std::string host_254(254, 'h');
  const std::string path(2048 - std::string("ws://h:1/").size(), 'p');
  EXPECT_TRUE(ParseUrl("ws://h:1/" + path).ok());
  EXPECT_EQ(ParseUrl("ws://h:1/" + path + "p", "url").status().message(),
            "'url' length must be less than or equal to 2048 characters long");
  EXPECT_EQ(ParseUrl("ws://" + host_253 + ":1").value().host, host_253);
  EXPECT_EQ(ParseUrl("ws://" + host_254 + ":1", "connections[0].url").status().message(),
            "'connections[0].url' host length must be less than or equal to 253 characters long");

  EXPECT_EQ(Parse(("\"" + host_253 + ":9\"").c_str()).host, host_253);
  EXPECT_EQ(ParseRoute(json::value(host_254 + ":9"), "routes[3]").status().message(),
            "'routes[3]' host length must be less than or equal to 253 characters long");
  EXPECT_EQ(ParseRoute(json::object{{"hostname", host_254}}, "routes[0]").status().message(),
            "'routes[0].hostname' length must be less than or equal to 253 characters long");
  EXPECT_EQ(ParseRoute(json::object{{"host", host_254}, {"port", 1}}).status().message(),
            "'route.host' length must be less than or equal to 253 characters long");

  auto check = [](json::array routes) {
    return ValidateRoutesField(json::object{{"routes", std::move(routes)}}).message();
  };
  EXPECT_EQ(check({"a", std::string(100000, 'x')}),
            "'routes[1]' length must be less than or equal to 2048 characters long");
  EXPECT_EQ(check({json::object{{"hostname", host_254}, {"port", 9925}}}),
            "'routes[0].hostname' length must be less than or equal to 253 characters long");
  EXPECT_EQ(check({"wss://" + host_254}),
            "'routes[0]' host length must be less than or equal to 253 characters long");
  EXPECT_EQ(check({host_253, json::object{{"host", host_253}}}), "");
}

TEST(ClusterRoutesTest, ParseRoutesSkipsInvalidEntriesAndReportsThem) {
  std::vector<std::string> errors;
  std::vector<Route> routes =
      ParseRoutes(json::parse(R"(["a", {"host":"b","port":2}, {"port":3}, "c:4"])"), &errors);
  ASSERT_EQ(routes.size(), 3u);
  EXPECT_EQ(routes[1].host, "b");
  EXPECT_EQ(routes[2].port, 4);
  EXPECT_EQ(errors.size(), 1u);
  EXPECT_TRUE(ParseRoutes(json::value(nullptr)).empty());
}

TEST(ClusterRoutesTest, SameRouteComparesHostAndPort) {
  // HarperDB treated these two as duplicates (same port, hostname undefined on both).
  EXPECT_FALSE(SameRoute(Parse(R"({"host":"127.0.0.2","port":18925})"),
                         Parse(R"({"host":"127.0.0.3","port":18925})"), 9925));
  EXPECT_TRUE(SameRoute(Parse(R"({"host":"127.0.0.2","port":18925})"),
                        Parse(R"("ws://127.0.0.2:18925")"), 9925));
  // A missing port is the default port.
  EXPECT_TRUE(SameRoute(Parse(R"("127.0.0.2")"), Parse(R"("127.0.0.2:9925")"), 9925));
  EXPECT_FALSE(SameRoute(Parse(R"("127.0.0.2")"), Parse(R"("127.0.0.2:9926")"), 9925));
}

TEST(ClusterRoutesTest, ValidateRoutesFieldUsesHarperDbTexts) {
  auto check = [](const char* body) {
    return ValidateRoutesField(json::parse(body).as_object()).message();
  };
  EXPECT_EQ(check(R"({})"), "'routes' is required");
  EXPECT_EQ(check(R"({"routes":"x"})"), "'routes' must be one of [array]");
  EXPECT_EQ(check(R"({"routes":[{"port":1}]})"),
            "'routes' does not match any of the allowed types");
  EXPECT_EQ(check(R"({"routes":[{"host":"a","port":-1}]})"),
            "'routes' does not match any of the allowed types");
  EXPECT_EQ(check(R"({"routes":[42]})"), "'routes' does not match any of the allowed types");
  EXPECT_TRUE(
      ValidateRoutesField(
          json::parse(R"({"routes":["wss://a:1",{"hostname":"b","port":"2"}]})").as_object())
          .ok());
}

TEST(ClusterRoutesTest, AddRoutesUpsertsAndSkipsDuplicates) {
  json::value current = json::parse(R"([{"host":"127.0.0.2","port":18925}])");
  RouteChange change = AddRoutes(
      current,
      json::parse(R"([{"host":"127.0.0.3","port":18925}, "ws://127.0.0.2:18925", "127.0.0.4",
                      "127.0.0.4:9925"])")
          .as_array(),
      9925);
  EXPECT_EQ(json::serialize(change.changed), R"([{"host":"127.0.0.3","port":18925},"127.0.0.4"])");
  EXPECT_EQ(json::serialize(change.skipped), R"(["ws://127.0.0.2:18925","127.0.0.4:9925"])");
  EXPECT_EQ(json::serialize(change.routes),
            R"([{"host":"127.0.0.2","port":18925},{"host":"127.0.0.3","port":18925},"127.0.0.4"])");

  // Adding to nothing.
  RouteChange fresh = AddRoutes(json::value(nullptr), json::parse(R"(["a"])").as_array(), 1);
  EXPECT_EQ(json::serialize(fresh.routes), R"(["a"])");
}

TEST(ClusterRoutesTest, RemoveRoutesDeletesMatchesAndSkipsTheRest) {
  json::value current =
      json::parse(R"([{"hostname":"server-three","port":9930},"wss://server-two:9925","x"])");
  RouteChange change = RemoveRoutes(
      current,
      json::parse(R"(["server-three:9930", {"host":"nowhere","port":1}, "x:9925"])").as_array(),
      9925);
  EXPECT_EQ(json::serialize(change.changed), R"(["server-three:9930","x:9925"])");
  EXPECT_EQ(json::serialize(change.skipped), R"([{"host":"nowhere","port":1}])");
  EXPECT_EQ(json::serialize(change.routes), R"(["wss://server-two:9925"])");

  RouteChange empty = RemoveRoutes(json::value(nullptr), json::parse(R"(["a"])").as_array(), 1);
  EXPECT_TRUE(empty.routes.empty());
  EXPECT_EQ(json::serialize(empty.skipped), R"(["a"])");
}

}  // namespace
}  // namespace meshdb::replication
