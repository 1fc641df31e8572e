// What flows where: replicate:false tables and replication.databases, on both the publishing
// and the subscribing side (publish_filter.h).
#include "replication/engine/publish_filter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "replication/engine/subscription_rules.h"
#include "storage/store.h"

namespace meshdb::replication {
namespace {

storage::TableDef Table(const std::string& db, const std::string& name, bool replicate = true) {
  storage::TableDef d;
  d.database = db;
  d.name = name;
  d.primary_key = "id";
  d.replicate = replicate;
  return d;
}

TEST(SelectiveFilter, PublisherNeverSendsRowsOfLocalOnlyTables) {
  std::vector<storage::TableDef> defs = {Table("data", "shared"), Table("data", "local", false)};
  PublishFilter filter;
  filter.subscriber_id = 7;
  filter.tables = PublishedTables(defs, {}, {});
  ASSERT_EQ(filter.tables, (std::unordered_set<std::string>{"shared"}));
  // Even when the subscriber asks for the table by name it is not published.
  EXPECT_TRUE(PublishedTables(defs, {}, {"local"}).empty());

  storage::LogEntry entry;
  entry.sequence = 3;
  entry.origin = 1;
  entry.origin_sequence = 3;
  entry.writes.push_back({"local", "k1", "{\"id\":\"k1\"}"});
  entry.writes.push_back({"shared", "k2", "{\"id\":\"k2\"}"});
  entry.writes.push_back({"local", "k3", "{\"id\":\"k3\"}"});
  auto out = FilterLogEntry(entry, filter);
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->writes.size(), 1u);
  EXPECT_EQ(out->writes[0].table, "shared");
  EXPECT_EQ(out->writes[0].key, "k2");

  // replicate:false tables are nobody else's to receive: the entry is not partial.
  EXPECT_FALSE(ExcludesTables(defs, filter.tables));
  EXPECT_FALSE(out->partial);

  // A transaction touching only the local table goes out empty (the cursor advances).
  storage::LogEntry only_local = entry;
  only_local.writes.erase(only_local.writes.begin() + 1);
  auto empty = FilterLogEntry(only_local, filter);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->writes.empty());
}

TEST(SelectiveFilter, EntriesOfALinkThatLeavesTablesOutArePartial) {
  std::vector<storage::TableDef> defs = {Table("data", "alerts"), Table("data", "thresholds")};
  std::vector<TableSubscription> subs = {{"data", "thresholds", false, true},
                                         {"data", "alerts", true, false}};
  PublishFilter filter;
  filter.subscriber_id = 7;
  filter.tables = PublishedTables(defs, subs, {});
  filter.excludes_tables = ExcludesTables(defs, filter.tables);
  EXPECT_TRUE(filter.excludes_tables);

  storage::LogEntry entry;
  entry.sequence = 1;
  entry.origin = 1;
  entry.origin_sequence = 1;
  entry.writes.push_back({"alerts", "k1", "v"});
  auto out = FilterLogEntry(entry, filter);
  ASSERT_TRUE(out.has_value());
  // Every write it had went out, yet the link can never vouch for all tables.
  EXPECT_EQ(out->writes.size(), 1u);
  EXPECT_TRUE(out->partial);

  // An entry partial in our log stays partial on a link that filters nothing.
  filter.tables = PublishedTables(defs, {}, {});
  filter.excludes_tables = ExcludesTables(defs, filter.tables);
  EXPECT_FALSE(filter.excludes_tables);
  EXPECT_FALSE(FilterLogEntry(entry, filter)->partial);
  entry.partial = true;
  EXPECT_TRUE(FilterLogEntry(entry, filter)->partial);
}

TEST(SubscriptionRules, RulesCompareAndRoundTrip) {
  std::vector<TableSubscription> subs = {{"data", "thresholds", false, true},
                                         {"other", "x", true, false},
                                         {"data", "alerts", true, false}};
  auto rules = RulesFor(subs, "data");
  // ("*", false): the tables the list leaves out do not cross.
  ASSERT_EQ(rules, (std::vector<TableRule>{{"*", false}, {"alerts", false}, {"thresholds", true}}));
  EXPECT_TRUE(RulesExcludeTables(rules));
  EXPECT_EQ(RulesFor(subs, "none"), (std::vector<TableRule>{{"*", false}}));
  EXPECT_TRUE(RulesFor({}, "data").empty());      // no subscriptions: every table
  EXPECT_TRUE(RulesFor(subs, "system").empty());  // membership keeps flowing
  // A whole-database entry, or one for every database, stands for the unlisted tables.
  std::vector<TableSubscription> wide = {{"data", "*", true, true}, {"data", "x", true, false}};
  EXPECT_EQ(RulesFor(wide, "data"), (std::vector<TableRule>{{"*", true}, {"x", false}}));
  std::vector<TableSubscription> everywhere = {{"*", "*", true, true}, {"data", "*", false, false}};
  EXPECT_EQ(RulesFor(everywhere, "data"), (std::vector<TableRule>{{"*", false}}));
  EXPECT_EQ(RulesFor(everywhere, "other"), (std::vector<TableRule>{{"*", true}}));
  auto decoded = DecodeRules(EncodeRules(rules));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, rules);
  EXPECT_FALSE(DecodeRules("{}").ok());
  EXPECT_FALSE(DecodeRules(R"([{"table": 1, "subscribe": true}])").ok());
}

TEST(SubscriptionRules, NewlySubscribedTablesFollowWildcards) {
  std::unordered_set<std::string> published = {"alerts", "thresholds", "marker"};
  // Before: alerts was not subscribed; thresholds was; the rest by a wildcard.
  std::vector<TableRule> before = {{"*", true}, {"alerts", false}, {"thresholds", true}};
  EXPECT_EQ(NewlySubscribedTables(published, before, "data"),
            (std::unordered_set<std::string>{"alerts"}));
  // Rules without a wildcard: what they did not list was not subscribed.
  std::vector<TableRule> listed = {{"alerts", false}, {"thresholds", true}};
  EXPECT_EQ(NewlySubscribedTables(published, listed, "data"),
            (std::unordered_set<std::string>{"alerts", "marker"}));
  // Before: nothing but thresholds.
  std::vector<TableRule> only = {{"*", false}, {"thresholds", true}};
  EXPECT_EQ(NewlySubscribedTables(published, only, "data"),
            (std::unordered_set<std::string>{"alerts", "marker"}));
  EXPECT_TRUE(NewlySubscribedTables(published, {}, "data").empty());
}

TEST(SelectiveFilter, SubscriberDropsRowsForTablesLocalOnlyHere) {
  EXPECT_TRUE(AppliesRemoteRows(Table("data", "shared"), {}));
  EXPECT_FALSE(AppliesRemoteRows(Table("data", "local", false), {}));
  // An explicit subscription does not override replicate:false.
  std::vector<TableSubscription> subs = {{"data", "local", true, true}};
  EXPECT_FALSE(AppliesRemoteRows(Table("data", "local", false), subs));
  // Nor does it let in a table the subscription turns off.
  std::vector<TableSubscription> off = {{"data", "shared", true, false}};
  EXPECT_FALSE(AppliesRemoteRows(Table("data", "shared"), off));
  // System: only the whitelisted tables take a peer's rows.
  EXPECT_TRUE(AppliesRemoteRows(Table("system", "hdb_user"), {}));
  EXPECT_FALSE(AppliesRemoteRows(Table("system", "hdb_node_auth"), {}));
  EXPECT_FALSE(AppliesRemoteRows(Table("system", "hdb_info"), {}));
}

TEST(SelectiveFilter, SubscriberRefusesDefinitionsOfLocalOnlyTables) {
  storage::TableDef shared = Table("data", "t");
  storage::TableDef local_only = Table("data", "t", false);
  // Missing here: created from a replicating definition only.
  EXPECT_TRUE(AcceptsRemoteTableDef(shared, nullptr, {}));
  EXPECT_FALSE(AcceptsRemoteTableDef(local_only, nullptr, {}));
  // Present here as replicate:false: a peer's definition never touches it.
  EXPECT_FALSE(AcceptsRemoteTableDef(shared, &local_only, {}));
  EXPECT_TRUE(AcceptsRemoteTableDef(shared, &shared, {}));
  std::vector<TableSubscription> off = {{"data", "t", true, false}};
  EXPECT_FALSE(AcceptsRemoteTableDef(shared, nullptr, off));
  EXPECT_FALSE(AcceptsRemoteTableDef(Table("system", "hdb_node_auth"), nullptr, {}));
}

TEST(SelectiveFilter, DatabasesListRestrictsAllButSystem) {
  const std::vector<std::string> listed = {"data", "sales"};
  EXPECT_TRUE(DatabaseReplicates(listed, "data"));
  EXPECT_TRUE(DatabaseReplicates(listed, "sales"));
  EXPECT_FALSE(DatabaseReplicates(listed, "local"));
  EXPECT_TRUE(DatabaseReplicates(listed, "system"));
  // The server passes {"system"} for an empty replication.databases list: nothing else flows.
  EXPECT_FALSE(DatabaseReplicates({"system"}, "data"));
  EXPECT_TRUE(DatabaseReplicates({"system"}, "system"));
}

}  // namespace
}  // namespace meshdb::replication
