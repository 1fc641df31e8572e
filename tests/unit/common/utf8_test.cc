#include "common/utf8.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace meshdb {
namespace {

namespace json = boost::json;

TEST(Utf8Test, ValidTextIsAccepted) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\xB6"));  // é € 🐶
  EXPECT_TRUE(IsValidUtf8(std::string_view("nul\0inside", 10)));
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
}

TEST(Utf8Test, WhatJsonCannotCarryIsRefused) {
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("caf\xE9"));           // Latin-1
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // cut short
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\xBD"));      // a surrogate (CESU-8)
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("ok\x80"));            // a stray continuation byte
}

TEST(Utf8Test, InvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(ToValidUtf8("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(ToValidUtf8("A\xFF"
                        "B"),
            "A\xEF\xBF\xBD"
            "B");
  EXPECT_EQ(ToValidUtf8("\xC3("), "\xEF\xBF\xBD(");
  EXPECT_EQ(ToValidUtf8("\xC3"), "\xEF\xBF\xBD");
  const std::string fixed = ToValidUtf8("\xED\xA0\xBD x \xF0\x9F");
  EXPECT_TRUE(IsValidUtf8(fixed)) << fixed;
  boost::system::error_code ec;
  json::parse("\"" + fixed + "\"", ec);
  EXPECT_FALSE(ec) << ec.message();
}

TEST(Utf8Test, FindInvalidUtf8NamesThePath) {
  EXPECT_EQ(FindInvalidUtf8(json::parse(R"({"a":"x","b":[1,{"c":"y"}]})")), std::nullopt);
  json::object doc;
  doc["name"] = "ok";
  doc["tags"] = json::array{"fine", "bad\xFF"};
  EXPECT_EQ(FindInvalidUtf8(doc), "tags[1]");
  json::object nested;
  nested["address"] = json::object{{"city", "\xC3"}};
  EXPECT_EQ(FindInvalidUtf8(json::value(nested)), "address.city");
  json::object bad_key;
  bad_key["k\xFF"] = 1;
  EXPECT_EQ(FindInvalidUtf8(bad_key), "k\xEF\xBF\xBD");
  EXPECT_EQ(FindInvalidUtf8(json::value("\xFF")), "");
  EXPECT_EQ(FindInvalidUtf8(json::value(5)), std::nullopt);
}

}  // namespace
}  // namespace meshdb
