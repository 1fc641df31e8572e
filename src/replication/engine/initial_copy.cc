// InitialCopyClaim (initial_copy.h) and the service's record of each database's initial copy
// (ServiceImpl::ClaimInitialCopy and friends): one initial copy per database.
#include "replication/engine/initial_copy.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cassert>
#include <chrono>

#include "common/log.h"
#include "replication/engine/link_subscriber.h"
#include "replication/engine/service_impl.h"
#include "replication/engine/subscription_rules.h"
#include "storage/store.h"

namespace meshdb::replication {

namespace {
// A claimed copy that neither receives a frame nor commits a chunk for this long, while
// other links wait for it, is given up (a stopped or partitioned peer keeps its TCP
// connection open, and outbound WebSockets have no idle timeout).
constexpr uint64_t kCopyStallMs = 10000;
constexpr std::chrono::seconds kCopyWatchInterval{1};

uint64_t SteadyMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}
}  // namespace

// --- InitialCopyClaim (strand) ---

bool InitialCopyClaim::DeferSubscribe() {
  assert(link_.OnStrand());
  const bool coordinate = !RulesExcludeTables(subscriber_.rules());
  std::string holder;
  std::string note;
  switch (link_.service().ClaimInitialCopy(link_.shared_link(), coordinate, &holder, &note)) {
    case ServiceImpl::CopyClaim::kClaimed:
      claimed_ = true;
      coordinated_ = coordinate;
      NoteProgress();
      if (!note.empty()) link_.log().warn("{}; copying from {}", note, link_.peer_name());
      if (coordinated_) Watch();
      return false;
    case ServiceImpl::CopyClaim::kWait:
      link_.log().info("peer {} db {}: waiting for the initial copy from {}", link_.peer_name(),
                       link_.database(), holder);
      waiting_ = true;
      link_.SetState(LinkState::kCatchingUp);
      return true;
    case ServiceImpl::CopyClaim::kRecheck:
      // A copy committed since SendSubscribe read the vector: it streams from it now.
      subscriber_.SendSubscribe();
      return true;
    case ServiceImpl::CopyClaim::kAfterDial:
      link_.log().info(
          "peer {} db {}: the initial copy waits for this node's own connection to {}, which "
          "would replace this one",
          link_.peer_name(), link_.database(), link_.peer_name());
      waiting_for_dial_ = true;
      link_.SetState(LinkState::kCatchingUp);
      return true;
    case ServiceImpl::CopyClaim::kReplaced:
      link_.log().debug("peer {} db {}: no initial copy on a connection replaced as a duplicate",
                        link_.peer_name(), link_.database());
      return true;
  }
  return false;
}

void InitialCopyClaim::Resume() {
  assert(link_.OnStrand());
  if (link_.closing() || !waiting_) return;
  waiting_ = false;
  subscriber_.SendSubscribe();
}

void InitialCopyClaim::ResumeAfterDial() {
  assert(link_.OnStrand());
  if (link_.closing() || !waiting_for_dial_) return;
  waiting_for_dial_ = false;
  subscriber_.SendSubscribe();
}

void InitialCopyClaim::Release(bool completed) {
  if (!claimed_) return;
  claimed_ = false;
  coordinated_ = false;
  if (watch_) watch_->cancel();
  link_.service().ReleaseInitialCopy(link_.self(), completed, subscriber_.copy_records());
}

void InitialCopyClaim::Leave() {
  if (claimed_) {
    link_.log().warn(
        "initial copy of database {} from {} failed after {} records: connection closed",
        link_.database(), link_.peer_name(), subscriber_.copy_records());
    Release(false);
  }
  if (waiting_) {
    waiting_ = false;
    link_.service().ForgetCopyWaiter(link_.self());
  }
  waiting_for_dial_ = false;
}

void InitialCopyClaim::NoteProgress() { progress_ms_ = SteadyMs(); }

void InitialCopyClaim::Watch() {
  if (!watch_) watch_.emplace(link_.strand());
  watch_->expires_after(kCopyWatchInterval);
  watch_->async_wait([link = link_.shared_link(), this](const boost::system::error_code& ec) {
    if (ec || !claimed_ || link_.closing()) return;
    const uint64_t idle_ms = SteadyMs() - progress_ms_;
    // Every row applied: what remains is the copy's end, whose commit builds the indexes the
    // copy deferred (seconds per million rows). That is this node's work, not a stalled peer.
    bool rows_applied = false;
    {
      Slot& slot = link_.slot();
      common::MutexLock lock(slot.mu);
      rows_applied = slot.copy_progress && slot.copy_progress->second > 0 &&
                     slot.copy_progress->first >= slot.copy_progress->second;
    }
    if (idle_ms >= kCopyStallMs && !rows_applied &&
        link_.service().CopyHasWaiters(link_.database())) {
      link_.log().warn(
          "initial copy of database {} from {} failed after {} records: no progress for {} ms; "
          "closing the link so another peer's copy can start",
          link_.database(), link_.peer_name(), subscriber_.copy_records(), idle_ms);
      Release(false);
      link_.StartClose("initial copy stalled");
      return;
    }
    Watch();
  });
}

// --- ServiceImpl (any thread) ---

ServiceImpl::CopyClaim ServiceImpl::ClaimInitialCopy(const std::shared_ptr<Link>& link,
                                                     bool coordinate, std::string* holder,
                                                     std::string* note) {
  common::MutexLock lock(mu_);
  // Decided under the lock RegisterLink takes: a duplicate registered before this replaced the
  // link, one registered after it sees the mark (duplicate_links.cc).
  if (!RegisteredLocked(*link)) return CopyClaim::kReplaced;
  if (OwnDialWouldReplaceLocked(*link)) return CopyClaim::kAfterDial;
  if (coordinate) {
    CopyClaim claim = ClaimDatabaseLocked(link, holder, note);
    if (claim != CopyClaim::kClaimed) return claim;
  }
  copying_links_.insert(link.get());
  return CopyClaim::kClaimed;
}

ServiceImpl::CopyClaim ServiceImpl::ClaimDatabaseLocked(const std::shared_ptr<Link>& link,
                                                        std::string* holder, std::string* note) {
  InitialCopy& c = initial_copies_[link->database()];
  if (c.holder != nullptr && c.holder != link.get()) {
    const bool listed = std::any_of(c.waiters.begin(), c.waiters.end(),
                                    [&](const auto& w) { return w.lock() == link; });
    if (!listed) c.waiters.push_back(link);
    *holder = c.holder_peer;
    return CopyClaim::kWait;
  }
  // Read under mu_: a holder releases only after its CopyEnd (and vector floor) committed, so
  // an empty vector here means no copy finished since the caller chose to copy.
  auto vector = store()->ReadVersionVector(link->database());
  if (vector.ok() && !vector->empty()) return CopyClaim::kRecheck;
  c.holder = link.get();
  c.holder_peer = link->peer_name();
  if (!c.failed_peer.empty()) {
    *note = "initial copy of " + link->database() + " from " + c.failed_peer + " failed after " +
            std::to_string(c.failed_records) + " records";
    c.failed_peer.clear();
  }
  return CopyClaim::kClaimed;
}

void ServiceImpl::ReleaseInitialCopy(Link* link, bool completed, uint64_t records) {
  std::vector<std::weak_ptr<Link>> waiters;
  {
    common::MutexLock lock(mu_);
    copying_links_.erase(link);
    auto it = initial_copies_.find(link->database());
    if (it == initial_copies_.end() || it->second.holder != link) return;
    InitialCopy& c = it->second;
    c.holder = nullptr;
    c.holder_peer.clear();
    if (completed) {
      c.failed_peer.clear();
    } else {
      c.failed_peer = link->peer_name();
      c.failed_records = records;
    }
    waiters.swap(c.waiters);
  }
  // Every waiter chooses again on its strand: after a completed copy they stream from the
  // vector; after a failed one the first to run claims and copies, the others wait for it.
  for (auto& w : waiters) {
    if (auto l = w.lock()) l->ResumeAfterCopy();
  }
}

void ServiceImpl::ForgetCopyWaiter(Link* link) {
  common::MutexLock lock(mu_);
  auto it = initial_copies_.find(link->database());
  if (it == initial_copies_.end()) return;
  std::erase_if(it->second.waiters, [&](const std::weak_ptr<Link>& w) {
    auto l = w.lock();
    return !l || l.get() == link;
  });
}

bool ServiceImpl::CopyHasWaiters(const std::string& database) {
  common::MutexLock lock(mu_);
  auto it = initial_copies_.find(database);
  if (it == initial_copies_.end()) return false;
  return std::any_of(it->second.waiters.begin(), it->second.waiters.end(),
                     [](const std::weak_ptr<Link>& w) { return !w.expired(); });
}

}  // namespace meshdb::replication
