// The schema.graphql loader (graphql_schema.h) and the replicate flag of create_table /
// describe_table, against a real Store in a temporary directory.
#include "ops/graphql_schema.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "ops/handlers.h"
#include "ops_fixture.h"
#include "storage/store.h"

namespace meshdb::ops {
namespace {

namespace json = boost::json;

std::vector<storage::TableDef> ParseOk(const std::string& text) {
  auto r = ParseGraphqlSchema(text, "schema.graphql");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::vector<storage::TableDef>{};
}

std::string ParseErr(const std::string& text) {
  auto r = ParseGraphqlSchema(text, "schema.graphql");
  EXPECT_FALSE(r.ok()) << text;
  return r.ok() ? "" : r.status().message();
}

TEST(GraphqlSchema, ParsesTablesTypesAndDirectives) {
  auto defs = ParseOk(R"(# sensors
type SensorData @table(database: "edge", table: "sensor_data", replicate: false) @export {
  ts: Float
  id: ID! @primaryKey   # the key
  name: String @indexed,
  n: Int
  ok: Boolean
  big: Long
  tags: [String!]!
  other: Thing
}
type Threshold @table {
  sensor: ID!
  max: Float
}
type Nested { a: String }   # no @table: not a table
)");
  ASSERT_EQ(defs.size(), 2u);
  const storage::TableDef& s = defs[0];
  EXPECT_EQ(s.database, "edge");
  EXPECT_EQ(s.name, "sensor_data");
  EXPECT_FALSE(s.replicate);
  EXPECT_TRUE(s.schema_defined);
  EXPECT_EQ(s.primary_key, "id");
  ASSERT_EQ(s.attributes.size(), 8u);
  EXPECT_EQ(s.attributes[0].name, "id");  // primary key first
  EXPECT_EQ(s.attributes[0].type, "ID");
  EXPECT_EQ(s.attributes[1].name, "ts");
  EXPECT_EQ(s.attributes[1].type, "Float");
  EXPECT_FALSE(s.attributes[1].indexed);
  EXPECT_EQ(s.attributes[2].name, "name");
  EXPECT_EQ(s.attributes[2].type, "String");
  EXPECT_TRUE(s.attributes[2].indexed);
  EXPECT_EQ(s.attributes[3].type, "Int");
  EXPECT_EQ(s.attributes[4].type, "Boolean");
  EXPECT_EQ(s.attributes[5].type, "Long");
  EXPECT_EQ(s.attributes[6].type, "Any");  // lists
  EXPECT_EQ(s.attributes[7].type, "Any");  // other types
  const storage::TableDef& t = defs[1];
  EXPECT_EQ(t.database, "data");
  EXPECT_EQ(t.name, "Threshold");
  EXPECT_TRUE(t.replicate);
  EXPECT_EQ(t.primary_key, "sensor");  // the ID! field
}

TEST(GraphqlSchema, ErrorsNameLineColumnAndWhatWasExpected) {
  EXPECT_EQ(ParseErr("type A @table {\n  id ID!\n}"), "schema.graphql:2:6: expected ':', got 'ID'");
  EXPECT_EQ(ParseErr("type A @table {\n  id: ID!\n"),
            "schema.graphql:3:1: expected a field name or '}', got end of file");
  EXPECT_EQ(ParseErr("table A {}"), "schema.graphql:1:1: expected 'type', got 'table'");
  EXPECT_EQ(ParseErr("type A @table(replicate: \"no\") { id: ID! }"),
            "schema.graphql:1:26: expected true or false for @table(replicate), got string \"no\"");
  EXPECT_EQ(ParseErr("type A @table(shard: 1) { id: ID! }"),
            "schema.graphql:1:15: expected a @table argument (database, table, replicate), got "
            "'shard'");
  EXPECT_EQ(ParseErr("type A @table { id: ID! @primarykey }"),
            "schema.graphql:1:26: expected a field directive (@primaryKey, @indexed), got "
            "'@primarykey'");
  EXPECT_EQ(ParseErr("type A @table { name: String }"),
            "schema.graphql:1:6: type A has no primary key: expected a field marked @primaryKey "
            "or typed ID!");
  EXPECT_EQ(ParseErr("type A @table { id: ID! id: String }"),
            "schema.graphql:1:25: field 'id' is defined twice in type A");
  EXPECT_EQ(ParseErr("type A @table { id: ID! }\ntype B @table(table: \"A\") { id: ID! }"),
            "schema.graphql:2:1: table 'data.A' is defined twice");
  EXPECT_EQ(ParseErr("type A @table(database: \"x) { id: ID! }"),
            "schema.graphql:1:25: unterminated string");
  EXPECT_EQ(ParseErr("type A @table { id: ID! $ }"),
            "schema.graphql:1:25: unexpected character '$'");
  EXPECT_EQ(ParseErr("type A @table { id: [ID }"), "schema.graphql:1:25: expected ']', got '}'");
}

class SchemaStoreTest : public testing::OpsStoreTest {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
};

TEST_F(SchemaStoreTest, LoadCreatesMissingTablesThenAddsNewAttributes) {
  std::string a =
      Write("a.graphql", "type Local @table(database: \"edge\", replicate: false) { id: ID! }\n");
  std::string b = Write("b.graphql", "type Shared @table { id: ID! v: Int }\n");
  ASSERT_TRUE(LoadSchemaFiles({a, b}, store_.get()).ok());
  auto local = store_->GetTable("edge", "Local");
  ASSERT_TRUE(local.ok()) << local.status().ToString();
  EXPECT_FALSE(local->replicate);
  EXPECT_TRUE(local->schema_defined);
  auto shared = store_->GetTable("data", "Shared");
  ASSERT_TRUE(shared.ok());
  EXPECT_TRUE(shared->replicate);
  ASSERT_EQ(shared->attributes.size(), 2u);

  // Loading again is idempotent; a new field becomes a new attribute.
  Write("b.graphql", "type Shared @table { id: ID! v: Int w: String @indexed }\n");
  ASSERT_TRUE(LoadSchemaFiles({a, b}, store_.get()).ok());
  shared = store_->GetTable("data", "Shared");
  ASSERT_TRUE(shared.ok());
  ASSERT_NE(shared->FindAttribute("w"), nullptr);
  EXPECT_EQ(shared->FindAttribute("w")->type, "String");
  EXPECT_TRUE(shared->FindAttribute("w")->indexed);
}

TEST_F(SchemaStoreTest, BadFileAppliesNothingAndNamesTheFile) {
  std::string good = Write("good.graphql", "type T @table { id: ID! }\n");
  std::string bad = Write("bad.graphql", "type U @table {\n  id: ID!\n  x String\n}\n");
  Status st = LoadSchemaFiles({good, bad}, store_.get());
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_EQ(st.message(), bad + ":3:5: expected ':', got 'String'");
  EXPECT_FALSE(store_->GetTable("data", "T").ok());
  Status missing = LoadSchemaFiles({dir_ + "/nope.graphql"}, store_.get());
  EXPECT_EQ(missing.message(), "cannot read schema file '" + dir_ + "/nope.graphql'");
}

TEST_F(SchemaStoreTest, CreateTableReplicateFlagAndDescribe) {
  OpResult bad = Run(CreateTable, R"({"table":"t","primary_key":"id","replicate":"no"})");
  EXPECT_EQ(bad.status.ToString(), "InvalidArgument: 'replicate' must be a boolean");
  OpResult bad_num = Run(CreateTable, R"({"table":"t","primary_key":"id","replicate":0})");
  EXPECT_FALSE(bad_num.status.ok());
  ASSERT_TRUE(
      Run(CreateTable, R"({"table":"local","primary_key":"id","replicate":false})").status.ok());
  ASSERT_TRUE(Run(CreateTable, R"({"table":"shared","primary_key":"id"})").status.ok());
  ASSERT_TRUE(
      Run(CreateTable, R"({"table":"shared2","primary_key":"id","replicate":true})").status.ok());
  EXPECT_FALSE(store_->GetTable("data", "local")->replicate);
  EXPECT_TRUE(store_->GetTable("data", "shared2")->replicate);

  OpResult d = Run(DescribeTable, R"({"table":"local"})");
  ASSERT_TRUE(d.status.ok());
  EXPECT_EQ(d.body.as_object().at("replicate"), json::value(false));
  OpResult s = Run(DescribeTable, R"({"table":"shared"})");
  ASSERT_TRUE(s.status.ok());
  EXPECT_FALSE(s.body.as_object().contains("replicate"));  // as HarperDB: absent when true
  OpResult all = Run(DescribeDatabase, R"({"database":"data"})");
  ASSERT_TRUE(all.status.ok());
  EXPECT_EQ(all.body.at("local").at("replicate"), json::value(false));
}

}  // namespace
}  // namespace meshdb::ops
