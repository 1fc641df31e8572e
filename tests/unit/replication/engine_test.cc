// Replication engine decisions without sockets: node tokens, the publisher's filter, where a
// subscriber starts, and the duplicate-link rule.
#include <gtest/gtest.h>

#include <string>

#include "replication/engine/credit_window.h"
#include "replication/engine/node_token.h"
#include "replication/engine/publish_filter.h"
#include "replication/engine/ws_url.h"
#include "replication/wire/message.h"
#include "storage/store.h"
#include "temp_store.h"

namespace meshdb::replication {
namespace {

TEST(NodeToken, KnownHmacVector) {
  // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
  EXPECT_EQ(NodeTokenMac("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(NodeToken, RoundTripAndRejections) {
  std::string auth = NodeAuthorization("k1", "node-a");
  EXPECT_TRUE(auth.starts_with("MeshNode node-a:"));
  auto ok = VerifyNodeAuthorization(auth, {"other", "k1"});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ok, "node-a");
  EXPECT_FALSE(VerifyNodeAuthorization(auth, {"k2"}).ok());
  EXPECT_FALSE(VerifyNodeAuthorization(auth, {}).ok());
  // The MAC is bound to the name: claiming another name with a's MAC fails.
  std::string mac = auth.substr(auth.find(':') + 1);
  EXPECT_FALSE(VerifyNodeAuthorization("MeshNode node-b:" + mac, {"k1"}).ok());
  EXPECT_FALSE(ParseNodeAuthorization("MeshNode :" + mac).has_value());
  EXPECT_FALSE(ParseNodeAuthorization("MeshNode node-a:abc").has_value());
  EXPECT_FALSE(ParseNodeAuthorization("Basic YWRtaW46cGFzcw==").has_value());
  auto parsed = ParseNodeAuthorization("MeshNode host:9925:" + mac);  // names may hold ':'
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->node_name, "host:9925");
}

TEST_F(TempStore, ClusterKeyCreatedOnceAndReplicated) {
  EXPECT_TRUE(LoadClusterKeys(store_.get()).empty());
  auto keys = EnsureClusterKey(store_.get());
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].size(), 64u);
  auto again = EnsureClusterKey(store_.get());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *keys);  // not replaced
  auto def = store_->GetTable("system", kClusterKeysTable);
  ASSERT_TRUE(def.ok());
  EXPECT_TRUE(def->replicate);
  EXPECT_TRUE(TableLeavesNode(*def));
}

storage::LogEntry Entry(uint64_t seq, uint32_t origin, uint64_t oseq,
                        std::vector<std::string> tables) {
  storage::LogEntry e;
  e.sequence = seq;
  e.origin = origin;
  e.origin_sequence = oseq;
  e.version = 1000 + seq;
  for (auto& t : tables) e.writes.push_back({t, "k" + std::to_string(seq), "v"});
  return e;
}

TEST(PublishFilter, SkipsSubscribersOwnWritesAndCoveredEntries) {
  PublishFilter f;
  f.subscriber_id = 7;
  f.subscriber_vector.Advance(3, 10);
  f.tables = {"dog", "cat"};
  EXPECT_FALSE(FilterLogEntry(Entry(1, 7, 1, {"dog"}), f).has_value());   // its own
  EXPECT_FALSE(FilterLogEntry(Entry(2, 3, 10, {"dog"}), f).has_value());  // covered
  auto sent = FilterLogEntry(Entry(3, 3, 11, {"dog"}), f);
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->sender_sequence, 3u);
  EXPECT_EQ(sent->origin, 3u);
  EXPECT_EQ(sent->origin_sequence, 11u);
  EXPECT_EQ(sent->version, 1003u);
  ASSERT_EQ(sent->writes.size(), 1u);
  EXPECT_EQ(sent->writes[0].key, "k3");
  // A relayed entry from a third origin passes.
  EXPECT_TRUE(FilterLogEntry(Entry(4, 9, 1, {"cat"}), f).has_value());
}

TEST(PublishFilter, DropsWritesOfUnpublishedTablesButKeepsTheEntry) {
  PublishFilter f;
  f.subscriber_id = 7;
  f.tables = {"dog"};
  auto sent = FilterLogEntry(Entry(5, 1, 5, {"dog", "secret", "dog"}), f);
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->writes.size(), 2u);
  for (const auto& w : sent->writes) EXPECT_EQ(w.table, "dog");
  auto empty = FilterLogEntry(Entry(6, 1, 6, {"secret"}), f);
  ASSERT_TRUE(empty.has_value());  // still sent: vector and cursor advance on the receiver
  EXPECT_TRUE(empty->writes.empty());
}

storage::TableDef Def(std::string db, std::string name, bool replicate = true) {
  storage::TableDef d;
  d.database = std::move(db);
  d.name = std::move(name);
  d.primary_key = "id";
  d.replicate = replicate;
  return d;
}

TEST(PublishFilter, PublishedTablesHonourReplicateWhitelistAndSubscriptions) {
  std::vector<storage::TableDef> sys = {
      Def("system", "hdb_user"), Def("system", "hdb_nodes"),
      Def("system", "hdb_role"), Def("system", "hdb_cluster_keys"),
      Def("system", "hdb_info"), Def("system", "hdb_node_auth")};
  auto t = PublishedTables(sys, {}, {});
  EXPECT_EQ(t, (std::unordered_set<std::string>{"hdb_user", "hdb_nodes", "hdb_role",
                                                "hdb_cluster_keys"}));
  std::vector<storage::TableDef> dev = {Def("dev", "dog"), Def("dev", "local", false),
                                        Def("dev", "cat")};
  EXPECT_EQ(PublishedTables(dev, {}, {}), (std::unordered_set<std::string>{"dog", "cat"}));
  // Explicit subscriptions carry exactly what they list (issue 8 item 2): dog is unlisted.
  std::vector<TableSubscription> subs = {{"dev", "cat", false, true}};
  EXPECT_TRUE(PublishedTables(dev, subs, {}).empty());
  std::vector<TableSubscription> both = {{"dev", "cat", false, true}, {"dev", "dog", true, false}};
  EXPECT_EQ(PublishedTables(dev, both, {}), (std::unordered_set<std::string>{"dog"}));
  EXPECT_EQ(PublishedTables(dev, {}, {"cat"}), (std::unordered_set<std::string>{"cat"}));
  EXPECT_TRUE(SubscribesTable(subs, "dev", "cat"));
  EXPECT_FALSE(PublishesTable(subs, "dev", "cat"));
  EXPECT_FALSE(PublishesTable(subs, "dev", "dog"));
  EXPECT_FALSE(SubscribesTable(subs, "dev", "dog"));
  EXPECT_FALSE(PublishesTable(subs, "other", "dog"));  // an unlisted database too
  // ... but the system database's membership keeps flowing.
  EXPECT_EQ(PublishedTables(sys, subs, {}), t);
  EXPECT_TRUE(SubscribesTable(subs, "system", "hdb_nodes"));
  std::vector<TableSubscription> whole_db = {{"dev", "", true, false}};
  EXPECT_FALSE(SubscribesTable(whole_db, "dev", "dog"));
  EXPECT_TRUE(PublishesTable(whole_db, "dev", "dog"));
  EXPECT_FALSE(SubscribesTable(whole_db, "other", "dog"));
  // The most specific entry decides; database "*" is every database.
  std::vector<TableSubscription> mixed = {
      {"*", "*", true, true}, {"dev", "*", false, false}, {"dev", "cat", true, false}};
  EXPECT_TRUE(PublishesTable(mixed, "other", "dog"));
  EXPECT_FALSE(PublishesTable(mixed, "dev", "dog"));
  EXPECT_TRUE(PublishesTable(mixed, "dev", "cat"));
  EXPECT_FALSE(SubscribesTable(mixed, "dev", "cat"));
}

TEST(PublishFilter, DatabaseReplicates) {
  EXPECT_TRUE(DatabaseReplicates({}, "dev"));
  EXPECT_TRUE(DatabaseReplicates({"*"}, "dev"));
  EXPECT_TRUE(DatabaseReplicates({"data"}, "data"));
  EXPECT_FALSE(DatabaseReplicates({"data"}, "dev"));
  EXPECT_TRUE(DatabaseReplicates({"data"}, "system"));
}

TEST(SubscribeStart, CopyOnlyWhenNothingHeldAndNoCursor) {
  VersionVector empty;
  VersionVector some;
  some.Advance(4, 2);
  EXPECT_TRUE(std::holds_alternative<StartWithCopy>(ChooseSubscribeStart(empty, 0, std::nullopt)));
  auto resume = ChooseSubscribeStart(some, 42, std::nullopt);
  ASSERT_TRUE(std::holds_alternative<StartFromVector>(resume));
  EXPECT_EQ(std::get<StartFromVector>(resume).after_sender_sequence, 42u);
  EXPECT_EQ(std::get<StartFromVector>(resume).vector, some);
  // A cursor means "resume", even with an empty vector and a start_time: never a re-copy.
  EXPECT_TRUE(std::holds_alternative<StartFromVector>(ChooseSubscribeStart(empty, 5, 123u)));
  auto timed = ChooseSubscribeStart(empty, 0, 123u);
  ASSERT_TRUE(std::holds_alternative<StartFromTime>(timed));
  EXPECT_EQ(std::get<StartFromTime>(timed).start_time_ms, 123u);
  auto known = ChooseSubscribeStart(some, 0, std::nullopt);
  ASSERT_TRUE(std::holds_alternative<StartFromVector>(known));
  EXPECT_EQ(std::get<StartFromVector>(known).after_sender_sequence, 0u);
}

TEST(DuplicateLinks, LowerDialerWinsOnBothSides) {
  // a dialed b (dialer "a") and b dialed a (dialer "b"): both nodes keep a's connection.
  EXPECT_TRUE(KeepFirstOfDuplicate("a", "b"));
  EXPECT_FALSE(KeepFirstOfDuplicate("b", "a"));
  EXPECT_FALSE(KeepFirstOfDuplicate("a", "a"));  // same dialer: the newer one replaces
  EXPECT_TRUE(KeepFirstOfDuplicate("127.0.0.1", "127.0.0.2"));
}

TEST(WsUrl, ParsesWhatLinksDial) {
  auto plain = ParseWsUrl("ws://node-a:9925");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->scheme, "ws");
  EXPECT_EQ(plain->host, "node-a");
  EXPECT_EQ(plain->port, 9925);
  auto v6 = ParseWsUrl("wss://[::1]:1/replication?x=1");
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ(v6->scheme, "wss");
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 1);
  auto no_port = ParseWsUrl("ws://10.0.0.1");
  ASSERT_TRUE(no_port.ok());
  EXPECT_EQ(no_port->port, 0);
  for (const char* bad : {"node-a:9925", "http://node-a:9925", "ws://node-a:0", "ws://node-a:1x",
                          "ws://node-a:70000", "ws://:9925", ""}) {
    EXPECT_FALSE(ParseWsUrl(bad).ok()) << bad;
  }
}

TEST(CreditWindow, UnackedFramesNeverExceedTheCredit) {
  CreditWindow w;
  EXPECT_EQ(w.Available(), 0u);  // nothing before the first Credit
  w.SetCredit(2);
  EXPECT_EQ(w.Available(), 2u);
  w.Sent(5);
  w.Sent(9);
  EXPECT_EQ(w.Available(), 0u);
  w.Acked(4);  // covers no whole frame
  EXPECT_EQ(w.Available(), 0u);
  w.Acked(7);  // the first frame (up to 5)
  EXPECT_EQ(w.Available(), 1u);
  w.SetCredit(0);  // paused
  EXPECT_EQ(w.Available(), 0u);
  w.SetCredit(4);
  EXPECT_EQ(w.Available(), 3u);
  EXPECT_FALSE(w.AllAcked());
  w.Acked(9);
  EXPECT_TRUE(w.AllAcked());
  EXPECT_EQ(w.Available(), 4u);
}

}  // namespace
}  // namespace meshdb::replication
