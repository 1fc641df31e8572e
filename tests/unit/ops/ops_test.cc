// The data operations (schema, record and search handlers) against a real Store in a
// temporary directory.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "ops/auth.h"
#include "ops/handlers.h"
#include "ops_fixture.h"
#include "storage/store.h"

namespace meshdb::ops {
namespace {

namespace json = boost::json;

// Lets non-super callers describe dev.dog only.
class DescribeOnlyDogs : public Auth {
 public:
  Status Bootstrap(const std::string&, const std::string&) override { return Status::Ok(); }
  Result<Caller> Authenticate(const std::string&, const std::string&,
                              const json::object&) override {
    return Status::Unauthenticated("Must login");
  }
  std::optional<OpResult> CheckTableAccess(const Caller&, const std::string&, const std::string&,
                                           std::initializer_list<TableAccess>) override {
    return std::nullopt;
  }
  bool CanDescribe(const Caller&, const std::string& database, const std::string& table) override {
    return database == "dev" && table == "dog";
  }
  void Invalidate() override {}
  void AddRole(OpCall) override {}
  void AlterRole(OpCall) override {}
  void DropRole(OpCall) override {}
  void ListRoles(OpCall) override {}
  void AddUser(OpCall) override {}
  void AlterUser(OpCall) override {}
  void DropUser(OpCall) override {}
  void ListUsers(OpCall) override {}
  void UserInfo(OpCall) override {}
  void CreateAuthenticationTokens(OpCall) override {}
  void RefreshOperationToken(OpCall) override {}
};

class OpsTest : public testing::OpsStoreTest {
 protected:
  // The response of a call that must succeed.
  json::value Ok(Handler handler, const std::string& body) {
    OpResult r = Run(handler, body);
    EXPECT_TRUE(r.status.ok()) << body << " -> " << r.status.ToString();
    return r.body;
  }
  std::string OkText(Handler handler, const std::string& body) {
    return json::serialize(Ok(handler, body));
  }
  // "Code: message" of a call that must fail.
  std::string Err(Handler handler, const std::string& body) {
    OpResult r = Run(handler, body);
    EXPECT_FALSE(r.status.ok()) << body;
    return r.status.ToString();
  }
  void MakeDogs() {
    Ok(CreateTable, R"({"database":"dev","table":"dog","primary_key":"id"})");
    Ok(Insert, R"({"database":"dev","table":"dog","records":[
        {"id":1,"name":"Penny","age":5},{"id":2,"name":"Harper","age":3},
        {"id":3,"name":"Peter","age":9},{"id":4,"name":"Oscar","age":3},
        {"id":5,"age":1},{"id":"x","name":"Pearl","age":"old"}]})");
  }
  // The ids of a search result, e.g. "[1,3]".
  static std::string Ids(const json::value& result) {
    json::array ids;
    for (const auto& r : result.as_array()) ids.push_back(r.as_object().at("id"));
    return json::serialize(ids);
  }
};

// --- Databases and tables ---------------------------------------------------------------

TEST_F(OpsTest, CreateDescribeDropTable) {
  EXPECT_EQ(OkText(CreateDatabase, R"({"database":"dev"})"),
            R"({"message":"database 'dev' successfully created"})");
  EXPECT_EQ(Err(CreateDatabase, R"({"database":"dev"})"),
            "InvalidArgument: database 'dev' already exists");
  EXPECT_EQ(OkText(CreateTable, R"({"database":"dev","table":"dog","primary_key":"id"})"),
            R"({"message":"table 'dev.dog' successfully created."})");
  EXPECT_EQ(Err(CreateTable, R"({"database":"dev","table":"dog","primary_key":"id"})"),
            "InvalidArgument: Table 'dog' already exists in 'dev'");

  json::object d = Ok(DescribeTable, R"({"database":"dev","table":"dog"})").as_object();
  std::string keys;
  for (const auto& [k, v] : d) keys += std::string(k) + ",";
  EXPECT_EQ(keys,
            "schema,name,hash_attribute,audit,schema_defined,attributes,db_size,sources,"
            "record_count,table_size,db_audit_size,");
  EXPECT_EQ(json::serialize(d.at("attributes")),
            R"([{"attribute":"id","is_primary_key":true},)"
            R"({"attribute":"__createdtime__","indexed":true},)"
            R"({"attribute":"__updatedtime__","indexed":true}])");
  EXPECT_EQ(d.at("record_count"), json::value(0));

  Ok(Insert,
     R"({"database":"dev","table":"dog","records":[{"id":1,"name":"a"},{"id":2,"breed":"b"}]})");
  d = Ok(DescribeTable, R"({"database":"dev","table":"dog","exact_count":true})").as_object();
  EXPECT_EQ(d.at("record_count"), json::value(2));
  EXPECT_TRUE(d.contains("last_updated_record"));
  EXPECT_EQ(json::serialize(d.at("attributes").as_array()[3]),
            R"({"attribute":"name","indexed":true})");
  EXPECT_EQ(json::serialize(d.at("attributes").as_array()[4]),
            R"({"attribute":"breed","indexed":true})");

  json::object db = Ok(DescribeDatabase, R"({"database":"dev"})").as_object();
  EXPECT_TRUE(db.contains("dog"));
  EXPECT_EQ(OkText(DropTable, R"({"database":"dev","table":"dog"})"),
            R"({"message":"successfully deleted table 'dev.dog'"})");
  EXPECT_EQ(Err(DescribeTable, R"({"database":"dev","table":"dog"})"),
            "NotFound: Table 'dev.dog' does not exist");
  EXPECT_EQ(Err(DropTable, R"({"database":"dev","table":"dog"})"),
            "NotFound: Table 'dev.dog' does not exist");
  EXPECT_EQ(OkText(DescribeDatabase, R"({"database":"dev"})"), "{}");
  EXPECT_EQ(Err(DescribeDatabase, R"({"database":"nodb"})"),
            "NotFound: database 'nodb' does not exist");
  EXPECT_EQ(OkText(DropDatabase, R"({"database":"dev"})"),
            R"({"message":"successfully deleted 'dev'"})");
  EXPECT_EQ(Err(DropDatabase, R"({"database":"dev"})"), "NotFound: database 'dev' does not exist");
  EXPECT_EQ(Err(DropDatabase, "{}"), "InvalidArgument: 'database' is required");
  EXPECT_EQ(Err(DescribeTable, R"({"database":"dev"})"), "InvalidArgument: 'table' is required");
}

TEST_F(OpsTest, CreateTableValidationAndDefaults) {
  EXPECT_EQ(Err(CreateTable, R"({"database":"dev"})"),
            "InvalidArgument: 'table' is required. 'primary_key' is required");
  EXPECT_EQ(Err(CreateTable, R"({"table":5,"primary_key":"id"})"),
            "InvalidArgument: 'table' must be a string");
  EXPECT_EQ(Err(CreateTable, R"({"table":"a/b","primary_key":"id"})"),
            "InvalidArgument: 'table' names cannot include backticks or forward slashes");
  // hash_attribute is the legacy name; an unknown database is created; default `data`.
  Ok(CreateTable, R"({"table":"t","hash_attribute":"key"})");
  json::object d = Ok(DescribeTable, R"({"table":"t"})").as_object();
  EXPECT_EQ(d.at("schema"), json::value("data"));
  EXPECT_EQ(d.at("hash_attribute"), json::value("key"));
  EXPECT_EQ(Err(CreateDatabase, "{}"), "InvalidArgument: database 'data' already exists");
}

TEST_F(OpsTest, CreateDatabaseDefaultsToData) {
  EXPECT_EQ(OkText(CreateDatabase, "{}"), R"({"message":"database 'data' successfully created"})");
  EXPECT_EQ(Err(CreateDatabase, R"({"database":""})"),
            "InvalidArgument: 'database' is not allowed to be empty");
  EXPECT_EQ(Err(CreateDatabase, R"({"database":5})"),
            "InvalidArgument: 'database' must be a string");
  EXPECT_EQ(Err(CreateDatabase, R"({"database":"bad/name"})"),
            "InvalidArgument: 'database' names cannot include backticks or forward slashes");
}

TEST_F(OpsTest, SystemDatabaseIsProtectedAndHidden) {
  storage::TableDef users;
  users.database = "system";
  users.name = "hdb_user";
  users.primary_key = "username";
  ASSERT_TRUE(store_->CreateTable(users).ok());
  Ok(CreateTable, R"({"database":"dev","table":"dog","primary_key":"id"})");
  Ok(CreateDatabase, R"({"database":"empty"})");
  const std::string system_refusal =
      "PermissionDenied: The 'system' database, tables and records are used internally by "
      "HarperDB and cannot be updated or removed.";
  EXPECT_EQ(Err(DropDatabase, R"({"database":"system"})"), system_refusal);
  EXPECT_EQ(Err(DropTable, R"({"database":"system","table":"hdb_user"})"), system_refusal);
  json::object all = Ok(DescribeAll, "{}").as_object();
  EXPECT_FALSE(all.contains("system"));
  EXPECT_TRUE(all.at("dev").as_object().contains("dog"));
  EXPECT_EQ(json::serialize(all.at("empty")), "{}");
  // A super user may still describe it.
  EXPECT_TRUE(Ok(DescribeDatabase, R"({"database":"system"})").as_object().contains("hdb_user"));
}

TEST_F(OpsTest, TypedTable) {
  Ok(CreateTable, R"({"database":"dev","table":"typed","primary_key":"id","attributes":[
      {"name":"id","type":"Int"},{"name":"name","type":"String","indexed":true},
      {"name":"score","type":"Float"}]})");
  json::object d = Ok(DescribeTable, R"({"database":"dev","table":"typed"})").as_object();
  EXPECT_EQ(d.at("schema_defined"), json::value(true));
  EXPECT_EQ(json::serialize(d.at("attributes")),
            R"([{"attribute":"id","type":"Int","is_primary_key":true},)"
            R"({"attribute":"name","type":"String","indexed":true},)"
            R"({"attribute":"score","type":"Float"}])");
  EXPECT_EQ(Err(Insert, R"({"database":"dev","table":"typed","records":[{"id":"notint"}]})"),
            "InvalidArgument: Value \"notint\" in property id must be an integer (from "
            "-2147483648 to 2147483647)");
  EXPECT_EQ(Err(Insert,
                R"({"database":"dev","table":"typed","records":[{"id":1,"name":2,"score":"x"}]})"),
            "InvalidArgument: Value 2 in property name must be a string. Value \"x\" in property "
            "score must be a number");
  Ok(Insert, R"({"database":"dev","table":"typed","records":[{"id":1,"name":"a","score":1.5}]})");
  json::value rec =
      Ok(SearchById, R"({"database":"dev","table":"typed","ids":[1],"get_attributes":["*"]})");
  EXPECT_EQ(json::serialize(rec), R"([{"id":1,"name":"a","score":1.5E0}])");  // no timestamps
}

TEST_F(OpsTest, CreateAttribute) {
  Ok(CreateTable, R"({"database":"dev","table":"dog","primary_key":"id"})");
  EXPECT_EQ(OkText(CreateAttribute, R"({"database":"dev","table":"dog","attribute":"color"})"),
            R"({"message":"attribute 'dev.dog.color' successfully created."})");
  EXPECT_EQ(Err(CreateAttribute, R"({"database":"dev","table":"dog","attribute":"color"})"),
            "InvalidArgument: attribute 'color' already exists in dev.dog");
  EXPECT_EQ(Err(CreateAttribute, R"({"database":"dev","table":"dog"})"),
            "InvalidArgument: Attribute name is required");
  EXPECT_EQ(Err(CreateAttribute, R"({"database":"dev","table":"nosuch","attribute":"a"})"),
            "NotFound: Table 'dev.nosuch' does not exist");
  EXPECT_EQ(Err(CreateAttribute, R"({"database":"nodb","table":"dog","attribute":"a"})"),
            "NotFound: database 'nodb' does not exist");
}

TEST_F(OpsTest, DescribeForNonSuperUsersIsFiltered) {
  Ok(CreateTable, R"({"database":"dev","table":"dog","primary_key":"id"})");
  Ok(CreateTable, R"({"database":"dev","table":"cat","primary_key":"id"})");
  Ok(CreateTable, R"({"database":"other","table":"t","primary_key":"id"})");
  Ok(Insert, R"({"database":"dev","table":"dog","records":[{"id":1,"name":"a","age":2}]})");
  DescribeOnlyDogs auth;
  env_.auth = &auth;
  caller_.super_user = false;
  caller_.role = json::parse(R"({"permission":{"dev":{"tables":{"dog":{"read":true,
      "attribute_permissions":[{"attribute_name":"name","read":true},
                               {"attribute_name":"age","read":false}]}}}}})")
                     .as_object();
  json::object all = Ok(DescribeAll, "{}").as_object();
  EXPECT_EQ(all.size(), 1u);
  EXPECT_EQ(all.at("dev").as_object().size(), 1u);
  EXPECT_EQ(json::serialize(all.at("dev").as_object().at("dog").as_object().at("attributes")),
            R"([{"attribute":"name","indexed":true}])");
  EXPECT_EQ(Err(DescribeTable, R"({"database":"dev","table":"cat"})"),
            "PermissionDenied: This operation is not authorized due to role restrictions and/or "
            "invalid database items");
  OpResult sys = Run(DescribeDatabase, R"({"database":"system"})");
  EXPECT_TRUE(sys.status.IsPermissionDenied());
  EXPECT_EQ(json::serialize(sys.body),
            R"({"unauthorized_access":["Your role does not have permission to view database )"
            R"(metadata for 'system'"],"invalid_schema_items":[]})");
  env_.auth = nullptr;
}

// --- Records ------------------------------------------------------------------------------

TEST_F(OpsTest, InsertSkipsExistingAndReportsGeneratedAsNull) {
  Ok(CreateTable, R"({"database":"dev","table":"dog","primary_key":"id"})");
  EXPECT_EQ(
      OkText(Insert, R"({"database":"dev","table":"dog","records":[
                {"id":1,"name":"a"},{"id":1,"name":"b"},{"id":"two"}]})"),
      R"({"message":"inserted 2 of 3 records","inserted_hashes":[1,"two"],"skipped_hashes":[1]})");
  EXPECT_EQ(
      OkText(
          Insert,
          R"({"database":"dev","table":"dog","records":[{"id":1,"name":"c"},{"name":"gen"},{"id":""}]})"),
      R"({"message":"inserted 2 of 3 records","inserted_hashes":[null,null],"skipped_hashes":[1]})");
  EXPECT_EQ(
      OkText(SearchById, R"({"database":"dev","table":"dog","ids":[1],"get_attributes":["name"]})"),
      R"([{"name":"a"}])");
  json::object d = Ok(DescribeTable, R"({"database":"dev","table":"dog"})").as_object();
  EXPECT_EQ(d.at("record_count"), json::value(4));
  EXPECT_EQ(OkText(Insert, R"({"database":"dev","table":"dog","records":[]})"),
            R"({"message":"inserted 0 of 0 records","inserted_hashes":[],"skipped_hashes":[]})");
}

TEST_F(OpsTest, InsertErrors) {
  Ok(CreateTable, R"({"database":"dev","table":"dog","primary_key":"id"})");
  EXPECT_EQ(Err(Insert, R"({"database":"dev","table":"dog"})"),
            "InvalidArgument: 'records' is required");
  EXPECT_EQ(Err(Insert, R"({"database":"dev"})"),
            "InvalidArgument: 'table' is required. 'records' is required");
  EXPECT_EQ(Err(Insert, R"({"database":"dev","table":"dog","records":{}})"),
            "InvalidArgument: 'records' must be an array");
  EXPECT_EQ(Err(Insert, R"({"database":"dev","table":"dog","records":[5]})"),
            "InvalidArgument: 'records[0]' must be of type object");
  EXPECT_EQ(Err(Insert, R"({"database":"dev","table":"nosuch","records":[]})"),
            "InvalidArgument: Table 'dev.nosuch' does not exist");
  EXPECT_EQ(Err(Insert, R"({"database":"dev","table":5,"records":[]})"),
            "InvalidArgument: Table 'dev.5' does not exist");
  EXPECT_EQ(Err(Insert, R"({"database":"nodb","table":"dog","records":[]})"),
            "InvalidArgument: database 'nodb' does not exist");
  EXPECT_EQ(Err(Insert, R"({"database":"dev","table":"dog","records":[{"id":{"a":1}}]})"),
            "InvalidArgument: 'records[0].id' must be a string or a number");
  EXPECT_EQ(Err(Insert, R"({"database":"dev","table":"dog","records":[{"id":")" +
                            std::string(600, 'k') + R"("}]})"),
            "InvalidArgument: primary key is longer than 511 bytes");
  EXPECT_EQ(Err(Update, R"({"database":"dev","table":"dog","records":[{"name":"x"}]})"),
            "InvalidArgument: a valid hash attribute must be provided with update record, check "
            "log for more info");
  EXPECT_EQ(Err(Upsert, R"({"database":"dev","table":"nosuch","records":[{"id":1}]})"),
            "InvalidArgument: Table 'dev.nosuch' does not exist");
}

TEST_F(OpsTest, UpdateMergesAndSkipsMissing) {
  Ok(CreateTable, R"({"database":"dev","table":"dog","primary_key":"id"})");
  Ok(Insert, R"({"database":"dev","table":"dog","records":[{"id":1,"name":"a","breed":"b"}]})");
  EXPECT_EQ(
      OkText(Update,
             R"({"database":"dev","table":"dog","records":[{"id":1,"age":5},{"id":99,"age":1}]})"),
      R"({"message":"updated 1 of 2 records","update_hashes":[1],"skipped_hashes":[99]})");
  EXPECT_EQ(
      OkText(
          SearchById,
          R"({"database":"dev","table":"dog","ids":[1,99],"get_attributes":["id","name","breed","age"]})"),
      R"([{"id":1,"name":"a","breed":"b","age":5}])");
}

TEST_F(OpsTest, UpsertMergesOrInserts) {
  Ok(CreateTable, R"({"database":"dev","table":"dog","primary_key":"id"})");
  Ok(Insert, R"({"database":"dev","table":"dog","records":[{"id":2,"name":"n","breed":"b"}]})");
  EXPECT_EQ(
      OkText(
          Upsert,
          R"({"database":"dev","table":"dog","records":[{"id":2,"age":7},{"id":3,"name":"m"},{"name":"auto"}]})"),
      R"({"message":"upserted 3 of 3 records","upserted_hashes":[2,3,null]})");
  EXPECT_EQ(
      OkText(
          SearchById,
          R"({"database":"dev","table":"dog","ids":[2],"get_attributes":["name","breed","age"]})"),
      R"([{"name":"n","breed":"b","age":7}])");
  EXPECT_EQ(
      Ok(SearchByValue,
         R"({"database":"dev","table":"dog","search_attribute":"name","search_value":"auto"})")
          .as_array()
          .size(),
      1u);
}

TEST_F(OpsTest, DeleteMessages) {
  MakeDogs();
  EXPECT_EQ(
      OkText(Delete, R"({"database":"dev","table":"dog","ids":[1]})"),
      R"({"message":"1 of 1 record successfully deleted","deleted_hashes":[1],"skipped_hashes":[]})");
  EXPECT_EQ(
      OkText(Delete, R"({"database":"dev","table":"dog","hash_values":[2,777]})"),
      R"({"message":"2 of 2 records successfully deleted","deleted_hashes":[2,777],"skipped_hashes":[]})");
  EXPECT_EQ(OkText(SearchById,
                   R"({"database":"dev","table":"dog","ids":[1,2,3],"get_attributes":["id"]})"),
            R"([{"id":3}])");
  EXPECT_EQ(Err(Delete, R"({"database":"dev","table":"dog"})"),
            "InvalidArgument: 'hash_values' is required");
  EXPECT_EQ(Err(Delete, R"({"database":"dev","table":"dog","ids":1})"),
            "InvalidArgument: 'hash_values' must be an array. 'ids' must be an array");
  EXPECT_EQ(Err(Delete, R"({"database":"dev","table":"nosuch","ids":[1]})"),
            "NotFound: Table 'dev.nosuch' does not exist");
  EXPECT_EQ(Err(Delete, R"({"database":"nodb","table":"dog","ids":[1]})"),
            "NotFound: database 'nodb' does not exist");
}

// --- Searches -----------------------------------------------------------------------------

TEST_F(OpsTest, SearchByIdProjections) {
  Ok(CreateTable, R"({"database":"dev","table":"dog","primary_key":"id"})");
  Ok(Insert,
     R"({"database":"dev","table":"dog","records":[{"id":1,"name":"a"},{"id":3,"breed":"c"}]})");
  json::value all = Ok(
      SearchById, R"({"database":"dev","table":"dog","ids":[3,"1",42,1],"get_attributes":["*"]})");
  ASSERT_EQ(all.as_array().size(), 2u);  // "1" does not find 1; 42 is missing
  std::string keys;
  for (const auto& [k, v] : all.as_array()[0].as_object()) keys += std::string(k) + ",";
  EXPECT_EQ(keys, "id,__createdtime__,__updatedtime__,name,breed,");
  EXPECT_EQ(all.as_array()[0].as_object().at("name"), json::value(nullptr));
  EXPECT_EQ(all.as_array()[1].as_object().at("id"), json::value(1));
  EXPECT_EQ(
      OkText(
          SearchById,
          R"({"database":"dev","table":"dog","hash_values":[1],"get_attributes":["name","nope"]})"),
      R"([{"name":"a","nope":null}])");
  EXPECT_EQ(Err(SearchById, R"({"database":"dev","table":"dog","ids":[1]})"),
            "InvalidArgument: 'get_attributes' is required");
  EXPECT_EQ(Err(SearchById, R"({"database":"dev","table":"dog","get_attributes":["*"]})"),
            "InvalidArgument: 'hash_values' is required");
  EXPECT_EQ(Err(SearchById, R"({"database":"dev","table":"dog","ids":1,"get_attributes":["*"]})"),
            "InvalidArgument: 'hash_values' must be an array");
  EXPECT_EQ(
      Err(SearchById, R"({"database":"dev","table":"nosuch","ids":[1],"get_attributes":["*"]})"),
      "NotFound: Table 'dev.nosuch' does not exist");
}

TEST_F(OpsTest, SearchByValueWildcards) {
  MakeDogs();
  auto search = [&](const std::string& value, const std::string& extra = "") {
    return Ids(Ok(SearchByValue,
                  R"({"database":"dev","table":"dog","search_attribute":"name","search_value":)" +
                      value + extra + "}"));
  };
  EXPECT_EQ(search(R"("*")"), R"([1,2,3,4,5,"x"])");  // even the record without a name
  EXPECT_EQ(search(R"("Pe*")"), R"([1,3,"x"])");      // index order would be Pearl first
  EXPECT_EQ(search(R"("*er")"), R"([2,3])");
  EXPECT_EQ(search(R"("*ar*")"), R"([2,4,"x"])");
  EXPECT_EQ(search(R"("Oscar")"), R"([4])");
  EXPECT_EQ(search(R"("%")"), "[]");
  EXPECT_EQ(search(R"("*")", R"(,"limit":2,"offset":1)"), "[2,3]");
  EXPECT_EQ(search(R"("Pe*")", R"(,"desc":true)"), R"(["x",3,1])");
  // A number through the index, the primary key, and the value/attribute aliases.
  EXPECT_EQ(
      Ids(Ok(SearchByValue, R"({"database":"dev","table":"dog","attribute":"age","value":3})")),
      "[2,4]");
  EXPECT_EQ(
      Ids(Ok(SearchByValue, R"({"database":"dev","table":"dog","attribute":"id","value":3})")),
      "[3]");
  // Without get_attributes: the raw record; with it, the projection.
  EXPECT_EQ(
      OkText(
          SearchByValue,
          R"({"database":"dev","table":"dog","attribute":"name","value":"Oscar","get_attributes":["name","age"]})"),
      R"([{"name":"Oscar","age":3}])");
  json::value raw =
      Ok(SearchByValue, R"({"database":"dev","table":"dog","attribute":"id","value":5})");
  EXPECT_FALSE(raw.as_array()[0].as_object().contains("name"));

  EXPECT_EQ(
      Err(SearchByValue, R"({"database":"dev","table":"dog","attribute":"nosuchattr","value":1})"),
      "InvalidArgument: unknown attribute 'nosuchattr'");
  EXPECT_EQ(Err(SearchByValue, R"({"database":"dev","table":"dog","value":1})"),
            "InvalidArgument: 'attribute' is required");
  EXPECT_EQ(Err(SearchByValue, R"({"database":"dev","table":"dog","attribute":"name"})"),
            "InvalidArgument: 'value' is required");
  EXPECT_EQ(
      Err(SearchByValue, R"({"database":"dev","table":"nosuch","attribute":"name","value":1})"),
      "NotFound: Table 'dev.nosuch' does not exist");
}

TEST_F(OpsTest, SearchByConditions) {
  MakeDogs();
  auto search = [&](const std::string& rest) {
    return Ids(Ok(SearchByConditions, R"({"database":"dev","table":"dog",)" + rest + "}"));
  };
  // An indexed range drives the scan (index order: age 1, 3, 3, 5, 9).
  EXPECT_EQ(
      search(
          R"("conditions":[{"search_attribute":"age","search_type":"greater_than_equal","search_value":3}])"),
      "[2,4,1,3]");
  EXPECT_EQ(search(R"("conditions":[{"attribute":"age","comparator":"between","value":[3,5]},
                                   {"attribute":"name","comparator":"starts_with","value":"O"}])"),
            "[4]");
  EXPECT_EQ(
      search(R"("operator":"or","conditions":[{"attribute":"age","comparator":"equals","value":9},
                                                    {"attribute":"name","comparator":"equals","value":"Harper"}])"),
      "[2,3]");
  EXPECT_EQ(search(R"("operator":"and","conditions":[
                        {"attribute":"age","comparator":"less_than","value":6},
                        {"operator":"or","conditions":[
                            {"attribute":"name","comparator":"ends_with","value":"ny"},
                            {"attribute":"name","comparator":"contains","value":"sc"}]}])"),
            "[4,1]");
  EXPECT_EQ(search(R"("conditions":[{"attribute":"age","comparator":"not_equal","value":3}],
                      "sort":{"attribute":"age","descending":true})"),
            R"(["x",3,1,5])");  // strings sort above numbers
  EXPECT_EQ(search(R"("conditions":[{"attribute":"age","comparator":"greater_than","value":0}],
                      "sort":{"attribute":"name"},"limit":2,"offset":1)"),
            "[2,4]");  // names: (none)5, Harper2, Oscar4, Penny1, Peter3
  EXPECT_EQ(search(R"("conditions":[{"attribute":"age","comparator":"less_than","value":"z"}])"),
            R"(["x"])");
  EXPECT_EQ(search(R"("conditions":[])"), R"([1,2,3,4,5,"x"])");
  EXPECT_EQ(OkText(SearchByConditions, R"({"database":"dev","table":"dog","get_attributes":["name"],
                   "conditions":[{"attribute":"id","comparator":"equals","value":4}]})"),
            R"([{"name":"Oscar"}])");

  EXPECT_EQ(
      Err(SearchByConditions,
          R"({"database":"dev","table":"dog","conditions":[{"attribute":"age","comparator":"bogus","value":1}]})"),
      "InvalidArgument: Unknown query comparator \"bogus\"");
  EXPECT_EQ(Err(SearchByConditions, R"({"database":"dev","table":"nosuch","conditions":[]})"),
            "InvalidArgument: Table nosuch not found");
  EXPECT_EQ(Err(SearchByConditions, R"({"database":"dev","table":"dog"})"),
            "InvalidArgument: 'conditions' is required");
}

}  // namespace
}  // namespace meshdb::ops
