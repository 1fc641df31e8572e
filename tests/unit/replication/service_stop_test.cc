// ReplicationService::Stop waits on conditions (links gone, store calls ended, copy jobs
// returned), never on a sleep loop: it returns as soon as what it waits for happened.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "replication/engine/service_impl.h"
#include "storage/store.h"
#include "temp_store.h"

namespace meshdb::replication {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class ServiceStopTest : public TempStore {
 protected:
  ServiceOptions Options() {
    ServiceOptions o;
    o.store = store_.get();
    o.node_name = "stop-test";
    o.node_url = "ws://127.0.0.1:1";
    return o;  // retention on: the trim thread runs and waits its 60 s interval
  }
};

TEST_F(ServiceStopTest, IdleStopIsPrompt) {
  ServiceImpl service(Options());
  service.Start();
  const auto start = Clock::now();
  service.Stop();
  EXPECT_LT(Clock::now() - start, 1s);  // neither the trim interval nor a Stop deadline
}

TEST_F(ServiceStopTest, StopWaitsForAStoreCallAndReturnsWhenItEnds) {
  ServiceImpl service(Options());
  service.Start();
  service.BeginStoreCall();
  auto stopped = std::async(std::launch::async, [&] { service.Stop(); });
  EXPECT_EQ(std::future_status::timeout, stopped.wait_for(100ms));  // the call holds it
  const auto ended = Clock::now();
  service.EndStoreCall();
  ASSERT_EQ(std::future_status::ready, stopped.wait_for(5s));
  // Woken by the call's end, well before Stop's 5 s deadline for store calls.
  EXPECT_LT(Clock::now() - ended, 1s);
}

// Dial loops (one per database, each on its strand) retrying an unreachable peer end with Stop.
TEST_F(ServiceStopTest, StopWithDialLoopsRetryingIsPrompt) {
  ServiceImpl service(Options());
  PeerSpec peer;
  peer.name = "nobody";
  peer.url = "ws://127.0.0.1:1";  // refused at once
  service.SetPeers({peer});
  service.Start();
  std::this_thread::sleep_for(300ms);  // a few dial attempts and backoffs
  const auto start = Clock::now();
  service.Stop();
  EXPECT_LT(Clock::now() - start, 2s);
}

}  // namespace
}  // namespace meshdb::replication
