// ClusterManager against a real store and a fake ReplicationService: the removed-node marks
// persisted in system.hdb_node_auth become the service's refusal set, also after a restart,
// until add_node lifts them.
#include "replication/cluster/cluster_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "replication/engine/replication_service.h"
#include "security/secret_box.h"
#include "storage/store.h"
#include "temp_dir.h"

namespace meshdb::replication {
namespace {

namespace json = boost::json;

// Records what membership hands to the engine.
class FakeService : public ReplicationService {
 public:
  void Start() override {}
  void Stop() override {}
  void SetPeers(std::vector<PeerSpec> peers) override {
    std::lock_guard lock(mu_);
    peers_ = std::move(peers);
  }
  void SetRemovedNodes(std::vector<std::string> names) override {
    std::lock_guard lock(mu_);
    std::sort(names.begin(), names.end());
    removed_ = std::move(names);
    ++removed_calls_;
  }
  net::UpgradeHandler* upgrade_handler() override { return nullptr; }
  json::array ConnectionsStatus() override { return {}; }
  void VerifyPeers(const std::string&, const std::string&,
                   std::function<void(std::vector<PeerVerifyResult>)> done) override {
    done({});
  }
  void Probe(const std::string&, const std::string&, std::function<void(Status)> done) override {
    done(Status::Ok());
  }
  void SetPeerAddresses(common::IpAllowList addresses) override {
    std::lock_guard lock(mu_);
    addresses_ = addresses.ToString();
  }
  // The addresses membership handed over last, as IpAllowList::ToString.
  std::string addresses() {
    std::lock_guard lock(mu_);
    return addresses_;
  }

  std::vector<std::string> removed() {
    std::lock_guard lock(mu_);
    return removed_;
  }
  int removed_calls() {
    std::lock_guard lock(mu_);
    return removed_calls_;
  }
  bool HasPeer(const std::string& name) {
    std::lock_guard lock(mu_);
    return std::any_of(peers_.begin(), peers_.end(),
                       [&](const PeerSpec& p) { return p.name == name; });
  }
  // The authorization membership hands over for `name` ("" when none or no such peer).
  std::string AuthorizationOf(const std::string& name) {
    std::lock_guard lock(mu_);
    for (const PeerSpec& p : peers_) {
      if (p.name == name) return p.authorization;
    }
    return "";
  }
  bool HasPeerUrl(const std::string& url) {
    std::lock_guard lock(mu_);
    return std::any_of(peers_.begin(), peers_.end(),
                       [&](const PeerSpec& p) { return p.url == url; });
  }

 private:
  std::mutex mu_;
  std::vector<PeerSpec> peers_;
  std::vector<std::string> removed_;
  int removed_calls_ = 0;
  std::string addresses_;
};

// Polls `pred` for up to 5 s (the manager applies commits on its own thread).
template <typename Pred>
bool Eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

class ClusterManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::StoreOptions options;
    options.database_dir = dir_.path();
    options.durable = false;
    options.map_size_bytes = 64ull << 20;
    auto store = storage::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    auto box = security::SecretBox::LoadOrCreate(dir_.path() + "/secret-box.key");
    ASSERT_TRUE(box.ok()) << box.status().ToString();
    box_.emplace(std::move(box).value());
  }

  std::unique_ptr<ClusterManager> StartManager(FakeService* service) {
    ClusterOptions options;
    options.store = store_.get();
    options.service = service;
    options.node_name = "a";
    options.node_url = "ws://a:9925";
    options.secret_box = &*box_;
    // A route to c: it must stay unlinked while c is removed.
    options.routes = json::array{json::value("c:9925")};
    options.resolve_hosts = [this](const std::vector<std::string>& hosts) {
      return FakeResolve(hosts);
    };
    auto manager = ClusterManager::Create(options);
    EXPECT_TRUE(manager.ok()) << manager.status().ToString();
    if (!manager.ok()) return nullptr;
    Status s = (*manager)->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return std::move(manager).value();
  }

  static Result<std::string> AddNode(ClusterManager* m, const std::string& name,
                                     const std::string& retained_authorization = "") {
    AddNodeRequest req;
    req.name = name;
    req.url = "ws://" + name + ":9925";
    req.authorization = retained_authorization;
    req.retain_authorization = !retained_authorization.empty();
    std::promise<Result<std::string>> done;
    m->AddNode(req, false, [&](Result<std::string> r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  }

  static Result<std::string> RemoveNode(ClusterManager* m, const std::string& name) {
    std::promise<Result<std::string>> done;
    m->RemoveNode(name, [&](Result<std::string> r) { done.set_value(std::move(r)); });
    return done.get_future().get();
  }

  // Single-letter hosts resolve to 10.0.0.<letter - 'a' + 1>; "unknown" to nothing; IP
  // literals to themselves. Records every lookup.
  ResolvedHosts FakeResolve(const std::vector<std::string>& hosts) {
    ResolvedHosts out;
    std::lock_guard lock(resolve_mu_);
    for (const std::string& host : hosts) {
      resolved_.push_back(host);
      if (host.size() == 1) {
        out.addresses.Add(*common::ParseIpBlock("10.0.0." + std::to_string(host[0] - 'a' + 1)));
      } else if (Result<common::IpBlock> ip = common::ParseIpBlock(host); ip.ok()) {
        out.addresses.Add(*ip);
      } else {
        out.unresolved.push_back(host + ": not found");
      }
    }
    return out;
  }
  size_t resolve_count() {
    std::lock_guard lock(resolve_mu_);
    return resolved_.size();
  }

  std::mutex resolve_mu_;
  std::vector<std::string> resolved_;
  meshdb::testing::TempDir dir_{"meshdb-cluster-manager"};
  std::unique_ptr<storage::Store> store_;
  std::optional<security::SecretBox> box_;
};

TEST_F(ClusterManagerTest, RemovedNodeStaysRefusedAcrossRestartUntilAddedAgain) {
  {
    FakeService service;
    auto manager = StartManager(&service);
    ASSERT_NE(manager, nullptr);
    EXPECT_TRUE(service.removed().empty());
    ASSERT_TRUE(AddNode(manager.get(), "c").ok());
    ASSERT_TRUE(Eventually([&] { return service.HasPeer("c"); }));
    ASSERT_TRUE(RemoveNode(manager.get(), "c").ok());
    EXPECT_EQ(service.removed(), std::vector<std::string>{"c"});
    EXPECT_FALSE(service.HasPeer("c"));
  }

  // A restart: the refusal comes back from the store, before anything can connect (Start
  // returns after the first peer set was handed over).
  FakeService service;
  auto manager = StartManager(&service);
  ASSERT_NE(manager, nullptr);
  EXPECT_GE(service.removed_calls(), 1);
  EXPECT_EQ(service.removed(), std::vector<std::string>{"c"});
  EXPECT_FALSE(service.HasPeer("c"));
  EXPECT_FALSE(service.HasPeerUrl("ws://c:9925")) << "the route to removed c was dialed";

  // A Hello from c does not bring it back into hdb_nodes. Hellos are handled in order on the
  // manager's thread: once d's (a node never seen) made d a peer, c's was handled too.
  manager->OnPeerHello("c", "ws://c:9925");
  manager->OnPeerHello("d", "ws://d:9925");
  ASSERT_TRUE(Eventually([&] { return service.HasPeer("d"); }));
  EXPECT_EQ(service.removed(), std::vector<std::string>{"c"});
  EXPECT_FALSE(service.HasPeer("c"));

  // add_node lifts it.
  ASSERT_TRUE(AddNode(manager.get(), "c").ok());
  EXPECT_TRUE(Eventually([&] { return service.removed().empty() && service.HasPeer("c"); }));
  manager.reset();

  FakeService after;
  manager = StartManager(&after);
  ASSERT_NE(manager, nullptr);
  EXPECT_TRUE(after.removed().empty());
  EXPECT_TRUE(after.HasPeer("c"));
}

// Insecure mode: membership hands the service the addresses of the routes' and the members'
// hosts, before anything can connect and again when they change; an unchanged host set is not
// resolved again.
TEST_F(ClusterManagerTest, PeerAddressesFollowRoutesAndMembers) {
  FakeService service;
  auto manager = StartManager(&service);
  ASSERT_NE(manager, nullptr);
  EXPECT_EQ(service.addresses(), "10.0.0.3");  // the route to c, not this node (a)
  const size_t lookups = resolve_count();

  ASSERT_TRUE(AddNode(manager.get(), "b").ok());
  EXPECT_TRUE(Eventually([&] { return service.addresses() == "10.0.0.2, 10.0.0.3"; }))
      << service.addresses();
  // A member known by an IP URL (gossip of another node's row).
  manager->OnPeerHello("e", "ws://192.168.1.5:9925");
  EXPECT_TRUE(Eventually([&] { return service.addresses() == "192.168.1.5, 10.0.0.2, 10.0.0.3"; }))
      << service.addresses();
  const size_t after_changes = resolve_count();
  EXPECT_GT(after_changes, lookups);

  // A commit that changes no host resolves nothing.
  manager->OnPeerHello("e", "ws://192.168.1.5:9925");
  (void)AddNode(manager.get(), "b");  // its row rewritten as it was
  EXPECT_EQ(resolve_count(), after_changes);

  // A removed member's address goes.
  ASSERT_TRUE(RemoveNode(manager.get(), "b").ok());
  EXPECT_TRUE(Eventually([&] { return service.addresses() == "192.168.1.5, 10.0.0.3"; }))
      << service.addresses();
}

TEST_F(ClusterManagerTest, ThisNodeIsNeverInItsOwnRefusalSet) {
  FakeService service;
  auto manager = StartManager(&service);
  ASSERT_NE(manager, nullptr);
  ASSERT_TRUE(service.HasPeerUrl("ws://c:9925"));  // the route is dialed (checked before the
                                                   // delete: afterwards it may be gone already)
  // Another node removed this one: its own row disappears (as a gossiped delete would).
  storage::WriteRequest write;
  write.database = "system";
  storage::WriteOp op;
  op.kind = storage::WriteKind::kDelete;
  op.table = kNodesTable;
  op.key = json::string("a");
  write.ops.push_back(op);
  ASSERT_TRUE(store_->Write(std::move(write)).ok());
  // It leaves the cluster (no peers), but refuses nobody: whoever adds it back must get in.
  ASSERT_TRUE(Eventually([&] { return !service.HasPeerUrl("ws://c:9925"); }));
  EXPECT_TRUE(service.removed().empty());
}

TEST_F(ClusterManagerTest, RetainedAuthorizationIsSealedAtRestAndStillUsed) {
  FakeService service;
  auto manager = StartManager(&service);
  ASSERT_NE(manager, nullptr);
  const std::string credentials = "Basic YWRtaW46c2VjcmV0LXBhc3N3b3Jk";  // admin:secret-password
  ASSERT_TRUE(AddNode(manager.get(), "b", credentials).ok());
  ASSERT_TRUE(Eventually([&] { return service.AuthorizationOf("b") == credentials; }));

  auto snap = store_->Read("system");
  ASSERT_TRUE(snap.ok());
  auto row = (*snap)->Get("hdb_node_auth", json::value("b"));
  ASSERT_TRUE(row.ok() && row->has_value());
  const std::string stored = json::serialize((*row)->doc);
  EXPECT_EQ(stored.find(credentials), std::string::npos) << stored;
  EXPECT_EQ(stored.find("YWRtaW46c2VjcmV0"), std::string::npos) << stored;
  const json::value* sealed = (*row)->doc.if_contains("authorization");
  ASSERT_TRUE(sealed != nullptr && sealed->is_string()) << stored;
  EXPECT_TRUE(security::SecretBox::IsSealed(sealed->get_string())) << stored;

  // A restarted manager opens it again with the same key file.
  manager.reset();
  FakeService again;
  auto restarted = StartManager(&again);
  ASSERT_NE(restarted, nullptr);
  EXPECT_TRUE(Eventually([&] { return again.AuthorizationOf("b") == credentials; }));
}

}  // namespace
}  // namespace meshdb::replication
