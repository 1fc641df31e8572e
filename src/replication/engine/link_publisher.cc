// LinkPublisher: answering Subscribe with a copy or the log from a position, Schema ahead of
// the rows that need it, Transactions under credit (docs/protocol.md §3.3-3.8).
#include "replication/engine/link_publisher.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cassert>
#include <set>
#include <utility>

#include "common/log.h"
#include "replication/engine/service_impl.h"
#include "replication/wire/codec.h"
#include "replication/wire/table_def_json.h"
#include "storage/store.h"
#include "storage/stored_record.h"

namespace meshdb::replication {

namespace {
constexpr size_t kSoftFrameBytes = 1u << 20;  // Transactions frames are cut here
constexpr size_t kCopyChunkBytes = 2u << 20;  // CopyChunk payload target
constexpr size_t kPumpQueueBytes = 8u << 20;  // publisher pauses above this
constexpr size_t kMaxScanPerPump = 20000;     // log entries per Pump step
}  // namespace

std::unordered_set<std::string> LinkPublisher::TablesToPublish(
    const std::vector<storage::TableDef>& defs) const {
  return PublishedTables(defs, link_.subscriptions(), requested_tables_);
}

Status LinkPublisher::OnSubscribe(Subscribe&& s) {
  assert(link_.OnStrand());
  const std::string& database = link_.database();
  const std::string& peer_name = link_.peer_name();
  ServiceImpl& service = link_.service();
  if (subscribed_) return Status::InvalidArgument("second Subscribe");
  if (!DatabaseReplicates(service.options().databases, database)) {
    link_.Fail(ErrorCode::kUnauthorized, "database '" + database + "' is not replicated here");
    return Status::Ok();
  }
  subscribed_ = true;
  requested_tables_ = std::move(s.tables);
  if (!link_.outbound()) {
    service.PeerSubscribed(peer_name, link_.peer_url(), database, link_.by_credentials());
  }
  filter_.subscriber_id = NodeIdForName(peer_name);
  if (link_.subscriptions().empty()) link_.LoadSubscriptions();
  storage::Store* store = service.store();
  RefreshSchema();
  uint64_t last = 0;
  if (auto l = store->LastSequence(database); l.ok()) last = *l;
  if (auto* v = std::get_if<StartFromVector>(&s.start)) {
    filter_.subscriber_vector = v->vector;
    next_seq_ = v->after_sender_sequence + 1;
    // The peer becomes a known peer for retention, confirmed through its cursor.
    store->NotePeerConfirmed(database, peer_name, v->after_sender_sequence);
    if (next_seq_ > last + 1) {
      link_.log().warn("peer {} db {}: its cursor {} is past our log ({}); scanning from the start",
                       peer_name, database, v->after_sender_sequence, last);
      next_seq_ = 1;
    }
  } else if (auto* t = std::get_if<StartFromTime>(&s.start)) {
    next_seq_ = last + 1;
    if (auto snap = store->Read(database); snap.ok()) {
      if (auto seq = (*snap)->FindSequenceAtOrAfterTime(t->start_time_ms); seq.ok()) {
        next_seq_ = *seq;
      }
    }
  } else {
    // A known peer for retention from now on (it confirms later entries by Ack).
    store->NotePeerConfirmed(database, peer_name, 0);
    link_.log().info("sending initial copy of database {} to {}", database, peer_name);
    copy_running_ = true;
    link_.SetState(LinkState::kCatchingUp);
    service.RunCopyJob(link_.shared_link(), [link = link_.shared_link(), this] { RunCopy(); });
    return Status::Ok();
  }
  {
    Slot& slot = link_.slot();
    common::MutexLock lock(slot.mu);
    slot.sent_sequence = next_seq_ - 1;
    slot.acked_sequence = std::max(slot.acked_sequence, next_seq_ - 1);
  }
  if (s.previous_rules) {
    merge_.StartNewTables(*s.previous_rules);  // streaming waits for it (Pump checks)
    return Status::Ok();
  }
  Pump();
  return Status::Ok();
}

void LinkPublisher::OnAck(const Ack& a) {
  assert(link_.OnStrand());
  window_.Acked(a.sender_sequence);
  {
    Slot& slot = link_.slot();
    common::MutexLock lock(slot.mu);
    slot.acked_sequence = std::max(slot.acked_sequence, a.sender_sequence);
    slot.last_ack_ms = NowMs();
  }
  // Retention never trims past what a known peer confirmed.
  link_.service().store()->NotePeerConfirmed(link_.database(), link_.peer_name(),
                                             a.sender_sequence);
  Pump();
}

void LinkPublisher::OnCredit(const Credit& c) {
  assert(link_.OnStrand());
  window_.SetCredit(c.frames);
  Pump();
}

void LinkPublisher::ResumeAfter(const VersionVector& vector, uint64_t last) {
  filter_.subscriber_vector.Merge(vector);
  next_seq_ = last + 1;
}

void LinkPublisher::RefreshSchema() {
  const std::string& database = link_.database();
  storage::Store* store = link_.service().store();
  auto version = store->SchemaVersion(database);
  if (!version.ok()) return;
  if (schema_version_ && *schema_version_ == *version) return;
  auto defs = store->ListTables(database);
  if (!defs.ok()) return;
  schema_version_ = *version;
  filter_.tables = TablesToPublish(*defs);
  filter_.excludes_tables = ExcludesTables(*defs, filter_.tables);
  for (const auto& def : *defs) {
    if (!filter_.tables.contains(def.name)) continue;
    std::string json = TableDefToJson(def);
    auto& sent = sent_schema_[def.name];
    if (sent == json) continue;
    sent = json;
    link_.SendMessage(Schema{database, std::move(json)});
  }
}

void LinkPublisher::Pump() {
  assert(link_.OnStrand());
  if (!subscribed_ || copy_running_ || merge_.running() || link_.closing() || !link_.live()) {
    return;
  }
  storage::Store* store = link_.service().store();
  RefreshSchema();
  for (;;) {
    const size_t frames_allowed = window_.Available();
    if (link_.QueuedBytes() >= kPumpQueueBytes || frames_allowed == 0) break;
    auto snap = store->Read(link_.database());
    if (!snap.ok()) return;
    if (merge_.StartIfTrimmed(**snap)) return;
    auto last = (*snap)->LastSequence();
    if (!last.ok() || next_seq_ > *last) break;
    Batch batch = ReadBatch(**snap, frames_allowed);
    if (!batch.too_large.ok()) {
      link_.log().error("peer {} db {}: {}", link_.peer_name(), link_.database(),
                        batch.too_large.message());
      link_.Fail(ErrorCode::kTooLarge, batch.too_large.message());
      return;
    }
    const bool progressed = batch.next_seq != next_seq_;
    SendBatch(std::move(batch));
    if (!progressed) break;
  }
}

LinkPublisher::Batch LinkPublisher::ReadBatch(storage::Snapshot& snap,
                                              size_t frames_allowed) const {
  const std::string& database = link_.database();
  const size_t peer_max = static_cast<size_t>(link_.peer_max_frame());
  const size_t soft = std::min(kSoftFrameBytes, peer_max);
  Batch batch;
  batch.next_seq = next_seq_;
  Transactions current{database, {}};
  size_t current_bytes = 0;
  size_t scanned = 0;
  Status st = snap.ScanLog(next_seq_, [&](const storage::LogEntry& e) {
    std::optional<TxnEntry> out = FilterLogEntry(e, filter_);
    if (out) {
      size_t bytes = TxnEntryWireBytes(*out);
      size_t overhead = TransactionsOverheadBytes(database, current.entries.size() + 1);
      if (bytes + TransactionsOverheadBytes(database, 1) > peer_max) {
        batch.too_large = Status::TooLarge("transaction " + std::to_string(e.sequence) + " is " +
                                           std::to_string(bytes) + " bytes");
        return false;
      }
      if (!current.entries.empty() && current_bytes + bytes + overhead > soft) {
        batch.frames.push_back(std::move(current));
        current = Transactions{database, {}};
        current_bytes = 0;
        if (batch.frames.size() >= frames_allowed) return false;  // the entry waits for credit
      }
      current_bytes += bytes;
      current.entries.push_back(std::move(*out));
    }
    batch.next_seq = e.sequence + 1;
    return ++scanned < kMaxScanPerPump;
  });
  (void)st;
  if (!current.entries.empty()) batch.frames.push_back(std::move(current));
  return batch;
}

void LinkPublisher::SendBatch(Batch&& batch) {
  const bool progressed = batch.next_seq != next_seq_;
  next_seq_ = batch.next_seq;
  for (auto& f : batch.frames) {
    uint64_t highest = f.entries.back().sender_sequence;
    window_.Sent(highest);
    link_.SendMessage(f);
  }
  {
    Slot& slot = link_.slot();
    common::MutexLock lock(slot.mu);
    slot.sent_sequence = next_seq_ - 1;
    if (window_.AllAcked()) slot.acked_sequence = next_seq_ - 1;
  }
  // Everything sent is acknowledged and the rest was filtered out (the peer needs none
  // of it): the peer is confirmed through the scan position, for retention.
  if (window_.AllAcked() && progressed) {
    link_.service().store()->NotePeerConfirmed(link_.database(), link_.peer_name(), next_seq_ - 1);
  }
}

void LinkPublisher::FailCopy(const std::string& why) {
  link_.log().error("peer {} db {}: initial copy failed: {}", link_.peer_name(), link_.database(),
                    why);
  asio::post(link_.strand(), [link = link_.shared_link(), this, why] {
    link_.Fail(ErrorCode::kInternal, "copy failed: " + why);
  });
}

void LinkPublisher::RunCopy() {
  const std::string& database = link_.database();
  uint64_t last = 0;
  VersionVector vector;
  uint64_t sent_records = 0;
  {
    Result<CopyPlan> plan = PlanCopy();
    if (!plan.ok()) return FailCopy(plan.status().ToString());
    last = plan->last;
    vector = plan->vector;
    if (!link_.EnqueueFromCopyThread(
            EncodeFrame(CopyBegin{database, vector, plan->total_records}))) {
      return;
    }
    for (const auto& def : plan->defs) {
      if (!plan->tables.contains(def.name)) continue;
      Status error = Status::Ok();
      if (!CopyTable(*plan->snap, def, &sent_records, &error)) {
        if (!error.ok()) FailCopy(error.ToString());
        return;
      }
    }
  }  // the snapshot closes here, on the thread that opened it
  if (!link_.EnqueueFromCopyThread(EncodeFrame(CopyEnd{database, last}))) return;
  link_.log().info("sent initial copy of database {} to {} ({} records, through sequence {}; {})",
                   database, link_.peer_name(), sent_records, last,
                   peer_copies_stored_ ? "rows as stored" : "record bytes");
  asio::post(link_.strand(), [link = link_.shared_link(), this, vector = std::move(vector), last] {
    copy_running_ = false;
    ResumeAfter(vector, last);
    link_.SetState(LinkState::kStreaming);
    Pump();
  });
}

Result<LinkPublisher::CopyPlan> LinkPublisher::PlanCopy() const {
  const std::string& database = link_.database();
  storage::Store* store = link_.service().store();
  CopyPlan plan;
  if (auto snap = store->Read(database); snap.ok()) plan.snap = std::move(snap).value();
  if (plan.snap) {
    auto v = plan.snap->ReadVersionVector();
    if (!v.ok()) return v.status();
    auto l = plan.snap->LastSequence();
    if (!l.ok()) return l.status();
    plan.vector = VersionVector::FromEntries(*v);
    plan.last = *l;
    if (auto d = store->ListTables(database); d.ok()) plan.defs = std::move(d).value();
  }
  plan.tables = TablesToPublish(plan.defs);
  // A copy that leaves tables out does not hold everything the vector covers.
  if (ExcludesTables(plan.defs, plan.tables)) plan.vector = VersionVector();
  for (const auto& def : plan.defs) {
    if (!plan.tables.contains(def.name)) continue;
    if (auto stats = store->GetStats(database, def.name); stats.ok()) {
      plan.total_records += stats->record_count;
    }
  }
  return plan;
}

bool LinkPublisher::CopyTable(storage::Snapshot& snap, const storage::TableDef& def,
                              uint64_t* sent_records, Status* error) {
  const size_t chunk_limit =
      std::min(kCopyChunkBytes, static_cast<size_t>(link_.peer_max_frame()) / 2);
  CopyChunk chunk;
  chunk.database = link_.database();
  chunk.table = def.name;
  chunk.table_def_json = TableDefToJson(def);
  chunk.stored_values = peer_copies_stored_;
  std::set<uint32_t> sent_dictionaries;
  Status dictionary_error = Status::Ok();
  size_t bytes = 0;
  bool any_sent = false;
  bool open = true;
  auto visit = [&](std::string_view key, std::string_view value) {
    if (chunk.stored_values) {
      Result<std::optional<uint32_t>> id = storage::StoredRecordDictionaryId(value);
      if (!id.ok()) {
        dictionary_error = id.status();
        return false;
      }
      if (*id && **id != 0 && sent_dictionaries.insert(**id).second) {
        Result<std::string> dict = snap.RecordDictionary(**id);
        if (!dict.ok()) {
          dictionary_error = dict.status();
          return false;
        }
        bytes += dict->size();
        chunk.dictionaries.push_back(CopyDictionary{**id, std::move(dict).value()});
      }
    }
    chunk.records.push_back(CopyRecord{std::string(key), std::string(value)});
    bytes += key.size() + value.size() + 8;
    if (bytes >= chunk_limit) {
      *sent_records += chunk.records.size();
      if (!link_.EnqueueFromCopyThread(EncodeFrame(chunk))) {
        open = false;
        return false;
      }
      any_sent = true;
      chunk.records.clear();
      chunk.dictionaries.clear();
      chunk.table_def_json.clear();
      bytes = 0;
    }
    return true;
  };
  Status st =
      chunk.stored_values ? snap.ScanStored(def.name, visit) : snap.ScanRaw(def.name, visit);
  if (!open) return false;
  if (!dictionary_error.ok()) {
    *error = dictionary_error;
    return false;
  }
  if (!st.ok() && st.code() != Status::Code::kNotFound) {
    *error = st;
    return false;
  }
  if (!chunk.records.empty() || !any_sent) {
    *sent_records += chunk.records.size();
    if (!link_.EnqueueFromCopyThread(EncodeFrame(chunk))) return false;
  }
  return true;
}

}  // namespace meshdb::replication
