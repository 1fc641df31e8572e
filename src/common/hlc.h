// Hybrid logical clock (HLC): 48 bits of wall-clock milliseconds, 16 bits of counter.
// Versions from it are strictly increasing on one node and merge with remote versions, so a
// node whose wall clock runs behind still orders its writes after what it has seen.
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

namespace meshdb {

class HybridClock {
 public:
  using WallClockMs = std::function<uint64_t()>;

  // `wall_clock_ms` defaults to the system clock; tests inject their own.
  explicit HybridClock(WallClockMs wall_clock_ms = nullptr);

  // A new version, greater than every version returned or observed before.
  uint64_t Now();

  // Merges a version seen from elsewhere, so later Now() values exceed it.
  void Observe(uint64_t remote);

  static uint64_t Pack(uint64_t ms, uint16_t counter) { return (ms << 16) | counter; }
  static uint64_t Millis(uint64_t version) { return version >> 16; }

 private:
  WallClockMs wall_clock_ms_;
  std::atomic<uint64_t> last_{0};
};

}  // namespace meshdb
