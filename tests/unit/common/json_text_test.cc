#include "common/json_text.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace meshdb {
namespace {

std::string RoundTrip(const char* text) { return ToJsonText(boost::json::parse(text)); }

TEST(JsonTextTest, DoublesAsJavaScriptWritesThem) {
  EXPECT_EQ("1795350899889.904", ToJsonText(boost::json::value(1795350899889.904)));
  EXPECT_EQ("0.5", ToJsonText(boost::json::value(0.5)));
  EXPECT_EQ("5", ToJsonText(boost::json::value(5.0)));
  EXPECT_EQ("1e+21", ToJsonText(boost::json::value(1e21)));
  EXPECT_EQ("1e-7", ToJsonText(boost::json::value(1e-7)));
  EXPECT_EQ("1.5e-8", ToJsonText(boost::json::value(1.5e-8)));
  EXPECT_EQ("0.000001", ToJsonText(boost::json::value(1e-6)));
  EXPECT_EQ("1000000000000000", ToJsonText(boost::json::value(1e15)));
  EXPECT_EQ("-12.25", ToJsonText(boost::json::value(-12.25)));
  EXPECT_EQ("0", ToJsonText(boost::json::value(-0.0)));
  EXPECT_EQ("null", ToJsonText(boost::json::value(std::nan(""))));
}

TEST(JsonTextTest, OtherValuesUnchanged) {
  EXPECT_EQ(R"({"a":[1,-2,true,null,"x\"y"],"b":{}})",
            RoundTrip(R"({"a":[1,-2,true,null,"x\"y"],"b":{}})"));
  EXPECT_EQ("18446744073709551615", RoundTrip("18446744073709551615"));
  EXPECT_EQ(R"("\u0001é")", RoundTrip(R"("\u0001é")"));
}

}  // namespace
}  // namespace meshdb
