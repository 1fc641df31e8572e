// ReplicationService: peers, dial loops, the registry of live links, authentication of
// inbound upgrades, and cluster_status. The per-connection protocol lives in link.cc.
#include "replication/engine/replication_service.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cassert>
#include <chrono>
#include <ctime>
#include <random>
#include <utility>
#include <vector>

#include "common/log.h"
#include "common/unique_fd.h"
#include "ops/auth.h"
#include "replication/engine/node_token.h"
#include "replication/engine/service_impl.h"
#include "storage/store.h"

namespace meshdb::replication {

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::milliseconds kLiveLinkPoll{200};
// Stop: how long close handshakes and in-flight store calls may take.
constexpr std::chrono::milliseconds kStopLinksTimeout{1000};
constexpr std::chrono::milliseconds kStopStoreCallsTimeout{5000};

std::string HttpDate(uint64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::string QueryParam(std::string_view target, std::string_view name) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    size_t eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) {
      return std::string(part.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return "";
}

}  // namespace

std::shared_ptr<Slot> PeerEntry::SlotFor(const std::string& db) {
  auto& slot = slots[db];
  if (!slot) {
    slot = std::make_shared<Slot>();
    slot->database = db;
  }
  return slot;
}

ServiceImpl::ServiceImpl(ServiceOptions options)
    : options_(std::move(options)),
      log_(log::For("replication")),
      copy_pool_(options_.copy_threads, "replication copy pool") {}

ServiceImpl::~ServiceImpl() { Stop(); }

std::vector<std::string> ServiceImpl::ReplicatedDatabases() const {
  std::vector<std::string> out;
  bool has_system = false;
  for (const auto& db : options_.store->ListDatabases()) {
    if (!DatabaseReplicates(options_.databases, db)) continue;
    has_system = has_system || db == kSystemDatabase;
    out.push_back(db);
  }
  if (!has_system) out.insert(out.begin(), kSystemDatabase);
  return out;
}

void ServiceImpl::Start() {
  if (started_.exchange(true)) return;
  Status st = EnsureClusterKeysTable(options_.store);
  if (!st.ok()) log_->warn("cannot create system.{}: {}", kClusterKeysTable, st.ToString());
  work_.emplace(asio::make_work_guard(ioc_));
  for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  listener_id_ = options_.store->AddCommitListener(
      [this](const std::string& database, uint64_t) { OnCommit(database); });
  if (options_.tls_client) {
    options_.tls_client->SetTrustShrankHandler([this] { RecheckPeerCertificates(); });
  }
  common::MutexLock lock(mu_);
  for (const auto& db : ReplicatedDatabases()) known_databases_.insert(db);
  for (auto& peer : peers_) EnsureDialersLocked(peer);
  if (options_.log_trim_interval_ms > 0 &&
      (options_.log_retention_ms > 0 || options_.log_retention_bytes > 0)) {
    trim_thread_ = std::thread([this] { TrimLoop(); });
  }
  log_->info("replication started as node '{}' ({})", options_.node_name, options_.node_url);
}

void ServiceImpl::TrimLoop() {
  common::MutexLock lock(trim_mu_);
  while (!stopping_.load()) {
    trim_cv_.wait_for(lock, std::chrono::milliseconds(options_.log_trim_interval_ms),
                      [this] { return stopping_.load(); });
    if (stopping_.load()) break;
    lock.unlock();
    for (const auto& db : options_.store->ListDatabases()) {
      storage::RetentionPolicy policy;
      policy.now_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
      policy.max_age_ms = options_.log_retention_ms;
      policy.max_bytes = options_.log_retention_bytes;
      auto r = options_.store->TrimLog(db, policy);
      if (!r.ok()) {
        if (!r.status().IsNotFound()) {
          log_->warn("trimming the log of {} failed: {}", db, r.status().ToString());
        }
        continue;
      }
      if (r->entries_removed > 0) {
        log_->debug("trimmed {} entries from the log of {} (log start {})", r->entries_removed, db,
                    r->log_start);
      }
      for (const auto& peer : r->peers_passed) {
        {
          common::MutexLock plock(mu_);
          for (auto& entry : peers_) {
            if (entry->spec.name != peer) continue;
            std::shared_ptr<Slot> slot = entry->SlotFor(db);
            common::MutexLock slot_lock(slot->mu);
            ++slot->log_trimmed_past;
          }
        }
        log_->warn(
            "log of {} trimmed past the position peer {} confirmed (size cap {} bytes): it will "
            "need a merge resync",
            db, peer, options_.log_retention_bytes);
      }
    }
    lock.lock();
  }
}

void ServiceImpl::Stop() {
  if (!started_.load() || stopping_.exchange(true)) return;
  { common::MutexLock lock(trim_mu_); }  // TrimLoop is waiting or sees stopping_ next
  trim_cv_.notify_all();
  if (trim_thread_.joinable()) trim_thread_.join();
  if (listener_id_ != 0) options_.store->RemoveCommitListener(listener_id_);
  if (options_.tls_client) options_.tls_client->SetTrustShrankHandler({});  // waits for a call
  std::vector<std::shared_ptr<Link>> links;
  {
    common::MutexLock lock(mu_);
    for (auto& [key, link] : links_) links.push_back(link);
    for (auto& weak : copy_links_) {
      if (auto link = weak.lock()) link->AbortCopy();
    }
  }
  for (auto& link : links) link->Close("service_restart");
  links.clear();
  {
    // Close handshakes: each closed link leaves links_ (UnregisterLink wakes us).
    common::MutexLock lock(mu_);
    if (!links_cv_.wait_for(lock, kStopLinksTimeout,
                            [this]() REQUIRES(mu_) { return links_.empty(); })) {
      log_->warn("stopping: {} link(s) still open after {} ms, closing them hard", links_.size(),
                 kStopLinksTimeout.count());
    }
  }
  {
    // Store calls whose callbacks post to ioc_ finish before it stops.
    common::MutexLock lock(calls_mu_);
    if (!calls_cv_.wait_for(lock, kStopStoreCallsTimeout,
                            [this]() REQUIRES(calls_mu_) { return inflight_store_calls_ == 0; })) {
      log_->warn("stopping: {} store call(s) still in flight after {} ms", inflight_store_calls_,
                 kStopStoreCallsTimeout.count());
    }
  }
  {
    common::MutexLock lock(mu_);
    for (auto& weak : copy_links_) {
      if (auto link = weak.lock()) link->AbortCopy();
    }
    copy_links_.clear();
  }
  // Running copy jobs return now (their queues are aborted); waiting ones never start and
  // release their links.
  copy_pool_.Shutdown();
  {
    // Closed links finish their close handshakes while our threads and the listeners' still
    // run; no Link may outlive Stop() (LinkCreated).
    common::MutexLock lock(calls_mu_);
    if (!calls_cv_.wait_for(lock, kStopLinksTimeout,
                            [this]() REQUIRES(calls_mu_) { return live_links_ == 0; })) {
      log_->warn("stopping: {} closed link(s) still finishing after {} ms", live_links_,
                 kStopLinksTimeout.count());
    }
  }
  work_.reset();
  ioc_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  common::MutexLock lock(mu_);
  links_.clear();
  peers_.clear();
}

void ServiceImpl::RunCopyJob(std::shared_ptr<Link> link, std::function<void()> job) {
  {
    common::MutexLock lock(mu_);
    std::erase_if(copy_links_, [](const std::weak_ptr<Link>& w) { return w.expired(); });
    copy_links_.push_back(link);
  }
  if (!copy_pool_.Post(std::move(job))) {
    // Stop began: the link is closing, its copy would only be aborted.
    log_->debug("peer {} db {}: copy not started, stopping", link->peer_name(), link->database());
    return;
  }
  if (size_t queued = copy_pool_.queued(); queued > 0) {
    log_->info("peer {} db {}: copy waits for a copy thread ({} running, {} waiting, bound {})",
               link->peer_name(), link->database(), copy_pool_.running(), queued,
               copy_pool_.max_threads());
  }
}

void ServiceImpl::BeginStoreCall() {
  common::MutexLock lock(calls_mu_);
  ++inflight_store_calls_;
}

void ServiceImpl::EndStoreCall() {
  common::MutexLock lock(calls_mu_);
  if (--inflight_store_calls_ == 0) calls_cv_.notify_all();
}

void ServiceImpl::LinkCreated() {
  common::MutexLock lock(calls_mu_);
  ++live_links_;
}

void ServiceImpl::LinkDestroyed() {
  common::MutexLock lock(calls_mu_);
  if (--live_links_ == 0) calls_cv_.notify_all();
}

std::optional<uint64_t> ServiceImpl::StartTimeFor(const std::shared_ptr<PeerEntry>& peer) {
  common::MutexLock lock(mu_);
  return peer ? peer->spec.start_time_ms : std::nullopt;
}

std::vector<TableSubscription> ServiceImpl::SubscriptionsFor(
    const std::shared_ptr<PeerEntry>& peer) {
  common::MutexLock lock(mu_);
  return peer ? peer->spec.subscriptions : std::vector<TableSubscription>{};
}

std::shared_ptr<PeerEntry> ServiceImpl::MatchPeerLocked(const PeerSpec& spec,
                                                        std::vector<bool>& matched) {
  for (size_t i = 0; i < peers_.size(); ++i) {
    if (matched[i]) continue;
    const auto& e = peers_[i];
    bool same = (!spec.name.empty() && e->spec.name == spec.name) ||
                (!spec.url.empty() && e->spec.url == spec.url &&
                 (spec.name.empty() || e->spec.name.empty()));
    if (same) {
      matched[i] = true;
      return e;
    }
  }
  return nullptr;
}

void ServiceImpl::CollectLinksLocked(const std::string& peer_name,
                                     std::vector<std::shared_ptr<Link>>* out) {
  for (auto& [key, link] : links_) {
    if (key.first == peer_name) out->push_back(link);
  }
}

void ServiceImpl::SetPeers(std::vector<PeerSpec> peers) {
  std::vector<std::shared_ptr<Link>> to_close;        // of removed peers
  std::vector<std::shared_ptr<Link>> to_resubscribe;  // of peers whose subscriptions changed
  std::vector<std::string> forgotten;                 // removed peers: retention forgets them
  {
    common::MutexLock lock(mu_);
    std::vector<std::shared_ptr<PeerEntry>> next;
    std::vector<bool> matched(peers_.size(), false);
    for (auto& spec : peers) {
      if (spec.name == options_.node_name && !spec.name.empty()) continue;  // ourselves
      std::shared_ptr<PeerEntry> entry = MatchPeerLocked(spec, matched);
      if (!entry) entry = std::make_shared<PeerEntry>();
      std::string learned = entry->spec.name;
      std::string old_url = entry->spec.url;
      if (!entry->spec.name.empty() && entry->spec.subscriptions != spec.subscriptions) {
        // A link reads its subscriptions when it subscribes: its links close and re-subscribe
        // with the new ones, resuming from their positions (newly subscribed tables are
        // merged first, see Subscribe.previous_rules).
        log_->info("peer {}: subscriptions changed, re-subscribing its links", entry->spec.name);
        CollectLinksLocked(entry->spec.name, &to_resubscribe);
      }
      entry->spec = std::move(spec);
      if (entry->spec.name.empty()) entry->spec.name = learned;
      if (entry->spec.url.empty()) entry->spec.url = old_url;
      entry->listed = true;
      entry->removed = false;
      if (!entry->spec.name.empty()) removed_names_.erase(entry->spec.name);
      next.push_back(std::move(entry));
    }
    for (size_t i = 0; i < peers_.size(); ++i) {
      if (matched[i]) continue;
      auto& e = peers_[i];
      if (!e->listed) {  // learned from an inbound Hello, never listed: keep
        next.push_back(e);
        continue;
      }
      e->removed = true;
      if (!e->spec.name.empty()) {
        removed_names_.insert(e->spec.name);
        forgotten.push_back(e->spec.name);
        log_->info("peer {} removed: closing its connections", e->spec.name);
        CollectLinksLocked(e->spec.name, &to_close);
      }
    }
    peers_ = std::move(next);
    if (started_.load() && !stopping_.load()) {
      for (auto& peer : peers_) EnsureDialersLocked(peer);
    }
  }
  for (auto& link : to_close) link->Close("removed");
  for (auto& link : to_resubscribe) link->Close("subscriptions changed");
  // A removed peer no longer holds back log retention.
  for (const auto& name : forgotten) {
    options_.store->ForgetPeer(name);
  }
}

void ServiceImpl::SetRemovedNodes(std::vector<std::string> names) {
  std::vector<std::shared_ptr<Link>> to_close;
  {
    common::MutexLock lock(mu_);
    std::set<std::string> next(names.begin(), names.end());
    next.erase(options_.node_name);
    next.erase("");
    for (const auto& name : next) {
      if (membership_removed_.contains(name)) continue;
      log_->info("node {} was removed from the cluster: refusing its connections", name);
      CollectLinksLocked(name, &to_close);
    }
    for (const auto& name : membership_removed_) {
      if (!next.contains(name)) log_->info("node {} is no longer refused", name);
    }
    // Entries learned from the node's inbound Hello go (their dialers stop); listed ones
    // are membership's to drop through SetPeers.
    std::erase_if(peers_, [&](const std::shared_ptr<PeerEntry>& e) {
      if (e->listed || !next.contains(e->spec.name)) return false;
      e->removed = true;
      return true;
    });
    membership_removed_ = std::move(next);
    removed_names_.clear();  // membership's marks replace SetPeers' refusals
  }
  for (auto& link : to_close) link->Close("removed");
}

void ServiceImpl::SetRevokedCertificates(std::vector<std::string> serials) {
  std::vector<std::shared_ptr<Link>> to_close;
  {
    common::MutexLock lock(mu_);
    std::set<std::string> next(serials.begin(), serials.end());
    next.erase("");
    if (next == revoked_serials_) return;
    for (const auto& [key, link] : links_) {
      std::string serial = link->peer_certificate_serial();
      if (!serial.empty() && next.contains(serial) && !revoked_serials_.contains(serial)) {
        log_->warn("closing the link to {} db {}: its certificate {} was revoked", key.first,
                   key.second, serial);
        to_close.push_back(link);
      }
    }
    log_->info("{} revoked certificate(s)", next.size());
    revoked_serials_ = std::move(next);
  }
  for (auto& link : to_close) link->Close("certificate revoked");
}

std::vector<std::string> ServiceImpl::PresentedCertificateSerials(const std::string& name) {
  common::MutexLock lock(mu_);
  auto it = presented_serials_.find(name);
  return it == presented_serials_.end() ? std::vector<std::string>() : it->second;
}

Status ServiceImpl::StillTrusted(const Link& link) const {
  const net::PeerCertificate* cert = link.peer_certificate();
  if (cert == nullptr || !cert->verified || !options_.tls_client) return Status::Ok();
  return options_.tls_client->Reverify(*cert, /*peer_is_client=*/!link.outbound());
}

void ServiceImpl::RecheckPeerCertificates() {
  std::vector<std::pair<std::string, std::shared_ptr<Link>>> links;  // (peer, link)
  {
    common::MutexLock lock(mu_);
    for (const auto& [key, link] : links_) links.emplace_back(key.first, link);
  }
  // Verified outside mu_; a link registered meanwhile was verified by RegisterLink against
  // the new trust already.
  for (const auto& [peer, link] : links) {
    Status still = StillTrusted(*link);
    if (still.ok()) continue;
    std::string what = "closing the link to " + peer + " db " + link->database() +
                       ": its certificate " + link->peer_certificate_serial() +
                       " is no longer trusted: " + still.message();
    log_->warn("{}", what);
    NoteLinkError(what);
    link->Close("certificate no longer trusted");
  }
}

bool ServiceImpl::IsRevoked(const std::string& serial) const {
  common::MutexLock lock(mu_);
  return revoked_serials_.contains(serial);
}

bool ServiceImpl::RefusedLocked(const std::string& name) const {
  return removed_names_.contains(name) || membership_removed_.contains(name);
}

void ServiceImpl::EnsureDialersLocked(const std::shared_ptr<PeerEntry>& peer) {
  if (peer->removed || stopping_.load() || !started_.load()) return;
  if (peer->spec.url.empty()) return;
  std::set<std::string> dbs;
  if (peer->spec.dial) {
    dbs.insert(kSystemDatabase);
    for (const auto& db : known_databases_) dbs.insert(db);
    for (const auto& db : peer->remote_databases) {
      if (DatabaseReplicates(options_.databases, db)) dbs.insert(db);
    }
  } else if (!peer->remote_databases.empty()) {
    // The peer dials us; it cannot know databases it did not list, so we dial those.
    for (const auto& db : known_databases_) {
      if (std::find(peer->remote_databases.begin(), peer->remote_databases.end(), db) ==
          peer->remote_databases.end()) {
        dbs.insert(db);
      }
    }
  }
  for (const auto& db : dbs) {
    if (!peer->dialing.contains(db)) StartDialerLocked(peer, db);
  }
}

void ServiceImpl::StartDialerLocked(const std::shared_ptr<PeerEntry>& peer, const std::string& db) {
  peer->dialing.insert(db);
  Strand strand = asio::make_strand(ioc_);
  // Posted, never dispatched: co_spawn from an I/O thread would run the loop inline, and it
  // takes mu_, which the caller holds.
  asio::post(strand, [this, peer, db, strand] {
    asio::co_spawn(strand, DialLoop(peer, db, strand), asio::detached);
  });
}

bool ServiceImpl::LiveLinkLocked(const std::string& peer_name, const std::string& db) {
  return !peer_name.empty() && links_.contains({peer_name, db});
}

std::string ServiceImpl::DialAuthorization(const PeerSpec& spec) {
  if (!spec.authorization.empty()) return spec.authorization;
  if (!options_.cluster_key.empty()) {
    return NodeAuthorization(options_.cluster_key, options_.node_name);
  }
  std::vector<std::string> keys = LoadClusterKeys(options_.store);
  if (keys.empty()) return "";
  return NodeAuthorization(keys.front(), options_.node_name);
}

// GCC 12 reports -Wmismatched-new-delete at the end of this coroutine: Asio's
// awaitable_frame_base::operator new (thread_info_base::allocate, which may call
// std::aligned_alloc) is inlined into the coroutine's ramp while the matching class operator
// delete (thread_info_base::deallocate, std::free) is not, and GCC then pairs aligned_alloc
// with the class's operator delete. The pair is correct; this is GCC's false positive
// (https://gcc.gnu.org/bugzilla/show_bug.cgi?id=109224). Silenced for this function only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
std::optional<ServiceImpl::DialTarget> ServiceImpl::NextDialTarget(PeerEntry& peer,
                                                                   const std::string& db,
                                                                   bool ever_live) {
  common::MutexLock lock(mu_);
  if (stopping_.load() || peer.removed || (!peer.spec.dial && ever_live)) return std::nullopt;
  DialTarget target{peer.spec.name, peer.spec.url, peer.SlotFor(db),
                    LiveLinkLocked(peer.spec.name, db), !key_ensured_};
  key_ensured_ = true;
  if (target.url.empty()) return std::nullopt;
  // Marked under the same lock that found no live link: a connection the peer dials from now
  // on sees this attempt before its copy starts (OwnDialWouldReplaceLocked).
  if (!target.live) peer.attempting.insert(db);
  return target;
}

void ServiceImpl::NoteDialFailure(Slot& slot, const Status& st) {
  common::MutexLock slot_lock(slot.mu);
  ++slot.dial_failures;
  slot.last_dial_error = st.message();
}

asio::awaitable<void> ServiceImpl::DialLoop(std::shared_ptr<PeerEntry> peer, std::string db,
                                            Strand strand) {
  // Spawned on `strand` (StartDialerLocked); every co_await below resumes there.
  assert(strand.running_in_this_thread() && "DialLoop runs on its strand");
  asio::steady_timer timer(strand);
  std::mt19937_64 rng(std::random_device{}());
  uint64_t backoff = options_.reconnect_min_ms;
  bool ever_live = false;
  bool logged_failure = false;
  for (;;) {
    std::optional<DialTarget> target = NextDialTarget(*peer, db, ever_live);
    if (!target) break;
    const auto& [name, url, slot, live, need_key] = *target;
    if (live) {
      backoff = options_.reconnect_min_ms;
      timer.expires_after(kLiveLinkPoll);
      co_await timer.async_wait(kTuple);
      continue;
    }
    if (need_key) {
      // A node with no cluster key creates one on its first link (node tokens: node_token.h).
      auto keys = EnsureClusterKey(options_.store);
      if (!keys.ok()) log_->warn("cannot create a cluster key: {}", keys.status().ToString());
    }
    PeerSpec spec;
    {
      common::MutexLock lock(mu_);
      spec = peer->spec;
    }
    const std::string authorization = DialAuthorization(spec);
    const std::string who = name.empty() ? url : name;
    TransitionSlot(slot.get(), who, db, LinkState::kConnecting, *log_);
    auto link = std::make_shared<Link>(this, strand, true, db, peer);
    link->set_slot(slot);
    Status st = co_await link->RunOutbound(url, authorization);
    EndDialAttempt(*peer, db);
    if (stopping_.load()) break;
    if (st.ok()) {
      ever_live = true;
      logged_failure = false;
      backoff = options_.reconnect_min_ms;
    } else {
      if (!logged_failure || st.code() == Status::Code::kUnauthenticated) {
        log_->warn("peer {} db {}: {}", who, db, st.message());
      }
      logged_failure = true;
      NoteDialFailure(*slot, st);
      if (link->peer_refused_our_certificate() && options_.on_certificate_refused) {
        options_.on_certificate_refused(who, st.message());
      }
      backoff = std::min<uint64_t>(backoff * 2, options_.reconnect_max_ms);
    }
    {
      common::MutexLock lock(mu_);
      if (!peer->spec.dial && ever_live) break;
      if (LiveLinkLocked(peer->spec.name, db)) continue;  // e.g. closed as a duplicate
    }
    TransitionSlot(slot.get(), who, db, LinkState::kBackoff, *log_);
    uint64_t wait = st.ok() ? options_.reconnect_min_ms : backoff;
    wait = wait / 2 + rng() % (wait / 2 + 1);  // jitter: [wait/2, wait]
    timer.expires_after(std::chrono::milliseconds(wait));
    co_await timer.async_wait(kTuple);
  }
  common::MutexLock lock(mu_);
  peer->dialing.erase(db);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

void ServiceImpl::SetPeerAddresses(common::IpAllowList addresses) {
  const std::string text = addresses.ToString();
  bool changed = false;
  {
    common::MutexLock lock(addresses_mu_);
    changed = peer_addresses_.blocks() != addresses.blocks();
    peer_addresses_ = std::move(addresses);
  }
  if (changed) {
    log_->info(
        "plain ws:// replication is accepted from the peers' addresses [{}] and "
        "replication.allowedIps [{}]",
        text, options_.allowed_ips.ToString());
  }
}

Status ServiceImpl::CheckPlainPeerAddress(const std::string& remote_address) {
  if (options_.allowed_ips.Contains(remote_address)) return Status::Ok();
  {
    common::MutexLock lock(addresses_mu_);
    if (peer_addresses_.Contains(remote_address)) return Status::Ok();
  }
  return Status::PermissionDenied("replication from " + remote_address +
                                  " refused: not a route, a member or in replication.allowedIps");
}

Result<std::string> ServiceImpl::Authenticate(const std::string& authorization,
                                              const std::string& remote_address) {
  if (authorization.starts_with(std::string(kNodeTokenScheme) + " ")) {
    std::vector<std::string> keys = LoadClusterKeys(options_.store);
    if (!options_.cluster_key.empty()) keys.push_back(options_.cluster_key);
    ASSIGN_OR_RETURN(std::string name, VerifyNodeAuthorization(authorization, keys));
    common::MutexLock lock(mu_);
    if (RefusedLocked(name)) {
      return Status::PermissionDenied("node '" + name + "' was removed from the cluster");
    }
    if (name == options_.node_name) {
      return Status::PermissionDenied("node token claims this node's own name");
    }
    return name;
  }
  if (authorization.size() > 6 && authorization.compare(0, 6, "Basic ") == 0) {
    if (options_.auth == nullptr) return Status::Unauthenticated("no user authentication here");
    auto caller = options_.auth->Authenticate(authorization, remote_address, {});
    if (!caller.ok()) return Status::Unauthenticated(caller.status().message());
    if (!caller->super_user) {
      return Status::PermissionDenied("user '" + caller->username + "' is not a super_user");
    }
    return std::string();
  }
  if (authorization.empty()) return Status::Unauthenticated("missing Authorization header");
  return Status::Unauthenticated("unsupported Authorization scheme");
}

Status ServiceImpl::CheckDialledPeerLocked(const std::shared_ptr<PeerEntry>& peer,
                                           const std::string& name, LinkRefusal* refusal) {
  if (peer->removed) {
    *refusal = LinkRefusal::kRemovedPeer;
    return Status::PermissionDenied("peer removed");
  }
  if (peer->spec.name.empty()) peer->spec.name = name;
  if (peer->spec.name != name) {
    *refusal = LinkRefusal::kUnexpectedPeer;
    return Status::PermissionDenied("dialled '" + peer->spec.name + "' but '" + name +
                                    "' answered");
  }
  // An entry learned from the peer's inbound Hello before is now this one.
  std::erase_if(peers_, [&](const std::shared_ptr<PeerEntry>& e) {
    return e != peer && !e->listed && e->spec.name == name;
  });
  return Status::Ok();
}

Status ServiceImpl::FindInboundPeerLocked(const std::string& name, const std::string& url,
                                          std::shared_ptr<PeerEntry>* peer_out,
                                          LinkRefusal* refusal) {
  std::shared_ptr<PeerEntry> peer;
  for (auto& e : peers_) {
    if (e->spec.name == name || (e->spec.name.empty() && !url.empty() && e->spec.url == url)) {
      peer = e;
      break;
    }
  }
  if (!peer) {
    peer = std::make_shared<PeerEntry>();
    peer->spec.dial = false;
    peer->spec.url = url;
    peers_.push_back(peer);
  }
  if (peer->removed) {
    *refusal = LinkRefusal::kRemovedPeer;
    return Status::PermissionDenied("peer removed");
  }
  if (peer->spec.name.empty()) peer->spec.name = name;
  if (peer->spec.url.empty()) peer->spec.url = url;
  *peer_out = std::move(peer);
  return Status::Ok();
}

Status ServiceImpl::RegisterLink(const std::shared_ptr<Link>& link, const Hello& hello,
                                 std::shared_ptr<PeerEntry>* peer_out, LinkRefusal* refusal) {
  auto refuse = [refusal](LinkRefusal why, Status st) {
    *refusal = why;
    return st;
  };
  *refusal = LinkRefusal::kNone;
  std::shared_ptr<Link> to_close;
  {
    common::MutexLock lock(mu_);
    if (stopping_.load()) return refuse(LinkRefusal::kStopping, Status::Unavailable("stopping"));
    const std::string& name = hello.node_name;
    if (RefusedLocked(name)) {
      return refuse(LinkRefusal::kRemovedPeer,
                    Status::PermissionDenied("node '" + name + "' was removed from the cluster"));
    }
    std::shared_ptr<PeerEntry> peer = link->peer();
    Status found = peer ? CheckDialledPeerLocked(peer, name, refusal)
                        : FindInboundPeerLocked(name, hello.node_url, &peer, refusal);
    if (!found.ok()) return found;
    // Under mu_, so a CA distrusted from here on finds the link in links_
    // (RecheckPeerCertificates), and one distrusted before is seen now.
    if (Status trusted = StillTrusted(*link); !trusted.ok()) {
      return refuse(LinkRefusal::kUntrustedCertificate,
                    Status::PermissionDenied(
                        "node '" + name + "' " + std::string(kUntrustedCertificateWords) +
                        ": its certificate (serial " + link->peer_certificate_serial() +
                        ") is no longer trusted: " + trusted.message()));
    }
    peer->remote_databases = hello.databases;
    const auto key = std::make_pair(name, link->database());
    auto it = links_.find(key);
    if (it != links_.end() && it->second != link) {
      if (KeepExistingLinkLocked(*it->second, *link)) {
        return refuse(LinkRefusal::kDuplicate, Status::Conflict("duplicate"));
      }
      to_close = it->second;  // duplicate_links.cc: the newer one, or the lower name's, wins
    }
    links_[key] = link;
    if (const net::PeerCertificate* cert = link->peer_certificate(); cert && cert->verified) {
      std::vector<std::string>& serials = presented_serials_[name];
      std::erase(serials, cert->serial_hex);
      serials.push_back(cert->serial_hex);
      if (serials.size() > kPresentedSerialsPerNode) serials.erase(serials.begin());
    }
    // Our dial for this database is live: it no longer holds back a copy (EndDialAttempt).
    if (link->outbound()) peer->attempting.erase(link->database());
    link->set_slot(peer->SlotFor(link->database()));
    *peer_out = peer;
    EnsureDialersLocked(peer);
  }
  if (to_close) to_close->Close("duplicate");
  return Status::Ok();
}

void ServiceImpl::PeerSubscribed(const std::string& name, const std::string& url,
                                 const std::string& db, bool by_credentials) {
  if (options_.on_peer_hello && db == kSystemDatabase) {
    options_.on_peer_hello(name, url, by_credentials);
  }
}

bool ServiceImpl::UnregisterLink(Link* link) {
  common::MutexLock lock(mu_);
  auto it = links_.find({link->peer_name(), link->database()});
  if (it == links_.end() || it->second.get() != link) return false;
  links_.erase(it);
  links_cv_.notify_all();
  ForgetUnlistedPeerLocked(link->peer_name());
  return true;
}

void ServiceImpl::ForgetUnlistedPeerLocked(const std::string& name) {
  for (const auto& [key, link] : links_) {
    if (key.first == name) return;
  }
  std::erase_if(peers_, [&](const std::shared_ptr<PeerEntry>& e) {
    if (e->listed || e->spec.name != name) return false;
    e->removed = true;  // its dialers, if any, stop
    log_->info("peer {}: last connection closed and not a member: forgotten", name);
    return true;
  });
}

void ServiceImpl::OnCommit(const std::string& database) {
  common::MutexLock lock(mu_);
  for (auto& [key, link] : links_) {
    if (key.second == database) link->WakePublisher();
  }
  if (!known_databases_.contains(database) && DatabaseReplicates(options_.databases, database)) {
    known_databases_.insert(database);
    for (auto& peer : peers_) EnsureDialersLocked(peer);
  }
}

namespace {

// Runs an inbound link's coroutine on its strand; an exception ends only that link (logged).
void SpawnInbound(const Strand& strand, std::shared_ptr<Link> link, asio::awaitable<void> run) {
  asio::co_spawn(strand, std::move(run), [link = std::move(link)](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::For("replication")->error("inbound link failed: {}", ex.what());
    }
  });
}

}  // namespace

void ServiceImpl::OnUpgrade(tcp::socket socket, http::request<http::string_body> request,
                            std::string remote_address) {
  beast::error_code ec;
  if (!started_.load() || stopping_.load()) {
    socket.close(ec);
    return;
  }
  auto protocol = socket.local_endpoint(ec).protocol();
  if (ec) return;
  // The HTTP server's socket lives on its io_context: its fd moves to one on ours. Between
  // release and a successful assign nothing owns the fd, so UniqueFd closes it on every early
  // return (a failed assign leaves it to the caller).
  common::UniqueFd fd(socket.release(ec));
  if (ec) return;
  Strand strand = asio::make_strand(ioc_);
  tcp::socket mine(strand);
  mine.assign(protocol, fd.get(), ec);
  if (ec) {
    log_->warn("cannot adopt the replication socket from {}: {}", remote_address, ec.message());
    return;
  }
  fd.Release();  // `mine` owns it now
  std::string database = QueryParam(request.target(), "database");
  if (database.empty()) database = kSystemDatabase;
  auto link = std::make_shared<Link>(this, strand, false, database, nullptr);
  SpawnInbound(strand, link,
               link->RunInbound(std::move(mine), std::move(request), std::move(remote_address)));
}

void ServiceImpl::OnTlsUpgrade(std::unique_ptr<net::TlsStream> stream,
                               http::request<http::string_body> request, std::string remote_address,
                               net::PeerCertificate peer) {
  if (!started_.load() || stopping_.load()) {
    beast::get_lowest_layer(*stream).close();
    return;
  }
  // The stream stays on the HTTP server's io_context (a TLS session cannot move), and so does
  // the link: it runs on the connection's own strand, so each read and write completes on the
  // thread that goes on with the link, as a plain link's does on ours. On a strand of ours,
  // every completion ran on the listener's thread first and then had to wake one of ours (for
  // a write, the listener's thread too): on a loaded machine those wake-ups were the wss p99
  // lag stalls (bench/README.md "TLS cost"). The node stops replication before its listeners
  // (server.cc), so no link outlives that io_context.
  const Strand* own = stream->get_executor().target<Strand>();
  Strand strand = own != nullptr ? *own : asio::make_strand(ioc_);
  std::string database = QueryParam(request.target(), "database");
  if (database.empty()) database = kSystemDatabase;
  auto link = std::make_shared<Link>(this, strand, false, database, nullptr);
  SpawnInbound(strand, link,
               link->RunInboundTls(std::move(stream), std::move(request), std::move(remote_address),
                                   std::move(peer)));
}

void ServiceImpl::Probe(ProbeRequest request, std::function<void(ProbeResult)> done) {
  if (!started_.load() || stopping_.load()) {
    done(ProbeResult{Status::Unavailable("replication is not running"), std::nullopt});
    return;
  }
  Strand strand = asio::make_strand(ioc_);
  auto link = std::make_shared<Link>(this, strand, true, kSystemDatabase, nullptr);
  link->set_probe(request.verify_tls, std::move(request.join));
  std::string auth = request.authorization;
  if (auth.empty()) auth = DialAuthorization(PeerSpec{});
  asio::co_spawn(
      strand,
      [link, url = std::move(request.url), auth,
       done = std::move(done)]() mutable -> asio::awaitable<void> {
        Status st = co_await link->RunOutbound(url, auth);
        done(ProbeResult{std::move(st), std::move(link->join_grant())});
      },
      asio::detached);
}

namespace {

boost::json::value SubscriptionsJson(const std::vector<TableSubscription>& subscriptions) {
  if (subscriptions.empty()) return nullptr;
  boost::json::array subs;
  for (const auto& s : subscriptions) {
    subs.push_back(boost::json::object{{"database", s.database},
                                       {"table", s.table},
                                       {"publish", s.publish},
                                       {"subscribe", s.subscribe}});
  }
  return subs;
}

// The receiving side of one slot, for cluster_status (HarperDB's field names).
void AddReceivedStatus(const Slot& slot, uint64_t now, boost::json::object& s) REQUIRES(slot.mu) {
  if (slot.last_received_version) {
    uint64_t ms = slot.last_received_version >> 16;
    s["lastReceivedRemoteTime"] = HttpDate(ms);
    s["lastReceivedVersion"] = static_cast<double>(ms) +
                               static_cast<double>(slot.last_received_version & 0xffff) / 65536.0;
  }
  if (slot.last_received_local_ms) {
    s["lastReceivedLocalTime"] = HttpDate(slot.last_received_local_ms);
  }
  s["backPressurePercent"] = 0;
  const bool receiving = slot.received_sequence > slot.applied_sequence ||
                         (slot.last_received_local_ms && now - slot.last_received_local_ms < 1000);
  s["lastReceivedStatus"] = slot.copy_progress ? "Copying" : (receiving ? "Receiving" : "Waiting");
}

// One side of a running merge resync (merge_progress, merge_send_progress); null when none.
boost::json::value MergeProgressJson(const std::optional<MergeProgress>& p, uint64_t now) {
  if (!p) return nullptr;
  boost::json::object o{{"phase", p->phase}, {"records", p->records}};
  if (p->total_known) {
    o["total"] = p->total;
  } else {
    o["total"] = nullptr;
  }
  // Records per second since the rows phase began (0 before it, or before a full ms).
  double rate = 0;
  if (p->rows_started_ms != 0 && now > p->rows_started_ms) {
    rate = static_cast<double>(p->records) * 1000.0 / static_cast<double>(now - p->rows_started_ms);
  }
  o["rate"] = rate;
  o["elapsed_ms"] = now > p->started_ms ? now - p->started_ms : 0;
  return o;
}

// merge_progress and merge_send_progress of one link (null: it runs no merge).
void AddMergeProgress(const LinkMerges* merges, uint64_t now, boost::json::object& s) {
  s["merge_progress"] = merges ? MergeProgressJson(merges->receive, now) : nullptr;
  s["merge_send_progress"] = merges ? MergeProgressJson(merges->send, now) : nullptr;
}

// meshdb's own counters of one slot (docs/replication.md).
void AddSlotCounters(const Slot& slot, boost::json::object& s) REQUIRES(slot.mu) {
  if (slot.copy_progress) {
    s["copy_progress"] = boost::json::object{{"records", slot.copy_progress->first},
                                             {"total", slot.copy_progress->second}};
  } else {
    s["copy_progress"] = nullptr;
  }
  s["copies_completed"] = slot.copies_completed;
  s["copied_records"] = slot.copied_records;
  s["copies_started"] = slot.copies_started;
  s["merges_completed"] = slot.merges_completed;
  s["merge_records_sent"] = slot.merge_records_sent;
  s["merge_records_received"] = slot.merge_records_received;
  s["last_merge_ms"] = slot.last_merge_ms;
  s["log_trimmed_past"] = slot.log_trimmed_past;
  s["dial_failures"] = slot.dial_failures;
  s["bytes_sent"] = slot.bytes_sent.load(std::memory_order_relaxed);
  s["bytes_received"] = slot.bytes_received.load(std::memory_order_relaxed);
  if (slot.last_dial_error.empty()) {
    s["last_dial_error"] = nullptr;
  } else {
    s["last_dial_error"] = slot.last_dial_error;
  }
}

// One database socket of a peer with a slot, showing the merges of `registered` (the
// registered link, null when none); `local` and `log_start` are our log's. Each other link of
// the slot that runs a merge (a duplicate, until it has closed) gets an entry of its own in
// *others: database, nodes, connected, state (a merging link catches up), "duplicate": true
// and its merges.
void AddSlotStatus(Slot& slot, const std::string& peer_name, const void* registered, uint64_t now,
                   uint64_t local, uint64_t log_start, boost::json::object& s,
                   std::vector<boost::json::object>* others) {
  common::MutexLock slot_lock(slot.mu);
  const LinkMerges* registered_merges = nullptr;
  for (const auto& [link, merges] : slot.merges) {
    if (link == registered) {
      registered_merges = &merges;
      continue;
    }
    boost::json::object other{{"database", slot.database},
                              {"nodes", boost::json::array{boost::json::value(peer_name)}},
                              {"connected", true},
                              {"state", LinkStateName(LinkState::kCatchingUp)},
                              {"duplicate", true}};
    AddMergeProgress(&merges, now, other);
    others->push_back(std::move(other));
  }
  AddMergeProgress(registered_merges, now, s);
  s["connected"] = slot.connected;
  if (slot.tls_resumed) s["tls_resumed"] = *slot.tls_resumed;
  if (slot.latency_ms >= 0) s["latency"] = slot.latency_ms;
  s["nodes"] = boost::json::array{boost::json::value(peer_name)};
  if (slot.last_ack_ms) s["lastCommitConfirmed"] = HttpDate(slot.last_ack_ms);
  AddReceivedStatus(slot, now, s);
  s["state"] = slot.apply_error.empty() ? LinkStateName(slot.state) : "Error";
  if (slot.apply_error.empty()) {
    s["last_error"] = nullptr;
  } else {
    s["last_error"] = slot.apply_error;
  }
  s["sent_sequence"] = slot.sent_sequence;
  s["acked_sequence"] = slot.acked_sequence;
  s["local_sequence"] = local;
  s["log_start_sequence"] = log_start;
  const uint64_t behind = local > slot.acked_sequence ? local - slot.acked_sequence : 0;
  s["records_behind"] = behind;
  s["ms_behind"] = behind == 0 || slot.last_ack_ms == 0 ? 0 : now - slot.last_ack_ms;
  s["received_sequence"] = slot.received_sequence;
  s["applied_sequence"] = slot.applied_sequence;
  AddSlotCounters(slot, s);
}

}  // namespace

void ServiceImpl::AddDatabaseSockets(const PeerEntry& peer, const std::string& db, uint64_t now,
                                     boost::json::array& out) {
  boost::json::object s;
  s["database"] = db;
  uint64_t local = 0;
  if (auto l = options_.store->LastSequence(db); l.ok()) local = *l;
  uint64_t log_start = 0;
  if (auto snap = options_.store->Read(db); snap.ok()) {
    if (auto start = (*snap)->LogStart(); start.ok()) log_start = *start;
  }
  auto it = peer.slots.find(db);
  if (it == peer.slots.end()) {
    s["connected"] = false;
    s["nodes"] = boost::json::array{boost::json::value(peer.spec.name)};
    s["state"] = LinkStateName(LinkState::kIdle);
    s["local_sequence"] = local;
    s["log_start_sequence"] = log_start;
    out.push_back(std::move(s));
    return;
  }
  auto registered = links_.find({peer.spec.name, db});
  std::vector<boost::json::object> others;
  AddSlotStatus(*it->second, peer.spec.name,
                registered == links_.end() ? nullptr : registered->second.get(), now, local,
                log_start, s, &others);
  out.push_back(std::move(s));
  for (auto& other : others) out.push_back(std::move(other));
}

boost::json::array ServiceImpl::ConnectionsStatus() {
  boost::json::array out;
  const uint64_t now = NowMs();
  std::vector<std::string> own = ReplicatedDatabases();
  common::MutexLock lock(mu_);
  for (const auto& peer : peers_) {
    if (peer->removed || membership_removed_.contains(peer->spec.name)) continue;
    boost::json::object conn;
    conn["url"] = peer->spec.url;
    conn["name"] = peer->spec.name;
    conn["replicates"] = true;
    conn["subscriptions"] = SubscriptionsJson(peer->spec.subscriptions);
    std::set<std::string> dbs(own.begin(), own.end());
    for (const auto& db : peer->remote_databases) {
      if (DatabaseReplicates(options_.databases, db)) dbs.insert(db);
    }
    boost::json::array sockets;
    for (const auto& db : dbs) AddDatabaseSockets(*peer, db, now, sockets);
    conn["database_sockets"] = std::move(sockets);
    out.push_back(std::move(conn));
  }
  return out;
}

void ServiceImpl::NoteLinkError(const std::string& what) {
  common::MutexLock lock(mu_);
  ++link_errors_;
  last_link_error_ = what;
}

boost::json::object ServiceImpl::ServiceStatus() {
  common::MutexLock lock(mu_);
  boost::json::object out;
  out["link_errors"] = link_errors_;
  if (last_link_error_.empty()) {
    out["last_link_error"] = nullptr;
  } else {
    out["last_link_error"] = last_link_error_;
  }
  return out;
}

Result<std::unique_ptr<ReplicationService>> ReplicationService::Create(
    const ServiceOptions& options) {
  if (options.store == nullptr) return Status::InvalidArgument("replication needs a store");
  if (options.node_name.empty()) return Status::InvalidArgument("replication needs a node name");
  if (options.reconnect_min_ms == 0 || options.reconnect_max_ms < options.reconnect_min_ms) {
    return Status::InvalidArgument("bad reconnect backoff bounds");
  }
  return std::unique_ptr<ReplicationService>(std::make_unique<ServiceImpl>(options));
}

}  // namespace meshdb::replication
