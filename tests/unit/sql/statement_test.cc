// SQL statements over a real Store (sql/statement.h): results, index use, errors, and the
// changes a write statement collects.
#include "sql/statement.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <string>

#include "storage/store.h"
#include "temp_dir.h"
#include "test_store.h"

namespace meshdb::sql {
namespace {

namespace json = boost::json;

class StatementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(meshdb::testing::OpenTestStore(dir_.path(), 256ull << 20, &store_));
    storage::TableDef dog;
    dog.database = "dev";
    dog.name = "dog";
    dog.primary_key = "id";
    ASSERT_TRUE(store_->CreateTable(dog).ok());
    storage::TableDef owner = dog;
    owner.name = "owner";
    ASSERT_TRUE(store_->CreateTable(owner).ok());
    // A typed table whose `note` has no index.
    storage::TableDef memo;
    memo.database = "dev";
    memo.name = "memo";
    memo.primary_key = "id";
    memo.schema_defined = true;
    memo.attributes = {{"id", "Int", true}, {"note", "String", false}};
    ASSERT_TRUE(store_->CreateTable(memo).ok());
    Put("dog", json::parse(R"([
      {"id": 1, "name": "Penny", "age": 5, "owner_id": 1, "good": true,
       "address": {"city": "Denver"}, "tags": ["a", "b"]},
      {"id": 2, "name": "Kato", "age": 3, "owner_id": 2, "good": false},
      {"id": 3, "name": "Riley", "age": 8, "owner_id": 1},
      {"id": 4, "name": "Harper", "age": 3}
    ])")
                   .as_array());
    Put("owner",
        json::parse(R"([{"id": 1, "name": "Kyle"}, {"id": 2, "name": "Zach"}])").as_array());
    Put("memo", json::parse(R"([{"id": 1, "note": "x"}, {"id": 2, "note": "y"}])").as_array());
  }

  void Put(const std::string& table, const json::array& records) {
    storage::WriteRequest request;
    request.database = "dev";
    for (const json::value& r : records) {
      storage::WriteOp op;
      op.kind = storage::WriteKind::kInsert;
      op.table = table;
      op.key = r.as_object().at("id");
      op.fields = r.as_object();
      request.ops.push_back(std::move(op));
    }
    auto result = store_->Write(std::move(request));
    ASSERT_TRUE(result.ok()) << result.status().ToString();
  }

  std::unique_ptr<Statement> Prepare(const std::string& sql) {
    auto statement = Statement::Prepare(store_.get(), sql);
    EXPECT_TRUE(statement.ok()) << sql << ": " << statement.status().ToString();
    return statement.ok() ? std::move(*statement) : nullptr;
  }
  // The rows of a SELECT as compact JSON text; `stats` receives what the scan did.
  std::string Query(const std::string& sql, ScanStats* stats = nullptr) {
    auto statement = Prepare(sql);
    if (!statement) return "<prepare failed>";
    auto rows = statement->Query();
    if (!rows.ok()) return "<error " + rows.status().ToString() + ">";
    if (stats != nullptr) *stats = statement->stats();
    return json::serialize(*rows);
  }
  Status PrepareError(const std::string& sql) {
    auto statement = Statement::Prepare(store_.get(), sql);
    return statement.ok() ? Status::Ok() : statement.status();
  }

  meshdb::testing::TempDir dir_;
  std::unique_ptr<storage::Store> store_;
};

TEST_F(StatementTest, SelectStarReturnsEveryAttributeWithItsJsonType) {
  std::string rows = Query("SELECT * FROM dev.dog WHERE id = 1");
  EXPECT_NE(rows.find(R"("good":true)"), std::string::npos) << rows;
  EXPECT_NE(rows.find(R"("address":{"city":"Denver"})"), std::string::npos) << rows;
  EXPECT_NE(rows.find(R"("tags":["a","b"])"), std::string::npos) << rows;
  EXPECT_NE(rows.find(R"("id":1)"), std::string::npos) << rows;
  // An attribute the record lacks reads as null.
  EXPECT_NE(Query("SELECT * FROM dev.dog WHERE id = 4").find(R"("owner_id":null)"),
            std::string::npos);
}

TEST_F(StatementTest, ColumnsAliasesBackticksAndNestedAttributes) {
  EXPECT_EQ(Query("SELECT name AS n, `age` FROM `dev`.`dog` WHERE id = 2"),
            R"([{"n":"Kato","age":3}])");
  EXPECT_EQ(Query("SELECT address->>'city' AS city FROM dev.dog WHERE id = 1"),
            R"([{"city":"Denver"}])");
  EXPECT_EQ(Query("SELECT id FROM dev.dog WHERE good = true"), R"([{"id":1}])");
}

TEST_F(StatementTest, WhereOrderLimitDistinctAggregates) {
  EXPECT_EQ(Query("SELECT id FROM dev.dog WHERE age >= 3 AND (name LIKE 'k%' OR id IN (3, 4)) "
                  "ORDER BY age DESC, id LIMIT 2 OFFSET 0"),
            R"([{"id":3},{"id":2}])");
  EXPECT_EQ(Query("SELECT DISTINCT age FROM dev.dog ORDER BY age"),
            R"([{"age":3},{"age":5},{"age":8}])");
  EXPECT_EQ(Query("SELECT age, COUNT(*) AS n FROM dev.dog GROUP BY age HAVING COUNT(*) > 1"),
            R"([{"age":3,"n":2}])");
  EXPECT_EQ(Query("SELECT id FROM dev.dog WHERE owner_id IS NULL"), R"([{"id":4}])");
  EXPECT_EQ(Query("SELECT id FROM dev.dog WHERE age BETWEEN 4 AND 8 AND NOT id = 3"),
            R"([{"id":1}])");
}

TEST_F(StatementTest, OrderedResultsKeepJsonTypes) {
  // Sorted by the virtual table, not SQLite's sorter (which drops subtypes).
  EXPECT_EQ(Query("SELECT id, good, tags FROM dev.dog WHERE id <= 2 ORDER BY name"),
            R"([{"id":2,"good":false,"tags":null},{"id":1,"good":true,"tags":["a","b"]}])");
  EXPECT_EQ(Query("SELECT id FROM dev.dog ORDER BY owner_id DESC, age"),
            R"([{"id":2},{"id":1},{"id":3},{"id":4}])");
  EXPECT_EQ(Query("SELECT address FROM dev.dog WHERE address IS NOT NULL ORDER BY age DESC"),
            R"([{"address":{"city":"Denver"}}])");
}

TEST_F(StatementTest, JoinsReadBothTables) {
  auto statement = Prepare(
      "SELECT d.name AS dog, o.name AS owner FROM dev.dog d LEFT JOIN dev.owner o "
      "ON d.owner_id = o.id ORDER BY d.id");
  ASSERT_TRUE(statement);
  ASSERT_EQ(statement->tables().size(), 2u);
  EXPECT_FALSE(statement->is_write());
  auto rows = statement->Query();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(json::serialize(*rows),
            R"([{"dog":"Penny","owner":"Kyle"},{"dog":"Kato","owner":"Zach"},)"
            R"({"dog":"Riley","owner":"Kyle"},{"dog":"Harper","owner":null}])");
  // The inner table is read by primary key, once per outer row that has an owner_id.
  EXPECT_EQ(statement->stats().key_lookups, 3u);
}

TEST_F(StatementTest, PrimaryKeyAndIndexedEqualitiesUseTheIndex) {
  ScanStats stats;
  EXPECT_EQ(Query("SELECT name FROM dev.dog WHERE id = 3", &stats), R"([{"name":"Riley"}])");
  EXPECT_EQ(stats.key_lookups, 1u);
  EXPECT_EQ(stats.full_scans, 0u);
  EXPECT_EQ(stats.records_read, 1u);

  EXPECT_EQ(Query("SELECT id FROM dev.dog WHERE name = 'Kato'", &stats), R"([{"id":2}])");
  EXPECT_EQ(stats.index_scans, 1u);
  EXPECT_EQ(stats.full_scans, 0u);
  EXPECT_EQ(stats.records_read, 1u);

  EXPECT_EQ(Query("SELECT id FROM dev.dog WHERE id IN (2, 4, 9)", &stats),
            R"([{"id":2},{"id":4}])");
  EXPECT_EQ(stats.key_lookups, 3u);
  EXPECT_EQ(stats.full_scans, 0u);

  // `note` has no index: a scan.
  EXPECT_EQ(Query("SELECT id FROM dev.memo WHERE note = 'y'", &stats), R"([{"id":2}])");
  EXPECT_EQ(stats.full_scans, 1u);
}

TEST_F(StatementTest, CountStarReadsNoRecord) {
  ScanStats stats;
  EXPECT_EQ(Query("SELECT COUNT(*) AS n FROM dev.dog", &stats), R"([{"n":4}])");
  EXPECT_EQ(stats.counted_scans, 1u);
  EXPECT_EQ(stats.records_read, 0u);
  auto statement = Prepare("SELECT COUNT(*) FROM dev.owner");
  ASSERT_TRUE(statement);
  ASSERT_EQ(statement->tables().size(), 1u);  // still checked for read permission
  EXPECT_EQ(statement->tables()[0].table, "owner");
}

TEST_F(StatementTest, ScansStreamInBatches) {
  json::array many;
  for (int i = 10; i < 1010; ++i) many.push_back(json::object{{"id", i}, {"n", i % 7}});
  Put("dog", many);
  ScanStats stats;
  EXPECT_EQ(Query("SELECT id FROM dev.dog ORDER BY id LIMIT 2 OFFSET 3", &stats),
            R"([{"id":4},{"id":10}])");
  EXPECT_LT(stats.records_read, 1000u);  // stopped after the first batch
  EXPECT_EQ(Query("SELECT COUNT(*) AS n, SUM(n) AS s FROM dev.dog WHERE id >= 10"),
            R"([{"n":1000,"s":3001}])");
}

TEST_F(StatementTest, ErrorsCarryHarperDbTexts) {
  Status s = PrepareError("SELEC * FROM dev.dog");
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(s.message(),
            "Invalid SQL at: SELEC * FROM dev.dog. Please ensure your SQL is valid. Try adding "
            "backticks to reserved words and schema table references.");
  s = PrepareError("SELECT * FROM dev.nosuch");
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_EQ(s.message(), "Table 'dev.nosuch' does not exist");
  s = PrepareError("SELECT * FROM nodb.dog");
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_EQ(s.message(), "database 'nodb' does not exist");
  EXPECT_EQ(PrepareError("SELECT shard FROM dev.dog").ToString(),
            Status::Internal("unknown column shard").ToString());
  EXPECT_TRUE(PrepareError("PRAGMA table_info(dog)").IsInvalidArgument());
  EXPECT_TRUE(PrepareError("DROP TABLE dev.dog").IsInvalidArgument());
  EXPECT_TRUE(PrepareError("SELECT 1 FROM dev.dog; DELETE FROM dev.dog").IsInvalidArgument());
  EXPECT_TRUE(PrepareError("SELECT * FROM sqlite_schema").IsInvalidArgument());
}

TEST_F(StatementTest, InsertCollectsRecordsAndLearnsNewAttributes) {
  auto statement =
      Prepare("INSERT INTO dev.dog (id, name, weight) VALUES (7, 'Rex', 30), (8, 'Max', NULL)");
  ASSERT_TRUE(statement);
  ASSERT_TRUE(statement->is_write());
  EXPECT_EQ(statement->target().table, "dog");
  auto write = statement->Collect();
  ASSERT_TRUE(write.ok()) << write.status().ToString();
  EXPECT_EQ(write->kind, storage::WriteKind::kInsert);
  EXPECT_EQ(json::serialize(write->records),
            R"([{"id":7,"name":"Rex","weight":30},{"id":8,"name":"Max"}])");
  // Nothing was written.
  EXPECT_EQ(Query("SELECT COUNT(*) AS n FROM dev.dog"), R"([{"n":4}])");
}

TEST_F(StatementTest, UpdateCollectsOnlyTheChangedAttributes) {
  auto statement = Prepare("UPDATE dev.dog SET age = age + 1, name = 'Old' WHERE age > 4");
  ASSERT_TRUE(statement);
  ASSERT_EQ(statement->tables().size(), 1u);
  EXPECT_EQ(statement->tables()[0].access, std::set<Access>{Access::kUpdate});
  auto write = statement->Collect();
  ASSERT_TRUE(write.ok()) << write.status().ToString();
  EXPECT_EQ(write->kind, storage::WriteKind::kUpdate);
  EXPECT_EQ(json::serialize(write->records),
            R"([{"id":1,"name":"Old","age":6},{"id":3,"name":"Old","age":9}])");

  auto rekey = Prepare("UPDATE dev.dog SET id = 99 WHERE id = 1");
  ASSERT_TRUE(rekey);
  EXPECT_TRUE(rekey->Collect().status().IsInvalidArgument());
}

TEST_F(StatementTest, DeleteCollectsKeysAndNamesItsTargetWhenNothingMatches) {
  auto statement = Prepare("DELETE FROM dev.dog WHERE name LIKE 'k%' OR id = 4");
  ASSERT_TRUE(statement);
  auto write = statement->Collect();
  ASSERT_TRUE(write.ok());
  EXPECT_EQ(write->kind, storage::WriteKind::kDelete);
  EXPECT_EQ(json::serialize(write->ids), "[2,4]");

  auto none = Prepare("DELETE FROM dev.owner WHERE id = 42");
  ASSERT_TRUE(none);
  auto empty = none->Collect();
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(empty->kind, storage::WriteKind::kDelete);
  EXPECT_EQ(empty->table, "owner");
}

}  // namespace
}  // namespace meshdb::sql
