#include "replication/cluster/cluster_peers.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "replication/cluster/cluster_ops.h"

namespace meshdb::replication {
namespace {

namespace json = boost::json;

NodeRow Row(const std::string& name, const std::string& url = "") {
  NodeRow row;
  row.name = name;
  row.url = url;
  return row;
}

PeerInputs Inputs(const std::string& self) {
  PeerInputs in;
  in.self_name = self;
  in.self_url = "ws://" + self + ":9925";
  in.default_port = 9925;
  return in;
}

const PeerSpec* Find(const std::vector<PeerSpec>& peers, const std::string& name) {
  for (const PeerSpec& p : peers) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

TEST(ClusterPeersTest, GossipLearnedPeersDialOnlyFromTheLowerName) {
  PeerInputs in = Inputs("127.0.0.2");
  in.nodes = {Row("127.0.0.1", "ws://127.0.0.1:9925"), Row("127.0.0.2", "ws://127.0.0.2:9925"),
              Row("127.0.0.3", "ws://127.0.0.3:9925")};
  std::vector<PeerSpec> peers = ComputePeers(in);
  ASSERT_EQ(peers.size(), 2u);  // never itself
  EXPECT_EQ(peers[0].name, "127.0.0.1");
  EXPECT_FALSE(peers[0].dial);  // its name is lower: it dials us
  EXPECT_EQ(peers[1].name, "127.0.0.3");
  EXPECT_TRUE(peers[1].dial);
  EXPECT_EQ(peers[1].url, "ws://127.0.0.3:9925");
}

TEST(ClusterPeersTest, AddedPeersAlwaysDialAndCarryTheirAuthorization) {
  PeerInputs in = Inputs("127.0.0.5");
  in.nodes = {Row("127.0.0.1"), Row("127.0.0.2")};
  in.local["127.0.0.1"].added = true;
  in.local["127.0.0.1"].authorization = "Basic retained";
  in.local["127.0.0.2"].added = true;
  in.local["127.0.0.2"].authorization = "Basic retained";
  in.pending_authorization["127.0.0.2"] = "Basic once";
  std::vector<PeerSpec> peers = ComputePeers(in);
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_TRUE(peers[0].dial);
  EXPECT_EQ(peers[0].authorization, "Basic retained");
  EXPECT_EQ(peers[0].url, "ws://127.0.0.1:9925");  // derived from the name and default port
  EXPECT_EQ(peers[1].authorization, "Basic once");
}

TEST(ClusterPeersTest, RemovedNodesAreNeverPeers) {
  PeerInputs in = Inputs("a");
  in.nodes = {Row("b"), Row("c")};
  in.local["b"].removed = true;
  in.local["b"].added = true;
  in.routes = ParseRoutes(json::parse(R"(["b"])"));
  std::vector<PeerSpec> peers = ComputePeers(in);
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].name, "c");
}

TEST(ClusterPeersTest, RoutesDialAndMergeWithKnownNodes) {
  PeerInputs in = Inputs("127.0.0.9");
  in.nodes = {Row("127.0.0.1", "ws://127.0.0.1:9925"), Row("127.0.0.9", "ws://127.0.0.9:9925")};
  in.routes = ParseRoutes(json::parse(
      R"(["127.0.0.1", {"host":"127.0.0.4","port":9931}, "ws://127.0.0.4:9931",
          "127.0.0.9:9925", "127.0.0.3:9940"])"));
  std::vector<PeerSpec> peers = ComputePeers(in);
  // 127.0.0.1 is known: its route merges (and makes it a dial target although its name is
  // lower); the route to ourselves is dropped; 127.0.0.4 is listed once.
  ASSERT_EQ(peers.size(), 3u);
  EXPECT_EQ(peers[0].name, "127.0.0.1");
  EXPECT_TRUE(peers[0].dial);
  EXPECT_EQ(peers[1].name, "");
  EXPECT_EQ(peers[1].url, "ws://127.0.0.3:9940");
  EXPECT_TRUE(peers[1].dial);
  EXPECT_EQ(peers[2].url, "ws://127.0.0.4:9931");
}

TEST(ClusterPeersTest, LocalSubscriptionsAndStartTime) {
  PeerInputs in = Inputs("a");
  NodeRow row = Row("b");
  row.start_time = "2024-01-02T03:04:05.678Z";
  in.nodes = {row};
  in.local["b"].added = true;
  in.local["b"].subscriptions = json::parse(
      R"([{"schema":"dev","table":"dog","subscribe":true,"publish":false},{"table":"x"}])");
  std::vector<PeerSpec> peers = ComputePeers(in);
  ASSERT_EQ(peers.size(), 1u);
  ASSERT_EQ(peers[0].subscriptions.size(), 1u);  // the entry without a database is dropped
  EXPECT_EQ(peers[0].subscriptions[0].database, "dev");
  EXPECT_EQ(peers[0].subscriptions[0].table, "dog");
  EXPECT_TRUE(peers[0].subscriptions[0].subscribe);
  EXPECT_FALSE(peers[0].subscriptions[0].publish);
  ASSERT_TRUE(peers[0].start_time_ms.has_value());
  EXPECT_EQ(*peers[0].start_time_ms, 1704164645678u);
}

// The `subscriptions` field of a peer's row is what some node gave add_node for it: it is not
// this node's choice and must not narrow this node's link (it gossips to every node).
TEST(ClusterPeersTest, ARowsSubscriptionsFieldIsNotThisNodesChoice) {
  PeerInputs in = Inputs("c");
  NodeRow row = Row("cloud");
  row.subscriptions = json::parse(R"([{"database":"dev","table":"t","publish":false}])");
  in.nodes = {row};
  std::vector<PeerSpec> peers = ComputePeers(in);
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_TRUE(peers[0].subscriptions.empty());
}

// The edge ran add_node(cloud, subscriptions); the cloud reads the edge's row and applies the
// same relationship from its side: what the edge publishes, the cloud subscribes to.
TEST(ClusterPeersTest, ThePeerSwapsTheSubscriptionsAddressedToIt) {
  json::value edge_view = json::parse(
      R"([{"database":"dev","table":"thresholds","publish":false,"subscribe":true},
          {"database":"dev","table":"alerts","publish":true,"subscribe":false}])");
  PeerInputs in = Inputs("cloud");
  NodeRow edge = Row("edge", "ws://edge:1");
  edge.peer_subscriptions = json::object{{"cloud", edge_view}, {"other", json::array()}};
  NodeRow other = Row("other");
  other.peer_subscriptions = json::object{{"someone", edge_view}};
  in.nodes = {edge, other};
  std::vector<PeerSpec> peers = ComputePeers(in);
  const PeerSpec* e = Find(peers, "edge");
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(e->subscriptions.size(), 2u);
  EXPECT_EQ(e->subscriptions[0].table, "thresholds");
  EXPECT_TRUE(e->subscriptions[0].publish);
  EXPECT_FALSE(e->subscriptions[0].subscribe);
  EXPECT_EQ(e->subscriptions[1].table, "alerts");
  EXPECT_FALSE(e->subscriptions[1].publish);
  EXPECT_TRUE(e->subscriptions[1].subscribe);
  const PeerSpec* o = Find(peers, "other");
  ASSERT_NE(o, nullptr);
  EXPECT_TRUE(o->subscriptions.empty());  // addressed to someone else

  EffectiveSubscriptions eff = SubscriptionsForLink("cloud", &edge, nullptr);
  EXPECT_EQ(eff.owner, "edge");
  // This node's own choice wins over the peer's view.
  LocalNodeState mine;
  mine.subscriptions = json::parse(R"([{"database":"dev","table":"alerts","subscribe":false}])");
  eff = SubscriptionsForLink("cloud", &edge, &mine);
  EXPECT_EQ(eff.owner, "cloud");
  ASSERT_EQ(eff.subscriptions.size(), 1u);
  EXPECT_FALSE(eff.subscriptions[0].subscribe);
}

// The edge subscribed explicitly with the cloud: those tables leave its automatic mesh, so a
// gossip-learned node (another cloud node) neither gets its readings nor feeds its thresholds.
TEST(ClusterPeersTest, ExplicitTablesLeaveTheAutomaticMesh) {
  PeerInputs in = Inputs("edge");
  in.nodes = {Row("cloud"), Row("other"), Row("third")};
  in.local["cloud"].added = true;
  in.local["cloud"].subscriptions = json::parse(
      R"([{"database":"dev","table":"alerts","publish":true,"subscribe":false},
          {"database":"dev","table":"sensor_data","publish":false,"subscribe":false}])");
  // "third" defined its own subscriptions for its link with us: they stand.
  in.nodes[2].peer_subscriptions = json::object{
      {"edge", json::parse(R"([{"database":"dev","table":"alerts","subscribe":true}])")}};
  Route route;
  route.host = "10.0.0.9";
  in.routes = {route};
  std::vector<PeerSpec> peers = ComputePeers(in);
  const PeerSpec* other = Find(peers, "other");
  ASSERT_NE(other, nullptr);
  // Every table of dev leaves the automatic link, listed or not; other databases replicate.
  EXPECT_EQ(other->subscriptions,
            (std::vector<TableSubscription>{{"*", "*", true, true}, {"dev", "*", false, false}}));
  const PeerSpec* cloud = Find(peers, "cloud");
  ASSERT_NE(cloud, nullptr);
  EXPECT_TRUE(cloud->subscriptions[0].publish);
  const PeerSpec* third = Find(peers, "third");
  ASSERT_NE(third, nullptr);
  ASSERT_EQ(third->subscriptions.size(), 1u);
  EXPECT_TRUE(third->subscriptions[0].publish);  // swapped: third subscribes, we publish
  ASSERT_EQ(peers.back().name, "");              // the route's node, not named yet
  EXPECT_EQ(peers.back().subscriptions.size(), 2u);
}

TEST(ClusterPeersTest, PeerSubscriptionsOfSkipsRemovedAndUnsetNodes) {
  std::map<std::string, LocalNodeState> local;
  EXPECT_TRUE(PeerSubscriptionsOf(local).is_null());
  local["a"].subscriptions = json::parse(R"([{"database":"dev","table":"t"}])");
  local["b"].added = true;
  local["c"].subscriptions = json::parse(R"([{"database":"dev","table":"t"}])");
  local["c"].removed = true;
  json::value got = PeerSubscriptionsOf(local);
  ASSERT_TRUE(got.is_object());
  EXPECT_EQ(got.get_object().size(), 1u);
  EXPECT_TRUE(got.get_object().contains("a"));
  EXPECT_EQ(json::serialize(SubscriptionsJson(ParseSubscriptions(got.at("a")))),
            R"([{"database":"dev","table":"t","publish":false,"subscribe":false}])");
  EXPECT_TRUE(SubscriptionsJson({}).is_null());
}

TEST(ClusterPeersTest, StartTimeForms) {
  EXPECT_EQ(*ParseStartTime(json::value(1700000000000)).value(), 1700000000000u);
  EXPECT_EQ(*ParseStartTime(json::value("1700000000000")).value(), 1700000000000u);
  EXPECT_EQ(*ParseStartTime(json::value("1970-01-01T00:00:01Z")).value(), 1000u);
  EXPECT_EQ(*ParseStartTime(json::value("1970-01-01T01:00:00+01:00")).value(), 0u);
  EXPECT_EQ(*ParseStartTime(json::value("1970-01-02")).value(), 86400000u);
  EXPECT_FALSE(ParseStartTime(json::value(nullptr)).value().has_value());
  EXPECT_FALSE(ParseStartTime(json::value("yesterday")).ok());
  EXPECT_FALSE(ParseStartTime(json::value(true)).ok());
}

TEST(ClusterPeersTest, AuthorizationHeader) {
  EXPECT_EQ(*AuthorizationHeader(json::parse(R"({"username":"admin","password":"password"})")),
            "Basic YWRtaW46cGFzc3dvcmQ=");
  EXPECT_EQ(*AuthorizationHeader(json::value("Basic abc")), "Basic abc");
  EXPECT_EQ(*AuthorizationHeader(json::value(nullptr)), "");
  EXPECT_FALSE(AuthorizationHeader(json::parse(R"({"username":"admin"})")).ok());
  EXPECT_FALSE(AuthorizationHeader(json::value(5)).ok());
}

// --- add_node / remove_node validation (cluster_ops.h) ---

Result<AddNodeRequest> ParseAdd(const char* body) {
  return ParseAddNodeRequest(json::parse(body).as_object());
}

TEST(ClusterOpsTest, AddNodeTypeErrorsAreReportedTogether) {
  Result<AddNodeRequest> r =
      ParseAdd(R"({"hostname":5,"verify_tls":"no","subscriptions":{},"shard":"x"})");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_EQ(r.status().message(),
            "'hostname' must be a string. 'verify_tls' must be a boolean. 'subscriptions' must "
            "be an array. 'shard' must be a number");
}

TEST(ClusterOpsTest, AddNodeNeedsHostnameOrUrl) {
  EXPECT_EQ(ParseAdd(R"({"verify_tls":false})").status().message(),
            "'hostname' or 'url' is required");
  EXPECT_EQ(ParseAdd(R"({"url":"http://x:1"})").status().message(),
            "'url' must be a ws:// or wss:// URL");
}

TEST(ClusterOpsTest, AddNodeFields) {
  Result<AddNodeRequest> r = ParseAdd(
      R"({"url":"ws://127.0.0.2:9925","verify_tls":false,
          "authorization":{"username":"admin","password":"password"},
          "retain_authorization":true,"start_time":"2024-01-01T00:00:00Z",
          "subscriptions":[{"database":"dev","table":"dog","subscribe":true,"publish":true}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->name, "127.0.0.2");  // named by the URL's host
  EXPECT_EQ(r->url, "ws://127.0.0.2:9925");
  EXPECT_EQ(r->authorization, "Basic YWRtaW46cGFzc3dvcmQ=");
  EXPECT_TRUE(r->retain_authorization);
  EXPECT_TRUE(r->subscriptions.is_array());
  EXPECT_EQ(r->start_time, json::value("2024-01-01T00:00:00Z"));

  Result<AddNodeRequest> alias = ParseAdd(R"({"node_name":"server-two"})");
  ASSERT_TRUE(alias.ok());
  EXPECT_EQ(alias->name, "server-two");
  EXPECT_EQ(alias->url, "");  // derived by the manager from its default port

  EXPECT_FALSE(ParseAdd(R"({"hostname":"a","start_time":"soon"})").ok());
  EXPECT_FALSE(ParseAdd(R"({"hostname":"a","authorization":7})").ok());
}

TEST(ClusterOpsTest, RemoveNodeTarget) {
  EXPECT_EQ(*ParseRemoveNodeTarget(json::parse(R"({"hostname":"a"})").as_object()), "a");
  EXPECT_EQ(*ParseRemoveNodeTarget(json::parse(R"({"url":"ws://b:1"})").as_object()), "ws://b:1");
  EXPECT_EQ(ParseRemoveNodeTarget(json::parse(R"({})").as_object()).status().message(),
            "'hostname' is required");
}

}  // namespace
}  // namespace meshdb::replication
