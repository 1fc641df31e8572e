#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "test_util.h"

namespace meshdb::storage::testing {
namespace {

namespace json = boost::json;
using K = WriteKind;

class IndexTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_TRUE(store_->CreateTable(Untyped("dev", "dog")).ok());
    ASSERT_TRUE(
        Write("dev", {Op(K::kInsert, "dog", 1,
                         {{"name", "rex"}, {"age", 5}, {"tags", json::array{"a", "b", "a"}}}),
                      Op(K::kInsert, "dog", 2,
                         {{"name", "rover"}, {"age", 2}, {"tags", json::array{"b"}}}),
                      Op(K::kInsert, "dog", 3,
                         {{"name", "fido"}, {"age", 9.5}, {"obj", json::object{{"x", 1}}}}),
                      Op(K::kInsert, "dog", 4, {{"name", "ruby"}, {"age", nullptr}}),
                      Op(K::kInsert, "dog", 5, {{"name", 42}})})
            .ok());
  }
  // Keys of the records ScanIndex yields, as JSON text.
  std::string Scan(const std::string& attr, const IndexRange& range) {
    auto snap = store_->Read("dev");
    if (!snap.ok()) return snap.status().ToString();
    json::array keys;
    Status s = (*snap)->ScanIndex("dog", attr, range, [&](const Record& r) {
      keys.push_back(r.doc.at("id"));
      return true;
    });
    if (!s.ok()) return s.ToString();
    return json::serialize(keys);
  }
  static IndexRange Eq(json::value v) {
    IndexRange r;
    r.lower = v;
    r.upper = v;
    return r;
  }
};

TEST_F(IndexTest, Equality) {
  EXPECT_EQ(Scan("name", Eq("rex")), "[1]");
  EXPECT_EQ(Scan("name", Eq("nobody")), "[]");
  EXPECT_EQ(Scan("name", Eq(42)), "[5]");
  EXPECT_EQ(Scan("age", Eq(nullptr)), "[4]");
  EXPECT_EQ(Scan("age", Eq(5.0)), "[1]");  // 5 and 5.0 are one number
}

TEST_F(IndexTest, Ranges) {
  IndexRange r;
  r.lower = 2;
  r.upper = 9.5;
  EXPECT_EQ(Scan("age", r), "[2,1,3]");
  r.lower_inclusive = false;
  r.upper_inclusive = false;
  EXPECT_EQ(Scan("age", r), "[1]");
  IndexRange open_low;
  open_low.upper = 5;
  EXPECT_EQ(Scan("age", open_low), "[4,2,1]");  // null sorts before numbers
  IndexRange all;
  EXPECT_EQ(Scan("name", all), "[5,3,1,2,4]");  // numbers before strings
}

TEST_F(IndexTest, StringPrefix) {
  IndexRange r;
  r.string_prefix = "r";
  EXPECT_EQ(Scan("name", r), "[1,2,4]");
  r.string_prefix = "ro";
  EXPECT_EQ(Scan("name", r), "[2]");
}

TEST_F(IndexTest, ArraysIndexEachElementAndDedupe) {
  EXPECT_EQ(Scan("tags", Eq("a")), "[1]");
  EXPECT_EQ(Scan("tags", Eq("b")), "[1,2]");
  IndexRange all;
  EXPECT_EQ(Scan("tags", all), "[1,2]");  // 1 matched by "a" and "b": once
  EXPECT_EQ(Scan("obj", all), "[]");      // objects are not indexed
}

TEST_F(IndexTest, UpdateAndDeleteRemoveStaleEntries) {
  ASSERT_TRUE(
      Write("dev", {Op(K::kUpdate, "dog", 1, {{"name", "max"}, {"tags", json::array{"c"}}})}).ok());
  EXPECT_EQ(Scan("name", Eq("rex")), "[]");
  EXPECT_EQ(Scan("name", Eq("max")), "[1]");
  EXPECT_EQ(Scan("tags", Eq("a")), "[]");
  EXPECT_EQ(Scan("tags", Eq("c")), "[1]");
  ASSERT_TRUE(Write("dev", {Op(K::kDelete, "dog", 2)}).ok());
  EXPECT_EQ(Scan("tags", Eq("b")), "[]");
  IndexRange all;
  EXPECT_EQ(Scan("name", all), "[5,3,1,4]");
}

TEST_F(IndexTest, PrimaryKeyAndTimestampsScan) {
  IndexRange r;
  r.lower = 2;
  r.upper = 4;
  EXPECT_EQ(Scan("id", r), "[2,3,4]");
  IndexRange all;
  EXPECT_EQ(Scan("__createdtime__", all), "[1,2,3,4,5]");
}

TEST_F(IndexTest, NotIndexedIsInvalidArgument) {
  ASSERT_TRUE(store_->CreateAttribute("dev", "dog", {"secret", "", false}).ok());
  EXPECT_EQ(Scan("secret", IndexRange{}).substr(0, 16), "InvalidArgument:");
  EXPECT_EQ(Scan("nosuch", IndexRange{}).substr(0, 16), "InvalidArgument:");
}

TEST_F(IndexTest, LongValuesAreTruncatedAndRechecked) {
  std::string base(600, 'q');
  ASSERT_TRUE(Write("dev", {Op(K::kInsert, "dog", 10, {{"name", json::string(base + "1")}}),
                            Op(K::kInsert, "dog", 11, {{"name", json::string(base + "2")}})})
                  .ok());
  EXPECT_EQ(Scan("name", Eq(json::string(base + "2"))), "[11]");
  EXPECT_EQ(Scan("name", Eq(json::string(base + "1"))), "[10]");
  IndexRange r;
  r.string_prefix = base;
  EXPECT_EQ(Scan("name", r), "[10,11]");
  r.string_prefix = base + "2";
  EXPECT_EQ(Scan("name", r), "[11]");
  ASSERT_TRUE(Write("dev", {Op(K::kDelete, "dog", 10)}).ok());
  EXPECT_EQ(Scan("name", Eq(json::string(base + "2"))), "[11]");
  EXPECT_EQ(Scan("name", Eq(json::string(base + "1"))), "[]");
}

}  // namespace
}  // namespace meshdb::storage::testing
