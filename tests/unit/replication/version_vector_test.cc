#include "replication/wire/version_vector.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "replication/wire/table_def_json.h"

namespace meshdb::replication {
namespace {

TEST(VersionVectorTest, AdvanceNeverLowersAndIgnoresZero) {
  VersionVector v;
  v.Advance(7, 10);
  v.Advance(7, 3);
  v.Advance(9, 0);
  EXPECT_EQ(v.ToString(), "{7:10}");
  EXPECT_EQ(v.Get(7), 10u);
  EXPECT_EQ(v.Get(9), 0u);
}

TEST(VersionVectorTest, MergeTakesPerOriginMaximum) {
  VersionVector a, b;
  a.Advance(1, 5);
  a.Advance(2, 9);
  b.Advance(2, 4);
  b.Advance(3, 1);
  b.Advance(1, 8);
  a.Merge(b);
  EXPECT_EQ(a.ToString(), "{1:8, 2:9, 3:1}");
}

TEST(VersionVectorTest, FromEntriesDropsZeros) {
  VersionVector v = VersionVector::FromEntries({{1, 0}, {2, 3}});
  EXPECT_EQ(v.ToString(), "{2:3}");
  EXPECT_EQ(v.entries(), (std::map<uint32_t, uint64_t>{{2, 3}}));
}

TEST(VersionVectorTest, Covers) {
  VersionVector v;
  v.Advance(1, 5);
  EXPECT_TRUE(v.Covers(1, 5));
  EXPECT_TRUE(v.Covers(1, 1));
  EXPECT_FALSE(v.Covers(1, 6));
  EXPECT_FALSE(v.Covers(2, 1));
  EXPECT_TRUE(v.Covers(2, 0));

  VersionVector w;
  w.Advance(1, 4);
  EXPECT_TRUE(v.Covers(w));
  w.Advance(3, 1);
  EXPECT_FALSE(v.Covers(w));
  EXPECT_TRUE(v.Covers(VersionVector()));
}

TEST(VersionVectorTest, EncodeDecodeRoundTrip) {
  VersionVector v;
  v.Advance(0xffffffffu, ~uint64_t{0});
  v.Advance(1, 1);
  v.Advance(300, 70000);
  auto d = VersionVector::Decode(v.Encode());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(*d, v);
  EXPECT_EQ(d->ToString(), "{1:1, 300:70000, 4294967295:18446744073709551615}");
  EXPECT_EQ(v.WireSize(), v.Encode().size());
  EXPECT_EQ(VersionVector().Encode(), std::string("\x00", 1));
}

TEST(VersionVectorTest, DecodeRejectsNonCanonical) {
  // Origins out of order: {2:1, 1:1}.
  auto s = VersionVector::Decode(std::string("\x02\x02\x01\x01\x01", 5));
  EXPECT_EQ(s.status().ToString(),
            "Corruption: VersionVector frame: version_vector.origin: origins not strictly "
            "ascending at offset 4");
  // Duplicate origin.
  EXPECT_FALSE(VersionVector::Decode(std::string("\x02\x01\x01\x01\x02", 5)).ok());
  // Sequence 0.
  EXPECT_FALSE(VersionVector::Decode(std::string("\x01\x01\x00", 3)).ok());
  // Origin wider than 32 bits.
  EXPECT_FALSE(VersionVector::Decode(std::string("\x01\x80\x80\x80\x80\x10\x01", 7)).ok());
  // Trailing byte.
  EXPECT_FALSE(VersionVector::Decode(std::string("\x00\x00", 2)).ok());
}

TEST(TableDefJsonTest, RoundTrip) {
  storage::TableDef def;
  def.database = "dev";
  def.name = "dog";
  def.primary_key = "id";
  def.schema_defined = true;
  def.replicate = false;
  def.attributes = {{"id", "ID", true}, {"name", "String", false}, {"age", "", true}};
  const std::string json = TableDefToJson(def);
  EXPECT_EQ(json, R"({"database":"dev","name":"dog","primary_key":"id","schema_defined":true,)"
                  R"("replicate":false,"attributes":[{"name":"id","type":"ID","indexed":true},)"
                  R"({"name":"name","type":"String","indexed":false},)"
                  R"({"name":"age","type":"","indexed":true}]})");
  auto back = TableDefFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(TableDefToJson(*back), json);
  EXPECT_EQ(back->database, "dev");
  EXPECT_FALSE(back->replicate);
  ASSERT_EQ(back->attributes.size(), 3u);
  EXPECT_FALSE(back->attributes[1].indexed);
}

TEST(TableDefJsonTest, DefaultsAndErrors) {
  auto d = TableDefFromJson(R"({"name":"t","primary_key":"k","attributes":[{"name":"k"}]})");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->database, "");
  EXPECT_FALSE(d->schema_defined);
  EXPECT_TRUE(d->replicate);
  EXPECT_TRUE(d->attributes[0].indexed);

  EXPECT_EQ(TableDefFromJson("[1]").status().ToString(),
            "Corruption: table definition is not a JSON object");
  EXPECT_EQ(TableDefFromJson(R"({"primary_key":"k"})").status().ToString(),
            "Corruption: table definition: \"name\" is missing");
  EXPECT_EQ(TableDefFromJson(R"({"name":"t","primary_key":1})").status().ToString(),
            "Corruption: table definition: \"primary_key\" is not a string");
  EXPECT_EQ(
      TableDefFromJson(R"({"name":"t","primary_key":"k","replicate":"no"})").status().ToString(),
      "Corruption: table definition: \"replicate\" is not a boolean");
  EXPECT_FALSE(TableDefFromJson(R"({"name":"t","primary_key":"k","attributes":[3]})").ok());
  EXPECT_FALSE(TableDefFromJson("{").ok());
  EXPECT_FALSE(TableDefFromJson("").ok());
}

}  // namespace
}  // namespace meshdb::replication
