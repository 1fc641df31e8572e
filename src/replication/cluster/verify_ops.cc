#include "replication/cluster/verify_ops.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <utility>

#include "ops/node_operations.h"
#include "ops/op_context.h"
#include "replication/engine/publish_filter.h"
#include "replication/engine/replication_service.h"
#include "storage/range_hash.h"
#include "storage/store.h"

namespace meshdb::replication {

namespace json = boost::json;

namespace {

std::string Hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

struct LocalTable {
  uint64_t hash = 0;
  uint64_t record_count = 0;
};

json::object BuildResponse(const std::string& database, const std::string& node_name,
                           const std::map<std::string, LocalTable>& local, bool one_table,
                           const std::vector<PeerVerifyResult>& peers) {
  std::map<std::string, bool> names;  // every table seen, local or remote
  for (const auto& [t, _] : local) names[t] = true;
  if (!one_table) {
    for (const auto& p : peers) {
      for (const auto& t : p.tables) names[t.table] = true;
    }
  }
  json::array tables;
  json::array differing;
  for (const auto& [name, _] : names) {
    auto it = local.find(name);
    const LocalTable mine = it == local.end() ? LocalTable{} : it->second;
    json::object nodes;
    bool matches = true;
    for (const auto& p : peers) {
      if (p.unreachable) {
        nodes[p.peer] = json::object{{"unreachable", true}, {"error", p.error}};
        matches = false;
        continue;
      }
      if (!p.error.empty()) {
        nodes[p.peer] = json::object{{"error", p.error}};
        matches = false;
        continue;
      }
      LocalTable theirs;
      for (const auto& t : p.tables) {
        if (t.table == name) theirs = LocalTable{t.hash, t.record_count};
      }
      nodes[p.peer] =
          json::object{{"hash", Hex(theirs.hash)}, {"record_count", theirs.record_count}};
      if (theirs.hash != mine.hash || theirs.record_count != mine.record_count) matches = false;
    }
    json::object row;
    row["table"] = name;
    row["hash"] = Hex(mine.hash);
    row["record_count"] = mine.record_count;
    row["nodes"] = std::move(nodes);
    row["matches"] = matches;
    tables.push_back(std::move(row));
    if (!matches) differing.push_back(json::string(name));
  }
  json::object out;
  out["database"] = database;
  out["node_name"] = node_name;
  out["tables"] = std::move(tables);
  json::array unreachable;
  bool all_answered = true;
  for (const auto& p : peers) {
    if (p.unreachable) unreachable.push_back(json::string(p.peer));
    if (!p.error.empty()) all_answered = false;
  }
  // The whole answer: true only when every known member answered and every table matched.
  out["matches"] = all_answered && differing.empty();
  out["differing_tables"] = std::move(differing);
  out["unreachable"] = std::move(unreachable);
  return out;
}

void HandleVerify(storage::Store* store, ReplicationService* service, const std::string& node_name,
                  ops::OpCall call) {
  const json::value* db = call.body.if_contains("database");
  if (db == nullptr || db->is_null()) {
    return call.Fail(Status::InvalidArgument("'database' is required"));
  }
  if (!db->is_string()) return call.Fail(Status::InvalidArgument("'database' must be a string"));
  std::string table;
  if (const json::value* t = call.body.if_contains("table"); t != nullptr && !t->is_null()) {
    if (!t->is_string()) return call.Fail(Status::InvalidArgument("'table' must be a string"));
    table = std::string(t->get_string());
  }
  const std::string database(db->get_string());
  auto defs = store->ListTables(database);
  if (!defs.ok()) return call.Fail(defs.status());
  if (!table.empty()) {
    if (auto def = store->GetTable(database, table); !def.ok()) return call.Fail(def.status());
  }
  std::map<std::string, LocalTable> local;
  {
    auto snap = store->Read(database);
    if (!snap.ok()) return call.Fail(snap.status());
    for (const auto& def : *defs) {
      if (!table.empty() ? def.name != table : !TableLeavesNode(def)) continue;
      auto h = storage::HashTable(**snap, def.name, 0);
      if (!h.ok()) return call.Fail(h.status());
      local[def.name] = LocalTable{h->live_hash, h->live_rows};
    }
  }
  auto shared = std::make_shared<ops::OpCall>(std::move(call));
  service->VerifyPeers(database, table,
                       [shared, database, node_name, local = std::move(local),
                        one = !table.empty()](std::vector<PeerVerifyResult> peers) {
                         shared->Reply(BuildResponse(database, node_name, local, one, peers));
                       });
}

}  // namespace

void RegisterVerifyOperation(ops::NodeOperations* ops, storage::Store* store,
                             ReplicationService* service, std::string node_name) {
  ops->RegisterOperation(
      "cluster_verify",
      [store, service, node_name = std::move(node_name)](ops::OpCall call) {
        HandleVerify(store, service, node_name, std::move(call));
      },
      "clusterVerify");
}

}  // namespace meshdb::replication
