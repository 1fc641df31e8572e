// LinkContext: what the halves of a Link (LinkPublisher, LinkSubscriber, their merge sides
// and the initial-copy claim) use of the session they run in. Link implements it; a half
// holds a LinkContext& that outlives it (the half is a member of its Link).
//
// Threads: every method runs on the link's strand unless marked otherwise. Methods marked
// "any thread" read fields that are constant once the Hello exchange made the link live, so
// the copy threads (LinkPublisher::RunCopy, MergePublisher) may call them.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "replication/engine/replication_service.h"
#include "replication/wire/codec.h"
#include "replication/wire/message.h"

namespace spdlog {
class logger;
}

namespace meshdb::replication {

namespace asio = boost::asio;
using Strand = asio::strand<asio::io_context::executor_type>;

enum class LinkState { kConnecting, kCatchingUp, kStreaming, kBackoff, kIdle };
const char* LinkStateName(LinkState s);

class Link;
class ServiceImpl;
struct PeerEntry;
struct Slot;

class LinkContext {
 public:
  virtual ~LinkContext() = default;
  LinkContext(const LinkContext&) = delete;
  LinkContext& operator=(const LinkContext&) = delete;

  // --- Any thread: constant after construction. ---
  [[nodiscard]] virtual ServiceImpl& service() const = 0;
  [[nodiscard]] virtual const Strand& strand() const = 0;
  [[nodiscard]] virtual spdlog::logger& log() const = 0;
  [[nodiscard]] virtual const std::string& database() const = 0;
  [[nodiscard]] virtual bool outbound() const = 0;
  // Inbound: the upgrade carried a super_user's credentials (add_node), not a node token.
  [[nodiscard]] virtual bool by_credentials() const = 0;
  // Whether the caller runs on the link's strand (for the halves' asserts).
  [[nodiscard]] bool OnStrand() const { return strand().running_in_this_thread(); }

  // --- Any thread: set at the Hello exchange, before any half runs. ---
  [[nodiscard]] virtual const std::string& peer_name() const = 0;
  [[nodiscard]] virtual const std::string& peer_url() const = 0;
  [[nodiscard]] virtual uint64_t peer_max_frame() const = 0;
  [[nodiscard]] virtual std::shared_ptr<PeerEntry> peer() const = 0;
  [[nodiscard]] virtual Slot& slot() const = 0;
  // The link itself: keeps it (and so the half) alive in a completion handler, and names it
  // to the service (copy jobs, the initial-copy claim).
  virtual std::shared_ptr<Link> shared_link() = 0;
  // The link itself, to name it to the service without owning it.
  virtual Link* self() = 0;

  // --- The peer's table subscriptions (from its PeerSpec). ---
  // Copy threads read them too: LoadSubscriptions rewrites them only when they changed, and
  // SetPeers then closes the link (a reload racing that close is the one unguarded case).
  [[nodiscard]] virtual const std::vector<TableSubscription>& subscriptions() const = 0;
  // Reads them again from the service (SendSubscribe, or a first Subscribe).
  virtual void LoadSubscriptions() = 0;

  // --- The session, on the strand. ---
  // The Hello exchange is done and the link registered.
  [[nodiscard]] virtual bool live() const = 0;
  // Fail or StartClose ran: frames are no longer sent.
  [[nodiscard]] virtual bool closing() const = 0;
  virtual void Send(std::string frame) = 0;
  void SendMessage(const Message& m) { Send(EncodeFrame(m)); }
  // Sends an Error frame to the peer, then closes.
  virtual void Fail(ErrorCode code, std::string reason) = 0;
  virtual void StartClose(std::string reason) = 0;
  // Sets the link's (and its slot's) state, logging a transition. Once the link's read loop
  // has ended the slot is left alone: it shows the dialer's state (Backoff, Connecting).
  virtual void SetState(LinkState s) = 0;
  // Wakes the read loop, which pauses while the subscriber has too much being applied.
  virtual void WakeReader() = 0;
  // Any thread: bytes waiting in the send queue.
  virtual size_t QueuedBytes() = 0;
  // A copy thread: queues `frame` behind the others, blocking while the send queue is full.
  // False when the link closed (the copy gives up).
  virtual bool EnqueueFromCopyThread(std::string frame) = 0;

 protected:
  LinkContext() = default;
};

}  // namespace meshdb::replication
