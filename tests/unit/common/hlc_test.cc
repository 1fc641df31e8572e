#include "common/hlc.h"

#include <gtest/gtest.h>

namespace meshdb {
namespace {

TEST(HybridClockTest, StrictlyIncreasingWhenWallClockStalls) {
  uint64_t wall = 1000;
  HybridClock clock([&] { return wall; });
  uint64_t a = clock.Now();
  uint64_t b = clock.Now();
  EXPECT_LT(a, b);
  EXPECT_EQ(1000u, HybridClock::Millis(b));
  wall = 900;  // the wall clock steps back: versions still increase
  EXPECT_LT(b, clock.Now());
}

TEST(HybridClockTest, ObserveMovesPastRemote) {
  uint64_t wall = 1000;
  HybridClock clock([&] { return wall; });
  uint64_t remote = HybridClock::Pack(5000, 7);
  clock.Observe(remote);
  EXPECT_GT(clock.Now(), remote);
}

}  // namespace
}  // namespace meshdb
