#include "replication/cluster_manager.h"

#include <atomic>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/log.h"
#include "config/config.h"
#include "replication/cluster_peers.h"
#include "replication/replication_service.h"
#include "storage/store.h"

namespace meshdb::replication {

namespace json = boost::json;

namespace {

constexpr const char* kSystemDb = "system";
constexpr const char* kKeysTable = "hdb_cluster_keys";
// How long remove_node waits for the peer to acknowledge the delete of its row before the
// link is closed (so the removed node learns it was removed).
constexpr auto kRemoveDrainTimeout = std::chrono::milliseconds(3000);
constexpr auto kProbeTimeout = std::chrono::seconds(15);

std::string RandomHex(size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string out;
  out.reserve(bytes * 2);
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xFF;
    out += kHex[v >> 4];
    out += kHex[v & 15];
  }
  return out;
}

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

storage::WriteOp Upsert(const char* table, const std::string& key, json::object fields) {
  storage::WriteOp op;
  op.kind = storage::WriteKind::kUpsert;
  op.table = table;
  op.key = json::string(key);
  fields["name"] = json::string(key);
  op.fields = std::move(fields);
  return op;
}

storage::WriteOp Delete(const char* table, const std::string& key) {
  storage::WriteOp op;
  op.kind = storage::WriteKind::kDelete;
  op.table = table;
  op.key = json::string(key);
  return op;
}

LocalNodeState StateFromDoc(const json::object& doc) {
  LocalNodeState s;
  if (const json::value* v = doc.if_contains("added"); v && v->is_bool()) s.added = v->get_bool();
  if (const json::value* v = doc.if_contains("removed"); v && v->is_bool()) {
    s.removed = v->get_bool();
  }
  if (const json::value* v = doc.if_contains("authorization"); v && v->is_string()) {
    s.authorization = std::string(v->get_string());
  }
  if (const json::value* v = doc.if_contains("subscriptions"); v && v->is_array()) {
    s.subscriptions = *v;
  }
  return s;
}

bool Seen(const json::object& doc) {
  const json::value* v = doc.if_contains("seen");
  return v != nullptr && v->is_bool() && v->get_bool();
}

std::string SpecKey(const PeerSpec& p) {
  std::string key = p.name + '\n' + p.url + '\n' + (p.dial ? "d" : "-") + '\n' + p.authorization +
                    '\n' + (p.start_time_ms ? std::to_string(*p.start_time_ms) : "") + '\n';
  for (const TableSubscription& s : p.subscriptions) {
    key += s.database + '.' + s.table + (s.publish ? "p" : "-") + (s.subscribe ? "s" : "-") + ',';
  }
  return key;
}

std::string HostOf(const std::string& url_or_host) {
  if (url_or_host.find("://") == std::string::npos) return url_or_host;
  Result<Route> r = ParseUrl(url_or_host);
  return r.ok() ? r->host : url_or_host;
}

}  // namespace

class ClusterManager::Impl {
 public:
  explicit Impl(ClusterOptions options)
      : options_(std::move(options)), log_(log::For("cluster")), routes_(options_.routes) {}

  ~Impl() { Stop(); }

  Status Start() {
    {
      std::lock_guard lock(mu_);
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

  void Stop() {
    if (has_listener_) {
      options_.store->RemoveCommitListener(listener_id_);
      has_listener_ = false;
    }
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void Post(std::function<void()> task) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

  // --- Operations, on the membership thread. ---

  Result<std::string> AddNodeSync(AddNodeRequest req, bool update) {
    if (req.name.empty() && !req.url.empty()) req.name = HostOf(req.url);
    if (req.url.empty()) req.url = MakeUrl(req.name, options_.default_port);
    if (req.name.empty()) return Status::InvalidArgument("'hostname' or 'url' is required");
    if (req.name == options_.node_name || req.url == options_.node_url) {
      return Status::InvalidArgument("'" + req.name + "' is this node");
    }
    if (!req.authorization.empty()) {
      if (Status s = EnsureClusterKey(); !s.ok()) return s;
    }
    std::map<std::string, LocalNodeState> local_states = ReadLocal(nullptr);
    LocalNodeState& mine = local_states[req.name];
    mine.removed = false;
    mine.subscriptions = req.subscriptions.is_array() ? req.subscriptions : json::value(nullptr);
    storage::WriteRequest write;
    write.database = kSystemDb;
    write.ops.push_back(OwnRowOp(PeerSubscriptionsOf(local_states)));
    json::object row{
        {"url", req.url},
        {"replicates", true},
        {"subscriptions", req.subscriptions},
        {"subscriptions_owner",
         req.subscriptions.is_array() ? json::value(options_.node_name) : json::value(nullptr)}};
    if (!req.start_time.is_null()) row["start_time"] = req.start_time;
    if (!req.shard.is_null()) row["shard"] = req.shard;
    write.ops.push_back(Upsert(kNodesTable, req.name, std::move(row)));
    json::object local{
        {"added", true}, {"removed", false}, {"seen", true}, {"subscriptions", mine.subscriptions}};
    if (!req.authorization.empty()) {
      local["authorization"] =
          req.retain_authorization ? json::value(req.authorization) : json::value(nullptr);
    }
    write.ops.push_back(Upsert(kNodeAuthTable, req.name, std::move(local)));
    if (self_removed_)
      write.ops.push_back(
          Upsert(kNodeAuthTable, options_.node_name, json::object{{"removed", false}}));
    Result<storage::WriteResult> written = options_.store->Write(std::move(write));
    if (!written.ok()) return written.status();
    if (self_removed_) {
      log_->info("rejoining the cluster: '{}' added", req.name);
      self_removed_ = false;
    }
    if (!req.authorization.empty() && !req.retain_authorization) {
      pending_authorization_[req.name] = req.authorization;
    } else {
      pending_authorization_.erase(req.name);
    }
    log_->info("{} node '{}' at {}", update ? "updated" : "added", req.name, req.url);
    Recompute();

    std::string message = update ? "Successfully updated '" + req.url + "'"
                                 : "Successfully added '" + req.url + "' to cluster";
    Status probe = ProbeSync(req.url, req.authorization);
    if (!probe.ok()) {
      log_->warn("node '{}' at {} not reachable yet: {}", req.name, req.url, probe.message());
      message += " but there was an error updating target node: Error returned from " + req.url +
                 ": " + probe.message();
    }
    return message;
  }

  Result<std::string> RemoveNodeSync(const std::string& id) {
    std::vector<NodeRow> rows = ReadRows();
    const NodeRow* found = nullptr;
    for (const NodeRow& row : rows) {
      if (row.name == id || (!row.url.empty() && row.url == id)) found = &row;
    }
    if (found == nullptr && id.find("://") != std::string::npos) {
      for (const NodeRow& row : rows) {
        if (row.name == HostOf(id)) found = &row;
      }
    }
    if (found == nullptr) return Status::InvalidArgument(id + " does not exist");
    std::string name = found->name;
    if (name == options_.node_name) {
      return Status::InvalidArgument("'" + name + "' is this node; remove it from another node");
    }
    storage::WriteRequest write;
    write.database = kSystemDb;
    write.ops.push_back(Delete(kNodesTable, name));
    write.ops.push_back(Upsert(kNodeAuthTable, name,
                               json::object{{"added", false},
                                            {"removed", true},
                                            {"seen", false},
                                            {"authorization", nullptr},
                                            {"subscriptions", nullptr}}));
    Result<storage::WriteResult> written = options_.store->Write(std::move(write));
    if (!written.ok()) return written.status();
    pending_authorization_.erase(name);
    log_->info("removing node '{}': waiting for it to learn of its removal", name);
    WaitForAck(name, written->sequence);
    Recompute();
    log_->info("removed node '{}'", name);
    return "Successfully removed '" + name + "' from cluster";
  }

  Result<json::value> ConfigureClusterSync(std::vector<AddNodeRequest> requests) {
    std::set<std::string> wanted;
    for (AddNodeRequest& req : requests) {
      if (req.name.empty() && !req.url.empty()) req.name = HostOf(req.url);
      wanted.insert(req.name);
    }
    for (const NodeRow& row : ReadRows()) {
      if (row.name == options_.node_name || wanted.count(row.name) != 0) continue;
      Result<std::string> removed = RemoveNodeSync(row.name);
      if (!removed.ok()) log_->warn("configure_cluster: {}", removed.status().message());
    }
    json::array connections;
    json::array failed;
    for (AddNodeRequest& req : requests) {
      std::string name = req.name;
      Result<std::string> added = AddNodeSync(std::move(req), false);
      if (added.ok()) {
        connections.push_back(json::object{{"node_name", name}, {"response", *added}});
      } else {
        log_->warn("configure_cluster: adding '{}' failed: {}", name, added.status().message());
        failed.push_back(json::value(name));
      }
    }
    if (!requests.empty() && failed.size() == requests.size()) {
      return Status::Internal("Failed to configure the cluster. Check the logs for more details.");
    }
    if (!failed.empty()) {
      return json::value(json::object{
          {"message",
           "Configure cluster was partially successful. Errors occurred when attempting to "
           "configure the following nodes. Check the logs for more details."},
          {"failed_nodes", failed},
          {"connections", connections}});
    }
    return json::value(
        json::object{{"message", "Configure cluster complete."}, {"connections", connections}});
  }

  json::object StatusSync() {
    std::map<std::string, NodeRow> rows;
    for (NodeRow& row : ReadRows()) rows.emplace(row.name, std::move(row));
    std::map<std::string, LocalNodeState> local = ReadLocal(nullptr);
    json::array connections;
    for (json::value& entry : options_.service->ConnectionsStatus()) {
      if (!entry.is_object()) continue;
      json::object& conn = entry.get_object();
      std::string name = conn.contains("name") && conn.at("name").is_string()
                             ? std::string(conn.at("name").get_string())
                             : std::string();
      const NodeRow* row = nullptr;
      if (auto it = rows.find(name); it != rows.end()) row = &it->second;
      json::object out;
      if (row != nullptr && !row->url.empty()) {
        out["url"] = row->url;
      } else if (conn.contains("url")) {
        out["url"] = conn.at("url");
      }
      out["name"] = json::string(name);
      if (const json::value* replicates = conn.if_contains("replicates")) {
        out["replicates"] = *replicates;
      }
      const LocalNodeState* state = nullptr;
      if (auto it = local.find(name); it != local.end()) state = &it->second;
      EffectiveSubscriptions subs = SubscriptionsForLink(options_.node_name, row, state);
      // What the engine enforces (the peer set's subscriptions), and who defined it: this
      // node, the peer (its view swapped), or this node's exclusions from the mesh.
      json::value enforced = nullptr;
      if (const json::value* v = conn.if_contains("subscriptions")) enforced = *v;
      if (subs.owner.empty() && !enforced.is_null()) subs.owner = options_.node_name;
      out["subscriptions"] = enforced;
      out["subscriptions_owner"] =
          subs.owner.empty() ? json::value(nullptr) : json::value(subs.owner);
      for (auto& kv : conn) {
        if (out.contains(kv.key())) continue;
        out[kv.key()] = kv.value();
      }
      connections.push_back(std::move(out));
    }
    json::object status;
    status["type"] = "cluster-status";
    status["connections"] = std::move(connections);
    status["node_name"] = json::string(options_.node_name);
    if (auto it = rows.find(options_.node_name); it != rows.end() && !it->second.url.empty()) {
      status["url"] = json::string(it->second.url);
    }
    status["is_enabled"] = true;
    return status;
  }

  Result<RouteChange> ChangeRoutesSync(const json::array& routes, bool add) {
    RouteChange change = add ? AddRoutes(routes_, routes, options_.default_port)
                             : RemoveRoutes(routes_, routes, options_.default_port);
    if (!options_.config_file.empty()) {
      Status s = config::Config::SetPathInFile(options_.config_file, options_.backup_dir,
                                               "replication.routes", change.routes);
      if (!s.ok()) return s;
    }
    routes_ = change.routes;
    // Setting a route to a node removed here links it again; deleting the route to a known
    // node unlinks it here (without removing it from the cluster).
    storage::WriteRequest write;
    write.database = kSystemDb;
    std::map<std::string, LocalNodeState> local = ReadLocal(nullptr);
    std::vector<NodeRow> rows = ReadRows();
    for (const json::value& entry : change.changed) {
      Result<Route> route = ParseRoute(entry);
      if (!route.ok()) continue;
      for (const std::string& name : NamesForRoute(*route, rows, local)) {
        auto it = local.find(name);
        bool removed = it != local.end() && it->second.removed;
        if (add && removed) {
          write.ops.push_back(Upsert(kNodeAuthTable, name, json::object{{"removed", false}}));
        } else if (!add && !removed && !(it != local.end() && it->second.added)) {
          write.ops.push_back(Upsert(kNodeAuthTable, name, json::object{{"removed", true}}));
        }
      }
    }
    if (!write.ops.empty()) {
      Result<storage::WriteResult> written = options_.store->Write(std::move(write));
      if (!written.ok()) return written.status();
    }
    log_->info("routes {}: now {}", add ? "set" : "deleted", json::serialize(routes_));
    Recompute();
    return change;
  }

  json::array RoutesInForce() const {
    return routes_.is_array() ? routes_.get_array() : json::array();
  }

  void OnPeerHelloSync(const std::string& name, const std::string& url) {
    if (name.empty() || name == options_.node_name) return;
    std::map<std::string, LocalNodeState> local = ReadLocal(nullptr);
    if (auto it = local.find(name); it != local.end() && it->second.removed) {
      log_->warn("hello from removed node '{}' ignored", name);
      return;
    }
    storage::WriteRequest write;
    write.database = kSystemDb;
    if (self_removed_) {
      log_->info("rejoining the cluster: linked by '{}'", name);
      self_removed_ = false;
      write.ops.push_back(OwnRowOp());
      write.ops.push_back(
          Upsert(kNodeAuthTable, options_.node_name, json::object{{"removed", false}}));
    }
    bool known = false;
    for (const NodeRow& row : ReadRows()) known = known || row.name == name;
    if (!known) {
      log_->info("recording node '{}' ({}) that linked to us", name, url);
      write.ops.push_back(
          Upsert(kNodesTable, name,
                 json::object{{"url", url.empty() ? MakeUrl(name, options_.default_port) : url},
                              {"replicates", true},
                              {"subscriptions", nullptr}}));
    }
    if (write.ops.empty()) return;
    Result<storage::WriteResult> written = options_.store->Write(std::move(write));
    if (!written.ok()) log_->warn("recording node '{}': {}", name, written.status().message());
  }

  const ClusterOptions& options() const { return options_; }

 private:
  void Run() {
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        if (stopping_) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  Status StartOnThread() {
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
        std::string id = RandomHex(16);
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

  // This node's own hdb_nodes row, carrying its explicit subscriptions by peer.
  storage::WriteOp OwnRowOp(json::value peer_subscriptions) const {
    return Upsert(kNodesTable, options_.node_name,
                  json::object{{"url", options_.node_url},
                               {"replicates", true},
                               {"peer_subscriptions", std::move(peer_subscriptions)}});
  }
  storage::WriteOp OwnRowOp() { return OwnRowOp(PeerSubscriptionsOf(ReadLocal(nullptr))); }

  Status EnsureClusterKey() {
    if (!ReadKeys().empty()) return Status::Ok();
    std::string id = RandomHex(16);
    storage::WriteRequest write;
    write.database = kSystemDb;
    storage::WriteOp op;
    op.kind = storage::WriteKind::kUpsert;
    op.table = kKeysTable;
    op.key = json::string(id);
    op.fields = json::object{{"id", id}, {"key", RandomHex(32)}};
    write.ops.push_back(std::move(op));
    Result<storage::WriteResult> written = options_.store->Write(std::move(write));
    if (!written.ok()) return written.status().WithPrefix("creating a cluster key");
    log_->info("created a cluster key (it replicates to linked nodes)");
    return Status::Ok();
  }

  std::vector<std::string> ReadKeys() {
    std::vector<std::string> keys;
    Result<std::unique_ptr<storage::Snapshot>> snap = options_.store->Read(kSystemDb);
    if (!snap.ok()) return keys;
    (void)(*snap)->ScanTable(kKeysTable, [&](const storage::Record& r) {
      if (const json::value* k = r.doc.if_contains("key"); k && k->is_string()) {
        keys.emplace_back(k->get_string());
      }
      return true;
    });
    return keys;
  }

  std::vector<NodeRow> ReadRows() {
    std::vector<NodeRow> rows;
    Result<std::unique_ptr<storage::Snapshot>> snap = options_.store->Read(kSystemDb);
    if (!snap.ok()) return rows;
    (void)(*snap)->ScanTable(kNodesTable, [&](const storage::Record& r) {
      NodeRow row = NodeRow::FromRecord(r.doc);
      if (!row.name.empty()) rows.push_back(std::move(row));
      return true;
    });
    return rows;
  }

  std::map<std::string, LocalNodeState> ReadLocal(std::map<std::string, json::object>* docs) {
    std::map<std::string, LocalNodeState> local;
    Result<std::unique_ptr<storage::Snapshot>> snap = options_.store->Read(kSystemDb);
    if (!snap.ok()) return local;
    (void)(*snap)->ScanTable(kNodeAuthTable, [&](const storage::Record& r) {
      const json::value* name = r.doc.if_contains("name");
      if (name == nullptr || !name->is_string()) return true;
      std::string n(name->get_string());
      local[n] = StateFromDoc(r.doc);
      if (docs != nullptr) (*docs)[n] = r.doc;
      return true;
    });
    return local;
  }

  // Known node names a route designates (by URL or host, and port when the route has one).
  std::vector<std::string> NamesForRoute(const Route& route, const std::vector<NodeRow>& rows,
                                         const std::map<std::string, LocalNodeState>& local) {
    std::vector<std::string> names;
    for (const NodeRow& row : rows) {
      Result<Route> row_route = ParseUrl(row.url);
      bool match = (row_route.ok() && SameRoute(*row_route, route, options_.default_port)) ||
                   (row.name == route.host &&
                    (route.port == 0 || (row_route.ok() && row_route->port == route.port)));
      if (match && row.name != options_.node_name) names.push_back(row.name);
    }
    if (names.empty() && local.count(route.host) != 0) names.push_back(route.host);
    return names;
  }

  // Recomputes the peer set from the stored membership and hands it to the service when it
  // changed. Also records gossip-learned nodes and removals seen through gossip.
  void Recompute() {
    recompute_queued_.store(false);
    std::vector<NodeRow> rows = ReadRows();
    std::map<std::string, json::object> docs;
    std::map<std::string, LocalNodeState> local = ReadLocal(&docs);
    std::set<std::string> present;
    for (const NodeRow& row : rows) present.insert(row.name);

    storage::WriteRequest write;
    write.database = kSystemDb;
    if (own_row_written_ && !self_removed_ && present.count(options_.node_name) == 0) {
      log_->warn(
          "this node's hdb_nodes row was deleted (remove_node elsewhere): leaving the "
          "cluster until a node links to it again");
      self_removed_ = true;
      write.ops.push_back(
          Upsert(kNodeAuthTable, options_.node_name, json::object{{"removed", true}}));
    }
    if (own_row_written_ && !self_removed_) {
      // The own row's peer_subscriptions follow the local choices (a row rewritten by a
      // peer that did not know them yet is repaired).
      json::value want = PeerSubscriptionsOf(local);
      for (const NodeRow& row : rows) {
        if (row.name == options_.node_name && row.peer_subscriptions != want) {
          write.ops.push_back(OwnRowOp(want));
        }
      }
    }
    for (const NodeRow& row : rows) {
      if (row.name == options_.node_name) continue;
      auto doc = docs.find(row.name);
      if (doc != docs.end() && Seen(doc->second)) continue;
      json::object fields{{"seen", true}};
      if (local[row.name].removed) {
        log_->info("node '{}' was added again", row.name);
        fields["removed"] = false;
        local[row.name].removed = false;
      }
      write.ops.push_back(Upsert(kNodeAuthTable, row.name, std::move(fields)));
    }
    for (const auto& [name, doc] : docs) {
      if (name == options_.node_name || present.count(name) != 0 || !Seen(doc)) continue;
      json::object fields{{"seen", false}};
      if (!local[name].removed) {
        log_->info("node '{}' was removed from the cluster", name);
        fields["removed"] = true;
        fields["added"] = false;
        local[name].removed = true;
      }
      write.ops.push_back(Upsert(kNodeAuthTable, name, std::move(fields)));
    }
    if (!write.ops.empty()) {
      Result<storage::WriteResult> written = options_.store->Write(std::move(write));
      if (!written.ok()) log_->warn("updating hdb_node_auth: {}", written.status().message());
    }

    // The refusal set is the persisted removed marks (so it survives a restart), less nodes
    // still draining their removal.
    std::vector<std::string> removed;
    for (const auto& [name, state] : local) {
      if (state.removed && name != options_.node_name && draining_.count(name) == 0) {
        removed.push_back(name);
      }
    }

    DropUsedAuthorizations();
    std::vector<PeerSpec> peers;
    if (!self_removed_) {
      PeerInputs in;
      in.self_name = options_.node_name;
      in.self_url = options_.node_url;
      in.default_port = options_.default_port;
      in.routes = ParseRoutes(routes_);
      in.nodes = std::move(rows);
      in.local = std::move(local);
      in.pending_authorization = pending_authorization_;
      peers = ComputePeers(in);
      // A node being removed keeps its link until it acknowledged the delete of its row.
      for (const PeerSpec& p : last_peers_) {
        if (draining_.count(p.name) != 0) peers.push_back(p);
      }
    }
    std::string key;
    for (const PeerSpec& p : peers) key += SpecKey(p) + '\x1e';
    if (key == last_key_ && applied_once_) {
      if (removed != last_removed_) {
        last_removed_ = removed;
        options_.service->SetRemovedNodes(std::move(removed));
      }
      return;
    }
    std::string names;
    for (const PeerSpec& p : peers) {
      names += (names.empty() ? "" : ", ") + (p.name.empty() ? p.url : p.name) +
               (p.dial ? " (dial)" : "");
    }
    log_->info("peers: [{}]", names);
    last_key_ = key;
    last_peers_ = peers;
    applied_once_ = true;
    options_.service->SetPeers(std::move(peers));
    // After SetPeers: the persisted marks, not the peers SetPeers just dropped, decide who is
    // refused (a node that left the cluster must still accept the node that adds it back).
    last_removed_ = removed;
    options_.service->SetRemovedNodes(std::move(removed));
  }

  // One-time authorizations are dropped once the peer is connected on the system database.
  void DropUsedAuthorizations() {
    if (pending_authorization_.empty()) return;
    for (const json::value& entry : options_.service->ConnectionsStatus()) {
      if (!entry.is_object()) continue;
      const json::object& conn = entry.get_object();
      const json::value* name = conn.if_contains("name");
      const json::value* sockets = conn.if_contains("database_sockets");
      if (name == nullptr || !name->is_string() || sockets == nullptr || !sockets->is_array()) {
        continue;
      }
      for (const json::value& s : sockets->get_array()) {
        if (!s.is_object()) continue;
        const json::value* db = s.get_object().if_contains("database");
        const json::value* up = s.get_object().if_contains("connected");
        if (db && db->is_string() && db->get_string() == kSystemDb && up && up->is_bool() &&
            up->get_bool()) {
          pending_authorization_.erase(std::string(name->get_string()));
        }
      }
    }
  }

  // Keeps `name` linked until its system-database socket acknowledged `sequence` (or the
  // link is down, or the timeout passes).
  void WaitForAck(const std::string& name, uint64_t sequence) {
    draining_.insert(name);
    auto deadline = std::chrono::steady_clock::now() + kRemoveDrainTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
      bool done = true;
      for (const json::value& entry : options_.service->ConnectionsStatus()) {
        const json::object* conn = entry.if_object();
        if (conn == nullptr) continue;
        const json::value* n = conn->if_contains("name");
        if (n == nullptr || !n->is_string() || n->get_string() != name) continue;
        const json::value* sockets = conn->if_contains("database_sockets");
        if (sockets == nullptr || !sockets->is_array()) continue;
        for (const json::value& s : sockets->get_array()) {
          const json::object* o = s.if_object();
          if (o == nullptr) continue;
          const json::value* db = o->if_contains("database");
          if (db == nullptr || !db->is_string() || db->get_string() != kSystemDb) continue;
          const json::value* up = o->if_contains("connected");
          const json::value* acked = o->if_contains("acked_sequence");
          bool connected = up != nullptr && up->is_bool() && up->get_bool();
          uint64_t a = acked != nullptr && acked->is_number() ? acked->to_number<uint64_t>() : 0;
          if (connected && a < sequence) done = false;
        }
      }
      if (done) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    draining_.erase(name);
  }

  Status ProbeSync(const std::string& url, const std::string& authorization) {
    auto promise = std::make_shared<std::promise<Status>>();
    std::future<Status> result = promise->get_future();
    options_.service->Probe(url, authorization,
                            [promise](Status s) { promise->set_value(std::move(s)); });
    if (result.wait_for(kProbeTimeout) != std::future_status::ready) {
      return Status::Unavailable("timed out");
    }
    return result.get();
  }

  const ClusterOptions options_;
  std::shared_ptr<spdlog::logger> log_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  std::thread thread_;
  uint64_t listener_id_ = 0;
  bool has_listener_ = false;
  std::atomic<bool> recompute_queued_{false};

  // Membership thread only.
  json::value routes_;
  bool self_removed_ = false;
  bool own_row_written_ = false;
  std::map<std::string, std::string> pending_authorization_;
  std::set<std::string> draining_;
  std::vector<PeerSpec> last_peers_;
  std::vector<std::string> last_removed_;  // last handed to SetRemovedNodes
  std::string last_key_;
  bool applied_once_ = false;
};

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

void ClusterManager::OnPeerHello(const std::string& name, const std::string& url) {
  impl_->Post([this, name, url] { impl_->OnPeerHelloSync(name, url); });
}

const std::string& ClusterManager::node_name() const { return impl_->options().node_name; }
int ClusterManager::default_port() const { return impl_->options().default_port; }

}  // namespace meshdb::replication
