#include "common/json_parse.h"

#include <gtest/gtest.h>

#include <boost/json/monotonic_resource.hpp>
#include <string>

namespace meshdb {
namespace {

namespace json = boost::json;

TEST(JsonParserTest, ReusedParserGivesWhatParseJsonGives) {
  JsonParser parser;
  const char* docs[] = {R"({"a":1,"b":[true,null,"x"],"c":{"d":0.1}})", R"([1,2,3])",
                        R"({"n":1795350899889.904,"s":"é"})", R"("just a string")"};
  for (int round = 0; round < 2; ++round) {
    for (const char* text : docs) {
      boost::system::error_code ec1, ec2;
      json::value reused = parser.Parse(text, ec1);
      json::value fresh = ParseJson(text, ec2);
      ASSERT_FALSE(ec1) << text;
      ASSERT_FALSE(ec2) << text;
      EXPECT_EQ(fresh, reused) << text;
    }
  }
}

TEST(JsonParserTest, AFailedDocumentLeavesNothingForTheNext) {
  JsonParser parser;
  boost::system::error_code ec;
  ParseJsonInfo info;
  // Stops inside a number and inside an object: neither may leak into the next document.
  EXPECT_TRUE(parser.Parse(R"({"a":12)", ec, &info).is_null());
  EXPECT_TRUE(ec);
  ec = {};
  EXPECT_TRUE(parser.Parse(R"({"a":1e400})", ec, &info).is_object());
  EXPECT_FALSE(ec);
  EXPECT_TRUE(info.non_finite);
  EXPECT_TRUE(parser.Parse("{} x", ec, &info).is_null());
  EXPECT_TRUE(ec);  // extra data
  ec = {};
  json::value v = parser.Parse(R"({"b":2.5})", ec, &info);
  ASSERT_FALSE(ec);
  EXPECT_FALSE(info.non_finite);
  EXPECT_EQ(json::value({{"b", 2.5}}), v);
}

TEST(JsonParserTest, ValuesLiveInTheResourceGiven) {
  JsonParser parser;
  json::storage_ptr arena = json::make_shared_resource<json::monotonic_resource>();
  boost::system::error_code ec;
  json::value v = parser.Parse(R"({"name":"a string longer than the small buffer","n":[1,2]})", ec,
                               nullptr, arena);
  ASSERT_FALSE(ec);
  EXPECT_EQ(arena.get(), v.storage().get());
  EXPECT_EQ(arena.get(), v.at("n").storage().get());
  // Moved by construction, the object keeps the resource (assignment would copy it out).
  json::object moved(std::move(v.get_object()));
  EXPECT_EQ(arena.get(), moved.storage().get());
  EXPECT_EQ("a string longer than the small buffer", moved.at("name").as_string());
}

}  // namespace
}  // namespace meshdb
