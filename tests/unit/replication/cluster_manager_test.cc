// ClusterManager against a real store and a fake ReplicationService: the removed-node marks
// persisted in system.hdb_node_auth become the service's refusal set, also after a restart,
// until add_node lifts them; remove_node revokes the certificates the node presented;
// GrantJoin signs only a joiner's own names (real CSRs and a real CA through
// security/x509.h).
#include "replication/cluster/cluster_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/hlc.h"
#include "replication/cluster/node_identity.h"
#include "replication/engine/replication_service.h"
#include "replication/wire/message.h"
#include "security/secret_box.h"
#include "security/x509.h"
#include "storage/key_codec.h"
#include "storage/record_codec.h"
#include "storage/store.h"
#include "temp_store.h"

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
    for (const PeerSpec& p : peers) {
      if (std::binary_search(removed_.begin(), removed_.end(), p.name)) {
        handed_while_refused_.push_back(p.name);
      }
    }
    peers_ = std::move(peers);
  }
  void SetRemovedNodes(std::vector<std::string> names) override {
    std::lock_guard lock(mu_);
    std::sort(names.begin(), names.end());
    removed_ = std::move(names);
    ++removed_calls_;
  }
  void SetRevokedCertificates(std::vector<std::string> serials) override {
    std::lock_guard lock(mu_);
    revoked_ = std::move(serials);
  }
  std::vector<std::string> PresentedCertificateSerials(const std::string& name) override {
    std::lock_guard lock(mu_);
    return presented_[name];
  }
  void SetPresented(const std::string& name, std::vector<std::string> serials) {
    std::lock_guard lock(mu_);
    presented_[name] = std::move(serials);
  }
  std::vector<std::string> revoked() {
    std::lock_guard lock(mu_);
    return revoked_;
  }
  net::UpgradeHandler* upgrade_handler() override { return nullptr; }
  json::array ConnectionsStatus() override {
    std::lock_guard lock(mu_);
    return connections_;
  }
  // What ConnectionsStatus answers (cluster_status "connections" entries: name, url, ...).
  void SetConnections(json::array connections) {
    std::lock_guard lock(mu_);
    connections_ = std::move(connections);
  }
  void VerifyPeers(const std::string&, const std::string&,
                   std::function<void(std::vector<PeerVerifyResult>)> done) override {
    done({});
  }
  // Answers with `on_call` when a test set it, else Unavailable (no links).
  void CallPeer(const std::string& name, std::string method, std::string, std::chrono::milliseconds,
                std::function<void(Result<std::string>)> done) override {
    std::function<Result<std::string>(const std::string&, const std::string&)> on_call;
    {
      std::lock_guard lock(mu_);
      on_call = on_call_;
    }
    done(on_call ? on_call(name, method) : Status::Unavailable("no links in this test"));
  }
  void SetOnCall(std::function<Result<std::string>(const std::string&, const std::string&)> f) {
    std::lock_guard lock(mu_);
    on_call_ = std::move(f);
  }
  void Probe(ProbeRequest, std::function<void(ProbeResult)> done) override {
    done(ProbeResult{Status::Ok(), std::nullopt});
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
  // Peers handed to SetPeers (to dial) while the refusal set still held them.
  std::vector<std::string> handed_while_refused() {
    std::lock_guard lock(mu_);
    return handed_while_refused_;
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
  std::vector<std::string> handed_while_refused_;
  std::vector<std::string> revoked_;
  std::map<std::string, std::vector<std::string>> presented_;
  int removed_calls_ = 0;
  std::string addresses_;
  json::array connections_;
  std::function<Result<std::string>(const std::string&, const std::string&)> on_call_;
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

class ClusterManagerTest : public TempStore {
 protected:
  void SetUp() override {
    TempStore::SetUp();
    auto box = security::SecretBox::LoadOrCreate(dir_.path() + "/secret-box.key");
    ASSERT_TRUE(box.ok()) << box.status().ToString();
    box_.emplace(std::move(box).value());
  }

  std::unique_ptr<ClusterManager> StartManager(FakeService* service,
                                               NodeIdentity* identity = nullptr) {
    ClusterOptions options;
    options.identity = identity;
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

  // Writes `name`'s hdb_nodes row as gossip would deliver it: kUpsert with `fields`, or
  // kDelete.
  Status WriteNodeRow(storage::WriteKind kind, const std::string& name, json::object fields = {}) {
    storage::WriteRequest write;
    write.database = "system";
    storage::WriteOp op;
    op.kind = kind;
    op.table = kNodesTable;
    op.key = json::string(name);
    op.fields = std::move(fields);
    write.ops.push_back(std::move(op));
    return store_->Write(std::move(write)).status();
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
  manager->OnPeerHello("c", "ws://c:9925", false);
  manager->OnPeerHello("d", "ws://d:9925", false);
  ASSERT_TRUE(Eventually([&] { return service.HasPeer("d"); }));
  EXPECT_EQ(service.removed(), std::vector<std::string>{"c"});
  EXPECT_FALSE(service.HasPeer("c"));

  // add_node lifts it, before c is handed over to be dialed (a dial that ran first would be
  // refused by this node's own stale mark).
  ASSERT_TRUE(AddNode(manager.get(), "c").ok());
  EXPECT_TRUE(Eventually([&] { return service.removed().empty() && service.HasPeer("c"); }));
  EXPECT_TRUE(service.handed_while_refused().empty());
  manager.reset();

  FakeService after;
  manager = StartManager(&after);
  ASSERT_NE(manager, nullptr);
  EXPECT_TRUE(after.removed().empty());
  EXPECT_TRUE(after.HasPeer("c"));
}

// remove_node revokes the certificate the node presented on its links even when its own
// hdb_nodes row (with certificate_serial) has not reached this node: here c's row is the one
// add_node wrote, which has no serial.
TEST_F(ClusterManagerTest, RemoveNodeRevokesTheCertificatesTheNodePresentedOnItsLinks) {
  FakeService service;
  auto manager = StartManager(&service);
  ASSERT_NE(manager, nullptr);
  ASSERT_TRUE(AddNode(manager.get(), "c").ok());
  ASSERT_TRUE(Eventually([&] { return service.HasPeer("c"); }));
  service.SetPresented("c", {"C0FFEE01", "C0FFEE02"});
  service.SetPresented("d", {"D00D"});
  ASSERT_TRUE(RemoveNode(manager.get(), "c").ok());
  EXPECT_TRUE(Eventually([&] {
    return service.revoked() == std::vector<std::string>{"C0FFEE01", "C0FFEE02"};
  })) << ::testing::PrintToString(service.revoked());
}

// The removed node rewrote its own row just before the delete reached it (its write newer
// than the delete, so it won there and, arriving here, here too): remove_node learns it from
// the node's answer, deletes the row again after that write, and the node stays removed.
TEST_F(ClusterManagerTest, RemoveNodeDeletesAgainWhenTheNodesOwnWriteWon) {
  FakeService service;
  auto manager = StartManager(&service);
  ASSERT_NE(manager, nullptr);
  ASSERT_TRUE(AddNode(manager.get(), "c").ok());
  ASSERT_TRUE(Eventually([&] { return service.HasPeer("c"); }));

  // c's write of its row, stamped a second ahead of this node's clock, as it arrives from c.
  const uint64_t ghost_version =
      HybridClock::Pack(std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                                .count() +
                            1000,
                        0);
  auto apply_ghost = [&] {
    storage::ReplicatedTxn txn;
    txn.database = "system";
    txn.origin = NodeIdForName("c");
    txn.origin_sequence = 7;
    txn.version = ghost_version;
    storage::LogEntry::Write w;
    w.table = kNodesTable;
    w.key = *storage::EncodeKey(json::string("c"));
    storage::EncodeRecord({false, ghost_version, txn.origin},
                          json::object{{"name", "c"}, {"url", "ws://c:9925"}, {"replicates", true}},
                          &w.value);
    txn.writes.push_back(std::move(w));
    return store_->ApplyReplicated(std::move(txn));
  };
  std::vector<std::string> calls;
  service.SetOnCall([&](const std::string& name, const std::string& method) -> Result<std::string> {
    calls.push_back(name + " " + method);
    if (calls.size() == 1) {
      Result<storage::ApplyResult> applied = apply_ghost();
      if (!applied.ok()) return applied.status();
      return std::to_string(ghost_version);
    }
    return std::string("0");  // the second delete won on c
  });
  ASSERT_TRUE(RemoveNode(manager.get(), "c").ok());

  EXPECT_EQ(calls, (std::vector<std::string>{"c own-row-version", "c own-row-version"}));
  auto snap = store_->Read("system");
  ASSERT_TRUE(snap.ok());
  Result<std::optional<storage::Record>> row = (*snap)->Get(kNodesTable, json::string("c"));
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(row->has_value()) << "c's row came back: " << json::serialize((*row)->doc);
  EXPECT_EQ(service.removed(), std::vector<std::string>{"c"});
  EXPECT_FALSE(service.HasPeer("c"));
}

// When the node answers with a version older than the delete (the delete won there), the row
// is deleted once.
TEST_F(ClusterManagerTest, RemoveNodeDeletesOnceWhenTheDeleteWonOnTheNode) {
  FakeService service;
  auto manager = StartManager(&service);
  ASSERT_NE(manager, nullptr);
  ASSERT_TRUE(AddNode(manager.get(), "c").ok());
  ASSERT_TRUE(Eventually([&] { return service.HasPeer("c"); }));
  int calls = 0;
  service.SetOnCall([&](const std::string&, const std::string&) -> Result<std::string> {
    ++calls;
    return std::string("1");
  });
  Result<uint64_t> before = store_->LastSequence("system");
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(RemoveNode(manager.get(), "c").ok());
  EXPECT_EQ(calls, 1);
  // c's row was written once since: the delete.
  const std::string c_key = *storage::EncodeKey(json::string("c"));
  auto snap = store_->Read("system");
  ASSERT_TRUE(snap.ok());
  int writes_of_c = 0;
  ASSERT_TRUE((*snap)
                  ->ScanLog(*before + 1,
                            [&](const storage::LogEntry& e) {
                              for (const auto& w : e.writes) {
                                writes_of_c += w.table == kNodesTable && w.key == c_key;
                              }
                              return true;
                            })
                  .ok());
  EXPECT_EQ(writes_of_c, 1);
  EXPECT_EQ(service.removed(), std::vector<std::string>{"c"});
}

// A node whose row this node had seen, and which a remove_node elsewhere just deleted, links
// in before the Recompute that marks it removed has run: its Hello does not write its row
// back (that write, newer than the delete, would bring the node back on every member).
TEST_F(ClusterManagerTest, HelloFromANodeWhoseRowWasJustDeletedDoesNotWriteItBack) {
  FakeService service;
  auto manager = StartManager(&service);
  ASSERT_NE(manager, nullptr);
  ASSERT_TRUE(WriteNodeRow(storage::WriteKind::kUpsert, "d", {{"url", "ws://d:9925"}}).ok());
  auto seen = [&] {
    auto snap = store_->Read("system");
    if (!snap.ok()) return false;
    auto doc = (*snap)->Get(kNodeAuthTable, json::string("d"));
    return doc.ok() && doc->has_value() && (*doc)->doc.if_contains("seen") != nullptr &&
           (*doc)->doc.at("seen") == json::value(true);
  };
  ASSERT_TRUE(Eventually(seen));
  auto round_trip = [&] {
    std::promise<void> done;
    manager->IsMember("d", [&](bool) { done.set_value(); });
    done.get_future().get();
  };
  round_trip();  // the Recompute the seen mark's commit queued has run

  // On the membership thread: the Hello is queued first, then the delete commits (queuing
  // the Recompute behind the Hello).
  std::promise<Status> deleted;
  manager->IsMember("d", [&](bool) {
    manager->OnPeerHello("d", "ws://d:9925", false);
    deleted.set_value(WriteNodeRow(storage::WriteKind::kDelete, "d"));
  });
  ASSERT_TRUE(deleted.get_future().get().ok());
  EXPECT_TRUE(Eventually([&] { return service.removed() == std::vector<std::string>{"d"}; }))
      << ::testing::PrintToString(service.removed());
  round_trip();
  auto snap = store_->Read("system");
  ASSERT_TRUE(snap.ok());
  Result<std::optional<storage::Record>> row = (*snap)->Get(kNodesTable, json::string("d"));
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(row->has_value()) << "d's row was written back: " << json::serialize((*row)->doc);
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
  manager->OnPeerHello("e", "ws://192.168.1.5:9925", false);
  EXPECT_TRUE(Eventually([&] { return service.addresses() == "192.168.1.5, 10.0.0.2, 10.0.0.3"; }))
      << service.addresses();
  const size_t after_changes = resolve_count();
  EXPECT_GT(after_changes, lookups);

  // A commit that changes no host resolves nothing.
  manager->OnPeerHello("e", "ws://192.168.1.5:9925", false);
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
  ASSERT_TRUE(WriteNodeRow(storage::WriteKind::kDelete, "a").ok());
  // It leaves the cluster (no peers), but refuses nobody: whoever adds it back must get in.
  ASSERT_TRUE(Eventually([&] { return !service.HasPeerUrl("ws://c:9925"); }));
  EXPECT_TRUE(service.removed().empty());
}

// cluster_delete_routes unlinks the node the route reached even when only the link's Hello
// named it: its hdb_nodes row, arriving later, must not link it again.
TEST_F(ClusterManagerTest, DeletingARouteUnlinksItsNodeBeforeItsRowArrives) {
  FakeService service;
  auto manager = StartManager(&service);
  ASSERT_NE(manager, nullptr);
  service.SetConnections(json::array{json::object{{"name", "c"}, {"url", "ws://c:9925"}}});
  std::promise<Result<RouteChange>> deleted;
  manager->DeleteRoutes(json::array{json::value("c:9925")},
                        [&](Result<RouteChange> r) { deleted.set_value(std::move(r)); });
  Result<RouteChange> change = deleted.get_future().get();
  ASSERT_TRUE(change.ok()) << change.status().ToString();
  EXPECT_EQ(service.removed(), std::vector<std::string>{"c"});

  // c's row and then d's arrive (as gossip would); once d is a peer, c's row was handled too.
  for (const char* name : {"c", "d"}) {
    ASSERT_TRUE(WriteNodeRow(storage::WriteKind::kUpsert, name,
                             json::object{{"url", std::string("ws://") + name + ":9925"}})
                    .ok());
  }
  ASSERT_TRUE(Eventually([&] { return service.HasPeer("d"); }));
  EXPECT_FALSE(service.HasPeer("c"));
  EXPECT_FALSE(service.HasPeerUrl("ws://c:9925"));
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

// A CA that signs CSRs under the same policy as the server's identity, and records trust.
class TestIdentity : public NodeIdentity {
 public:
  explicit TestIdentity(const std::string& name) {
    key_ = std::move(security::GeneratePrivateKey()).value();
    ca_ = std::move(
              security::CreateCaCertificate(key_.get(), "ca-" + name, security::ValidForDays(1)))
              .value();
    ca_pem_ = security::CertificateToPem(ca_.get()).value();
  }
  [[nodiscard]] std::string CaCertificatePem() const override { return ca_pem_; }
  [[nodiscard]] std::string PresentedIssuerPem() const override { return ca_pem_; }
  [[nodiscard]] bool UsesGeneratedCertificate() const override { return true; }
  [[nodiscard]] std::string CertificateSerial() const override { return "AB"; }
  Result<std::string> CreateCsr(const std::set<std::string>&) override {
    return Status::Internal("unused");
  }
  Result<std::string> SignCsr(const std::string& csr_pem,
                              const std::set<std::string>& allowed) override {
    ASSIGN_OR_RETURN(security::X509Req csr, security::ParseCsrPem(csr_pem));
    ASSIGN_OR_RETURN(security::X509Cert cert,
                     security::SignCsr(csr.get(), ca_.get(), key_.get(), security::ValidForDays(1),
                                       security::AllowOnlyNames(allowed)));
    return security::CertificateToPem(cert.get());
  }
  Status TrustCa(const std::string& ca_pem) override {
    std::lock_guard lock(mu_);
    trusted_.push_back(ca_pem);
    return Status::Ok();
  }
  void DistrustCa(const std::string& ca_pem) override {
    std::lock_guard lock(mu_);
    std::erase(trusted_, ca_pem);
  }
  Status InstallCertificate(const std::string&, const std::string&) override {
    return Status::Internal("unused");
  }
  bool Trusts(const std::string& ca_pem) {
    std::lock_guard lock(mu_);
    return std::find(trusted_.begin(), trusted_.end(), ca_pem) != trusted_.end();
  }

 private:
  security::EvpPkey key_;
  security::X509Cert ca_;
  std::string ca_pem_;
  std::mutex mu_;
  std::vector<std::string> trusted_;
};

// A joiner's request for `names` (CN first) from `url`, with its own CA.
JoinRequest JoinFor(const std::string& name, const std::string& url,
                    const std::vector<std::string>& names, const std::string& ca_pem) {
  security::EvpPkey key = std::move(security::GeneratePrivateKey()).value();
  security::X509Req csr =
      std::move(security::CreateCsr(key.get(), security::NamesForHosts(names.front(), names)))
          .value();
  return JoinRequest{name, url, security::CsrToPem(csr.get()).value(), ca_pem};
}

TEST_F(ClusterManagerTest, GrantJoinSignsOnlyTheJoinersOwnNames) {
  FakeService service;
  TestIdentity identity("a");
  TestIdentity joiner("j");
  auto manager = StartManager(&service, &identity);
  ASSERT_NE(manager, nullptr);
  ASSERT_TRUE(AddNode(manager.get(), "b").ok());  // a member

  Result<JoinGrant> ok = manager->GrantJoin(
      JoinFor("j", "wss://10.0.0.9:9933", {"j", "10.0.0.9"}, joiner.CaCertificatePem()));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->node_name, "a");
  EXPECT_EQ(ok->ca_pem, identity.CaCertificatePem());
  auto cert = security::ParseCertificatePem(ok->certificate_pem);
  ASSERT_TRUE(cert.ok());
  EXPECT_TRUE(security::CoversName(cert->get(), "j"));
  EXPECT_TRUE(identity.Trusts(joiner.CaCertificatePem()));
  auto snap = store_->Read("system");
  ASSERT_TRUE(snap.ok());
  auto row = (*snap)->Get("hdb_nodes", json::value("j"));
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->doc.at("ca").as_string(), joiner.CaCertificatePem());

  struct Case {
    JoinRequest request;
    const char* why;
  };
  const std::string ca = joiner.CaCertificatePem();
  std::vector<Case> refused = {
      {JoinFor("k", "wss://10.0.0.8:9933", {"k", "*.example.com"}, ca), "'*.example.com'"},
      {JoinFor("k", "wss://10.0.0.8:9933", {"k", "b"}, ca), "'b'"},
      {JoinFor("k", "wss://10.0.0.8:9933", {"k", "10.0.0.7"}, ca), "'10.0.0.7'"},
      {JoinFor("a", "wss://10.0.0.8:9933", {"a"}, ca), "names this node"},
      {JoinFor("k", "wss://b:9933", {"k", "b"}, ca), "names another member ('b')"},
      {JoinFor("j", "wss://10.0.0.9:9933", {"j", "10.0.0.9"}, TestIdentity("x").CaCertificatePem()),
       "'j' is a member with another certificate authority"},
      {JoinRequest{"k", "not a url", "", ca}, "needs the joiner's node name and URL"},
  };
  for (const Case& c : refused) {
    Result<JoinGrant> got = manager->GrantJoin(c.request);
    ASSERT_FALSE(got.ok()) << c.why;
    EXPECT_NE(got.status().message().find(c.why), std::string::npos)
        << got.status().ToString() << " / expected " << c.why;
  }
  // Refusals wrote nothing.
  auto after = store_->Read("system");
  ASSERT_TRUE(after.ok());
  auto k = (*after)->Get("hdb_nodes", json::value("k"));
  ASSERT_TRUE(k.ok());
  EXPECT_FALSE(k->has_value());
}

TEST_F(ClusterManagerTest, GrantJoinWithoutAnIdentityIsRefused) {
  FakeService service;
  auto manager = StartManager(&service);
  ASSERT_NE(manager, nullptr);
  Result<JoinGrant> got = manager->GrantJoin(JoinRequest{"j", "wss://j:9933", "", ""});
  EXPECT_EQ(got.status().code(), Status::Code::kPermissionDenied);
}

}  // namespace
}  // namespace meshdb::replication
