// Link: merge resync (a subscriber whose position fell out of the publisher's retained log).
// docs/protocol.md §5.10, docs/replication.md "Retention and merge
// resync".
//
// Publisher: MergeBegin, then per published table MergeHashes (bucket sums of a snapshot S1,
// on a copy thread) -> the subscriber answers each with MergeRequest (the buckets whose sums
// differ from its own) -> once all are in, a second thread sends the rows of those buckets
// (MergeRows, read from a fresh snapshot, always at least as new as S1) and MergeEnd with
// S1's vector and sequence; streaming resumes after S1's sequence, so nothing committed
// after S1 is missed (re-sent rows lose last-writer-wins harmlessly).
// Subscriber: applies MergeRows with ApplyCopyChunkAsync (last-writer-wins on raw rows: rows
// only it holds survive, tombstones count as writes), then installs S1's vector as a floor
// and S1's sequence as its cursor, in one commit. Each direction of a connection merges on
// its own, so the returning node's own writes reach the other side through its publisher.
#include <boost/asio/post.hpp>
#include <utility>

#include "common/log.h"
#include "replication/engine/service_impl.h"
#include "replication/engine/subscription_rules.h"
#include "replication/wire/codec.h"
#include "replication/wire/table_def_json.h"
#include "storage/range_hash.h"
#include "storage/store.h"

namespace meshdb::replication {

namespace {
constexpr size_t kMergeChunkBytes = 1u << 20;
}  // namespace

// --- Publisher ---

bool Link::StartMergeIfTrimmed(storage::Snapshot& snap) {
  if (merge_running_) return true;
  auto log_start = snap.LogStart();
  if (!log_start.ok() || next_seq_ >= *log_start) return false;
  if (!peer_merge_) {
    log_->error(
        "peer {} db {}: its position {} is older than our log start {} and it cannot merge; "
        "streaming from the log start (rows written before it are not resent)",
        peer_name_, database_, next_seq_ - 1, *log_start);
    next_seq_ = *log_start;
    return false;
  }
  log_->info("starting merge resync of database {} with {} (position {} older than log start {})",
             database_, peer_name_, next_seq_ - 1, *log_start);
  StartMerge(*log_start, std::nullopt);
  return true;
}

void Link::StartNewTablesMerge(const std::vector<TableRule>& previous_rules) {
  auto tables = NewlySubscribedTables(filter_.tables, previous_rules, database_);
  std::string names;
  for (const auto& t : tables) names += (names.empty() ? "" : ", ") + t;
  log_->info("starting merge of newly subscribed tables of database {} with {}: [{}]", database_,
             peer_name_, names);
  StartMerge(0, std::move(tables));
}

void Link::StartMerge(uint64_t log_start, std::optional<std::unordered_set<std::string>> only) {
  merge_running_ = true;
  merge_new_tables_ = only.has_value();
  merge_started_ms_ = NowMs();
  merge_requests_.clear();
  merge_bucket_counts_.clear();
  SetState(LinkState::kCatchingUp);
  const uint64_t after = next_seq_ - 1;
  service_->RunCopyJob(shared_from_this(),
                       [self = shared_from_this(), after, log_start, only = std::move(only)] {
                         self->RunMergeHashes(after, log_start, only);
                       });
}

void Link::RunMergeHashes(uint64_t after, uint64_t log_start,
                          std::optional<std::unordered_set<std::string>> only) {
  storage::Store* store = service_->store();
  auto fail = [&](const std::string& why) {
    log_->error("peer {} db {}: merge resync failed: {}", peer_name_, database_, why);
    asio::post(strand_, [self = shared_from_this(), why] {
      self->Fail(ErrorCode::kInternal, "merge failed: " + why);
    });
  };
  VersionVector vector;
  uint64_t last = 0;
  std::vector<MergeHashes> hashes;
  {
    auto snap = store->Read(database_);
    if (!snap.ok()) return fail(snap.status().ToString());
    auto v = (*snap)->ReadVersionVector();
    auto l = (*snap)->LastSequence();
    if (!v.ok() || !l.ok()) return fail(!v.ok() ? v.status().ToString() : l.status().ToString());
    vector = VersionVector::FromEntries(*v);
    last = *l;
    std::vector<storage::TableDef> defs;
    if (auto d = store->ListTables(database_); d.ok()) defs = std::move(d).value();
    auto tables = PublishedTables(defs, subscriptions_, requested_tables_);
    if (only || ExcludesTables(defs, tables)) {
      // Not every table the vector covers is merged: it is no floor, and a merge of newly
      // subscribed tables leaves the subscriber's position where it is.
      vector = VersionVector();
    }
    if (only) last = 0;
    for (const auto& def : defs) {
      if (!tables.contains(def.name) || (only && !only->contains(def.name))) continue;
      uint64_t rows = 0;
      if (auto stats = store->GetStats(database_, def.name); stats.ok()) rows = stats->record_count;
      const uint32_t buckets = storage::BucketCountFor(rows);
      auto h = storage::HashTable(**snap, def.name, buckets);
      if (!h.ok()) return fail(h.status().ToString());
      hashes.push_back(
          MergeHashes{database_, def.name, TableDefToJson(def), buckets, std::move(h->buckets)});
    }
  }  // the snapshot closes on the thread that opened it
  const uint32_t count = static_cast<uint32_t>(hashes.size());
  std::map<std::string, uint32_t> bucket_counts;
  for (const auto& h : hashes) bucket_counts[h.table] = h.bucket_count;
  // The state the requests need is in place before the first hash can be answered.
  asio::post(strand_, [self = shared_from_this(), vector, last, count,
                       bucket_counts = std::move(bucket_counts)]() mutable {
    self->merge_vector_ = std::move(vector);
    self->merge_last_ = last;
    self->merge_expected_ = count;
    self->merge_bucket_counts_ = std::move(bucket_counts);
  });
  if (!EnqueueFromCopyThread(
          EncodeFrame(MergeBegin{database_, log_start, after, count, only.has_value()}))) {
    return;
  }
  for (auto& h : hashes) {
    if (!EnqueueFromCopyThread(EncodeFrame(h))) return;
  }
  if (count == 0) {
    asio::post(strand_, [self = shared_from_this()] {
      self->service_->RunCopyJob(self,
                                 [self, vector = self->merge_vector_, last = self->merge_last_] {
                                   self->RunMergeRows({}, {}, vector, last);
                                 });
    });
  }
}

Status Link::OnMergeRequest(MergeRequest&& r) {
  if (!merge_running_ || merge_expected_ == 0) {
    return Status::InvalidArgument("MergeRequest outside a merge");
  }
  auto it = merge_bucket_counts_.find(r.table);
  if (it == merge_bucket_counts_.end() || merge_requests_.contains(r.table)) {
    return Status::InvalidArgument("MergeRequest for unexpected table '" + r.table + "'");
  }
  for (uint32_t b : r.buckets) {
    if (b >= it->second) return Status::InvalidArgument("MergeRequest bucket out of range");
  }
  merge_requests_[r.table] = std::move(r.buckets);
  if (--merge_expected_ > 0) return Status::Ok();
  service_->RunCopyJob(shared_from_this(),
                       [self = shared_from_this(), req = std::move(merge_requests_),
                        counts = merge_bucket_counts_, vector = merge_vector_,
                        last = merge_last_] { self->RunMergeRows(req, counts, vector, last); });
  merge_requests_.clear();
  return Status::Ok();
}

void Link::RunMergeRows(std::map<std::string, std::vector<uint32_t>> requests,
                        std::map<std::string, uint32_t> counts, VersionVector vector,
                        uint64_t last) {
  storage::Store* store = service_->store();
  uint64_t sent = 0;
  {
    auto snap = store->Read(database_);
    const size_t limit = std::min(kMergeChunkBytes, static_cast<size_t>(peer_max_frame_) / 2);
    for (const auto& [table, buckets] : requests) {
      if (buckets.empty() || !snap.ok()) continue;
      const uint32_t count = counts[table];
      std::vector<bool> wanted(count, false);
      for (uint32_t b : buckets) wanted[b] = true;
      MergeRows rows{database_, table, {}};
      size_t bytes = 0;
      bool ok = true;
      Status st = (*snap)->ScanRaw(table, [&](std::string_view key, std::string_view value) {
        if (!wanted[storage::KeyBucket(key, count)]) return true;
        rows.records.push_back(CopyRecord{std::string(key), std::string(value)});
        bytes += key.size() + value.size() + 8;
        if (bytes >= limit) {
          sent += rows.records.size();
          if (!EnqueueFromCopyThread(EncodeFrame(rows))) {
            ok = false;
            return false;
          }
          rows.records.clear();
          bytes = 0;
        }
        return true;
      });
      if (!ok) return;
      (void)st;  // a table dropped meanwhile: nothing to send
      if (!rows.records.empty()) {
        sent += rows.records.size();
        if (!EnqueueFromCopyThread(EncodeFrame(rows))) return;
      }
    }
  }
  if (!EnqueueFromCopyThread(EncodeFrame(MergeEnd{database_, vector, last, sent}))) return;
  asio::post(strand_, [self = shared_from_this(), sent] { self->FinishMerge(sent); });
}

void Link::FinishMerge(uint64_t records_sent) {
  merge_running_ = false;
  if (!merge_new_tables_) {
    filter_.subscriber_vector.Merge(merge_vector_);
    next_seq_ = merge_last_ + 1;
    common::MutexLock lock(slot_->mu);
    slot_->sent_sequence = merge_last_;
  }
  {
    common::MutexLock lock(slot_->mu);
    ++slot_->merges_completed;
    slot_->merge_records_sent += records_sent;
    slot_->last_merge_ms = NowMs() - merge_started_ms_;
  }
  log_->info("merge resync of {} with {} done: {} records sent, 0 received ({} ms)", database_,
             peer_name_, records_sent, NowMs() - merge_started_ms_);
  SetState(LinkState::kStreaming);
  Pump();
}

// --- Subscriber ---

void Link::OnMergeBegin(MergeBegin&& m) {
  log_->info("peer {} db {}: merge resync requested (our position {}, its log start {}, {} tables)",
             peer_name_, database_, m.after_sequence, m.log_start, m.table_count);
  merging_ = true;
  merge_received_ = 0;
  merge_sub_started_ms_ = NowMs();
  merge_defs_.clear();
  SetState(LinkState::kCatchingUp);
}

void Link::OnMergeHashes(MergeHashes&& m) {
  MergeRequest request{database_, m.table, {}};
  auto def = TableDefFromJson(m.table_def_json);
  if (!def.ok()) {
    Fail(ErrorCode::kProtocol, "bad MergeHashes table definition: " + def.status().message());
    return;
  }
  storage::TableDef d = std::move(def).value();
  d.database = database_;
  d.name = m.table;
  storage::Store* store = service_->store();
  auto local = store->GetTable(database_, m.table);
  const bool accepted = AcceptsRemoteTableDef(d, local.ok() ? &*local : nullptr, subscriptions_) &&
                        (!local.ok() || AppliesRemoteRows(*local, subscriptions_));
  if (accepted) {
    std::vector<uint64_t> mine(m.bucket_count, 0);
    if (local.ok()) {
      auto snap = store->Read(database_);
      if (snap.ok()) {
        auto h = storage::HashTable(**snap, m.table, m.bucket_count);
        if (h.ok()) mine = std::move(h->buckets);
      }
    }
    for (uint32_t i = 0; i < m.bucket_count; ++i) {
      if (mine[i] != m.buckets[i]) request.buckets.push_back(i);
    }
    if (!request.buckets.empty()) merge_defs_[m.table] = std::move(d);
  }
  SendMessage(request);
}

void Link::OnMergeRows(MergeRows&& m) {
  const size_t n = m.records.size();
  storage::CopyChunk chunk;
  chunk.database = database_;
  chunk.table = m.table;
  auto def = merge_defs_.find(m.table);
  if (def == merge_defs_.end() && !known_tables_.contains(m.table)) {
    Fail(ErrorCode::kProtocol, "MergeRows for table '" + m.table + "' that was not requested");
    return;
  }
  if (def != merge_defs_.end()) {
    chunk.table_def = std::move(def->second);
    merge_defs_.erase(def);
    known_tables_.insert(m.table);
  }
  chunk.rows.reserve(n);
  for (auto& r : m.records) {
    chunk.rows.push_back(storage::RawRow{std::move(r.key), std::move(r.value)});
  }
  // Logged as our transaction: a node pulling from us gets the rows too.
  chunk.log_rows = true;
  ApplyChunk(std::move(chunk), "applying merge rows",
             [n](Link& link) { link.merge_received_ += n; });
}

void Link::OnMergeEnd(MergeEnd&& m) {
  storage::CopyChunk end;
  end.database = database_;
  // Rows of tables our rules leave out were not merged: the publisher's vector is no floor.
  if (!RulesExcludeTables(rules_)) end.vector_floor = m.snapshot_vector.entries();
  end.peer_name = peer_name_;
  end.peer_sequence = m.snapshot_sequence;  // 0 for new tables: the cursor stays
  end.peer_view = EncodeRules(rules_);
  const uint64_t seq = m.snapshot_sequence;
  ApplyChunk(std::move(end), "finishing the merge", [seq](Link& link) {
    link.merging_ = false;
    {
      common::MutexLock lock(link.slot_->mu);
      ++link.slot_->merges_completed;
      link.slot_->merge_records_received += link.merge_received_;
      link.slot_->last_merge_ms = NowMs() - link.merge_sub_started_ms_;
    }
    link.log_->info("merge resync of {} with {} done: 0 records sent, {} received ({} ms)",
                    link.database_, link.peer_name_, link.merge_received_,
                    NowMs() - link.merge_sub_started_ms_);
    link.SetState(LinkState::kStreaming);
    ++link.pending_applies_;  // OnApplied balances it
    link.OnApplied(seq, Status::Ok(), true);
  });
}

}  // namespace meshdb::replication
