// A subscriber's subscription rules for one database, as a value that can be compared,
// persisted (Store::PeerView) and sent (Subscribe.previous_rules): what lets a table added to
// a subscription later be copied before streaming resumes. docs/replication.md "Changing
// subscriptions".
// Thread-safety: pure functions on plain values.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/status.h"
#include "replication/engine/replication_service.h"
#include "replication/wire/message.h"

namespace meshdb::replication {

// The subscribe rules of `subs` for `database`, sorted by table (empty: every table). They
// decide exactly as SubscribesTable does: a rule ("*", false) stands for the tables explicit
// subscriptions leave unlisted.
std::vector<TableRule> RulesFor(const std::vector<TableSubscription>& subs,
                                std::string_view database);

// Whether `rules` leave out any table (a rule with subscribe false): the entries received
// under them are partial.
bool RulesExcludeTables(const std::vector<TableRule>& rules);

// Of `published`, the tables `previous` did not subscribe to (SubscribesTable semantics,
// wildcards included): the ones a subscriber newly subscribed to.
std::unordered_set<std::string> NewlySubscribedTables(
    const std::unordered_set<std::string>& published, const std::vector<TableRule>& previous,
    std::string_view database);

// Persisted form (JSON: [{"table": "...", "subscribe": true}, ...]).
std::string EncodeRules(const std::vector<TableRule>& rules);
Result<std::vector<TableRule>> DecodeRules(std::string_view bytes);

}  // namespace meshdb::replication
