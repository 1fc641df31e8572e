// LinkSubscriber: the subscriber half of a Link (docs/protocol.md §3.3-3.6). It sends
// Subscribe (an initial copy, a vector or a time to start from), then applies the peer's
// Schema, Transactions, copy and merge frames through the store's writer, in order, and
// acknowledges what was committed.
//
// Owns: the subscription rules, the apply chain and its counters (the read loop pauses while
// too much is being applied), the copy being received, the initial-copy claim and the
// merge's subscriber side. A failed apply stops the half (StopApplying): its frames are then
// dropped until the link closes and a new one retries.
// Threads: the link's strand only; store completions are posted back to it.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/status.h"
#include "replication/engine/initial_copy.h"
#include "replication/engine/link_context.h"
#include "replication/engine/merge_link.h"
#include "replication/wire/message.h"
#include "replication/wire/version_vector.h"
#include "storage/store.h"

namespace meshdb::replication {

class LinkSubscriber {
 public:
  // `link` must outlive this.
  explicit LinkSubscriber(LinkContext& link)
      : link_(link), claim_(link, *this), merge_(link, *this) {}
  LinkSubscriber(const LinkSubscriber&) = delete;
  LinkSubscriber& operator=(const LinkSubscriber&) = delete;

  // At the Hello exchange (and again when a deferred copy claim resolves): chooses where to
  // start and sends Subscribe and Credit.
  void SendSubscribe();
  // The copy claim this link waited for was released (ServiceImpl::ReleaseInitialCopy).
  void ResumeAfterCopy() { claim_.Resume(); }
  // Our own dial to the peer, which the copy waited for, ended (ServiceImpl::EndDialAttempt).
  void ResumeAfterDial() { claim_.ResumeAfterDial(); }
  // The link closes: no retry, and the copy claim is given up.
  void OnClose();

  // The read loop waits while this holds: too many copy chunks or transactions are being
  // applied, or a merge's end is being committed.
  [[nodiscard]] bool ReadsPaused() const;
  // Applying failed (StopApplying): the peer's data frames are dropped.
  [[nodiscard]] bool apply_stopped() const { return apply_stopped_; }

  // The peer's frames for this half.
  void OnSchema(Schema&& s);
  void OnTransactions(Transactions&& t);
  void OnCopyBegin(CopyBegin&& c);
  void OnCopyChunk(CopyChunk&& c);
  void OnCopyEnd(CopyEnd&& c);
  MergeSubscriber& merge() { return merge_; }

  // For the merge and the copy claim, on the strand.
  [[nodiscard]] const std::vector<TableRule>& rules() const { return rules_; }
  [[nodiscard]] bool KnowsTable(const std::string& table) const {
    return known_tables_.contains(table);
  }
  void AddKnownTable(const std::string& table) { known_tables_.insert(table); }
  [[nodiscard]] uint64_t copy_records() const { return copy_records_; }
  // Applies copy or merge rows (or their closing floor) through the store's writer, in order
  // with this link's other store calls; then, on the strand, stops applying naming `what`
  // if the store failed, else runs `on_applied`.
  void ApplyChunk(storage::CopyChunk chunk, std::string what, std::function<void()> on_applied);
  // A copy or merge committed its end, through the peer's `peer_sequence`: acknowledged
  // like an applied transaction.
  void EndApplied(uint64_t peer_sequence);

 private:
  // SendSubscribe's steps, for a start that is not a copy: the rules our stored position
  // was reached under when they differ from rules_ (the publisher then merges the tables
  // they left out); else nullopt, recording rules_ when nothing or something else was.
  std::optional<std::vector<TableRule>> PreviousRules(uint64_t cursor);
  // Logs where the subscriber starts and enters the matching state.
  void EnterStart(const SubscribeStart& start);
  // Persists rules_ as this peer's subscription view (Store::PeerView), cursor untouched.
  void RecordRules();
  void OnApplied(uint64_t peer_sequence, Status st);
  // A transaction (peer_sequence; 0 for a copy or merge chunk) could not be applied: logs
  // and shows why (Slot::apply_error), stops applying and acknowledging on this link (the
  // store refuses what was queued behind it: storage::ApplyChain) and closes the link after
  // reconnect_max_ms so a new one retries from the stored position. The link stays open
  // until then: the peer's pulls from us and cluster_verify go on working.
  // OnApplied clears the slot's error once a later link applied past it.
  void StopApplying(uint64_t peer_sequence, const std::string& what, const Status& st);

  LinkContext& link_;
  std::vector<TableRule> rules_;  // RulesFor(subscriptions, database)
  size_t pending_applies_ = 0;
  size_t pending_chunks_ = 0;
  uint64_t applied_seq_ = 0;
  uint64_t acked_sent_ = 0;
  bool ack_posted_ = false;
  bool copying_ = false;
  uint64_t copy_records_ = 0;
  uint64_t copy_total_ = 0;
  VersionVector copy_vector_;
  bool copy_is_partial_ = false;  // no vector floor: the copied rows are logged as ours
  std::unordered_set<std::string> known_tables_;
  // Every store call of this link, in order: one failure stops the rest (StopApplying).
  const std::shared_ptr<storage::ApplyChain> apply_chain_ = std::make_shared<storage::ApplyChain>();
  bool apply_stopped_ = false;  // frames for the subscriber half are dropped
  std::optional<asio::steady_timer> retry_timer_;
  InitialCopyClaim claim_;
  MergeSubscriber merge_;
};

}  // namespace meshdb::replication
