// DiscoveryService's rounds against an in-memory store shared by several nodes (the state
// machine alone; etcd and the Consul stand-in are exercised by the integration tests).
#include "discovery/discovery_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace meshdb::discovery {
namespace {

using namespace std::chrono_literals;

// What several FakeStores share: keys bound to sessions, like an etcd with leases.
struct FakeWorld {
  std::mutex mu;
  bool reachable = true;
  int next_session = 1;
  std::set<int> live_sessions;
  std::map<std::string, std::pair<std::string, int>> keys;  // key -> {value, session}

  void Expire(int session) {
    std::lock_guard lock(mu);
    live_sessions.erase(session);
    std::erase_if(keys, [&](const auto& kv) { return kv.second.second == session; });
  }
  std::optional<std::string> Get(const std::string& key) {
    std::lock_guard lock(mu);
    auto it = keys.find(key);
    return it == keys.end() ? std::nullopt : std::optional(it->second.first);
  }
};

class FakeStore final : public KvStore {
 public:
  explicit FakeStore(FakeWorld* world) : world_(world) {}
  Status OpenSession(std::chrono::seconds) override {
    std::lock_guard lock(world_->mu);
    RETURN_IF_ERROR(Reachable());
    session = world_->next_session++;
    world_->live_sessions.insert(session);
    ++sessions_opened;
    return Status::Ok();
  }
  Status KeepAlive() override {
    ++keepalives;
    std::lock_guard lock(world_->mu);
    RETURN_IF_ERROR(Reachable());
    return world_->live_sessions.count(session) ? Status::Ok() : Status::NotFound("expired");
  }
  Status PutBound(const std::string& key, const std::string& value) override {
    std::lock_guard lock(world_->mu);
    RETURN_IF_ERROR(Reachable());
    if (!world_->live_sessions.count(session)) return Status::NotFound("expired");
    world_->keys[key] = {value, session};
    return Status::Ok();
  }
  Result<SeedClaim> ClaimOrRead(const std::string& key, const std::string& value) override {
    std::lock_guard lock(world_->mu);
    RETURN_IF_ERROR(Reachable());
    if (!world_->live_sessions.count(session)) return Status::NotFound("expired");
    auto [it, inserted] = world_->keys.try_emplace(key, value, session);
    return SeedClaim{it->second.second == session, it->second.first};
  }
  Result<std::vector<std::string>> List(const std::string&) override {
    return Status::Internal("unused");
  }
  void CloseSession() override { closed = true; }
  [[nodiscard]] std::string Endpoint() const override { return "fake://store"; }

  int session = 0;
  std::atomic<int> sessions_opened{0};
  std::atomic<int> keepalives{0};
  std::atomic<bool> closed{false};

 private:
  Status Reachable() const {
    return world_->reachable ? Status::Ok() : Status::Unavailable("cannot reach fake://store");
  }
  FakeWorld* world_;
};

// One node: its service, the store it talks through, and what it joined.
struct FakeNode {
  // `join_takes`: how long each join blocks.
  FakeNode(FakeWorld* world, const std::string& name,
           std::chrono::milliseconds refresh = std::chrono::milliseconds(20),
           std::chrono::milliseconds join_takes = std::chrono::milliseconds(0)) {
    auto owned = std::make_unique<FakeStore>(world);
    store = owned.get();
    DiscoveryServiceOptions options;
    options.store = std::move(owned);
    options.mode = "etcd-kv";
    options.key = "k";
    options.self = {name, "ws://" + name + ":9925", "http://" + name + ":9925", ""};
    options.refresh = refresh;
    options.is_member = [this](const std::string& peer) {
      std::lock_guard lock(mu);
      return joined.count(peer) > 0;
    };
    options.ttl = std::chrono::seconds(1);
    options.join = [this, join_takes](const NodeRecord& seed) {
      const int keepalives_before = store->keepalives.load();
      std::this_thread::sleep_for(join_takes);
      std::lock_guard lock(mu);
      joined.insert(seed.name);
      keepalives_at_join = store->keepalives.load();
      keepalives_during_join = keepalives_at_join - keepalives_before;
      ++joins;
      return Status::Ok();
    };
    service = std::make_unique<DiscoveryService>(std::move(options));
  }
  [[nodiscard]] boost::json::object Status() const { return service->Status(); }
  std::set<std::string> Joined() {
    std::lock_guard lock(mu);
    return joined;
  }

  FakeStore* store = nullptr;
  std::mutex mu;
  std::set<std::string> joined;
  std::atomic<int> joins{0};
  std::atomic<int> keepalives_at_join{0};       // the store's KeepAlive count when join returned
  std::atomic<int> keepalives_during_join{-1};  // KeepAlive calls while the last join ran
  std::unique_ptr<DiscoveryService> service;
};

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds deadline = 5s) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

bool IsTrue(const boost::json::object& status, const char* field) {
  return status.at(field).is_bool() && status.at(field).get_bool();
}

TEST(DiscoveryServiceTest, FirstNodeHoldsTheSeedAndOthersJoinIt) {
  FakeWorld world;
  FakeNode a(&world, "a");
  a.service->Start();
  ASSERT_TRUE(WaitFor([&] { return IsTrue(a.Status(), "is_seed"); }));
  FakeNode b(&world, "b");
  FakeNode c(&world, "c");
  b.service->Start();
  c.service->Start();
  ASSERT_TRUE(WaitFor([&] { return b.joins == 1 && c.joins == 1; }));
  EXPECT_EQ(b.Joined(), std::set<std::string>{"a"});
  EXPECT_TRUE(IsTrue(b.Status(), "registered"));
  EXPECT_EQ(b.Status().at("seed"), "a");
  EXPECT_TRUE(world.Get("k/nodes/b").has_value());
  // A member is not joined again, round after round.
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(b.joins, 1);
  EXPECT_EQ(a.joins, 0);
}

// A join can outlast what is left of the session's TTL: the session is renewed as soon as
// the join returns, not a refresh interval later.
TEST(DiscoveryServiceTest, TheSessionIsRenewedRightAfterAJoin) {
  FakeWorld world;
  FakeNode a(&world, "a");
  a.service->Start();
  ASSERT_TRUE(WaitFor([&] { return IsTrue(a.Status(), "is_seed"); }));
  FakeNode b(&world, "b", std::chrono::milliseconds(60000));  // no second round in this test
  b.service->Start();
  ASSERT_TRUE(WaitFor([&] { return b.joins == 1; }));
  EXPECT_TRUE(WaitFor([&] { return b.store->keepalives > b.keepalives_at_join; }, 2s));
}

TEST(DiscoveryServiceTest, TheSessionIsKeptAliveWhileAJoinOutlastsTheTtl) {
  FakeWorld world;
  FakeNode a(&world, "a");
  a.service->Start();
  ASSERT_TRUE(WaitFor([&] { return IsTrue(a.Status(), "is_seed"); }));
  // The TTL is 1 s: renewed every ~333 ms, a 1.5 s join sees at least three renewals.
  FakeNode b(&world, "b", std::chrono::milliseconds(60000), std::chrono::milliseconds(1500));
  b.service->Start();
  ASSERT_TRUE(WaitFor([&] { return b.joins == 1; }));
  EXPECT_GE(b.keepalives_during_join, 3);
}

TEST(DiscoveryServiceTest, ASurvivorClaimsTheSeedWhenTheHolderExpires) {
  FakeWorld world;
  FakeNode a(&world, "a");
  a.service->Start();
  ASSERT_TRUE(WaitFor([&] { return IsTrue(a.Status(), "is_seed"); }));
  FakeNode b(&world, "b");
  b.service->Start();
  ASSERT_TRUE(WaitFor([&] { return b.joins == 1; }));
  a.service->Stop(false);  // a dies: its lease runs out
  world.Expire(a.store->session);
  ASSERT_TRUE(WaitFor([&] { return IsTrue(b.Status(), "is_seed"); }));
  FakeNode late(&world, "late");
  late.service->Start();
  ASSERT_TRUE(WaitFor([&] { return late.joins == 1; }));
  EXPECT_EQ(late.Joined(), std::set<std::string>{"b"});
}

TEST(DiscoveryServiceTest, AnUnreachableStoreIsRetriedAndTheNodeRegistersAgain) {
  FakeWorld world;
  FakeNode a(&world, "a");
  a.service->Start();
  ASSERT_TRUE(WaitFor([&] { return IsTrue(a.Status(), "registered"); }));
  {
    std::lock_guard lock(world.mu);
    world.reachable = false;
    world.keys.clear();  // the store lost everything while away
    world.live_sessions.clear();
  }
  ASSERT_TRUE(WaitFor([&] { return a.Status().at("last_error").is_string(); }));
  EXPECT_FALSE(IsTrue(a.Status(), "registered"));
  EXPECT_NE(std::string(a.Status().at("last_error").get_string()).find("cannot reach"),
            std::string::npos);
  {
    std::lock_guard lock(world.mu);
    world.reachable = true;
  }
  ASSERT_TRUE(WaitFor([&] {
    return IsTrue(a.Status(), "registered") && a.Status().at("last_error").is_null() &&
           world.Get("k/nodes/a").has_value() && world.Get("k/seed").has_value();
  }));
  EXPECT_GE(a.store->sessions_opened, 2);  // the lost lease was replaced
}

TEST(DiscoveryServiceTest, LeavingEndsTheSession) {
  FakeWorld world;
  FakeNode a(&world, "a");
  a.service->Start();
  ASSERT_TRUE(WaitFor([&] { return IsTrue(a.Status(), "registered"); }));
  a.service->Stop(true);
  EXPECT_TRUE(a.store->closed);
}

TEST(DiscoveryServiceTest, NodeKeyIdsAreSafeKeySegments) {
  EXPECT_EQ(NodeKeyId("Node-1.example.com"), "node-1-example-com");
  EXPECT_EQ(NodeKeyId("127.0.0.1"), "127-0-0-1");
  EXPECT_EQ(NodeKeyId("a_b:c/d"), "a_b-c-d");
}

TEST(DiscoveryServiceTest, RecordsRoundTripAndRefuseGarbage) {
  NodeRecord record{"n1", "wss://n1:9933", "http://n1:9925", "-----BEGIN CERTIFICATE-----"};
  Result<NodeRecord> back = NodeRecord::FromJson(record.ToJson());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->url, record.url);
  EXPECT_EQ(back->ca, record.ca);
  EXPECT_FALSE(NodeRecord::FromJson("{\"name\":\"x\"}").ok());
  EXPECT_FALSE(NodeRecord::FromJson("not json").ok());
}

}  // namespace
}  // namespace meshdb::discovery
