#include "common/status.h"

#include <gtest/gtest.h>

namespace meshdb {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Status::InvalidArgument("odd");
  return x / 2;
}

Status Chain(int x, int* out) {
  ASSIGN_OR_RETURN(int h, Half(x));
  RETURN_IF_ERROR(h > 10 ? Status::Conflict("too big") : Status::Ok());
  *out = h;
  return Status::Ok();
}

TEST(StatusTest, ToStringNamesTheCode) {
  EXPECT_EQ("OK", Status::Ok().ToString());
  EXPECT_EQ("NotFound: table 'x'", Status::NotFound("table 'x'").ToString());
  EXPECT_EQ("IOError: open: disk full", Status::IOError("disk full").WithPrefix("open").ToString());
}

TEST(StatusTest, MacrosPropagate) {
  int out = 0;
  EXPECT_TRUE(Chain(8, &out).ok());
  EXPECT_EQ(4, out);
  EXPECT_EQ("InvalidArgument: odd", Chain(3, &out).ToString());
  EXPECT_EQ("Conflict: too big", Chain(40, &out).ToString());
}

}  // namespace
}  // namespace meshdb
