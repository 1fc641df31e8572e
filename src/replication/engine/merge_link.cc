// Merge resync on one link: MergePublisher and MergeSubscriber (merge_link.h).
#include "replication/engine/merge_link.h"

#include <boost/asio/post.hpp>
#include <cassert>
#include <utility>

#include "common/log.h"
#include "replication/engine/link_publisher.h"
#include "replication/engine/link_subscriber.h"
#include "replication/engine/service_impl.h"
#include "replication/engine/subscription_rules.h"
#include "replication/wire/codec.h"
#include "replication/wire/table_def_json.h"
#include "storage/range_hash.h"
#include "storage/store.h"

namespace meshdb::replication {

namespace {
constexpr size_t kMergeChunkBytes = 1u << 20;

// One side of a link's merges (LinkMerges::receive or ::send).
using Side = std::optional<MergeProgress> LinkMerges::*;

// The progress of `link`'s running merge on `side`, in its slot; null when none runs (a link
// sharing the slot keeps its own: Slot::merges).
MergeProgress* Progress(Slot& slot, LinkContext& link, Side side) REQUIRES(slot.mu) {
  auto it = slot.merges.find(link.self());
  if (it == slot.merges.end() || !(it->second.*side)) return nullptr;
  return &*(it->second.*side);
}

// A merge on `side` of `link` begins (started_ms): its progress, in `phase`.
void BeginProgress(Slot& slot, LinkContext& link, Side side, const char* phase, uint64_t started_ms)
    REQUIRES(slot.mu) {
  MergeProgress& p = (slot.merges[link.self()].*side).emplace();
  p.phase = phase;
  p.started_ms = started_ms;
}

// The merge on `side` of `link` ended: its progress goes (and the link's entry with it once
// neither side runs).
void EndProgress(Slot& slot, LinkContext& link, Side side) REQUIRES(slot.mu) {
  auto it = slot.merges.find(link.self());
  if (it == slot.merges.end()) return;
  (it->second.*side).reset();
  if (!it->second.receive && !it->second.send) slot.merges.erase(it);
}

// The rows phase of `p` begins (the rate is counted from here).
void BeginRows(MergeProgress& p, const char* phase) {
  p.phase = phase;
  if (p.rows_started_ms == 0) p.rows_started_ms = NowMs();
}

// Rows of `rows_per_bucket` in the `buckets` asked for.
uint64_t RowsIn(const std::vector<uint32_t>& rows_per_bucket,
                const std::vector<uint32_t>& buckets) {
  uint64_t n = 0;
  for (uint32_t b : buckets) {
    if (b < rows_per_bucket.size()) n += rows_per_bucket[b];
  }
  return n;
}
}  // namespace

// --- Publisher ---

bool MergePublisher::StartIfTrimmed(storage::Snapshot& snap) {
  assert(link_.OnStrand());
  if (running_) return true;
  const uint64_t next_seq = publisher_.next_sequence();
  auto log_start = snap.LogStart();
  if (!log_start.ok() || next_seq >= *log_start) return false;
  if (!peer_merges_) {
    link_.log().error(
        "peer {} db {}: its position {} is older than our log start {} and it cannot merge; "
        "streaming from the log start (rows written before it are not resent)",
        link_.peer_name(), link_.database(), next_seq - 1, *log_start);
    publisher_.SkipTo(*log_start);
    return false;
  }
  Start(*log_start, std::nullopt);
  return true;
}

void MergePublisher::StartNewTables(const std::vector<TableRule>& previous_rules) {
  assert(link_.OnStrand());
  Start(0, NewlySubscribedTables(publisher_.published_tables(), previous_rules, link_.database()));
}

void MergePublisher::Start(uint64_t log_start,
                           std::optional<std::unordered_set<std::string>> only) {
  running_ = true;  // the stream waits, also while the merge waits for our dial
  switch (link_.service().ClaimMerge(link_.shared_link())) {
    case ServiceImpl::MergeClaim::kClaimed:
      break;
    case ServiceImpl::MergeClaim::kAfterDial:
      link_.log().info(
          "peer {} db {}: the merge resync waits for this node's own connection to the peer, "
          "which would replace this one",
          link_.peer_name(), link_.database());
      after_dial_ = PendingStart{log_start, std::move(only)};
      link_.SetState(LinkState::kCatchingUp);
      return;
    case ServiceImpl::MergeClaim::kReplaced:
      return;  // the link closes: the merge runs on the connection that replaced it
  }
  if (only) {
    std::string names;
    for (const auto& t : *only) names += (names.empty() ? "" : ", ") + t;
    link_.log().info("starting merge of newly subscribed tables of database {} with {}: [{}]",
                     link_.database(), link_.peer_name(), names);
  } else {
    link_.log().info(
        "starting merge resync of database {} with {} (position {} older than log start {})",
        link_.database(), link_.peer_name(), publisher_.next_sequence() - 1, log_start);
  }
  new_tables_ = only.has_value();
  started_ms_ = NowMs();
  requests_.clear();
  bucket_counts_.clear();
  bucket_rows_.clear();
  {
    Slot& slot = link_.slot();
    common::MutexLock lock(slot.mu);
    BeginProgress(slot, link_, &LinkMerges::send, "hashing", started_ms_);
  }
  link_.SetState(LinkState::kCatchingUp);
  const uint64_t after = publisher_.next_sequence() - 1;
  link_.service().RunCopyJob(link_.shared_link(),
                             [link = link_.shared_link(), this, after, log_start,
                              only = std::move(only)] { RunMergeHashes(after, log_start, only); });
}

Result<MergePublisher::Hashes> MergePublisher::ReadHashes(
    const std::optional<std::unordered_set<std::string>>& only) const {
  const std::string& database = link_.database();
  storage::Store* store = link_.service().store();
  auto snap = store->Read(database);
  if (!snap.ok()) return snap.status();
  auto v = (*snap)->ReadVersionVector();
  if (!v.ok()) return v.status();
  auto l = (*snap)->LastSequence();
  if (!l.ok()) return l.status();
  Hashes out;
  out.vector = VersionVector::FromEntries(*v);
  out.last = *l;
  std::vector<storage::TableDef> defs;
  if (auto d = store->ListTables(database); d.ok()) defs = std::move(d).value();
  auto tables = publisher_.TablesToPublish(defs);
  if (only || ExcludesTables(defs, tables)) {
    // Not every table the vector covers is merged: it is no floor, and a merge of newly
    // subscribed tables leaves the subscriber's position where it is.
    out.vector = VersionVector();
  }
  if (only) out.last = 0;
  for (const auto& def : defs) {
    if (!tables.contains(def.name) || (only && !only->contains(def.name))) continue;
    uint64_t rows = 0;
    if (auto stats = store->GetStats(database, def.name); stats.ok()) rows = stats->record_count;
    const uint32_t buckets = storage::BucketCountFor(rows);
    auto h = storage::HashTable(**snap, def.name, buckets);
    if (!h.ok()) return h.status();
    out.bucket_rows[def.name] = std::move(h->bucket_rows);
    out.tables.push_back(
        MergeHashes{database, def.name, TableDefToJson(def), buckets, std::move(h->buckets)});
  }
  return out;  // the snapshot closes here, on the thread that opened it
}

void MergePublisher::RunMergeHashes(uint64_t after, uint64_t log_start,
                                    std::optional<std::unordered_set<std::string>> only) {
  const std::string& database = link_.database();
  Result<Hashes> hashes = ReadHashes(only);
  if (!hashes.ok()) {
    const std::string why = hashes.status().ToString();
    link_.log().error("peer {} db {}: merge resync failed: {}", link_.peer_name(), database, why);
    asio::post(link_.strand(), [link = link_.shared_link(), this, why] {
      link_.Fail(ErrorCode::kInternal, "merge failed: " + why);
    });
    return;
  }
  const uint32_t count = static_cast<uint32_t>(hashes->tables.size());
  std::map<std::string, uint32_t> bucket_counts;
  for (const auto& h : hashes->tables) bucket_counts[h.table] = h.bucket_count;
  // The state the requests need is in place before the first hash can be answered.
  asio::post(link_.strand(), [link = link_.shared_link(), this, vector = hashes->vector,
                              last = hashes->last, count, bucket_counts = std::move(bucket_counts),
                              bucket_rows = std::move(hashes->bucket_rows)]() mutable {
    vector_ = std::move(vector);
    last_ = last;
    expected_ = count;
    bucket_counts_ = std::move(bucket_counts);
    bucket_rows_ = std::move(bucket_rows);
    Slot& slot = link_.slot();
    common::MutexLock lock(slot.mu);
    if (MergeProgress* p = Progress(slot, link_, &LinkMerges::send)) p->phase = "comparing";
  });
  if (!link_.EnqueueFromCopyThread(
          EncodeFrame(MergeBegin{database, log_start, after, count, only.has_value()}))) {
    return;
  }
  for (auto& h : hashes->tables) {
    if (!link_.EnqueueFromCopyThread(EncodeFrame(h))) return;
  }
  if (count == 0) {
    asio::post(link_.strand(), [link = link_.shared_link(), this] {
      {
        Slot& slot = link_.slot();
        common::MutexLock lock(slot.mu);
        if (MergeProgress* p = Progress(slot, link_, &LinkMerges::send)) {
          BeginRows(*p, "sending");
          p->total_known = true;
        }
      }
      std::optional<uint64_t> total;
      if (peer_takes_total_) total = 0;
      link_.service().RunCopyJob(link, [link, this, vector = vector_, last = last_, total] {
        RunMergeRows({}, {}, vector, last, total);
      });
    });
  }
}

void MergePublisher::ResumeAfterDial() {
  assert(link_.OnStrand());
  if (link_.closing() || !after_dial_) return;
  PendingStart start = std::move(*after_dial_);
  after_dial_.reset();
  Start(start.log_start, std::move(start.only));
}

Status MergePublisher::OnRequest(MergeRequest&& r) {
  assert(link_.OnStrand());
  if (!running_ || expected_ == 0) {
    return Status::InvalidArgument("MergeRequest outside a merge");
  }
  auto it = bucket_counts_.find(r.table);
  if (it == bucket_counts_.end() || requests_.contains(r.table)) {
    return Status::InvalidArgument("MergeRequest for unexpected table '" + r.table + "'");
  }
  for (uint32_t b : r.buckets) {
    if (b >= it->second) return Status::InvalidArgument("MergeRequest bucket out of range");
  }
  requests_[r.table] = std::move(r.buckets);
  if (--expected_ > 0) return Status::Ok();
  uint64_t rows = 0;
  for (const auto& [table, buckets] : requests_) rows += RowsIn(bucket_rows_[table], buckets);
  bucket_rows_.clear();
  {
    Slot& slot = link_.slot();
    common::MutexLock lock(slot.mu);
    if (MergeProgress* p = Progress(slot, link_, &LinkMerges::send)) {
      BeginRows(*p, "sending");
      p->total = rows;
      p->total_known = true;
    }
  }
  std::optional<uint64_t> total;
  if (peer_takes_total_) total = rows;
  link_.service().RunCopyJob(
      link_.shared_link(),
      [link = link_.shared_link(), this, req = std::move(requests_), counts = bucket_counts_,
       vector = vector_, last = last_, total] { RunMergeRows(req, counts, vector, last, total); });
  requests_.clear();
  return Status::Ok();
}

void MergePublisher::RunMergeRows(std::map<std::string, std::vector<uint32_t>> requests,
                                  std::map<std::string, uint32_t> counts, VersionVector vector,
                                  uint64_t last, std::optional<uint64_t> total) {
  const std::string& database = link_.database();
  storage::Store* store = link_.service().store();
  if (total && !link_.EnqueueFromCopyThread(EncodeFrame(MergeTotal{database, *total}))) return;
  uint64_t sent = 0;
  // Counts the rows queued so far in the slot (a copy thread: under the slot's lock).
  auto report = [&] {
    Slot& slot = link_.slot();
    common::MutexLock lock(slot.mu);
    if (MergeProgress* p = Progress(slot, link_, &LinkMerges::send)) p->records = sent;
  };
  {
    auto snap = store->Read(database);
    const size_t limit =
        std::min(kMergeChunkBytes, static_cast<size_t>(link_.peer_max_frame()) / 2);
    for (const auto& [table, buckets] : requests) {
      if (buckets.empty() || !snap.ok()) continue;
      const uint32_t count = counts[table];
      std::vector<bool> wanted(count, false);
      for (uint32_t b : buckets) wanted[b] = true;
      MergeRows rows{database, table, {}};
      size_t bytes = 0;
      bool ok = true;
      Status st = (*snap)->ScanRaw(table, [&](std::string_view key, std::string_view value) {
        if (!wanted[storage::KeyBucket(key, count)]) return true;
        rows.records.push_back(CopyRecord{std::string(key), std::string(value)});
        bytes += key.size() + value.size() + 8;
        if (bytes >= limit) {
          sent += rows.records.size();
          if (!link_.EnqueueFromCopyThread(EncodeFrame(rows))) {
            ok = false;
            return false;
          }
          report();
          rows.records.clear();
          bytes = 0;
        }
        return true;
      });
      if (!ok) return;
      (void)st;  // a table dropped meanwhile: nothing to send
      if (!rows.records.empty()) {
        sent += rows.records.size();
        if (!link_.EnqueueFromCopyThread(EncodeFrame(rows))) return;
        report();
      }
    }
  }
  if (!link_.EnqueueFromCopyThread(EncodeFrame(MergeEnd{database, vector, last, sent}))) return;
  asio::post(link_.strand(), [link = link_.shared_link(), this, sent] { Finish(sent); });
}

void MergePublisher::Finish(uint64_t records_sent) {
  assert(link_.OnStrand());
  running_ = false;
  // MergeEnd is queued: the duplicate rule no longer keeps the link for it.
  link_.service().ReleaseMerge(link_.self());
  Slot& slot = link_.slot();
  if (!new_tables_) {
    publisher_.ResumeAfter(vector_, last_);
    common::MutexLock lock(slot.mu);
    slot.sent_sequence = last_;
  }
  {
    common::MutexLock lock(slot.mu);
    ++slot.merges_completed;
    slot.merge_records_sent += records_sent;
    slot.last_merge_ms = NowMs() - started_ms_;
    EndProgress(slot, link_, &LinkMerges::send);
  }
  link_.log().info("merge resync of {} with {} done: {} records sent, 0 received ({} ms)",
                   link_.database(), link_.peer_name(), records_sent, NowMs() - started_ms_);
  link_.SetState(LinkState::kStreaming);
  publisher_.Pump();
}

// --- Subscriber ---

void MergeSubscriber::OnBegin(MergeBegin&& m) {
  assert(link_.OnStrand());
  link_.log().info(
      "peer {} db {}: merge resync requested (our position {}, its log start {}, {} tables)",
      link_.peer_name(), link_.database(), m.after_sequence, m.log_start, m.table_count);
  merging_ = true;
  received_ = 0;
  started_ms_ = NowMs();
  defs_.clear();
  {
    Slot& slot = link_.slot();
    common::MutexLock lock(slot.mu);
    BeginProgress(slot, link_, &LinkMerges::receive, "comparing", started_ms_);
  }
  link_.SetState(LinkState::kCatchingUp);
}

void MergeSubscriber::OnHashes(MergeHashes&& m) {
  assert(link_.OnStrand());
  const std::string& database = link_.database();
  const auto& subscriptions = link_.subscriptions();
  MergeRequest request{database, m.table, {}};
  auto def = TableDefFromJson(m.table_def_json);
  if (!def.ok()) {
    link_.Fail(ErrorCode::kProtocol, "bad MergeHashes table definition: " + def.status().message());
    return;
  }
  storage::TableDef d = std::move(def).value();
  d.database = database;
  d.name = m.table;
  storage::Store* store = link_.service().store();
  auto local = store->GetTable(database, m.table);
  const bool accepted = AcceptsRemoteTableDef(d, local.ok() ? &*local : nullptr, subscriptions) &&
                        (!local.ok() || AppliesRemoteRows(*local, subscriptions));
  if (accepted) {
    std::vector<uint64_t> mine(m.bucket_count, 0);
    if (local.ok()) {
      auto snap = store->Read(database);
      if (snap.ok()) {
        auto h = storage::HashTable(**snap, m.table, m.bucket_count);
        if (h.ok()) mine = std::move(h->buckets);
      }
    }
    for (uint32_t i = 0; i < m.bucket_count; ++i) {
      if (mine[i] != m.buckets[i]) request.buckets.push_back(i);
    }
    if (!request.buckets.empty()) defs_[m.table] = std::move(d);
  }
  link_.SendMessage(request);
}

void MergeSubscriber::OnTotal(MergeTotal&& m) {
  assert(link_.OnStrand());
  Slot& slot = link_.slot();
  common::MutexLock lock(slot.mu);
  MergeProgress* p = Progress(slot, link_, &LinkMerges::receive);
  if (p == nullptr) return;
  BeginRows(*p, "receiving");
  p->total = m.records;
  p->total_known = true;
}

void MergeSubscriber::OnRows(MergeRows&& m) {
  assert(link_.OnStrand());
  {
    // A publisher without merge-total: the rows phase begins with its first rows.
    Slot& slot = link_.slot();
    common::MutexLock lock(slot.mu);
    if (MergeProgress* p = Progress(slot, link_, &LinkMerges::receive)) BeginRows(*p, "receiving");
  }
  const size_t n = m.records.size();
  storage::CopyChunk chunk;
  chunk.database = link_.database();
  chunk.table = m.table;
  auto def = defs_.find(m.table);
  if (def == defs_.end() && !subscriber_.KnowsTable(m.table)) {
    link_.Fail(ErrorCode::kProtocol,
               "MergeRows for table '" + m.table + "' that was not requested");
    return;
  }
  if (def != defs_.end()) {
    chunk.table_def = std::move(def->second);
    defs_.erase(def);
    subscriber_.AddKnownTable(m.table);
  }
  chunk.rows.reserve(n);
  for (auto& r : m.records) {
    chunk.rows.push_back(storage::RawRow{std::move(r.key), std::move(r.value)});
  }
  // Logged as our transaction: a node pulling from us gets the rows too.
  chunk.log_rows = true;
  subscriber_.ApplyChunk(std::move(chunk), "applying merge rows", [this, n] {
    received_ += n;
    Slot& slot = link_.slot();
    common::MutexLock lock(slot.mu);
    if (MergeProgress* p = Progress(slot, link_, &LinkMerges::receive)) p->records = received_;
  });
}

void MergeSubscriber::OnEnd(MergeEnd&& m) {
  assert(link_.OnStrand());
  const auto& rules = subscriber_.rules();
  storage::CopyChunk end;
  end.database = link_.database();
  // Rows of tables our rules leave out were not merged: the publisher's vector is no floor.
  if (!RulesExcludeTables(rules)) end.vector_floor = m.snapshot_vector.entries();
  end.peer_name = link_.peer_name();
  end.peer_sequence = m.snapshot_sequence;  // 0 for new tables: the cursor stays
  end.peer_view = EncodeRules(rules);
  const uint64_t seq = m.snapshot_sequence;
  ending_ = true;
  subscriber_.ApplyChunk(std::move(end), "finishing the merge", [this, seq] {
    ending_ = false;
    merging_ = false;
    {
      Slot& slot = link_.slot();
      common::MutexLock lock(slot.mu);
      ++slot.merges_completed;
      slot.merge_records_received += received_;
      slot.last_merge_ms = NowMs() - started_ms_;
      EndProgress(slot, link_, &LinkMerges::receive);
    }
    link_.log().info("merge resync of {} with {} done: 0 records sent, {} received ({} ms)",
                     link_.database(), link_.peer_name(), received_, NowMs() - started_ms_);
    link_.SetState(LinkState::kStreaming);
    subscriber_.EndApplied(seq);
  });
}

}  // namespace meshdb::replication
