// InitialCopyClaim: one link's part in "one initial copy per database" (docs/replication.md
// "Catch-up"). A node that holds nothing for a database would otherwise copy it from every
// peer it links to, in parallel. Instead the first link whose subscriber would start with a
// copy claims the database (ServiceImpl::ClaimInitialCopy); the links of other peers defer
// their Subscribe until that copy ends, then choose again: the copy's vector floor is
// installed by then, so they stream from the vector. A copy that fails (its link closes
// before CopyEnd committed, or it stalls while others wait) releases the claim and a waiting
// link copies instead; rows already applied stay (copy rows apply last-writer-wins, and the
// floor is only installed by CopyEnd).
//
// Only links whose own rules take every table coordinate: a link that leaves tables out
// copies on its own, as its copy installs no floor anyway.
//
// Every claimed copy, coordinated or not, also marks its link as carrying a copy until it
// ends, and the duplicate-link rule keeps such a link (duplicate_links.cc). Before claiming, a
// copy waits for this node's own dial to the peer when that dial, once live, would replace the
// link, and a link already replaced as a duplicate never copies: a copy only starts on the
// connection that stays.
//
// Owned by a LinkSubscriber; strand-only.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <optional>

#include "replication/engine/link_context.h"

namespace meshdb::replication {

class LinkSubscriber;

class InitialCopyClaim {
 public:
  // `link` and `subscriber` (the owner) must outlive this.
  InitialCopyClaim(LinkContext& link, LinkSubscriber& subscriber)
      : link_(link), subscriber_(subscriber) {}
  InitialCopyClaim(const InitialCopyClaim&) = delete;
  InitialCopyClaim& operator=(const InitialCopyClaim&) = delete;

  // SendSubscribe is about to start with a copy: claims the copy (false: go on), or defers
  // (true): waits for another link's copy or for our own dial to the peer, subscribes again
  // at once because a copy finished meanwhile, or never copies (the link was replaced).
  bool DeferSubscribe();
  // The copy this link waited for was released: subscribes now (unless closing).
  void Resume();
  // Our own dial to the peer, which this link waited for, ended without replacing it:
  // subscribes now (unless closing).
  void ResumeAfterDial();
  // The claimed copy ended (completed: its CopyEnd committed) or was given up; wakes the
  // links waiting for it. Idempotent.
  void Release(bool completed);
  // At close: gives up a held claim, or stops waiting for one.
  void Leave();
  // A copy frame arrived or a copy chunk committed (resets the stall clock).
  void NoteProgress();

 private:
  // While the claim is held: gives it up and closes the link when the copy made no progress
  // for kCopyStallMs while other links wait for it (a stopped or partitioned peer).
  void Watch();

  LinkContext& link_;
  LinkSubscriber& subscriber_;
  bool claimed_ = false;           // this link's copy is claimed (marked in the service)
  bool coordinated_ = false;       // ... and holds its database's claim (the others wait for it)
  bool waiting_ = false;           // Subscribe deferred until another link's copy ends
  bool waiting_for_dial_ = false;  // Subscribe deferred until our own dial to the peer ends
  uint64_t progress_ms_ = 0;       // steady clock: last copy frame received or chunk committed
  std::optional<asio::steady_timer> watch_;
};

}  // namespace meshdb::replication
