#include "replication/engine/publish_filter.h"

#include <utility>

namespace meshdb::replication {

bool IsReplicatedSystemTable(std::string_view table) {
  return table == "hdb_nodes" || table == "hdb_user" || table == "hdb_role" ||
         table == "hdb_cluster_keys";
}

bool TableLeavesNode(const storage::TableDef& def) {
  if (!def.replicate) return false;
  if (def.database == kSystemDatabase) return IsReplicatedSystemTable(def.name);
  return true;
}

namespace {

bool IsWildcard(std::string_view name) { return name.empty() || name == "*"; }

// The entry that decides db.table: the most specific of (db, table), (db, *), (*, table),
// (*, *); nullptr when none matches.
const TableSubscription* FindSubscription(const std::vector<TableSubscription>& subs,
                                          std::string_view database, std::string_view table) {
  const TableSubscription* best = nullptr;
  int best_rank = 0;
  for (const auto& s : subs) {
    const bool any_database = s.database == "*";
    if (s.database != database && !any_database) continue;
    if (s.table != table && !IsWildcard(s.table)) continue;
    const int rank = (any_database ? 0 : 2) + (IsWildcard(s.table) ? 0 : 1) + 1;
    if (rank > best_rank) {
      best = &s;
      best_rank = rank;
    }
  }
  return best;
}

// No subscriptions: full replication. With subscriptions, a table no entry covers does not
// cross, except the system database's, which carry the cluster's membership.
bool Allows(const std::vector<TableSubscription>& subs, std::string_view database,
            std::string_view table, bool TableSubscription::*direction) {
  if (subs.empty()) return true;
  const TableSubscription* s = FindSubscription(subs, database, table);
  if (s != nullptr) return s->*direction;
  return database == kSystemDatabase;
}

}  // namespace

bool PublishesTable(const std::vector<TableSubscription>& subs, std::string_view database,
                    std::string_view table) {
  return Allows(subs, database, table, &TableSubscription::publish);
}

bool SubscribesTable(const std::vector<TableSubscription>& subs, std::string_view database,
                     std::string_view table) {
  return Allows(subs, database, table, &TableSubscription::subscribe);
}

bool AppliesRemoteRows(const storage::TableDef& local, const std::vector<TableSubscription>& subs) {
  return TableLeavesNode(local) && SubscribesTable(subs, local.database, local.name);
}

bool AcceptsRemoteTableDef(const storage::TableDef& incoming, const storage::TableDef* local,
                           const std::vector<TableSubscription>& subs) {
  if (!TableLeavesNode(incoming)) return false;
  if (local != nullptr && !TableLeavesNode(*local)) return false;
  return SubscribesTable(subs, incoming.database, incoming.name);
}

bool DatabaseReplicates(const std::vector<std::string>& configured, std::string_view database) {
  if (database == kSystemDatabase || configured.empty()) return true;
  for (const auto& d : configured) {
    if (d == "*" || d == database) return true;
  }
  return false;
}

std::optional<TxnEntry> FilterLogEntry(const storage::LogEntry& entry,
                                       const PublishFilter& filter) {
  if (entry.origin == filter.subscriber_id) return std::nullopt;
  if (filter.subscriber_vector.Covers(entry.origin, entry.origin_sequence)) return std::nullopt;
  TxnEntry out;
  out.sender_sequence = entry.sequence;
  out.origin = entry.origin;
  out.origin_sequence = entry.origin_sequence;
  out.version = entry.version;
  out.partial = entry.partial || filter.excludes_tables;
  out.writes.reserve(entry.writes.size());
  for (const auto& w : entry.writes) {
    if (!filter.tables.contains(w.table)) continue;
    out.writes.push_back(TxnWrite{w.table, w.key, w.value});
  }
  return out;
}

std::unordered_set<std::string> PublishedTables(const std::vector<storage::TableDef>& defs,
                                                const std::vector<TableSubscription>& subs,
                                                const std::vector<std::string>& requested) {
  std::unordered_set<std::string> out;
  for (const auto& def : defs) {
    if (!TableLeavesNode(def) || !PublishesTable(subs, def.database, def.name)) continue;
    if (!requested.empty()) {
      bool wanted = false;
      for (const auto& t : requested) wanted = wanted || t == def.name;
      if (!wanted) continue;
    }
    out.insert(def.name);
  }
  return out;
}

bool ExcludesTables(const std::vector<storage::TableDef>& defs,
                    const std::unordered_set<std::string>& published) {
  for (const auto& def : defs) {
    if (TableLeavesNode(def) && !published.contains(def.name)) return true;
  }
  return false;
}

SubscribeStart ChooseSubscribeStart(const VersionVector& local_vector, uint64_t cursor,
                                    std::optional<uint64_t> start_time_ms) {
  if (cursor > 0) return StartFromVector{local_vector, cursor};
  if (start_time_ms) return StartFromTime{*start_time_ms};
  if (local_vector.empty()) return StartWithCopy{};
  return StartFromVector{local_vector, 0};
}

bool KeepFirstOfDuplicate(std::string_view dialer_a, std::string_view dialer_b) {
  if (dialer_a == dialer_b) return false;
  return dialer_a < dialer_b;
}

}  // namespace meshdb::replication
