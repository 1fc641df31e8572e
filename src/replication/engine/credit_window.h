// The publisher half's flow control (docs/protocol.md §3.7 Credit): the subscriber's latest
// Credit is how many Transactions frames may be unacknowledged at once; an Ack releases the
// frames whose transactions it covers. Strand-only (owned by a Link).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace meshdb::replication {

class CreditWindow {
 public:
  // A Credit frame: replaces the window (0 pauses the stream).
  void SetCredit(uint32_t frames) { credit_ = frames; }
  // Frames that may be sent now.
  size_t Available() const { return unacked_.size() >= credit_ ? 0 : credit_ - unacked_.size(); }
  // A Transactions frame went out; `highest_sequence` is its last transaction's.
  void Sent(uint64_t highest_sequence) { unacked_.push_back(highest_sequence); }
  // An Ack of everything up to `sequence`.
  void Acked(uint64_t sequence) {
    while (!unacked_.empty() && unacked_.front() <= sequence) unacked_.pop_front();
  }
  bool AllAcked() const { return unacked_.empty(); }

 private:
  uint32_t credit_ = 0;
  std::deque<uint64_t> unacked_;  // highest sender_sequence of each unacknowledged frame
};

}  // namespace meshdb::replication
