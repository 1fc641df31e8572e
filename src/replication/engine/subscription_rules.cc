#include "replication/engine/subscription_rules.h"

#include <algorithm>
#include <boost/json.hpp>
#include <tuple>

#include "replication/engine/publish_filter.h"

namespace meshdb::replication {

namespace json = boost::json;

std::vector<TableRule> RulesFor(const std::vector<TableSubscription>& subs,
                                std::string_view database) {
  std::vector<TableRule> out;
  if (subs.empty()) return out;
  auto wildcard = [](const std::string& table) { return table.empty() || table == "*"; };
  auto has_rule = [&](const std::string& table) {
    return std::any_of(out.begin(), out.end(), [&](const TableRule& r) {
      return r.table == table || (wildcard(r.table) && wildcard(table));
    });
  };
  for (const auto& s : subs) {
    if (s.database == database) out.push_back(TableRule{s.table, s.subscribe});
  }
  for (const auto& s : subs) {  // entries for every database, where this one has none
    if (s.database == "*" && !has_rule(s.table)) out.push_back(TableRule{s.table, s.subscribe});
  }
  // Tables no entry covers do not cross (SubscribesTable), but the system database's do.
  if (database != kSystemDatabase && !has_rule("*")) out.push_back(TableRule{"*", false});
  std::sort(out.begin(), out.end(), [](const TableRule& a, const TableRule& b) {
    return std::tie(a.table, a.subscribe) < std::tie(b.table, b.subscribe);
  });
  return out;
}

bool RulesExcludeTables(const std::vector<TableRule>& rules) {
  return std::any_of(rules.begin(), rules.end(), [](const TableRule& r) { return !r.subscribe; });
}

std::unordered_set<std::string> NewlySubscribedTables(
    const std::unordered_set<std::string>& published, const std::vector<TableRule>& previous,
    std::string_view database) {
  std::vector<TableSubscription> subs;
  subs.reserve(previous.size());
  for (const auto& r : previous) {
    subs.push_back(TableSubscription{std::string(database), r.table, true, r.subscribe});
  }
  std::unordered_set<std::string> out;
  for (const auto& table : published) {
    if (!SubscribesTable(subs, database, table)) out.insert(table);
  }
  return out;
}

std::string EncodeRules(const std::vector<TableRule>& rules) {
  json::array out;
  for (const auto& r : rules)
    out.push_back(json::object{{"table", r.table}, {"subscribe", r.subscribe}});
  return json::serialize(out);
}

Result<std::vector<TableRule>> DecodeRules(std::string_view bytes) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(bytes.data(), bytes.size()), ec);
  if (ec || !v.is_array()) return Status::Corruption("bad subscription rules");
  std::vector<TableRule> out;
  for (const auto& e : v.get_array()) {
    const json::object* o = e.if_object();
    const json::value* table = o != nullptr ? o->if_contains("table") : nullptr;
    const json::value* subscribe = o != nullptr ? o->if_contains("subscribe") : nullptr;
    if (table == nullptr || !table->is_string() || subscribe == nullptr || !subscribe->is_bool()) {
      return Status::Corruption("bad subscription rule");
    }
    out.push_back(TableRule{std::string(table->get_string()), subscribe->get_bool()});
  }
  return out;
}

}  // namespace meshdb::replication
