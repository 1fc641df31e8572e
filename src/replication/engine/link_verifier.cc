// LinkVerifier: cluster_verify's per-link half (link_verifier.h).
#include "replication/engine/link_verifier.h"

#include <utility>

#include "replication/engine/publish_filter.h"
#include "storage/range_hash.h"
#include "storage/store.h"

namespace meshdb::replication {

std::optional<VerifyRequest> LinkVerifier::Request(uint64_t id, std::string table, Done done,
                                                   bool open) {
  if (!peer_verifies_ || !open) {
    done(VerifyResponse{
        id, database_, peer_verifies_ ? "connection closed" : "peer cannot verify", {}});
    return std::nullopt;
  }
  pending_[id] = std::move(done);
  return VerifyRequest{id, database_, std::move(table)};
}

VerifyResponse LinkVerifier::Answer(const VerifyRequest& r) const {
  VerifyResponse out{r.request_id, database_, "", {}};
  auto defs = store_->ListTables(database_);
  auto snap = store_->Read(database_);
  if (!defs.ok() || !snap.ok()) {
    out.error = !defs.ok() ? defs.status().message() : snap.status().message();
    return out;
  }
  for (const auto& def : *defs) {
    if (!r.table.empty() && def.name != r.table) continue;
    if (r.table.empty() && !TableLeavesNode(def)) continue;
    auto h = storage::HashTable(**snap, def.name, 0);
    if (!h.ok()) continue;
    out.tables.push_back(VerifyTable{def.name, h->live_hash, h->live_rows});
  }
  return out;
}

void LinkVerifier::OnResponse(VerifyResponse&& r) {
  auto it = pending_.find(r.request_id);
  if (it == pending_.end()) return;  // late answer after a timeout
  auto done = std::move(it->second);
  pending_.erase(it);
  done(std::move(r));
}

void LinkVerifier::FailPending(const std::string& why) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, done] : pending) done(VerifyResponse{id, database_, why, {}});
}

}  // namespace meshdb::replication
