// Link, subscriber half: Subscribe, then applying Schema, Transactions and copy frames
// through the store's writer, acknowledging what was committed (docs/protocol.md §3.3-3.6).
#include <boost/asio/post.hpp>
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
}  // namespace

void Link::SendSubscribe() {
  storage::Store* store = service_->store();
  auto cursor_or = store->PeerCursor(database_, peer_name_);
  uint64_t cursor = cursor_or.ok() ? *cursor_or : 0;
  auto vector_or = store->ReadVersionVector(database_);
  VersionVector vector = vector_or.ok() ? VersionVector::FromEntries(*vector_or) : VersionVector();
  std::optional<uint64_t> start_time;
  {
    // PeerSpec is guarded by the service lock; copy what we need through the service.
    start_time = service_->StartTimeFor(peer_);
    subscriptions_ = service_->SubscriptionsFor(peer_);
  }
  rules_ = RulesFor(subscriptions_, database_);
  SubscribeStart start = ChooseSubscribeStart(vector, cursor, start_time);
  // One initial copy per database: other links wait for it, then stream from its vector.
  if (std::holds_alternative<StartWithCopy>(start) && DeferSubscribeForCopy()) return;
  std::optional<std::vector<TableRule>> previous_rules;
  if (!std::holds_alternative<StartWithCopy>(start)) {
    // Rules our position was reached under: when they differ, the publisher first merges the
    // tables they did not subscribe to, and the merge's end records today's rules.
    auto stored = store->PeerView(database_, peer_name_);
    std::optional<std::vector<TableRule>> before;
    if (stored.ok() && stored->has_value()) {
      if (auto decoded = DecodeRules(**stored); decoded.ok()) before = std::move(decoded).value();
    }
    if (cursor > 0 && before && *before != rules_) {
      log_->info(
          "peer {} db {}: subscriptions changed since position {}: tables newly "
          "subscribed to will be merged first",
          peer_name_, database_, cursor);
      previous_rules = std::move(before);
    } else if (stored.ok() && (!before || *before != rules_)) {
      RecordRules();  // (a database not here yet has nothing to record)
    }
  }
  if (std::holds_alternative<StartWithCopy>(start)) {
    log_->info("starting initial copy of database {} from {}", database_, peer_name_);
    copying_ = true;
    SetState(LinkState::kCatchingUp);
    common::MutexLock lock(slot_->mu);
    slot_->copy_progress = std::make_pair(uint64_t{0}, uint64_t{0});
    ++slot_->copies_started;
  } else if (auto* t = std::get_if<StartFromTime>(&start)) {
    log_->info("peer {} db {}: starting from time {} (no copy)", peer_name_, database_,
               t->start_time_ms);
    SetState(LinkState::kStreaming);
  } else {
    auto& v = std::get<StartFromVector>(start);
    if (v.after_sender_sequence > 0) {
      log_->info("peer {} db {}: resuming from sequence {}", peer_name_, database_,
                 v.after_sender_sequence);
    } else {
      log_->info("peer {} db {}: streaming from version vector {}", peer_name_, database_,
                 v.vector.ToString());
    }
    applied_seq_ = v.after_sender_sequence;
    acked_sent_ = applied_seq_;
    SetState(LinkState::kStreaming);
  }
  SendMessage(Subscribe{database_, {}, std::move(start), std::move(previous_rules)});
  SendMessage(Credit{database_, kCreditFrames});
}

void Link::RecordRules() {
  storage::CopyChunk chunk;
  chunk.database = database_;
  chunk.peer_name = peer_name_;
  chunk.peer_view = EncodeRules(rules_);
  ApplyChunk(std::move(chunk), "recording the subscription rules", [](Link&) {});
}

void Link::OnSchema(Schema&& s) {
  auto def = TableDefFromJson(s.table_def_json);
  if (!def.ok()) {
    Fail(ErrorCode::kProtocol, "bad Schema: " + def.status().message());
    return;
  }
  storage::TableDef d = std::move(def).value();
  d.database = database_;
  storage::Store* store = service_->store();
  auto current = store->GetTable(database_, d.name);
  // replicate:false here (or in the peer's definition): never created nor touched by peers.
  if (!AcceptsRemoteTableDef(d, current.ok() ? &*current : nullptr, subscriptions_)) return;
  bool needed = !current.ok();
  if (!needed) {
    for (const auto& a : d.attributes) {
      if (current->FindAttribute(a.name) == nullptr) needed = true;
    }
  }
  if (needed) {
    Status st = store->ApplyTableDef(d);
    if (!st.ok()) {
      log_->error("peer {} db {}: cannot apply table {}: {}", peer_name_, database_, d.name,
                  st.ToString());
      return;
    }
  }
  known_tables_.insert(d.name);
}

void Link::OnTransactions(Transactions&& t) {
  if (t.entries.empty()) return;
  storage::Store* store = service_->store();
  const uint64_t now = NowMs();
  for (auto& e : t.entries) {
    if (e.origin == 0 || e.origin_sequence == 0) {
      Fail(ErrorCode::kProtocol, "transaction without origin");
      return;
    }
    storage::ReplicatedTxn txn;
    txn.database = database_;
    txn.peer_name = peer_name_;
    txn.peer_sequence = e.sender_sequence;
    txn.origin = e.origin;
    txn.origin_sequence = e.origin_sequence;
    txn.version = e.version;
    txn.partial = e.partial || RulesExcludeTables(rules_);
    txn.chain = apply_chain_;
    txn.writes.reserve(e.writes.size());
    for (auto& w : e.writes) {
      if (!known_tables_.contains(w.table)) {
        auto local = store->GetTable(database_, w.table);
        if (!local.ok()) continue;  // dropped or never defined
        // A table that is replicate:false here never takes a peer's rows.
        if (!AppliesRemoteRows(*local, {})) continue;
        known_tables_.insert(w.table);
      }
      if (!subscriptions_.empty() && !SubscribesTable(subscriptions_, database_, w.table)) continue;
      txn.writes.push_back(
          storage::LogEntry::Write{std::move(w.table), std::move(w.key), std::move(w.value)});
    }
    ++pending_applies_;
    const uint64_t seq = e.sender_sequence;
    service_->BeginStoreCall();
    store->ApplyReplicatedAsync(
        std::move(txn), [self = shared_from_this(), seq](Result<storage::ApplyResult> r) {
          Status st = r.ok() ? Status::Ok() : r.status();
          ServiceImpl* svc = self->service_;
          asio::post(self->strand_, [self, seq, st = std::move(st)]() mutable {
            self->OnApplied(seq, std::move(st), false);
          });
          svc->EndStoreCall();
        });
  }
  common::MutexLock lock(slot_->mu);
  slot_->received_sequence = t.entries.back().sender_sequence;
  slot_->last_received_version = t.entries.back().version;
  slot_->last_received_local_ms = now;
}

void Link::OnApplied(uint64_t peer_sequence, Status st, bool copy_end) {
  (void)copy_end;
  if (pending_applies_ > 0) --pending_applies_;
  if (read_gate_) read_gate_->cancel();
  if (!st.ok()) {
    StopApplying(peer_sequence, "applying transaction " + std::to_string(peer_sequence), st);
    return;
  }
  applied_seq_ = std::max(applied_seq_, peer_sequence);
  bool error_cleared = false;
  {
    common::MutexLock lock(slot_->mu);
    slot_->applied_sequence = applied_seq_;
    slot_->last_applied_local_ms = NowMs();
    if (!slot_->apply_error.empty() && applied_seq_ >= slot_->apply_error_sequence) {
      slot_->apply_error.clear();
      slot_->apply_error_sequence = 0;
      error_cleared = true;
    }
  }
  if (error_cleared) {
    log_->info("peer {} db {}: applying resumed past the transaction that failed", peer_name_,
               database_);
  }
  if (ack_posted_) return;
  ack_posted_ = true;
  asio::post(strand_, [self = shared_from_this()] {
    self->ack_posted_ = false;
    if (self->applied_seq_ > self->acked_sent_) {
      self->acked_sent_ = self->applied_seq_;
      self->SendMessage(Ack{self->database_, self->applied_seq_});
    }
  });
}

void Link::StopApplying(uint64_t peer_sequence, const std::string& what, const Status& st) {
  if (apply_stopped_) return;  // what was queued behind the first failure fails too
  apply_stopped_ = true;
  const uint64_t retry_ms = service_->options().reconnect_max_ms;
  const std::string error =
      what + " of database " + database_ + " from " + peer_name_ + " failed: " + st.ToString();
  log_->error("{}; applying from this peer stopped, retrying in {} ms", error, retry_ms);
  {
    common::MutexLock lock(slot_->mu);
    slot_->apply_error = error;
    slot_->apply_error_sequence = peer_sequence;
    slot_->copy_progress.reset();
  }
  retry_timer_.emplace(strand_);
  retry_timer_->expires_after(std::chrono::milliseconds(retry_ms));
  retry_timer_->async_wait([self = shared_from_this(), error](const boost::system::error_code& ec) {
    if (!ec) self->Fail(ErrorCode::kInternal, error);  // tells the peer why, then closes
  });
}

void Link::OnCopyBegin(CopyBegin&& c) {
  copying_ = true;
  NoteCopyProgress();
  copy_vector_ = std::move(c.snapshot_vector);
  // A copy that leaves tables out (here or at the publisher, which then sends no vector)
  // installs no vector floor, so nodes pulling from us would never see its rows unless they
  // are logged as ours.
  copy_is_partial_ = RulesExcludeTables(rules_) || copy_vector_.empty();
  copy_total_ = c.total_records;
  copy_records_ = 0;
  SetState(LinkState::kCatchingUp);
  common::MutexLock lock(slot_->mu);
  slot_->copy_progress = std::make_pair(uint64_t{0}, copy_total_);
}

void Link::OnCopyChunk(CopyChunk&& c) {
  const size_t n = c.records.size();
  NoteCopyProgress();
  if (!SubscribesTable(subscriptions_, database_, c.table)) {
    copy_records_ += n;
    return;
  }
  storage::CopyChunk chunk;
  chunk.database = database_;
  chunk.table = c.table;
  auto local = service_->store()->GetTable(database_, c.table);
  if (!c.table_def_json.empty()) {
    auto def = TableDefFromJson(c.table_def_json);
    if (!def.ok()) {
      Fail(ErrorCode::kProtocol, "bad CopyChunk table definition: " + def.status().message());
      return;
    }
    chunk.table_def = std::move(def).value();
    chunk.table_def->database = database_;
    if (!AcceptsRemoteTableDef(*chunk.table_def, local.ok() ? &*local : nullptr, subscriptions_)) {
      copy_records_ += n;  // replicate:false here or there: the rows stay out
      return;
    }
    known_tables_.insert(c.table);
  } else if (!known_tables_.contains(c.table) && !local.ok()) {
    Fail(ErrorCode::kProtocol, "CopyChunk for table '" + c.table + "' without its definition");
    return;
  } else if (local.ok() && !AppliesRemoteRows(*local, subscriptions_)) {
    copy_records_ += n;
    return;
  }
  if (n == 0 && !chunk.table_def) return;
  chunk.rows.reserve(n);
  for (auto& r : c.records) {
    chunk.rows.push_back(storage::RawRow{std::move(r.key), std::move(r.value)});
  }
  chunk.log_rows = copy_is_partial_;
  ApplyChunk(std::move(chunk), "applying a copy chunk", [n](Link& link) {
    link.copy_records_ += n;
    link.NoteCopyProgress();
    common::MutexLock lock(link.slot_->mu);
    link.slot_->copy_progress = std::make_pair(link.copy_records_, link.copy_total_);
    link.slot_->copied_records += n;
  });
}

void Link::ApplyChunk(storage::CopyChunk chunk, std::string what,
                      std::function<void(Link&)> on_applied) {
  ++pending_chunks_;
  chunk.chain = apply_chain_;
  service_->BeginStoreCall();
  service_->store()->ApplyCopyChunkAsync(
      std::move(chunk),
      [self = shared_from_this(), what = std::move(what),
       on_applied = std::move(on_applied)](Result<storage::ApplyResult> r) mutable {
        Status st = r.ok() ? Status::Ok() : r.status();
        ServiceImpl* svc = self->service_;
        asio::post(self->strand_, [self, what = std::move(what), on_applied = std::move(on_applied),
                                   st = std::move(st)]() mutable {
          --self->pending_chunks_;
          if (self->read_gate_) self->read_gate_->cancel();
          if (!st.ok()) {
            self->StopApplying(0, what, st);
            return;
          }
          on_applied(*self);
        });
        svc->EndStoreCall();
      });
}

void Link::OnCopyEnd(CopyEnd&& c) {
  storage::CopyChunk end;
  end.database = database_;
  // A partial copy is no floor (OnCopyBegin): its rows were logged instead.
  if (!copy_is_partial_) end.vector_floor = copy_vector_.entries();
  end.peer_name = peer_name_;
  end.peer_sequence = c.snapshot_sequence;
  end.peer_view = EncodeRules(rules_);
  const uint64_t seq = c.snapshot_sequence;
  ApplyChunk(std::move(end), "finishing the copy", [seq](Link& link) {
    link.copying_ = false;
    link.log_->info("initial copy of database {} from {} done ({} records)", link.database_,
                    link.peer_name_, link.copy_records_);
    {
      common::MutexLock lock(link.slot_->mu);
      link.slot_->copy_progress.reset();
      ++link.slot_->copies_completed;
    }
    link.ReleaseCopyClaim(true);  // the floor is committed: waiting links stream from it
    link.SetState(LinkState::kStreaming);
    ++link.pending_applies_;  // OnApplied balances it
    link.OnApplied(seq, Status::Ok(), true);
  });
}

}  // namespace meshdb::replication
