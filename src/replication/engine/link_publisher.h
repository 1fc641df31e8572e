// LinkPublisher: the publisher half of a Link (docs/protocol.md §3.3-3.8). It answers the
// peer's Subscribe with an initial copy or the log from a position, sends Schema ahead of the
// rows that need it, and Transactions under the subscriber's Credit; a merge resync
// (MergePublisher) takes the stream's place while the peer's position is out of our log.
//
// Owns: the subscription the peer asked for, the scan position in our log, the publish
// filter, the schema sent so far, the credit window and the merge's publisher side.
// Threads: the link's strand, except RunCopy, which runs on the service's copy pool and
// reaches the strand by posting.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/status.h"
#include "replication/engine/credit_window.h"
#include "replication/engine/link_context.h"
#include "replication/engine/merge_link.h"
#include "replication/engine/publish_filter.h"
#include "replication/wire/message.h"
#include "storage/store.h"

namespace meshdb::replication {

class LinkPublisher {
 public:
  // `link` must outlive this.
  explicit LinkPublisher(LinkContext& link) : link_(link), merge_(link, *this) {}
  LinkPublisher(const LinkPublisher&) = delete;
  LinkPublisher& operator=(const LinkPublisher&) = delete;

  // From the peer's Hello: it announced "merge".
  void set_peer_merges(bool v) { merge_.set_peer_merges(v); }
  // From the peer's Hello: it announced "merge-total".
  void set_peer_takes_merge_total(bool v) { merge_.set_peer_takes_total(v); }
  // From the peer's Hello: it announced "copy-stored" (and this node uses it): copies ship
  // stored values and their dictionaries.
  void set_peer_copies_stored(bool v) { peer_copies_stored_ = v; }

  // The peer's frames for this half. An error fails the link as a protocol error.
  Status OnSubscribe(Subscribe&& s);
  void OnAck(const Ack& a);
  void OnCredit(const Credit& c);
  Status OnMergeRequest(MergeRequest&& r) { return merge_.OnRequest(std::move(r)); }
  // Our own dial to the peer ended: a merge that waited for it starts (MergePublisher).
  void ResumeAfterDial() { merge_.ResumeAfterDial(); }

  // Sends what the log holds past the position, as far as credit and the send queue allow.
  // Does nothing before Subscribe, during a copy or merge, or once the link closes.
  void Pump();

  // For the merge (MergePublisher), on the strand.
  [[nodiscard]] uint64_t next_sequence() const { return next_seq_; }
  // A peer that cannot merge skips the trimmed entries: streaming goes on from `sequence`.
  void SkipTo(uint64_t sequence) { next_seq_ = sequence; }
  [[nodiscard]] const std::unordered_set<std::string>& published_tables() const {
    return filter_.tables;
  }
  // The tables of `defs` this subscriber gets (any thread: constant after Subscribe).
  [[nodiscard]] std::unordered_set<std::string> TablesToPublish(
      const std::vector<storage::TableDef>& defs) const;
  // A copy or merge sent the peer everything up to our `last` (with `vector`): streaming goes
  // on after it. Not called for a merge of newly subscribed tables (the position stays).
  void ResumeAfter(const VersionVector& vector, uint64_t last);

 private:
  void RefreshSchema();
  // --- Pump's steps. ---
  // The Transactions frames cut from `snap`'s log from next_seq_: at most `frames_allowed`
  // frames, each under the soft frame size, and kMaxScanPerPump entries scanned.
  struct Batch {
    std::vector<Transactions> frames;
    uint64_t next_seq = 0;  // where the next step scans from
    Status too_large;       // a transaction over the peer's frame limit (fails the link)
  };
  [[nodiscard]] Batch ReadBatch(storage::Snapshot& snap, size_t frames_allowed) const;
  // Sends `batch`, moves the position past it and records it in the slot (and, for
  // retention, what the peer no longer needs).
  void SendBatch(Batch&& batch);
  // --- The initial copy, on a copy thread. ---
  // What the copy sends: the snapshot it reads (null when the database does not exist
  // yet), the vector and sequence it is taken at, and the published tables.
  struct CopyPlan {
    std::unique_ptr<storage::Snapshot> snap;
    VersionVector vector;  // empty when tables are left out: the copy is no floor
    uint64_t last = 0;
    std::vector<storage::TableDef> defs;
    std::unordered_set<std::string> tables;
    uint64_t total_records = 0;
  };
  void RunCopy();
  [[nodiscard]] Result<CopyPlan> PlanCopy() const;
  // Queues `def`'s rows as CopyChunk frames (the first carries the definition; an empty
  // table still sends one): stored values with the dictionaries they name when the peer
  // takes them (each dictionary in the first chunk whose rows name it), else record bytes. False
  // when the copy stops: the link closed, or *error is set.
  bool CopyTable(storage::Snapshot& snap, const storage::TableDef& def, uint64_t* sent_records,
                 Status* error);
  // Logs why the copy failed and fails the link (on the strand).
  void FailCopy(const std::string& why);

  LinkContext& link_;
  // Strand-only (requested_tables_ is constant after Subscribe: copy threads read it).
  bool subscribed_ = false;
  bool copy_running_ = false;
  bool peer_copies_stored_ = false;  // set at Hello, before any copy thread reads it
  uint64_t next_seq_ = 1;
  PublishFilter filter_;
  std::vector<std::string> requested_tables_;
  std::optional<uint64_t> schema_version_;
  std::map<std::string, std::string> sent_schema_;
  CreditWindow window_;  // the subscriber's Credit and the frames it has not acked
  MergePublisher merge_;
};

}  // namespace meshdb::replication
