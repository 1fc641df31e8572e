// Link, publisher half: answering Subscribe with a copy or the log from a position, Schema
// ahead of the rows that need it, Transactions under credit (docs/protocol.md §3.3-3.8).
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <utility>

#include "common/log.h"
#include "replication/engine/service_impl.h"
#include "replication/wire/codec.h"
#include "replication/wire/table_def_json.h"
#include "storage/store.h"

namespace meshdb::replication {

namespace {
constexpr size_t kSoftFrameBytes = 1u << 20;  // Transactions frames are cut here
constexpr size_t kCopyChunkBytes = 2u << 20;  // CopyChunk payload target
constexpr size_t kCopyQueueBytes = 8u << 20;  // copy thread waits above this
constexpr size_t kPumpQueueBytes = 8u << 20;  // publisher pauses above this
constexpr size_t kMaxScanPerPump = 20000;     // log entries per Pump step
}  // namespace

Status Link::OnSubscribe(Subscribe&& s) {
  if (subscribed_) return Status::InvalidArgument("second Subscribe");
  if (!DatabaseReplicates(service_->options().databases, database_)) {
    Fail(ErrorCode::kUnauthorized, "database '" + database_ + "' is not replicated here");
    return Status::Ok();
  }
  subscribed_ = true;
  requested_tables_ = std::move(s.tables);
  if (!outbound_) service_->PeerSubscribed(peer_name_, peer_url_, database_);
  filter_.subscriber_id = NodeIdForName(peer_name_);
  if (subscriptions_.empty()) subscriptions_ = service_->SubscriptionsFor(peer_);
  storage::Store* store = service_->store();
  RefreshSchema();
  uint64_t last = 0;
  if (auto l = store->LastSequence(database_); l.ok()) last = *l;
  if (auto* v = std::get_if<StartFromVector>(&s.start)) {
    filter_.subscriber_vector = v->vector;
    next_seq_ = v->after_sender_sequence + 1;
    // The peer becomes a known peer for retention, confirmed through its cursor.
    store->NotePeerConfirmed(database_, peer_name_, v->after_sender_sequence);
    if (next_seq_ > last + 1) {
      log_->warn("peer {} db {}: its cursor {} is past our log ({}); scanning from the start",
                 peer_name_, database_, v->after_sender_sequence, last);
      next_seq_ = 1;
    }
  } else if (auto* t = std::get_if<StartFromTime>(&s.start)) {
    next_seq_ = last + 1;
    if (auto snap = store->Read(database_); snap.ok()) {
      if (auto seq = (*snap)->FindSequenceAtOrAfterTime(t->start_time_ms); seq.ok()) {
        next_seq_ = *seq;
      }
    }
  } else {
    // A known peer for retention from now on (it confirms later entries by Ack).
    store->NotePeerConfirmed(database_, peer_name_, 0);
    log_->info("sending initial copy of database {} to {}", database_, peer_name_);
    copy_running_ = true;
    SetState(LinkState::kCatchingUp);
    service_->RunCopyJob(shared_from_this(), [self = shared_from_this()] { self->RunCopy(); });
    return Status::Ok();
  }
  {
    common::MutexLock lock(slot_->mu);
    slot_->sent_sequence = next_seq_ - 1;
    slot_->acked_sequence = std::max(slot_->acked_sequence, next_seq_ - 1);
  }
  if (s.previous_rules) {
    StartNewTablesMerge(*s.previous_rules);  // streaming waits for it (Pump checks)
    return Status::Ok();
  }
  Pump();
  return Status::Ok();
}

void Link::RefreshSchema() {
  storage::Store* store = service_->store();
  auto version = store->SchemaVersion(database_);
  if (!version.ok()) return;
  if (schema_version_ && *schema_version_ == *version) return;
  auto defs = store->ListTables(database_);
  if (!defs.ok()) return;
  schema_version_ = *version;
  filter_.tables = PublishedTables(*defs, subscriptions_, requested_tables_);
  filter_.excludes_tables = ExcludesTables(*defs, filter_.tables);
  for (const auto& def : *defs) {
    if (!filter_.tables.contains(def.name)) continue;
    std::string json = TableDefToJson(def);
    auto& sent = sent_schema_[def.name];
    if (sent == json) continue;
    sent = json;
    SendMessage(Schema{database_, std::move(json)});
  }
}

void Link::Pump() {
  if (!subscribed_ || copy_running_ || merge_running_ || closing_ || !live_) return;
  storage::Store* store = service_->store();
  RefreshSchema();
  const size_t peer_max = static_cast<size_t>(peer_max_frame_);
  const size_t soft = std::min(kSoftFrameBytes, peer_max);
  for (;;) {
    size_t queued;
    {
      common::MutexLock lock(copy_mu_);
      queued = queued_bytes_;
    }
    const size_t frames_allowed = window_.Available();
    if (queued >= kPumpQueueBytes || frames_allowed == 0) break;
    auto snap = store->Read(database_);
    if (!snap.ok()) return;
    if (StartMergeIfTrimmed(**snap)) return;
    auto last = (*snap)->LastSequence();
    if (!last.ok() || next_seq_ > *last) break;
    std::vector<Transactions> frames;
    Transactions current{database_, {}};
    size_t current_bytes = 0;
    size_t scanned = 0;
    uint64_t next = next_seq_;
    Status too_large = Status::Ok();
    Status st = (*snap)->ScanLog(next_seq_, [&](const storage::LogEntry& e) {
      std::optional<TxnEntry> out = FilterLogEntry(e, filter_);
      if (out) {
        size_t bytes = TxnEntryWireBytes(*out);
        size_t overhead = TransactionsOverheadBytes(database_, current.entries.size() + 1);
        if (bytes + TransactionsOverheadBytes(database_, 1) > peer_max) {
          too_large = Status::TooLarge("transaction " + std::to_string(e.sequence) + " is " +
                                       std::to_string(bytes) + " bytes");
          return false;
        }
        if (!current.entries.empty() && current_bytes + bytes + overhead > soft) {
          frames.push_back(std::move(current));
          current = Transactions{database_, {}};
          current_bytes = 0;
          if (frames.size() >= frames_allowed) return false;  // the entry waits for credit
        }
        current_bytes += bytes;
        current.entries.push_back(std::move(*out));
      }
      next = e.sequence + 1;
      return ++scanned < kMaxScanPerPump;
    });
    (void)st;
    if (!current.entries.empty()) frames.push_back(std::move(current));
    if (!too_large.ok()) {
      log_->error("peer {} db {}: {}", peer_name_, database_, too_large.message());
      Fail(ErrorCode::kTooLarge, too_large.message());
      return;
    }
    const bool progressed = next != next_seq_;
    next_seq_ = next;
    for (auto& f : frames) {
      uint64_t highest = f.entries.back().sender_sequence;
      window_.Sent(highest);
      SendMessage(f);
    }
    {
      common::MutexLock lock(slot_->mu);
      slot_->sent_sequence = next_seq_ - 1;
      if (window_.AllAcked()) slot_->acked_sequence = next_seq_ - 1;
    }
    // Everything sent is acknowledged and the rest was filtered out (the peer needs none
    // of it): the peer is confirmed through the scan position, for retention.
    if (window_.AllAcked() && progressed) {
      store->NotePeerConfirmed(database_, peer_name_, next_seq_ - 1);
    }
    if (!progressed) break;
  }
}

void Link::RunCopy() {
  storage::Store* store = service_->store();
  auto fail = [&](const std::string& why) {
    log_->error("peer {} db {}: initial copy failed: {}", peer_name_, database_, why);
    asio::post(strand_, [self = shared_from_this(), why] {
      self->Fail(ErrorCode::kInternal, "copy failed: " + why);
    });
  };
  uint64_t last = 0;
  VersionVector vector;
  uint64_t sent_records = 0;
  {
    auto snap_or = store->Read(database_);
    std::unique_ptr<storage::Snapshot> snap;
    if (snap_or.ok()) snap = std::move(snap_or).value();
    std::vector<storage::TableDef> defs;
    if (snap) {
      auto v = snap->ReadVersionVector();
      auto l = snap->LastSequence();
      if (!v.ok() || !l.ok()) return fail(!v.ok() ? v.status().ToString() : l.status().ToString());
      vector = VersionVector::FromEntries(*v);
      last = *l;
      if (auto d = store->ListTables(database_); d.ok()) defs = std::move(d).value();
    }
    auto tables = PublishedTables(defs, subscriptions_, requested_tables_);
    // A copy that leaves tables out does not hold everything the vector covers.
    if (ExcludesTables(defs, tables)) vector = VersionVector();
    uint64_t total = 0;
    for (const auto& def : defs) {
      if (!tables.contains(def.name)) continue;
      if (auto stats = store->GetStats(database_, def.name); stats.ok()) {
        total += stats->record_count;
      }
    }
    if (!EnqueueFromCopyThread(EncodeFrame(CopyBegin{database_, vector, total}))) return;
    const size_t chunk_limit = std::min(kCopyChunkBytes, static_cast<size_t>(peer_max_frame_) / 2);
    for (const auto& def : defs) {
      if (!tables.contains(def.name)) continue;
      CopyChunk chunk{database_, def.name, TableDefToJson(def), {}};
      size_t bytes = 0;
      bool any_sent = false;
      bool ok = true;
      Status st = snap->ScanRaw(def.name, [&](std::string_view key, std::string_view value) {
        chunk.records.push_back(CopyRecord{std::string(key), std::string(value)});
        bytes += key.size() + value.size() + 8;
        if (bytes >= chunk_limit) {
          sent_records += chunk.records.size();
          if (!EnqueueFromCopyThread(EncodeFrame(chunk))) {
            ok = false;
            return false;
          }
          any_sent = true;
          chunk.records.clear();
          chunk.table_def_json.clear();
          bytes = 0;
        }
        return true;
      });
      if (!ok) return;
      if (!st.ok() && st.code() != Status::Code::kNotFound) return fail(st.ToString());
      if (!chunk.records.empty() || !any_sent) {
        sent_records += chunk.records.size();
        if (!EnqueueFromCopyThread(EncodeFrame(chunk))) return;
      }
    }
  }  // the snapshot closes here, on the thread that opened it
  if (!EnqueueFromCopyThread(EncodeFrame(CopyEnd{database_, last}))) return;
  log_->info("sent initial copy of database {} to {} ({} records, through sequence {})", database_,
             peer_name_, sent_records, last);
  asio::post(strand_, [self = shared_from_this(), vector = std::move(vector), last] {
    self->copy_running_ = false;
    self->filter_.subscriber_vector.Merge(vector);
    self->next_seq_ = last + 1;
    self->SetState(LinkState::kStreaming);
    self->Pump();
  });
}

bool Link::EnqueueFromCopyThread(std::string frame) {
  {
    common::MutexLock lock(copy_mu_);
    copy_cv_.wait(lock,
                  [&]() REQUIRES(copy_mu_) { return closed_ || queued_bytes_ < kCopyQueueBytes; });
    if (closed_) return false;
    queued_bytes_ += frame.size();
  }
  asio::post(strand_, [self = shared_from_this(),
                       f = std::make_shared<const std::string>(std::move(frame))] {
    if (self->closing_) {
      common::MutexLock lock(self->copy_mu_);
      self->queued_bytes_ -= f->size();
      return;
    }
    self->queue_.push_back(f);
    if (!self->writing_) {
      self->writing_ = true;
      asio::co_spawn(self->strand_, self->WriteLoop(), asio::detached);
    }
  });
  return true;
}

}  // namespace meshdb::replication
