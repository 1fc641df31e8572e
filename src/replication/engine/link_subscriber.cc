// LinkSubscriber: Subscribe, then applying Schema, Transactions and copy frames through the
// store's writer, acknowledging what was committed (docs/protocol.md §3.3-3.6).
#include "replication/engine/link_subscriber.h"

#include <boost/asio/post.hpp>
#include <cassert>
#include <chrono>
#include <utility>

#include "common/log.h"
#include "replication/engine/service_impl.h"
#include "replication/engine/subscription_rules.h"
#include "replication/wire/codec.h"
#include "replication/wire/table_def_json.h"
#include "storage/store.h"

namespace meshdb::replication {

namespace {
constexpr uint32_t kCreditFrames = 16;
constexpr size_t kMaxPendingChunks = 3;        // copy chunks being applied
constexpr size_t kMaxPendingApplies = 100000;  // transactions being applied

}  // namespace

bool LinkSubscriber::ReadsPaused() const {
  // A merge's end commits before the next frame is read (MergeSubscriber::ending), unless
  // applying stopped: then the peer's data frames are dropped anyway.
  return pending_chunks_ >= kMaxPendingChunks || pending_applies_ >= kMaxPendingApplies ||
         (merge_.ending() && !apply_stopped_);
}

void LinkSubscriber::OnClose() {
  if (retry_timer_) retry_timer_->cancel();  // the link it would close is gone
  claim_.Leave();
}

void LinkSubscriber::SendSubscribe() {
  assert(link_.OnStrand());
  const std::string& database = link_.database();
  ServiceImpl& service = link_.service();
  storage::Store* store = service.store();
  auto cursor_or = store->PeerCursor(database, link_.peer_name());
  uint64_t cursor = cursor_or.ok() ? *cursor_or : 0;
  auto vector_or = store->ReadVersionVector(database);
  VersionVector vector = vector_or.ok() ? VersionVector::FromEntries(*vector_or) : VersionVector();
  // PeerSpec is guarded by the service lock; copy what we need through the service.
  std::optional<uint64_t> start_time = service.StartTimeFor(link_.peer());
  link_.LoadSubscriptions();
  rules_ = RulesFor(link_.subscriptions(), database);
  SubscribeStart start = ChooseSubscribeStart(vector, cursor, start_time);
  const bool copy = std::holds_alternative<StartWithCopy>(start);
  // One initial copy per database: other links wait for it, then stream from its vector.
  if (copy && claim_.DeferSubscribe()) return;
  std::optional<std::vector<TableRule>> previous_rules;
  if (!copy) previous_rules = PreviousRules(cursor);
  EnterStart(start);
  link_.SendMessage(Subscribe{database, {}, std::move(start), std::move(previous_rules)});
  link_.SendMessage(Credit{database, kCreditFrames});
}

std::optional<std::vector<TableRule>> LinkSubscriber::PreviousRules(uint64_t cursor) {
  auto stored = link_.service().store()->PeerView(link_.database(), link_.peer_name());
  std::optional<std::vector<TableRule>> before;
  if (stored.ok() && stored->has_value()) {
    if (auto decoded = DecodeRules(**stored); decoded.ok()) before = std::move(decoded).value();
  }
  if (cursor > 0 && before && *before != rules_) {
    link_.log().info(
        "peer {} db {}: subscriptions changed since position {}: tables newly "
        "subscribed to will be merged first",
        link_.peer_name(), link_.database(), cursor);
    return before;
  }
  if (stored.ok() && (!before || *before != rules_)) {
    RecordRules();  // (a database not here yet has nothing to record)
  }
  return std::nullopt;
}

void LinkSubscriber::EnterStart(const SubscribeStart& start) {
  const std::string& database = link_.database();
  const std::string& peer_name = link_.peer_name();
  if (std::holds_alternative<StartWithCopy>(start)) {
    link_.log().info("starting initial copy of database {} from {}", database, peer_name);
    copying_ = true;
    link_.SetState(LinkState::kCatchingUp);
    Slot& slot = link_.slot();
    common::MutexLock lock(slot.mu);
    slot.copy_progress = std::make_pair(uint64_t{0}, uint64_t{0});
    ++slot.copies_started;
  } else if (auto* t = std::get_if<StartFromTime>(&start)) {
    link_.log().info("peer {} db {}: starting from time {} (no copy)", peer_name, database,
                     t->start_time_ms);
    link_.SetState(LinkState::kStreaming);
  } else {
    const auto& v = std::get<StartFromVector>(start);
    if (v.after_sender_sequence > 0) {
      link_.log().info("peer {} db {}: resuming from sequence {}", peer_name, database,
                       v.after_sender_sequence);
    } else {
      link_.log().info("peer {} db {}: streaming from version vector {}", peer_name, database,
                       v.vector.ToString());
    }
    applied_seq_ = v.after_sender_sequence;
    acked_sent_ = applied_seq_;
    link_.SetState(LinkState::kStreaming);
  }
}

void LinkSubscriber::RecordRules() {
  storage::CopyChunk chunk;
  chunk.database = link_.database();
  chunk.peer_name = link_.peer_name();
  chunk.peer_view = EncodeRules(rules_);
  ApplyChunk(std::move(chunk), "recording the subscription rules", [] {});
}

void LinkSubscriber::OnSchema(Schema&& s) {
  assert(link_.OnStrand());
  const std::string& database = link_.database();
  auto def = TableDefFromJson(s.table_def_json);
  if (!def.ok()) {
    link_.Fail(ErrorCode::kProtocol, "bad Schema: " + def.status().message());
    return;
  }
  storage::TableDef d = std::move(def).value();
  d.database = database;
  storage::Store* store = link_.service().store();
  auto current = store->GetTable(database, d.name);
  // replicate:false here (or in the peer's definition): never created nor touched by peers.
  if (!AcceptsRemoteTableDef(d, current.ok() ? &*current : nullptr, link_.subscriptions())) {
    return;
  }
  bool needed = !current.ok();
  if (!needed) {
    for (const auto& a : d.attributes) {
      if (current->FindAttribute(a.name) == nullptr) needed = true;
    }
  }
  if (needed) {
    Status st = store->ApplyTableDef(d);
    if (!st.ok()) {
      link_.log().error("peer {} db {}: cannot apply table {}: {}", link_.peer_name(), database,
                        d.name, st.ToString());
      return;
    }
  }
  known_tables_.insert(d.name);
}

void LinkSubscriber::OnTransactions(Transactions&& t) {
  assert(link_.OnStrand());
  if (t.entries.empty()) return;
  const std::string& database = link_.database();
  const auto& subscriptions = link_.subscriptions();
  ServiceImpl& service = link_.service();
  storage::Store* store = service.store();
  const uint64_t now = NowMs();
  for (auto& e : t.entries) {
    if (e.origin == 0 || e.origin_sequence == 0) {
      link_.Fail(ErrorCode::kProtocol, "transaction without origin");
      return;
    }
    storage::ReplicatedTxn txn;
    txn.database = database;
    txn.peer_name = link_.peer_name();
    txn.peer_sequence = e.sender_sequence;
    txn.origin = e.origin;
    txn.origin_sequence = e.origin_sequence;
    txn.version = e.version;
    txn.partial = e.partial || RulesExcludeTables(rules_);
    txn.chain = apply_chain_;
    txn.writes.reserve(e.writes.size());
    for (auto& w : e.writes) {
      if (!known_tables_.contains(w.table)) {
        auto local = store->GetTable(database, w.table);
        if (!local.ok()) continue;  // dropped or never defined
        // A table that is replicate:false here never takes a peer's rows.
        if (!AppliesRemoteRows(*local, {})) continue;
        known_tables_.insert(w.table);
      }
      if (!subscriptions.empty() && !SubscribesTable(subscriptions, database, w.table)) continue;
      txn.writes.push_back(
          storage::LogEntry::Write{std::move(w.table), std::move(w.key), std::move(w.value)});
    }
    ++pending_applies_;
    const uint64_t seq = e.sender_sequence;
    service.BeginStoreCall();
    store->ApplyReplicatedAsync(std::move(txn), [link = link_.shared_link(), this,
                                                 seq](Result<storage::ApplyResult> r) mutable {
      Status st = r.ok() ? Status::Ok() : r.status();
      ServiceImpl* svc = &link_.service();
      // The handler takes the link over (see ApplyChunk).
      asio::post(link_.strand(), [link = std::move(link), this, seq, st = std::move(st)]() mutable {
        OnApplied(seq, std::move(st));
      });
      svc->EndStoreCall();
    });
  }
  Slot& slot = link_.slot();
  common::MutexLock lock(slot.mu);
  slot.received_sequence = t.entries.back().sender_sequence;
  slot.last_received_version = t.entries.back().version;
  slot.last_received_local_ms = now;
}

void LinkSubscriber::EndApplied(uint64_t peer_sequence) {
  ++pending_applies_;  // OnApplied balances it
  OnApplied(peer_sequence, Status::Ok());
}

void LinkSubscriber::OnApplied(uint64_t peer_sequence, Status st) {
  assert(link_.OnStrand());
  if (pending_applies_ > 0) --pending_applies_;
  link_.WakeReader();
  if (!st.ok()) {
    StopApplying(peer_sequence, "applying transaction " + std::to_string(peer_sequence), st);
    return;
  }
  applied_seq_ = std::max(applied_seq_, peer_sequence);
  bool error_cleared = false;
  {
    Slot& slot = link_.slot();
    common::MutexLock lock(slot.mu);
    slot.applied_sequence = applied_seq_;
    slot.last_applied_local_ms = NowMs();
    if (!slot.apply_error.empty() && applied_seq_ >= slot.apply_error_sequence) {
      slot.apply_error.clear();
      slot.apply_error_sequence = 0;
      error_cleared = true;
    }
  }
  if (error_cleared) {
    link_.log().info("peer {} db {}: applying resumed past the transaction that failed",
                     link_.peer_name(), link_.database());
  }
  if (ack_posted_) return;
  ack_posted_ = true;
  asio::post(link_.strand(), [link = link_.shared_link(), this] {
    ack_posted_ = false;
    if (applied_seq_ > acked_sent_) {
      acked_sent_ = applied_seq_;
      link_.SendMessage(Ack{link_.database(), applied_seq_});
    }
  });
}

void LinkSubscriber::StopApplying(uint64_t peer_sequence, const std::string& what,
                                  const Status& st) {
  assert(link_.OnStrand());
  if (apply_stopped_) return;  // what was queued behind the first failure fails too
  apply_stopped_ = true;
  const uint64_t retry_ms = link_.service().options().reconnect_max_ms;
  const std::string error = what + " of database " + link_.database() + " from " +
                            link_.peer_name() + " failed: " + st.ToString();
  link_.log().error("{}; applying from this peer stopped, retrying in {} ms", error, retry_ms);
  {
    Slot& slot = link_.slot();
    common::MutexLock lock(slot.mu);
    slot.apply_error = error;
    slot.apply_error_sequence = peer_sequence;
    slot.copy_progress.reset();
  }
  retry_timer_.emplace(link_.strand());
  retry_timer_->expires_after(std::chrono::milliseconds(retry_ms));
  retry_timer_->async_wait(
      [link = link_.shared_link(), this, error](const boost::system::error_code& ec) {
        if (!ec) link_.Fail(ErrorCode::kInternal, error);  // tells the peer why, then closes
      });
}

void LinkSubscriber::OnCopyBegin(CopyBegin&& c) {
  assert(link_.OnStrand());
  copying_ = true;
  claim_.NoteProgress();
  copy_vector_ = std::move(c.snapshot_vector);
  // A copy that leaves tables out (here or at the publisher, which then sends no vector)
  // installs no vector floor, so nodes pulling from us would never see its rows unless they
  // are logged as ours.
  copy_is_partial_ = RulesExcludeTables(rules_) || copy_vector_.empty();
  copy_total_ = c.total_records;
  copy_records_ = 0;
  link_.SetState(LinkState::kCatchingUp);
  Slot& slot = link_.slot();
  common::MutexLock lock(slot.mu);
  slot.copy_progress = std::make_pair(uint64_t{0}, copy_total_);
}

void LinkSubscriber::OnCopyChunk(CopyChunk&& c) {
  assert(link_.OnStrand());
  const std::string& database = link_.database();
  const auto& subscriptions = link_.subscriptions();
  const size_t n = c.records.size();
  claim_.NoteProgress();
  if (!SubscribesTable(subscriptions, database, c.table)) {
    copy_records_ += n;
    return;
  }
  storage::CopyChunk chunk;
  chunk.database = database;
  chunk.table = c.table;
  auto local = link_.service().store()->GetTable(database, c.table);
  if (!c.table_def_json.empty()) {
    auto def = TableDefFromJson(c.table_def_json);
    if (!def.ok()) {
      link_.Fail(ErrorCode::kProtocol, "bad CopyChunk table definition: " + def.status().message());
      return;
    }
    chunk.table_def = std::move(def).value();
    chunk.table_def->database = database;
    if (!AcceptsRemoteTableDef(*chunk.table_def, local.ok() ? &*local : nullptr, subscriptions)) {
      copy_records_ += n;  // replicate:false here or there: the rows stay out
      return;
    }
    known_tables_.insert(c.table);
  } else if (!known_tables_.contains(c.table) && !local.ok()) {
    link_.Fail(ErrorCode::kProtocol,
               "CopyChunk for table '" + c.table + "' without its definition");
    return;
  } else if (local.ok() && !AppliesRemoteRows(*local, subscriptions)) {
    copy_records_ += n;
    return;
  }
  if (n == 0 && !chunk.table_def) return;
  chunk.rows.reserve(n);
  for (auto& r : c.records) {
    chunk.rows.push_back(storage::RawRow{std::move(r.key), std::move(r.value)});
  }
  chunk.stored_values = c.stored_values;
  chunk.dictionaries.reserve(c.dictionaries.size());
  for (auto& d : c.dictionaries) {
    chunk.dictionaries.push_back(storage::CopyChunk::Dictionary{d.id, std::move(d.bytes)});
  }
  chunk.log_rows = copy_is_partial_;
  chunk.bulk = true;  // a table empty here gets its index built at the copy's end
  // Decompressed and parsed here, on this link's thread, while the writer thread applies the
  // chunks before it (the copy's two stages on two cores).
  link_.service().store()->PrepareCopyChunk(chunk);
  ApplyChunk(std::move(chunk), "applying a copy chunk", [this, n] {
    copy_records_ += n;
    claim_.NoteProgress();
    Slot& slot = link_.slot();
    common::MutexLock lock(slot.mu);
    slot.copy_progress = std::make_pair(copy_records_, copy_total_);
    slot.copied_records += n;
  });
}

void LinkSubscriber::ApplyChunk(storage::CopyChunk chunk, std::string what,
                                std::function<void()> on_applied) {
  assert(link_.OnStrand());
  ++pending_chunks_;
  chunk.chain = apply_chain_;
  ServiceImpl& service = link_.service();
  service.BeginStoreCall();
  service.store()->ApplyCopyChunkAsync(
      std::move(chunk),
      [link = link_.shared_link(), this, what = std::move(what),
       on_applied = std::move(on_applied)](Result<storage::ApplyResult> r) mutable {
        Status st = r.ok() ? Status::Ok() : r.status();
        ServiceImpl* svc = &link_.service();
        // The handler takes the link over: the store's writer thread destroys this callback
        // later, and must not drop the link's last reference then (after Stop, the
        // io_context its stream belongs to may be gone).
        asio::post(link_.strand(),
                   [link = std::move(link), this, what = std::move(what),
                    on_applied = std::move(on_applied), st = std::move(st)]() mutable {
                     --pending_chunks_;
                     link_.WakeReader();
                     if (!st.ok()) {
                       StopApplying(0, what, st);
                       return;
                     }
                     on_applied();
                   });
        svc->EndStoreCall();
      });
}

void LinkSubscriber::OnCopyEnd(CopyEnd&& c) {
  assert(link_.OnStrand());
  storage::CopyChunk end;
  end.database = link_.database();
  // A partial copy is no floor (OnCopyBegin): its rows were logged instead.
  if (!copy_is_partial_) end.vector_floor = copy_vector_.entries();
  end.peer_name = link_.peer_name();
  end.peer_sequence = c.snapshot_sequence;
  end.peer_view = EncodeRules(rules_);
  // The indexes the copy deferred are built in the commit that installs the floor, so a copy
  // that reports done has complete indexes.
  end.build_indexes = true;
  const uint64_t seq = c.snapshot_sequence;
  ApplyChunk(std::move(end), "finishing the copy", [this, seq] {
    copying_ = false;
    link_.log().info("initial copy of database {} from {} done ({} records)", link_.database(),
                     link_.peer_name(), copy_records_);
    {
      Slot& slot = link_.slot();
      common::MutexLock lock(slot.mu);
      slot.copy_progress.reset();
      ++slot.copies_completed;
    }
    claim_.Release(true);  // the floor is committed: waiting links stream from it
    link_.SetState(LinkState::kStreaming);
    EndApplied(seq);
  });
}

}  // namespace meshdb::replication
