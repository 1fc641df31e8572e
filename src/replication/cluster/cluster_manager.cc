#include "replication/cluster/cluster_manager.h"

#include <future>
#include <map>
#include <string>
#include <vector>

#include "replication/cluster/cluster_manager_impl.h"
#include "security/hex.h"

namespace meshdb::replication {

namespace json = boost::json;

namespace {

Status EnsureTable(storage::Store* store, const char* name, const char* primary_key,
                   bool replicate) {
  if (store->GetTable(kSystemDb, name).ok()) return Status::Ok();
  storage::TableDef def;
  def.database = kSystemDb;
  def.name = name;
  def.primary_key = primary_key;
  def.replicate = replicate;
  Status s = store->CreateTable(def);
  if (!s.ok() && !s.IsConflict()) return s.WithPrefix(std::string("creating system.") + name);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<ClusterManager>> ClusterManager::Create(const ClusterOptions& options) {
  if (options.store == nullptr || options.service == nullptr) {
    return Status::InvalidArgument("ClusterManager needs a store and a replication service");
  }
  RETURN_IF_ERROR(EnsureTable(options.store, kNodeAuthTable, "name", false));
  RETURN_IF_ERROR(EnsureTable(options.store, kKeysTable, "id", true));
  RETURN_IF_ERROR(EnsureTable(options.store, kNodesTable, "name", true));
  return std::unique_ptr<ClusterManager>(new ClusterManager(std::make_unique<Impl>(options)));
}

ClusterManager::ClusterManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClusterManager::~ClusterManager() { Stop(); }

Status ClusterManager::Start() { return impl_->Start(); }
void ClusterManager::Stop() { impl_->Stop(); }

void ClusterManager::AddNode(AddNodeRequest request, bool update, MessageDone done) {
  impl_->Post([this, request = std::move(request), update, done = std::move(done)]() mutable {
    done(impl_->AddNodeSync(std::move(request), update));
  });
}

void ClusterManager::RemoveNode(std::string name, MessageDone done) {
  impl_->Post([this, name = std::move(name), done = std::move(done)] {
    done(impl_->RemoveNodeSync(name));
  });
}

void ClusterManager::ConfigureCluster(std::vector<AddNodeRequest> requests,
                                      std::function<void(Result<json::value>)> done) {
  impl_->Post([this, requests = std::move(requests), done = std::move(done)]() mutable {
    done(impl_->ConfigureClusterSync(std::move(requests)));
  });
}

void ClusterManager::GetStatus(std::function<void(json::object)> done) {
  impl_->Post([this, done = std::move(done)] { done(impl_->StatusSync()); });
}

void ClusterManager::SetRoutes(json::array routes, std::function<void(Result<RouteChange>)> done) {
  impl_->Post([this, routes = std::move(routes), done = std::move(done)] {
    done(impl_->ChangeRoutesSync(routes, true));
  });
}

void ClusterManager::DeleteRoutes(json::array routes,
                                  std::function<void(Result<RouteChange>)> done) {
  impl_->Post([this, routes = std::move(routes), done = std::move(done)] {
    done(impl_->ChangeRoutesSync(routes, false));
  });
}

void ClusterManager::GetRoutes(std::function<void(json::array)> done) {
  impl_->Post([this, done = std::move(done)] { done(impl_->RoutesInForce()); });
}

void ClusterManager::IsMember(std::string name, std::function<void(bool)> done) {
  impl_->Post(
      [this, name = std::move(name), done = std::move(done)] { done(impl_->IsMemberSync(name)); });
}

void ClusterManager::RefreshOwnRow() {
  impl_->Post([this] { impl_->RefreshOwnRowSync(); });
}

void ClusterManager::Members(std::function<void(std::vector<std::string>)> done) {
  impl_->Post([this, done = std::move(done)] { done(impl_->MembersSync()); });
}

Result<std::string> ClusterManager::SignRenewal(const PeerCaller& caller,
                                                const std::string& csr_pem) {
  return impl_->SignRenewal(caller, csr_pem);
}

std::string ClusterManager::MemberHoldingCa(const std::string& ca_pem) {
  return impl_->MemberHoldingCa(ca_pem);
}

Result<uint64_t> ClusterManager::OwnRowVersion() { return impl_->OwnRowVersion(); }

Result<JoinGrant> ClusterManager::GrantJoin(const JoinRequest& request) {
  return impl_->GrantJoin(request);
}

void ClusterManager::OnPeerHello(const std::string& name, const std::string& url,
                                 bool by_credentials) {
  impl_->Post(
      [this, name, url, by_credentials] { impl_->OnPeerHelloSync(name, url, by_credentials); });
}

const std::string& ClusterManager::node_name() const { return impl_->options().node_name; }
int ClusterManager::default_port() const { return impl_->options().default_port; }

ClusterManager::Impl::Impl(ClusterOptions options)
    : options_(std::move(options)), log_(log::For("cluster")), routes_(options_.routes) {}

ClusterManager::Impl::~Impl() { Stop(); }

Status ClusterManager::Impl::Start() {
  {
    common::MutexLock lock(mu_);
    if (thread_.joinable()) return Status::Ok();
    thread_ = std::thread([this] { Run(); });
  }
  std::promise<Status> started;
  std::future<Status> result = started.get_future();
  Post([this, &started] { started.set_value(StartOnThread()); });
  Status s = result.get();
  if (!s.ok()) return s;
  listener_id_ = options_.store->AddCommitListener([this](const std::string& database, uint64_t) {
    if (database != kSystemDb) return;
    if (recompute_queued_.exchange(true)) return;
    Post([this] { Recompute(); });
  });
  has_listener_ = true;
  return Status::Ok();
}

void ClusterManager::Impl::Stop() {
  if (has_listener_) {
    options_.store->RemoveCommitListener(listener_id_);
    has_listener_ = false;
  }
  {
    common::MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ClusterManager::Impl::Post(std::function<void()> task) {
  {
    common::MutexLock lock(mu_);
    if (stopping_) return;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void ClusterManager::Impl::Run() {
  while (true) {
    std::function<void()> task;
    {
      common::MutexLock lock(mu_);
      cv_.wait(lock, [this]() REQUIRES(mu_) { return stopping_ || !tasks_.empty(); });
      if (stopping_) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

Status ClusterManager::Impl::StartOnThread() {
  std::map<std::string, json::object> docs;
  std::map<std::string, LocalNodeState> local = ReadLocal(&docs);
  if (auto it = local.find(options_.node_name); it != local.end() && it->second.removed) {
    self_removed_ = true;
    log_->warn("this node was removed from the cluster: no peers until a node links to it");
  }
  storage::WriteRequest write;
  write.database = kSystemDb;
  if (!self_removed_) write.ops.push_back(OwnRowOp());
  if (!options_.cluster_key.empty()) {
    bool present = false;
    for (const std::string& key : ReadKeys()) present = present || key == options_.cluster_key;
    if (!present) {
      storage::WriteOp op;
      op.kind = storage::WriteKind::kUpsert;
      op.table = kKeysTable;
      std::string id = security::RandomHex(16);
      op.key = json::string(id);
      op.fields = json::object{{"id", id}, {"key", options_.cluster_key}};
      write.ops.push_back(std::move(op));
    }
  }
  if (!write.ops.empty()) {
    Result<storage::WriteResult> written = options_.store->Write(std::move(write));
    if (!written.ok()) return written.status().WithPrefix("writing this node's hdb_nodes row");
  }
  own_row_written_ = !self_removed_;
  std::vector<std::string> errors;
  ParseRoutes(routes_, &errors);
  for (const std::string& e : errors) log_->warn("ignoring route: {}", e);
  Recompute();
  return Status::Ok();
}

}  // namespace meshdb::replication
