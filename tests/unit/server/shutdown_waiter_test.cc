#include "server/shutdown_waiter.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

namespace meshdb::server {
namespace {

TEST(ShutdownWaiterTest, RestartRequestEndsWait) {
  ShutdownWaiter waiter;
  std::thread requester([&] { waiter.RequestRestart(); });
  EXPECT_EQ(ShutdownWaiter::Reason::kRestart, waiter.Wait());
  EXPECT_EQ(0, waiter.signal_number());
  requester.join();
}

TEST(ShutdownWaiterTest, SigtermEndsWaitAndIsNotDeliveredToOtherThreads) {
  ShutdownWaiter waiter;
  // Another thread started after the waiter inherits the blocked mask; the signal sent to the
  // process is taken by the waiter's sigwait, not by the default handler (which would kill us).
  std::thread sender([] { kill(getpid(), SIGTERM); });
  EXPECT_EQ(ShutdownWaiter::Reason::kSignal, waiter.Wait());
  EXPECT_EQ(SIGTERM, waiter.signal_number());
  sender.join();
}

TEST(ShutdownWaiterTest, SecondSigtermDuringShutdownIsDropped) {
  // Regression: a SIGTERM arriving after Wait() returned stayed pending and killed the process
  // when the destructor restored the signal mask.
  {
    ShutdownWaiter waiter;
    kill(getpid(), SIGTERM);
    EXPECT_EQ(ShutdownWaiter::Reason::kSignal, waiter.Wait());
    kill(getpid(), SIGTERM);  // pending: the signal thread has finished
  }
  SUCCEED();  // still alive
}

TEST(ShutdownWaiterTest, FirstReasonWins) {
  ShutdownWaiter waiter;
  waiter.RequestRestart();
  waiter.RequestRestart();
  EXPECT_EQ(ShutdownWaiter::Reason::kRestart, waiter.Wait());
}

}  // namespace
}  // namespace meshdb::server
