#include "replication/engine/link_calls.h"

#include <utility>

namespace meshdb::replication {

std::optional<PeerCall> LinkCalls::Request(uint64_t id, std::string method, std::string payload,
                                           Done done, bool open) {
  if (!peer_answers_ || !open) {
    done(PeerCallResult{id, peer_answers_ ? "connection closed" : "the peer takes no calls", ""});
    return std::nullopt;
  }
  pending_[id] = std::move(done);
  return PeerCall{id, std::move(method), std::move(payload)};
}

void LinkCalls::OnResult(PeerCallResult&& r) {
  auto it = pending_.find(r.request_id);
  if (it == pending_.end()) return;  // late answer after a timeout
  Done done = std::move(it->second);
  pending_.erase(it);
  done(std::move(r));
}

void LinkCalls::FailPending(const std::string& why) {
  std::map<uint64_t, Done> pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, done] : pending) done(PeerCallResult{id, why, ""});
}

}  // namespace meshdb::replication
