// ClusterManager::Impl's reads and writes of the membership tables of the system database
// (hdb_nodes, hdb_node_auth, hdb_cluster_keys), and the write helpers the other
// cluster_manager*.cc files share.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "replication/cluster/cluster_manager_impl.h"
#include "replication/cluster/node_identity.h"
#include "security/hex.h"
#include "security/secret_box.h"

namespace meshdb::replication {

namespace json = boost::json;

namespace {

// `box` opens a sealed authorization; one stored in clear by an older version is used as is
// (and sealed when the row is next written).
LocalNodeState StateFromDoc(const json::object& doc, const std::string& name,
                            const security::SecretBox& box, spdlog::logger& log) {
  LocalNodeState s;
  if (const json::value* v = doc.if_contains("added"); v && v->is_bool()) s.added = v->get_bool();
  if (const json::value* v = doc.if_contains("removed"); v && v->is_bool()) {
    s.removed = v->get_bool();
  }
  if (const json::value* v = doc.if_contains("authorization"); v && v->is_string()) {
    std::string_view stored = v->get_string();
    if (!security::SecretBox::IsSealed(stored)) {
      s.authorization = std::string(stored);
    } else if (Result<std::string> opened = box.Open(stored); opened.ok()) {
      s.authorization = std::move(opened).value();
    } else {
      log.warn("the retained authorization for node '{}' cannot be opened: {}", name,
               opened.status().message());
    }
  }
  if (const json::value* v = doc.if_contains("subscriptions"); v && v->is_array()) {
    s.subscriptions = *v;
  }
  return s;
}

}  // namespace

bool Seen(const json::object& doc) {
  const json::value* v = doc.if_contains("seen");
  return v != nullptr && v->is_bool() && v->get_bool();
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

storage::WriteOp ClusterManager::Impl::OwnRowOp(json::value peer_subscriptions) const {
  json::object fields{{"url", options_.node_url},
                      {"replicates", true},
                      {"peer_subscriptions", std::move(peer_subscriptions)}};
  if (options_.identity != nullptr) {
    // Members trust the CA that signs the certificates of nodes joining through this one.
    fields["ca"] = options_.identity->CaCertificatePem();
    fields["certificate_serial"] = options_.identity->CertificateSerial();
  }
  return Upsert(kNodesTable, options_.node_name, std::move(fields));
}

storage::WriteOp ClusterManager::Impl::OwnRowOp() {
  return OwnRowOp(PeerSubscriptionsOf(ReadLocal(nullptr)));
}

Status ClusterManager::Impl::EnsureClusterKey() {
  if (!ReadKeys().empty()) return Status::Ok();
  std::string id = security::RandomHex(16);
  storage::WriteRequest write;
  write.database = kSystemDb;
  storage::WriteOp op;
  op.kind = storage::WriteKind::kUpsert;
  op.table = kKeysTable;
  op.key = json::string(id);
  op.fields = json::object{{"id", id}, {"key", security::RandomHex(32)}};
  write.ops.push_back(std::move(op));
  Result<storage::WriteResult> written = options_.store->Write(std::move(write));
  if (!written.ok()) return written.status().WithPrefix("creating a cluster key");
  log_->info("created a cluster key (it replicates to linked nodes)");
  return Status::Ok();
}

std::vector<std::string> ClusterManager::Impl::ReadKeys() {
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

std::vector<NodeRow> ClusterManager::Impl::ReadRows() {
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

Result<uint64_t> ClusterManager::Impl::RowVersion(const std::string& name) {
  ASSIGN_OR_RETURN(std::unique_ptr<storage::Snapshot> snap, options_.store->Read(kSystemDb));
  ASSIGN_OR_RETURN(std::optional<storage::Record> row,
                   snap->Get(kNodesTable, json::value(json::string(name))));
  return row ? row->version : 0;
}

std::map<std::string, LocalNodeState> ClusterManager::Impl::ReadLocal(
    std::map<std::string, json::object>* docs) {
  std::map<std::string, LocalNodeState> local;
  Result<std::unique_ptr<storage::Snapshot>> snap = options_.store->Read(kSystemDb);
  if (!snap.ok()) return local;
  (void)(*snap)->ScanTable(kNodeAuthTable, [&](const storage::Record& r) {
    const json::value* name = r.doc.if_contains("name");
    if (name == nullptr || !name->is_string()) return true;
    std::string n(name->get_string());
    local[n] = StateFromDoc(r.doc, n, *options_.secret_box, *log_);
    if (docs != nullptr) (*docs)[n] = r.doc;
    return true;
  });
  return local;
}

}  // namespace meshdb::replication
