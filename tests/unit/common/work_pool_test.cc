#include "common/work_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace meshdb::common {
namespace {

using namespace std::chrono_literals;

// A gate jobs block on until the test opens it.
class Gate {
 public:
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }
  void Open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Polls `pred` until it holds or 5 s pass (the pool's state changes on its own threads).
template <typename Pred>
bool Eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(WorkPoolTest, NeverRunsMoreThanTheBound) {
  WorkPool pool(2, "test pool");
  Gate gate;
  std::atomic<int> now{0}, peak{0}, done{0};
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(pool.Post([&] {
      int n = ++now;
      int p = peak.load();
      while (n > p && !peak.compare_exchange_weak(p, n)) {
      }
      gate.Wait();
      --now;
      ++done;
    }));
  }
  ASSERT_TRUE(Eventually([&] { return pool.running() == 2; }));
  // running() counts a job once a worker took it, before its body starts: wait until both
  // bodies are inside, or the gate may open before the second one began (peak 1).
  ASSERT_TRUE(Eventually([&] { return now.load() == 2; }));
  EXPECT_EQ(4u, pool.queued());  // waiting, not refused
  EXPECT_EQ(2u, pool.threads());
  gate.Open();
  ASSERT_TRUE(Eventually([&] { return done.load() == 6; }));
  EXPECT_EQ(2, peak.load());
  EXPECT_EQ(2u, pool.threads());  // workers are reused, never more than the bound
  EXPECT_EQ(0u, pool.Shutdown());
}

TEST(WorkPoolTest, ShutdownDropsWaitingJobsAndWaitsForRunningOnes) {
  WorkPool pool(1, "test pool");
  Gate gate;
  std::atomic<bool> first_done{false};
  std::atomic<int> later_ran{0};
  auto token = std::make_shared<int>(0);  // captured by the waiting jobs
  ASSERT_TRUE(pool.Post([&] {
    gate.Wait();
    first_done = true;
  }));
  ASSERT_TRUE(Eventually([&] { return pool.running() == 1; }));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.Post([&, token] { ++later_ran; }));
  EXPECT_EQ(4, token.use_count());

  auto shutdown = std::async(std::launch::async, [&] { return pool.Shutdown(); });
  EXPECT_EQ(std::future_status::timeout, shutdown.wait_for(50ms));  // the running job holds it
  EXPECT_FALSE(pool.Post([&] { ++later_ran; }));                    // refused once stopping
  gate.Open();
  ASSERT_EQ(std::future_status::ready, shutdown.wait_for(5s));
  EXPECT_EQ(3u, shutdown.get());
  EXPECT_TRUE(first_done.load());
  EXPECT_EQ(0, later_ran.load());
  EXPECT_EQ(1, token.use_count());  // the dropped jobs were destroyed
  EXPECT_EQ(0u, pool.Shutdown());   // idempotent
}

TEST(WorkPoolTest, ShutdownOfAnIdlePoolIsPrompt) {
  WorkPool pool(3, "test pool");
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.Post([&] { ++ran; }));
  ASSERT_TRUE(Eventually([&] { return ran.load() == 3; }));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(0u, pool.Shutdown());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(WorkPoolTest, AJobThatThrowsDoesNotKillItsWorker) {
  WorkPool pool(1, "test pool");
  std::promise<void> ran;
  ASSERT_TRUE(pool.Post([] { throw std::runtime_error("boom"); }));
  ASSERT_TRUE(pool.Post([&] { ran.set_value(); }));
  EXPECT_EQ(std::future_status::ready, ran.get_future().wait_for(5s));
}

}  // namespace
}  // namespace meshdb::common
