#include "common/hlc.h"

#include <chrono>

namespace meshdb {

HybridClock::HybridClock(WallClockMs wall_clock_ms) : wall_clock_ms_(std::move(wall_clock_ms)) {
  if (!wall_clock_ms_) {
    wall_clock_ms_ = [] {
      return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    };
  }
}

uint64_t HybridClock::Now() {
  uint64_t wall = Pack(wall_clock_ms_(), 0);
  uint64_t prev = last_.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    next = wall > prev ? wall : prev + 1;
  } while (!last_.compare_exchange_weak(prev, next, std::memory_order_relaxed));
  return next;
}

void HybridClock::Observe(uint64_t remote) {
  uint64_t prev = last_.load(std::memory_order_relaxed);
  while (remote > prev && !last_.compare_exchange_weak(prev, remote, std::memory_order_relaxed)) {
  }
}

}  // namespace meshdb
