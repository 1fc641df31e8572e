#include "net/http_status.h"

#include <gtest/gtest.h>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace meshdb::net {
namespace {

namespace json = boost::json;

TEST(HttpStatusTest, MapsEveryCode) {
  EXPECT_EQ(HttpStatusFor(Status::Ok()), 200);
  EXPECT_EQ(HttpStatusFor(Status::InvalidArgument("x")), 400);
  EXPECT_EQ(HttpStatusFor(Status::Unauthenticated("x")), 401);
  EXPECT_EQ(HttpStatusFor(Status::PermissionDenied("x")), 403);
  EXPECT_EQ(HttpStatusFor(Status::NotFound("x")), 404);
  EXPECT_EQ(HttpStatusFor(Status::Conflict("x")), 409);
  EXPECT_EQ(HttpStatusFor(Status::TooLarge("x")), 413);
  EXPECT_EQ(HttpStatusFor(Status::Unavailable("x")), 503);
  EXPECT_EQ(HttpStatusFor(Status::Corruption("x")), 500);
  EXPECT_EQ(HttpStatusFor(Status::IOError("x")), 500);
  EXPECT_EQ(HttpStatusFor(Status::Internal("x")), 500);
}

TEST(HttpStatusTest, ErrorBodyWithoutExtra) {
  EXPECT_EQ(ErrorBody(Status::Unauthenticated("Must login"), json::value()),
            R"({"error":"Must login"})");
}

TEST(HttpStatusTest, ErrorBodyEscapes) {
  EXPECT_EQ(ErrorBody(std::string("say \"hi\"\n")), R"({"error":"say \"hi\"\n"})");
}

TEST(HttpStatusTest, ErrorBodyMergesObjectFieldsAfterError) {
  json::value extra = json::object{{"unauthorized_access", json::array{"Operation 'addNode'"}},
                                   {"invalid_schema_items", json::array{}}};
  EXPECT_EQ(ErrorBody(Status::PermissionDenied("not authorized"), extra),
            R"({"error":"not authorized","unauthorized_access":["Operation 'addNode'"],)"
            R"("invalid_schema_items":[]})");
}

TEST(HttpStatusTest, ErrorBodyKeepsTheBodysOwnError) {
  json::value extra = json::parse(
      R"({"statusCode":400,"error":"Bad Request","message":"must include 'operation'"})");
  EXPECT_EQ(ErrorBody(Status::InvalidArgument("must include 'operation'"), extra),
            R"({"statusCode":400,"error":"Bad Request","message":"must include 'operation'"})");
}

TEST(HttpStatusTest, ErrorBodyIgnoresNonObjectExtra) {
  EXPECT_EQ(ErrorBody(Status::NotFound("gone"), json::value(json::array{1, 2})),
            R"({"error":"gone"})");
}

}  // namespace
}  // namespace meshdb::net
