#include "ops/csv_records.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace meshdb::ops {
namespace {

namespace json = boost::json;

Result<json::array> ReadAll(std::string_view text, size_t piece = 1 << 20) {
  CsvRecordReader reader;
  json::array out;
  for (size_t at = 0; at < text.size(); at += piece) {
    RETURN_IF_ERROR(reader.Feed(text.substr(at, piece), out));
  }
  RETURN_IF_ERROR(reader.Finish(out));
  return out;
}

TEST(CsvRecordsTest, TypesCellsAsHarperDbsLoader) {
  Result<json::array> rows = ReadAll(
      "id,name,zip,score,ok,tags,empty,quoted\n"
      "1,\"Smith, Ann\",007,-2.5e3,true,\"{\"\"a\"\":1}\",,\"\"\n"
      "2,\"line\nbreak\",10,0,false,[1],x,\"12\"");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(json::serialize(*rows),
            R"([{"id":1,"name":"Smith, Ann","zip":"007","score":-2.5E3,"ok":true,"tags":{"a":1},)"
            R"("empty":null,"quoted":""},{"id":2,"name":"line\nbreak","zip":10,"score":0,)"
            R"("ok":false,"tags":[1],"empty":"x","quoted":12}])");
}

TEST(CsvRecordsTest, PiecesMayCutAnywhere) {
  std::string text = "id,v\n";
  for (int i = 0; i < 100; ++i) text += std::to_string(i) + ",\"a,b\"\n";
  for (size_t piece : {1, 3, 7, 64}) {
    Result<json::array> rows = ReadAll(text, piece);
    ASSERT_TRUE(rows.ok()) << piece;
    ASSERT_EQ(rows->size(), 100U) << piece;
    EXPECT_EQ(rows->back().at("v"), "a,b");
  }
}

TEST(CsvRecordsTest, EmptyLinesAreSkipped) {
  Result<json::array> rows = ReadAll("id\n1\n\n2\n\n");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 2U);
}

TEST(CsvRecordsTest, MalformedInputNamesTheLine) {
  auto error = [](std::string_view text) {
    Result<json::array> rows = ReadAll(text);
    EXPECT_FALSE(rows.ok()) << text;
    return rows.ok() ? std::string() : rows.status().message();
  };
  EXPECT_EQ(error("id,v\n1,a\n2,b,c\n"), "CSV line 3 has 3 fields, the header has 2");
  EXPECT_EQ(error("id,v\n1\n"), "CSV line 2 has 1 fields, the header has 2");
  EXPECT_NE(error("id,v\n1,\"open\n").find("CSV line 2"), std::string::npos);
  EXPECT_NE(error("id,v\n1,a\"b\"\n").find("CSV line 2"), std::string::npos);
  EXPECT_EQ(error("id,,v\n"), "CSV header (line 1) has an empty attribute name");
  EXPECT_EQ(error("id,v,id\n"), "CSV header (line 1) names 'id' twice");
}

}  // namespace
}  // namespace meshdb::ops
