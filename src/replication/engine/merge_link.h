// Merge resync on one link (docs/protocol.md §5.10, docs/replication.md "Retention and merge
// resync"): a subscriber whose position fell out of the publisher's retained log, or that
// newly subscribed to tables, gets the rows it lacks by comparing bucket hashes.
//
// MergePublisher (owned by the LinkPublisher): MergeBegin, then per published table
// MergeHashes (bucket sums of a snapshot S1, on a copy thread) -> the subscriber answers each
// with MergeRequest (the buckets whose sums differ from its own) -> once all are in, a second
// copy job sends the rows of those buckets (MergeRows, read from a fresh snapshot, always at
// least as new as S1) and MergeEnd with S1's vector and sequence; streaming resumes after
// S1's sequence, so nothing committed after S1 is missed (re-sent rows lose
// last-writer-wins harmlessly).
//
// MergeSubscriber (owned by the LinkSubscriber): applies MergeRows through the store's
// writer (last-writer-wins on raw rows: rows only it holds survive, tombstones count as
// writes), then installs S1's vector as a floor and S1's sequence as its cursor, in one
// commit. Each direction of a connection merges on its own, so the returning node's own
// writes reach the other side through its publisher.
//
// Progress: each side keeps its link's entry of Slot::merges (service_impl.h) up to date, for
// cluster_status merge_send_progress / merge_progress. The publisher counts, while hashing
// S1, the rows of each bucket, so once the requests are in it knows how many rows it will send
// and tells a subscriber that announced "merge-total" (MergeTotal, before the first MergeRows).
//
// Threads: both run on the link's strand, except MergePublisher's RunMergeHashes and
// RunMergeRows, which run on the service's copy pool and reach the strand by posting.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/status.h"
#include "replication/engine/link_context.h"
#include "replication/wire/message.h"
#include "replication/wire/version_vector.h"
#include "storage/store.h"

namespace meshdb::replication {

class LinkPublisher;
class LinkSubscriber;

class MergePublisher {
 public:
  // `link` and `publisher` (the owner) must outlive this.
  MergePublisher(LinkContext& link, LinkPublisher& publisher)
      : link_(link), publisher_(publisher) {}
  MergePublisher(const MergePublisher&) = delete;
  MergePublisher& operator=(const MergePublisher&) = delete;

  // From the peer's Hello: it announced "merge".
  void set_peer_merges(bool v) { peer_merges_ = v; }
  // From the peer's Hello: it announced "merge-total" (it takes MergeTotal).
  void set_peer_takes_total(bool v) { peer_takes_total_ = v; }
  // A merge runs: the publisher's stream waits for it.
  [[nodiscard]] bool running() const { return running_; }

  // When the publisher's next sequence is below our log start (entries the peer needs were
  // trimmed): starts a merge and returns true (also while one runs). A peer that cannot
  // merge streams from the log start instead (false).
  bool StartIfTrimmed(storage::Snapshot& snap);
  // The subscriber's position was reached under `previous_rules`: merges the published
  // tables they did not subscribe to before streaming goes on from the position.
  void StartNewTables(const std::vector<TableRule>& previous_rules);
  // The subscriber's answer to one MergeHashes; an error fails the link.
  Status OnRequest(MergeRequest&& r);
  // Our own dial to the peer, which a merge waited for (ServiceImpl::MergeClaim::kAfterDial),
  // ended without replacing this link: the merge starts now.
  void ResumeAfterDial();

 private:
  // Either merge: `only` restricts it to those tables (new tables: MergeBegin.new_tables).
  // The link is marked as carrying it (ServiceImpl::ClaimMerge) until Finish or the close.
  void Start(uint64_t log_start, std::optional<std::unordered_set<std::string>> only);
  // --- On a copy thread. ---
  // The hashes of the tables a merge compares, from one snapshot S1.
  struct Hashes {
    VersionVector vector;  // S1's; empty when not every table it covers is merged
    uint64_t last = 0;     // S1's sequence; 0 for new tables (the position stays)
    std::vector<MergeHashes> tables;
    std::map<std::string, std::vector<uint32_t>> bucket_rows;  // table -> rows per bucket
  };
  [[nodiscard]] Result<Hashes> ReadHashes(
      const std::optional<std::unordered_set<std::string>>& only) const;
  void RunMergeHashes(uint64_t after, uint64_t log_start,
                      std::optional<std::unordered_set<std::string>> only);
  // `total`: sent first as MergeTotal when set (the peer takes it).
  void RunMergeRows(std::map<std::string, std::vector<uint32_t>> requests,
                    std::map<std::string, uint32_t> bucket_counts, VersionVector vector,
                    uint64_t last, std::optional<uint64_t> total);
  // --- On the strand. ---
  void Finish(uint64_t records_sent);

  LinkContext& link_;
  LinkPublisher& publisher_;
  // Strand-only.
  bool peer_merges_ = false;
  bool peer_takes_total_ = false;
  bool running_ = false;     // also while it waits for our dial (after_dial_)
  bool new_tables_ = false;  // the running merge is of newly subscribed tables only
  // A merge that waits for our own dial to end (Start's arguments).
  struct PendingStart {
    uint64_t log_start = 0;
    std::optional<std::unordered_set<std::string>> only;
  };
  std::optional<PendingStart> after_dial_;
  uint32_t expected_ = 0;  // MergeRequests still awaited
  std::map<std::string, uint32_t> bucket_counts_;
  std::map<std::string, std::vector<uint32_t>> bucket_rows_;  // S1's rows per bucket
  std::map<std::string, std::vector<uint32_t>> requests_;
  VersionVector vector_;
  uint64_t last_ = 0;
  uint64_t started_ms_ = 0;
};

class MergeSubscriber {
 public:
  // `link` and `subscriber` (the owner) must outlive this.
  MergeSubscriber(LinkContext& link, LinkSubscriber& subscriber)
      : link_(link), subscriber_(subscriber) {}
  MergeSubscriber(const MergeSubscriber&) = delete;
  MergeSubscriber& operator=(const MergeSubscriber&) = delete;

  // Between MergeBegin and the commit of MergeEnd.
  [[nodiscard]] bool merging() const { return merging_; }
  // Between MergeEnd and its commit. The link reads no frame meanwhile
  // (LinkSubscriber::ReadsPaused): a publisher whose log was trimmed again starts its next
  // merge right after MergeEnd, and that merge's frames must find this one committed.
  [[nodiscard]] bool ending() const { return ending_; }

  void OnBegin(MergeBegin&& m);
  void OnHashes(MergeHashes&& m);
  void OnTotal(MergeTotal&& m);
  void OnRows(MergeRows&& m);
  void OnEnd(MergeEnd&& m);

 private:
  LinkContext& link_;
  LinkSubscriber& subscriber_;
  // Strand-only.
  bool merging_ = false;
  bool ending_ = false;
  uint64_t received_ = 0;
  uint64_t started_ms_ = 0;
  std::map<std::string, storage::TableDef> defs_;  // sent with a table's first rows
};

}  // namespace meshdb::replication
