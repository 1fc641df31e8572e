// The duplicate-link rule (docs/replication.md "Links"): which of two connections between the
// same two nodes for one database stays, and how that rule, initial copies and merge resyncs
// keep out of each other's way.
//
// Two nodes that learn of each other at once both dial (a join over wss:// writes the joiner's
// row on the joined node, which dials it back while the joiner dials it). Each node decides
// alone, as each connection's Hello arrives, so the rule must give the same answer on both:
//
// 1. Same direction (the dialer dialled again): the newer connection replaces the older one,
//    which its dialer already gave up.
// 2. A connection whose subscriber here receives an initial copy stays: the other one is
//    refused. Only the copying node knows of its copy before the peer reads its Subscribe, so
//    this is sound only if the copying node decides: a node marks a copy under mu_, on a link
//    that is still registered, and a duplicate is registered under mu_ too, so here the
//    decision is exact. The peer never has to decide against it:
//    - the duplicate the copying node accepts (it dialled it, or the peer did and we refuse it
//      before our Hello) is never registered on the peer: an outbound link registers only
//      once the other side's Hello arrived;
//    - a duplicate the copying node dials itself reaches the peer only while that dial was
//      under way when the copy started. If our dial would win rule 3, the copy waits for it
//      (OwnDialWouldReplaceLocked, CopyClaim::kAfterDial); if it would lose, the peer refuses
//      it by rule 3 as well.
//    A merge resync is kept the same way, with the publishing node in the copying node's place:
//    only it knows of the merge before the peer reads MergeBegin. It marks the link when the
//    merge starts (ClaimMerge, under mu_, on a registered link; a merge that our own dial
//    would replace waits for that dial, MergeClaim::kAfterDial) and unmarks it once MergeEnd
//    is queued. When both nodes marked the link (each for its own copy or merge), both keep it.
// 3. Otherwise the connection dialled by the lower node name stays (KeepFirstOfDuplicate).
#include <memory>
#include <string>
#include <utility>

#include "common/log.h"
#include "replication/engine/publish_filter.h"
#include "replication/engine/service_impl.h"

namespace meshdb::replication {

bool ServiceImpl::RegisteredLocked(const Link& link) {
  auto it = links_.find({link.peer_name(), link.database()});
  return it != links_.end() && it->second.get() == &link;
}

bool ServiceImpl::KeepExistingLinkLocked(const Link& existing, const Link& link) {
  if (existing.outbound() == link.outbound()) return false;  // rule 1
  if (copying_links_.contains(&existing)) {                  // rule 2
    log_->info("peer {} db {}: keeping the connection that carries the initial copy",
               existing.peer_name(), existing.database());
    return true;
  }
  if (merging_links_.contains(&existing)) {  // rule 2, a merge
    log_->info("peer {} db {}: keeping the connection that carries a merge resync",
               existing.peer_name(), existing.database());
    return true;
  }
  const std::string& existing_dialer =
      existing.outbound() ? options_.node_name : existing.peer_name();
  const std::string& new_dialer = link.outbound() ? options_.node_name : link.peer_name();
  return KeepFirstOfDuplicate(existing_dialer, new_dialer);  // rule 3
}

bool ServiceImpl::OwnDialWouldReplaceLocked(const Link& link) {
  if (link.outbound()) return false;
  std::shared_ptr<PeerEntry> peer = link.peer();
  return peer && peer->attempting.contains(link.database()) &&
         KeepFirstOfDuplicate(options_.node_name, link.peer_name());
}

ServiceImpl::MergeClaim ServiceImpl::ClaimMerge(const std::shared_ptr<Link>& link) {
  common::MutexLock lock(mu_);
  // As ClaimInitialCopy: decided under the lock RegisterLink takes.
  if (!RegisteredLocked(*link)) return MergeClaim::kReplaced;
  if (OwnDialWouldReplaceLocked(*link)) return MergeClaim::kAfterDial;
  merging_links_.insert(link.get());
  return MergeClaim::kClaimed;
}

void ServiceImpl::ReleaseMerge(const Link* link) {
  common::MutexLock lock(mu_);
  merging_links_.erase(link);
}

void ServiceImpl::EndDialAttempt(PeerEntry& peer, const std::string& db) {
  std::shared_ptr<Link> waiting;
  {
    common::MutexLock lock(mu_);
    // Erased already when the attempt's link registered (RegisterLink).
    if (peer.attempting.erase(db) == 0) return;
    auto it = links_.find({peer.spec.name, db});
    if (it != links_.end() && !it->second->outbound()) waiting = it->second;
  }
  // The peer's connection stays: if its copy or merge waited for this attempt, it starts now.
  if (waiting) waiting->ResumeAfterDial();
}

}  // namespace meshdb::replication
