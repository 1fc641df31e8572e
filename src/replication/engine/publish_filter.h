// What this node sends to (and accepts from) a peer: the pure decisions of replication,
// kept apart from the transport so they can be tested without sockets.
// Thread-safety: pure functions on plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "replication/engine/replication_service.h"
#include "replication/wire/message.h"
#include "replication/wire/version_vector.h"
#include "storage/store.h"

namespace meshdb::replication {

inline constexpr const char* kSystemDatabase = "system";

// The system tables that replicate: hdb_nodes, hdb_user, hdb_role, hdb_cluster_keys.
bool IsReplicatedSystemTable(std::string_view table);

// Whether `def` may ever leave this node: replicate:true, and in the system database only
// the whitelisted tables.
bool TableLeavesNode(const storage::TableDef& def);

// The add_node `subscriptions` choice for db.table: publish (send) / subscribe (apply).
// Empty subscriptions: true (full replication). Otherwise the most specific entry decides:
// (db, table), then (db, "*"), then ("*", table), then ("*", "*") (table "" counts as "*";
// database "*" is every database). No entry: false -- explicit subscriptions carry exactly
// what they list -- except in the system database, whose replicated tables (the cluster's
// membership) keep flowing.
bool PublishesTable(const std::vector<TableSubscription>& subs, std::string_view database,
                    std::string_view table);
bool SubscribesTable(const std::vector<TableSubscription>& subs, std::string_view database,
                     std::string_view table);

// Subscriber side: whether rows a peer sent for `local` (this node's definition of the
// table) are applied here. No when this node's table may not replicate (replicate:false, or a
// system table outside the whitelist) -- a replicate:false table never takes a peer's rows,
// whatever the peer thinks of it -- or when `subs` does not subscribe to the table.
bool AppliesRemoteRows(const storage::TableDef& local, const std::vector<TableSubscription>& subs);

// Subscriber side: whether a table definition a peer sent (Schema, CopyChunk) is applied
// (creating the table or adding attributes). No when the incoming definition itself may not
// replicate, when this node's table (`local`, nullptr when missing) may not, or when `subs`
// does not subscribe to it. `incoming.database` must be set.
bool AcceptsRemoteTableDef(const storage::TableDef& incoming, const storage::TableDef* local,
                           const std::vector<TableSubscription>& subs);

// Whether `database` is replicated under replication.databases (`configured`, empty or
// containing "*" = all). The system database always is.
bool DatabaseReplicates(const std::vector<std::string>& configured, std::string_view database);

// A publisher's view of one subscriber.
struct PublishFilter {
  uint32_t subscriber_id = 0;       // NodeIdForName(subscriber): its own writes never go back
  VersionVector subscriber_vector;  // what the subscriber already holds
  std::unordered_set<std::string> tables;  // tables whose writes may go to it
  // Some table that may leave this node is not in `tables`: every entry is sent partial.
  bool excludes_tables = false;
};

// The entry to send for one log entry, or nullopt when the subscriber must not get it
// (it originated there, or the subscriber's vector covers it). Writes to tables outside
// filter.tables are removed; an entry left with no writes is still sent (so the
// subscriber's cursor advances). The entry is partial when it was partial in our log or
// the filter excludes tables. Copies only the writes that are sent.
std::optional<TxnEntry> FilterLogEntry(const storage::LogEntry& entry, const PublishFilter& filter);

// The tables of `defs` this node publishes to a subscriber with `subs`, restricted to
// `requested` when it is not empty (Subscribe.tables).
std::unordered_set<std::string> PublishedTables(const std::vector<storage::TableDef>& defs,
                                                const std::vector<TableSubscription>& subs,
                                                const std::vector<std::string>& requested);

// Whether `published` (PublishedTables of `defs`) leaves out a table that may leave this node.
bool ExcludesTables(const std::vector<storage::TableDef>& defs,
                    const std::unordered_set<std::string>& published);

// Where a subscriber starts, from what it holds (docs/protocol.md §3.3):
//   cursor > 0                       -> vector (resume; no copy, ever)
//   cursor == 0 and start_time set   -> start_time
//   cursor == 0 and vector empty     -> copy
//   otherwise                        -> vector (after_sender_sequence 0)
SubscribeStart ChooseSubscribeStart(const VersionVector& local_vector, uint64_t cursor,
                                    std::optional<uint64_t> start_time_ms);

// Of two live connections between the same two nodes for one database, whether to keep the
// one dialed by `dialer_a` over the one dialed by `dialer_b`: the lower node name dials the
// keeper (docs/replication.md, Links). Equal dialers: the newer connection (b) wins.
bool KeepFirstOfDuplicate(std::string_view dialer_a, std::string_view dialer_b);

}  // namespace meshdb::replication
