// One initial copy per database (docs/replication.md "Catch-up"). A node that holds nothing
// for a database would otherwise copy it from every peer it links to, in parallel. Instead
// the first link whose subscriber would start with a copy claims the database; the links of
// other peers defer their Subscribe until that copy ends, then choose again: the copy's
// vector floor is installed by then, so they stream from the vector. A copy that fails (its
// link closes before CopyEnd committed, or it stalls while others wait) releases the claim
// and a waiting link copies instead; rows already applied stay (copy rows apply
// last-writer-wins, and the floor is only installed by CopyEnd).
//
// Only links whose own rules take every table coordinate: a link that leaves tables out
// copies on its own, as its copy installs no floor anyway.
#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>

#include "common/log.h"
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

// --- Link (strand) ---

bool Link::DeferSubscribeForCopy() {
  if (RulesExcludeTables(rules_)) return false;
  std::string holder;
  std::string note;
  switch (service_->ClaimInitialCopy(shared_from_this(), &holder, &note)) {
    case ServiceImpl::CopyClaim::kClaimed:
      copy_claimed_ = true;
      NoteCopyProgress();
      if (!note.empty()) log_->warn("{}; copying from {}", note, peer_name_);
      WatchCopy();
      return false;
    case ServiceImpl::CopyClaim::kWait:
      log_->info("peer {} db {}: waiting for the initial copy from {}", peer_name_, database_,
                 holder);
      waiting_for_copy_ = true;
      SetState(LinkState::kCatchingUp);
      return true;
    case ServiceImpl::CopyClaim::kRecheck:
      // A copy committed since SendSubscribe read the vector: it streams from it now.
      SendSubscribe();
      return true;
  }
  return false;
}

void Link::ResumeAfterCopy() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->closing_ || !self->waiting_for_copy_) return;
    self->waiting_for_copy_ = false;
    self->SendSubscribe();
  });
}

void Link::ReleaseCopyClaim(bool completed) {
  if (!copy_claimed_) return;
  copy_claimed_ = false;
  if (copy_watch_) copy_watch_->cancel();
  service_->ReleaseInitialCopy(this, completed, copy_records_);
}

void Link::LeaveInitialCopy() {
  if (copy_claimed_) {
    log_->warn("initial copy of database {} from {} failed after {} records: connection closed",
               database_, peer_name_, copy_records_);
    ReleaseCopyClaim(false);
  }
  if (waiting_for_copy_) {
    waiting_for_copy_ = false;
    service_->ForgetCopyWaiter(this);
  }
}

void Link::NoteCopyProgress() { copy_progress_ms_ = SteadyMs(); }

void Link::WatchCopy() {
  if (!copy_watch_) copy_watch_.emplace(strand_);
  copy_watch_->expires_after(kCopyWatchInterval);
  copy_watch_->async_wait([self = shared_from_this()](const beast::error_code& ec) {
    if (ec || !self->copy_claimed_ || self->closing_) return;
    const uint64_t idle_ms = SteadyMs() - self->copy_progress_ms_;
    if (idle_ms >= kCopyStallMs && self->service_->CopyHasWaiters(self->database_)) {
      self->log_->warn(
          "initial copy of database {} from {} failed after {} records: no progress for {} ms; "
          "closing the link so another peer's copy can start",
          self->database_, self->peer_name_, self->copy_records_, idle_ms);
      self->ReleaseCopyClaim(false);
      self->StartClose("initial copy stalled");
      return;
    }
    self->WatchCopy();
  });
}

// --- ServiceImpl (any thread) ---

ServiceImpl::CopyClaim ServiceImpl::ClaimInitialCopy(const std::shared_ptr<Link>& link,
                                                     std::string* holder, std::string* note) {
  common::MutexLock lock(mu_);
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
