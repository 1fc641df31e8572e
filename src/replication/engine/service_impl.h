// Internals of the replication engine (private to replication/): the service, its peers,
// the per-(peer, database) slots and the WebSocket links. See replication_service.h.
//
// Threads: one io_context run by 2 threads. Each Link is a coroutine set on its own strand;
// the service's maps are guarded by ServiceImpl::mu_; a Slot's status fields by Slot::mu.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/thread_annotations.h"
#include "common/work_pool.h"
#include "net/tls.h"
#include "net/upgrade_handler.h"
#include "replication/engine/link_calls.h"
#include "replication/engine/link_context.h"
#include "replication/engine/link_publisher.h"
#include "replication/engine/link_stream.h"
#include "replication/engine/link_subscriber.h"
#include "replication/engine/link_verifier.h"
#include "replication/engine/publish_filter.h"
#include "replication/engine/replication_service.h"
#include "replication/wire/codec.h"
#include "replication/wire/message.h"
#include "storage/store.h"

namespace spdlog {
class logger;
}

namespace meshdb::replication {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// Why a link did not become live at the Hello exchange (Link::refusal()).
enum class LinkRefusal {
  kNone,                  // live, or closed before any Hello arrived
  kNotHello,              // the peer's first frame was neither Hello nor Error
  kRefusedByPeer,         // the peer answered with an Error frame instead of its Hello
  kBadHello,              // CheckPeerHello refused the peer's Hello (version, name, ...)
  kTokenMismatch,         // inbound: the Hello names another node than the peer's token
  kCertificateMismatch,   // the Hello names a node its verified TLS certificate does not
  kUntrustedCertificate,  // its certificate no longer verifies (a CA stopped being trusted)
  kDuplicate,             // a link for this (peer, database) is kept instead of this one
  kRemovedPeer,           // the peer was dropped from the cluster (or is refused by name)
  kUnexpectedPeer,        // outbound: another node than the one dialled answered
  kStopping,              // the service is stopping
  kJoin,                  // a join (JoinRequest) was answered: never a live link
};
const char* LinkRefusalName(LinkRefusal r);

uint64_t NowMs();

// Progress of one side of a running merge resync (LinkMerges).
struct MergeProgress {
  // "hashing" (the publisher reads its bucket hashes), "comparing" (the subscriber compares
  // them with its own; the publisher waits for its answers), then "sending" or "receiving"
  // the rows of the buckets that differ.
  const char* phase = "";
  uint64_t records = 0;          // rows sent (queued to the peer) or received and committed
  uint64_t total = 0;            // rows the merge sends, once known (total_known)
  bool total_known = false;      // false before the rows phase, or from a peer without merge-total
  uint64_t started_ms = 0;       // NowMs() at MergeBegin
  uint64_t rows_started_ms = 0;  // NowMs() when the rows phase began (0 before): the rate
};

// The running merge resyncs of one link, one per direction: `receive` brings the peer's rows
// here (MergeSubscriber), `send` sends ours to the peer (MergePublisher); nullopt when none
// runs.
struct LinkMerges {
  std::optional<MergeProgress> receive;
  std::optional<MergeProgress> send;
};

// Status of one (peer, database): written by its link and dialer, read by ConnectionsStatus.
struct Slot {
  std::string database;  // set once, by PeerEntry::SlotFor
  // The status fields, written and read with mu held.
  common::Mutex mu;
  LinkState state GUARDED_BY(mu) = LinkState::kIdle;
  bool connected GUARDED_BY(mu) = false;
  double latency_ms GUARDED_BY(mu) = -1;
  uint64_t sent_sequence GUARDED_BY(mu) = 0;   // highest of our log sequences sent to the peer
  uint64_t acked_sequence GUARDED_BY(mu) = 0;  // highest the peer acknowledged
  uint64_t last_ack_ms GUARDED_BY(mu) = 0;
  uint64_t received_sequence GUARDED_BY(mu) = 0;  // highest peer sequence received
  uint64_t applied_sequence GUARDED_BY(mu) = 0;   // highest peer sequence committed here
  uint64_t last_received_version GUARDED_BY(mu) = 0;
  uint64_t last_received_local_ms GUARDED_BY(mu) = 0;
  uint64_t last_applied_local_ms GUARDED_BY(mu) = 0;
  double back_pressure GUARDED_BY(mu) = 0;
  std::optional<std::pair<uint64_t, uint64_t>> copy_progress GUARDED_BY(mu);  // records, total
  // Running merge resyncs, per link (the key: compared, never dereferenced). The links of one
  // (peer, database) share the slot, and a replaced one runs until it has closed, so each
  // keeps its own entry, erased when neither side runs or the link closes. cluster_status
  // shows the registered link's as merge_progress / merge_send_progress and each other
  // link's on a socket entry of its own ("duplicate": true).
  std::map<const void*, LinkMerges> merges GUARDED_BY(mu);
  // Why applying the peer's transactions stopped ("" while they apply): shown as state
  // "Error" and last_error until the failed transaction (apply_error_sequence; 0 for a copy
  // or merge chunk) is applied by a later link.
  std::string apply_error GUARDED_BY(mu);
  uint64_t apply_error_sequence GUARDED_BY(mu) = 0;
  uint64_t copies_completed GUARDED_BY(mu) =
      0;  // initial copies from this peer completed since start
  uint64_t copied_records GUARDED_BY(mu) =
      0;  // records applied from initial copies of this peer since start

  // More counters for cluster_status, all since start (docs/replication.md).
  uint64_t copies_started GUARDED_BY(mu) = 0;    // initial copies from this peer begun
  uint64_t merges_completed GUARDED_BY(mu) = 0;  // merge resyncs with this peer finished (any side)
  uint64_t merge_records_sent GUARDED_BY(mu) = 0;  // records those merges sent to the peer
  uint64_t merge_records_received GUARDED_BY(mu) =
      0;                                         // records those merges received from the peer
  uint64_t last_merge_ms GUARDED_BY(mu) = 0;     // how long the latest merge took
  uint64_t log_trimmed_past GUARDED_BY(mu) = 0;  // trims of our log past the position it confirmed
  uint64_t dial_failures GUARDED_BY(mu) = 0;  // our dials to the peer that failed or were refused
  std::string last_dial_error
      GUARDED_BY(mu);  // why the latest of them failed ("" before the first)
  // Whether the TLS handshake of the latest live link resumed a session (nullopt: that link
  // was not TLS, or none went live yet).
  std::optional<bool> tls_resumed GUARDED_BY(mu);

  // WebSocket payload bytes of this (peer, database)'s links since start, counted by the
  // link's read and write loops without the lock.
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> bytes_received{0};
};

// Sets slot->state and logs "peer P db D: Old -> New" when it changed.
void TransitionSlot(Slot* slot, const std::string& peer, const std::string& db, LinkState s,
                    spdlog::logger& log);
// Sets slot->state to Idle (and logs it) when the slot is disconnected and still shows
// CatchingUp or Streaming: what a closed link leaves on the side that does not dial.
void IdleSlotIfDisconnected(Slot* slot, const std::string& peer, const std::string& db,
                            spdlog::logger& log);

// One peer: from SetPeers (listed) or learned from an inbound Hello.
struct PeerEntry {
  PeerSpec spec;         // GUARDED_BY(ServiceImpl::mu_) (and every field below)
  bool listed = false;   // given by SetPeers
  bool removed = false;  // dropped by SetPeers: dialers stop, links close
  std::vector<std::string> remote_databases;  // from the peer's latest Hello
  std::set<std::string> dialing;              // databases with a running dial loop
  // Databases whose dial loop has a dial under way: from NextDialTarget until the link
  // registers or the attempt fails. A link the peer dialled that this dial would replace
  // starts no initial copy meanwhile (ServiceImpl::ClaimInitialCopy, kAfterDial).
  std::set<std::string> attempting;
  std::map<std::string, std::shared_ptr<Slot>> slots;
  std::shared_ptr<Slot> SlotFor(const std::string& db);
};

class ServiceImpl;

// Link: one WebSocket connection for one (peer, database), the session of docs/protocol.md.
// It owns the stream, the Hello exchange, the read and write loops, the send queue and the
// close; it dispatches each frame to its halves: the LinkPublisher (our log to the peer) and
// the LinkSubscriber (the peer's log to us), each with its side of a merge resync, and the
// LinkVerifier (cluster_verify). The halves reach the session through LinkContext.
//
// Threads: every coroutine and handler of a link runs on its strand; the public methods
// marked "any thread" post to it. The send queue's byte count is shared with copy threads
// under copy_mu_.
// The words in every refusal of a peer's certificate as untrusted (an HTTP 401 body, an
// Error frame's reason), by which the refused node tells (Link::peer_refused_our_certificate).
inline constexpr std::string_view kUntrustedCertificateWords = "presented no trusted certificate";

class Link final : public std::enable_shared_from_this<Link>, public LinkContext {
 public:
  Link(ServiceImpl* service, Strand strand, bool outbound, std::string database,
       std::shared_ptr<PeerEntry> peer);
  ~Link() override;

  // Dials, upgrades, runs until closed. Ok when the Hello exchange completed (the link was
  // live), else why it failed.
  asio::awaitable<Status> RunOutbound(std::string url, std::string authorization);
  // Authenticates the upgrade, accepts and runs until closed.
  asio::awaitable<void> RunInbound(tcp::socket socket, http::request<http::string_body> req,
                                   std::string remote_address);
  // The same over TLS (replication.securePort): `certificate` is what the handshake proved
  // about the client's certificate; a verified one must name the node the Hello claims.
  asio::awaitable<void> RunInboundTls(std::unique_ptr<net::TlsStream> stream,
                                      http::request<http::string_body> req,
                                      std::string remote_address, net::PeerCertificate certificate);

  // Runs on a stream already upgraded (unit tests: a WebSocket over beast::test::stream).
  // `token_name`: an inbound link's authenticated node name ("" for Basic or outbound).
  asio::awaitable<Status> RunOpen(std::unique_ptr<LinkStream> stream, std::string token_name);

  // Any thread.
  void WakePublisher();
  // Closes the link once the frames already queued are written and the peer calls it is
  // answering are answered (a member that removes, at a peer's request, the CA the peer's own
  // certificate chains to still tells the peer it did); after 2 s it closes regardless.
  void Close(std::string reason);

  // Set by the service (under its lock) before the link uses it.
  void set_slot(std::shared_ptr<Slot> slot) { slot_ = std::move(slot); }
  // Probe mode: RunOutbound returns right after the upgrade succeeded (Ok) or, with a join,
  // after the peer answered it (join_grant() holds its grant). Before RunOutbound.
  void set_probe(bool verify_tls, std::optional<JoinRequest> join) {
    probe_ = true;
    verify_tls_ = verify_tls;
    join_ = std::move(join);
  }
  std::optional<JoinGrant>& join_grant() { return join_grant_; }
  // Any thread, at shutdown: a copy thread blocked on the send queue gives up.
  void AbortCopy();
  // Any thread: asks the peer for its per-table content hashes (cluster_verify). `done`
  // runs once, on the link's strand: with the peer's answer, or an error response when the
  // peer lacks "verify" or the link closes first.
  void RequestVerify(uint64_t request_id, std::string table,
                     std::function<void(VerifyResponse)> done);
  // Any thread: a PeerCall to the peer. `done` runs once, on the link's strand: with the
  // peer's answer, or an error result when the peer lacks "call" or the link closes first.
  void RequestCall(uint64_t request_id, std::string method, std::string payload,
                   std::function<void(PeerCallResult)> done);

  // Any thread: the database's initial-copy claim this link waited for was released; it
  // subscribes now (InitialCopyClaim).
  void ResumeAfterCopy();
  // Any thread: this node's own dial to the peer, which this link's copy or merge waited for
  // (CopyClaim / MergeClaim::kAfterDial), ended; the subscriber chooses again
  // (InitialCopyClaim) and the publisher starts its merge (MergePublisher).
  void ResumeAfterDial();

  bool outbound() const override { return outbound_; }
  bool by_credentials() const override { return by_credentials_; }
  const std::string& peer_name() const override { return peer_name_; }  // set once at Hello
  const std::string& database() const override { return database_; }
  std::shared_ptr<PeerEntry> peer() const override { return peer_; }
  // Why the Hello exchange did not make the link live (kNone once live). Strand-only.
  LinkRefusal refusal() const { return refusal_; }
  // Whether the peer refused this node's TLS certificate as untrusted (an outbound link's
  // upgrade answered 401, or its Hello answered with an Error, carrying
  // kUntrustedCertificateWords). Strand-only.
  [[nodiscard]] bool peer_refused_our_certificate() const { return peer_refused_our_certificate_; }
  // The serial of the peer's TLS certificate ("" without TLS). Set before the Hello exchange
  // and constant after: readable from any thread once the link is registered.
  [[nodiscard]] std::string peer_certificate_serial() const {
    return peer_certificate_ ? peer_certificate_->serial_hex : std::string();
  }
  // What the TLS handshake proved about the peer's certificate (null without TLS); the same
  // lifetime and threads as peer_certificate_serial.
  [[nodiscard]] const net::PeerCertificate* peer_certificate() const {
    return peer_certificate_ ? &*peer_certificate_ : nullptr;
  }

 private:
  // --- LinkContext, for the halves. ---
  ServiceImpl& service() const override { return *service_; }
  const Strand& strand() const override { return strand_; }
  spdlog::logger& log() const override { return *log_; }
  const std::string& peer_url() const override { return peer_url_; }
  uint64_t peer_max_frame() const override { return peer_max_frame_; }
  Slot& slot() const override { return *slot_; }
  std::shared_ptr<Link> shared_link() override { return shared_from_this(); }
  Link* self() override { return this; }
  const std::vector<TableSubscription>& subscriptions() const override { return subscriptions_; }
  void LoadSubscriptions() override;
  bool live() const override { return live_; }
  bool closing() const override { return closing_; }
  void Send(std::string frame) override;                   // on the strand
  void Fail(ErrorCode code, std::string reason) override;  // Error frame, then close
  void StartClose(std::string reason) override;            // on the strand
  void SetState(LinkState s) override;
  void WakeReader() override;
  size_t QueuedBytes() override EXCLUDES(copy_mu_);
  bool EnqueueFromCopyThread(std::string frame) override EXCLUDES(copy_mu_);

  // Outbound: TCP to the first address of host:port that answers.
  asio::awaitable<Result<tcp::socket>> Connect(const std::string& host, const std::string& port,
                                               const std::string& url);
  // wss://: the TLS handshake; Ok when the server's certificate chains to a CA we trust and
  // names `host`.
  asio::awaitable<Status> TlsHandshake(net::TlsStream& stream, const std::string& host,
                                       const std::string& url);
  // Outbound: the WebSocket upgrade (with our credentials), then the session.
  template <typename NextLayer>
  asio::awaitable<Status> RunClient(std::unique_ptr<WsLinkStream<NextLayer>> owned, std::string url,
                                    std::string host_port, std::string authorization);
  // Inbound: authenticates the upgrade request, accepts it and runs the session.
  template <typename NextLayer>
  asio::awaitable<void> ServeUpgrade(NextLayer stream, http::request<http::string_body> req,
                                     std::string remote_address);
  asio::awaitable<Status> RunSession();  // after the WebSocket is open
  // One frame read: a decoded message, nothing (skipped: closing, or a bad frame that failed
  // the link), or the end of the connection.
  struct ReadResult {
    std::optional<Message> message;
    bool ended = false;
    bool too_large = false;  // ended by a frame over max_frame_bytes
    beast::error_code error;
  };
  asio::awaitable<ReadResult> ReadFrame(bool before_hello);
  // The Hello exchange: reads until the peer's first frame and answers it. `status` is Ok
  // when the link is live, else why not (refusal_ says which rule); `ended` when the
  // connection closed before a Hello arrived.
  struct HandshakeResult {
    Status status;
    bool ended = false;
  };
  asio::awaitable<HandshakeResult> Handshake(const Hello& mine);
  Status OnPeerHello(Message&& m, const Hello& mine, const std::string& claimed_token_name);
  // Inbound, instead of a Hello: answers a join with a grant or an Error, then closes.
  Status OnJoinRequest(JoinRequest&& request, const std::string& claimed_token_name);
  // Outbound probe: sends join_, reads the answer into join_grant_.
  asio::awaitable<Status> ExchangeJoin();
  // Queues `frame`'s message as the last one, then closes once it is written.
  void SendFinal(const Message& message, std::string reason, uint16_t close_code);
  // Closes once the frames queued so far are written.
  void CloseAfterFlush(std::string reason, uint16_t close_code);
  Status Refuse(LinkRefusal why, Status st);
  // After a dial that resumed a TLS session failed: whether the session may be why, so the
  // next dial should make a full handshake. Not when the peer answered over it and refused
  // for a reason of the cluster's (a removed node, a duplicate link, ...): a full handshake
  // would be refused the same way, and the session is proven good.
  bool FailureMayBeTheTlsSession() const;
  Hello OurHello() const;
  const std::string& PeerLabel() const;  // the peer's name, or its address before Hello
  asio::awaitable<void> WriteLoop();
  // Pings every kPingInterval until the link closes. Holds the link only while it sends: a
  // wait must not keep a closed link alive, because an inbound TLS link's stream lives on the
  // accepting listener's io_context, and this frame would otherwise hold it until the
  // service's io_context is destroyed, after the listeners (net/upgrade_handler.h).
  static asio::awaitable<void> PingLoop(std::weak_ptr<Link> link, Strand strand);
  // When the read loop has waited kPeerSilenceLimit for a frame of a live link: logs it,
  // aborts the connection (the read then ends) and returns true.
  bool AbortIfPeerSilent();
  // Marks the send queue closed: copy threads blocked on it give up.
  void CloseCopyQueue() EXCLUDES(copy_mu_);

  // Dispatches a frame by type (std::visit) to Handle: frames naming a database are checked
  // against the link's first. Each Handle forwards to the half the frame is for.
  Status OnFrame(Message&& m);
  Status Handle(Hello&& h);
  Status Handle(Error&& e);
  Status Handle(Subscribe&& s);
  Status Handle(CopyBegin&& c);
  Status Handle(CopyChunk&& c);
  Status Handle(CopyEnd&& c);
  Status Handle(Transactions&& t);
  Status Handle(Ack&& a);
  Status Handle(Credit&& c);
  Status Handle(Schema&& s);
  Status Handle(Ping&& p);
  Status Handle(Pong&& p);
  Status Handle(MergeBegin&& b);
  Status Handle(MergeHashes&& h);
  Status Handle(MergeRequest&& r);
  Status Handle(MergeRows&& r);
  Status Handle(MergeEnd&& e);
  Status Handle(MergeTotal&& t);
  Status Handle(VerifyRequest&& r);
  Status Handle(VerifyResponse&& r);
  Status Handle(JoinRequest&& r);
  Status Handle(JoinGrant&& g);
  Status Handle(PeerCall&& c);
  Status Handle(PeerCallResult&& r);

  // Constant after construction.
  ServiceImpl* const service_;
  const Strand strand_;
  const bool outbound_;
  const std::string database_;
  std::shared_ptr<spdlog::logger> log_;
  // Set before the session runs, or at the Hello exchange (strand); constant after it.
  std::shared_ptr<PeerEntry> peer_;
  std::shared_ptr<Slot> slot_;
  std::string peer_name_;
  std::string peer_url_;
  uint64_t peer_max_frame_ = kDefaultMaxFrameBytes;
  std::vector<TableSubscription> subscriptions_;  // from the peer's spec
  bool probe_ = false;
  bool by_credentials_ = false;      // inbound upgrade authenticated by a super_user's credentials
  bool verify_tls_ = true;           // probe: false accepts an unverified certificate
  std::optional<JoinRequest> join_;  // probe: sent instead of Hello
  std::optional<JoinGrant> join_grant_;  // probe: the peer's answer

  // Strand-only state.
  std::unique_ptr<LinkStream> stream_;  // set before the upgrade
  // An outbound wss:// link: the connection's SSL (owned by stream_) and the epoch its
  // session was offered in (net::TlsContext::OfferSession), to keep its session once live.
  SSL* tls_ssl_ = nullptr;
  uint64_t tls_session_epoch_ = 0;
  // Over TLS: what the handshake proved about the peer's certificate (set before Hello).
  std::optional<net::PeerCertificate> peer_certificate_;
  beast::flat_buffer buffer_;
  LinkState state_ = LinkState::kConnecting;
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool writing_ = false;
  bool closing_ = false;
  bool close_after_flush_ = false;
  std::string close_reason_;
  uint16_t close_code_ = 1000;
  // Peer calls handed to on_peer_call and not answered yet, and a Close waiting for them.
  int calls_unanswered_ = 0;
  std::optional<std::string> close_when_answered_;
  bool live_ = false;  // Hello exchange done and registered
  // The read loop ended: the slot belongs to whatever dials next, and late completions on
  // this link (a copy's end, a chunk's commit) must not set its state.
  bool ended_ = false;
  LinkRefusal refusal_ = LinkRefusal::kNone;
  bool peer_refused_our_certificate_ = false;
  std::optional<asio::steady_timer> read_gate_;  // wakes the read loop when applies drain
  // Since when the read loop waits for the peer's next frame; empty while it is paused
  // (backpressure) or handling a frame. Strand only.
  std::optional<std::chrono::steady_clock::time_point> read_waiting_since_;
  LinkPublisher publisher_;
  LinkSubscriber subscriber_;
  LinkVerifier verifier_;  // cluster_verify (either side)
  LinkCalls calls_;        // our PeerCalls waiting for the peer's answer

  // Any thread.
  std::atomic<bool> pump_posted_{false};
  // The send queue's size in bytes, shared with copy threads (EnqueueFromCopyThread).
  common::Mutex copy_mu_;
  std::condition_variable_any copy_cv_;  // queued_bytes_ dropped, or closed_ was set
  size_t queued_bytes_ GUARDED_BY(copy_mu_) = 0;
  bool closed_ GUARDED_BY(copy_mu_) = false;
};

class ServiceImpl final : public ReplicationService, public net::UpgradeHandler {
 public:
  explicit ServiceImpl(ServiceOptions options);
  ~ServiceImpl() override;

  void Start() override;
  void Stop() override;
  void SetPeers(std::vector<PeerSpec> peers) override;
  void SetRemovedNodes(std::vector<std::string> names) override;
  void SetRevokedCertificates(std::vector<std::string> serials) override;
  std::vector<std::string> PresentedCertificateSerials(const std::string& name) override
      EXCLUDES(mu_);
  // Whether `serial` was revoked (SetRevokedCertificates). Any thread.
  bool IsRevoked(const std::string& serial) const EXCLUDES(mu_);
  // A CA stopped being trusted (tls_client's SetTrustShrankHandler): closes every registered
  // link whose peer certificate, verified at its handshake, no longer verifies (logged and
  // counted in link_errors with the peer and the reason). Any thread.
  void RecheckPeerCertificates() EXCLUDES(mu_);
  void SetPeerAddresses(common::IpAllowList addresses) override EXCLUDES(addresses_mu_);
  net::UpgradeHandler* upgrade_handler() override { return this; }
  boost::json::array ConnectionsStatus() override;
  boost::json::object ServiceStatus() override;
  void VerifyPeers(const std::string& database, const std::string& table,
                   std::function<void(std::vector<PeerVerifyResult>)> done) override;
  void Probe(ProbeRequest request, std::function<void(ProbeResult)> done) override;
  void CallPeer(const std::string& name, std::string method, std::string payload,
                std::chrono::milliseconds timeout,
                std::function<void(Result<std::string>)> done) override;
  void OnUpgrade(tcp::socket socket, http::request<http::string_body> request,
                 std::string remote_address) override;
  void OnTlsUpgrade(std::unique_ptr<net::TlsStream> stream,
                    http::request<http::string_body> request, std::string remote_address,
                    net::PeerCertificate peer) override;

  // For links.
  const ServiceOptions& options() const { return options_; }
  storage::Store* store() const { return options_.store; }
  std::vector<std::string> ReplicatedDatabases() const;
  std::string DialAuthorization(const PeerSpec& spec);
  // Insecure mode: Ok when a node token on a plain (non-TLS) upgrade from `remote_address` is
  // honoured: the address is a peer's (SetPeerAddresses) or in replication.allowedIps. Else
  // PermissionDenied "replication from <address> refused: ...". (A super_user's Basic
  // credentials are honoured from any address and not checked here.)
  Status CheckPlainPeerAddress(const std::string& remote_address) EXCLUDES(addresses_mu_);
  // Who may connect: the verified node name of a token ("" for Basic), or why not.
  Result<std::string> Authenticate(const std::string& authorization,
                                   const std::string& remote_address);
  // After a peer's Hello: the duplicate rule, removed peers. Ok -> the link is live; else
  // *refusal says why (the Status carries the message for the log and the Error frame).
  Status RegisterLink(const std::shared_ptr<Link>& link, const Hello& hello,
                      std::shared_ptr<PeerEntry>* peer, LinkRefusal* refusal);
  // False when `link` was no longer the registered one (replaced as a duplicate).
  bool UnregisterLink(Link* link);
  // An inbound peer subscribed (a well-behaved peer, past Hello): tells membership.
  void PeerSubscribed(const std::string& name, const std::string& url, const std::string& db,
                      bool by_credentials);
  // Runs `job` (a copy or merge of `link`, blocking on its send queue) on the bounded copy
  // pool (ServiceOptions::copy_threads): at once, or when a pool thread frees up. Stop aborts
  // the link's copy queue, so a running job returns, and drops jobs that never started.
  void RunCopyJob(std::shared_ptr<Link> link, std::function<void()> job) EXCLUDES(mu_);
  // One initial copy per database (initial_copy.cc, docs/replication.md "Catch-up"): a link
  // whose subscriber would start with a copy claims the database first. A claimed copy also
  // marks its link as carrying a copy, which RegisterLink keeps over a duplicate connection
  // (docs/replication.md "Links"), so a copy is never cut by the duplicate rule.
  enum class CopyClaim {
    kClaimed,    // copy now; *note names a failed earlier attempt ("" if none)
    kWait,       // another link (of peer *holder) copies: subscribe after ResumeAfterCopy
    kRecheck,    // a copy finished meanwhile: the vector is no longer empty, choose again
    kAfterDial,  // our own dial to this peer is under way and, once live, replaces this link:
                 // choose again after ResumeAfterDial (the copy then runs on the survivor)
    kReplaced,   // the link is no longer the registered one (a duplicate, closing): no copy
  };
  // `coordinate`: the link's rules take every table, so it takes part in "one copy per
  // database" (initial_copy.h); false: it copies on its own, and is only marked.
  CopyClaim ClaimInitialCopy(const std::shared_ptr<Link>& link, bool coordinate,
                             std::string* holder, std::string* note) EXCLUDES(mu_);
  // The copy `link` claimed ended (completed: its end committed) or was given up: the link
  // no longer carries a copy, and a holder wakes every waiter (each re-subscribes; one may
  // claim again). A failed copy (completed false) is remembered for the next claimer's log
  // line.
  void ReleaseInitialCopy(Link* link, bool completed, uint64_t records) EXCLUDES(mu_);
  // A merge resync `link` publishes (MergePublisher) marks the link as carrying a merge,
  // which RegisterLink keeps over a duplicate connection like a copy (duplicate_links.cc).
  enum class MergeClaim {
    kClaimed,    // marked: merge now
    kAfterDial,  // our own dial to this peer is under way and, once live, replaces this link:
                 // start after ResumeAfterDial (or not at all: the merge runs on the survivor)
    kReplaced,   // the link is no longer the registered one (a duplicate, closing): no merge
  };
  MergeClaim ClaimMerge(const std::shared_ptr<Link>& link) EXCLUDES(mu_);
  // The merge `link` claimed ended (its MergeEnd is queued) or the link closed. Idempotent.
  void ReleaseMerge(const Link* link) EXCLUDES(mu_);
  // A waiter closed.
  void ForgetCopyWaiter(Link* link);
  bool CopyHasWaiters(const std::string& database);
  // PeerSpec fields, read under the service lock.
  std::optional<uint64_t> StartTimeFor(const std::shared_ptr<PeerEntry>& peer);
  std::vector<TableSubscription> SubscriptionsFor(const std::shared_ptr<PeerEntry>& peer);
  // Bracket every Store call whose callback posts to our io_context: Stop() waits for them.
  void BeginStoreCall() EXCLUDES(calls_mu_);
  void EndStoreCall() EXCLUDES(calls_mu_);
  // Count every Link object (registered or not, closing or not): Stop() waits until none is
  // left, because a link that left links_ may still be finishing its close handshake, and an
  // inbound TLS link's stream lives on the accepting listener's io_context, which stops after
  // replication (net/upgrade_handler.h).
  void LinkCreated() EXCLUDES(calls_mu_);
  void LinkDestroyed() EXCLUDES(calls_mu_);
  bool stopping() const { return stopping_.load(); }
  // A replication connection refused, or a link closed with an Error to the peer (bad
  // credentials, a removed node, a bad frame or Hello, a failed apply): counted, and the
  // latest reason kept, for cluster_status (link_errors, last_link_error).
  void NoteLinkError(const std::string& what) EXCLUDES(mu_);

 private:
  asio::awaitable<void> DialLoop(std::shared_ptr<PeerEntry> peer, std::string db, Strand strand);
  // What DialLoop reads of its peer before each attempt; nullopt when the loop ends (stopping,
  // the peer removed or without a URL, or a peer that dials us linked once). A target that is
  // not live is an attempt under way from here on (PeerEntry::attempting, EndDialAttempt).
  struct DialTarget {
    std::string name;
    std::string url;
    std::shared_ptr<Slot> slot;
    bool live = false;      // a link to it for the database is registered: nothing to dial
    bool need_key = false;  // the first dial of this node: a cluster key is ensured first
  };
  std::optional<DialTarget> NextDialTarget(PeerEntry& peer, const std::string& db, bool ever_live)
      EXCLUDES(mu_);
  static void NoteDialFailure(Slot& slot, const Status& st);
  void EnsureDialersLocked(const std::shared_ptr<PeerEntry>& peer) REQUIRES(mu_);
  void StartDialerLocked(const std::shared_ptr<PeerEntry>& peer, const std::string& db)
      REQUIRES(mu_);
  bool LiveLinkLocked(const std::string& peer_name, const std::string& db) REQUIRES(mu_);
  // Whether `link` is the registered link of its (peer, database): not yet replaced as a
  // duplicate.
  bool RegisteredLocked(const Link& link) REQUIRES(mu_);
  // ClaimInitialCopy's database claim, for a link that may copy: one copy per database.
  CopyClaim ClaimDatabaseLocked(const std::shared_ptr<Link>& link, std::string* holder,
                                std::string* note) REQUIRES(mu_);
  // RegisterLink's duplicate rule, for `link` arriving while `existing` is registered for the
  // same (peer, database): true keeps `existing` (and refuses `link`). See the definition.
  bool KeepExistingLinkLocked(const Link& existing, const Link& link) REQUIRES(mu_);
  // Whether our dial to `link`'s peer for its database is under way and would, once live,
  // replace `link` (a connection the peer dialled) under the duplicate rule.
  bool OwnDialWouldReplaceLocked(const Link& link) REQUIRES(mu_);
  // DialLoop, after an attempt returned: the attempt (if it never registered) no longer
  // holds back the copy of the peer's connection for the database (ResumeAfterDial).
  void EndDialAttempt(PeerEntry& peer, const std::string& db) EXCLUDES(mu_);
  // SetPeers: the entry of peers_ (not yet `matched`) that `spec` names, marked matched.
  std::shared_ptr<PeerEntry> MatchPeerLocked(const PeerSpec& spec, std::vector<bool>& matched)
      REQUIRES(mu_);
  // Appends the registered links of `peer_name` to *out.
  void CollectLinksLocked(const std::string& peer_name, std::vector<std::shared_ptr<Link>>* out)
      REQUIRES(mu_);
  // RegisterLink: an outbound link's `peer` answered as `name`; Ok, or why it is refused
  // (*refusal set).
  Status CheckDialledPeerLocked(const std::shared_ptr<PeerEntry>& peer, const std::string& name,
                                LinkRefusal* refusal) REQUIRES(mu_);
  // RegisterLink: the entry of the node `name` (at `url`) that dialled us, learned now if
  // none is; Ok, or why it is refused (*refusal set).
  Status FindInboundPeerLocked(const std::string& name, const std::string& url,
                               std::shared_ptr<PeerEntry>* peer, LinkRefusal* refusal)
      REQUIRES(mu_);
  // A peer known only from inbound Hellos (SetPeers never listed it: not a member) is
  // dropped once its last link closed, so a client that forged Hellos leaves no trace.
  void ForgetUnlistedPeerLocked(const std::string& name) REQUIRES(mu_);
  // Dropped by SetPeers or named by SetRemovedNodes: refused and never linked.
  bool RefusedLocked(const std::string& name) const REQUIRES(mu_);
  // Ok when `link` has no verified peer certificate or it still verifies against the
  // trust of the moment (tls_client); else why not.
  Status StillTrusted(const Link& link) const;
  // Appends ConnectionsStatus's entry for `peer`'s socket of `db` to `out`, then one entry
  // per other link of it that runs a merge resync (a duplicate still closing: Slot::merges).
  void AddDatabaseSockets(const PeerEntry& peer, const std::string& db, uint64_t now,
                          boost::json::array& out) REQUIRES(mu_);
  void OnCommit(const std::string& database);
  void TrimLoop();  // the retention thread

  const ServiceOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> started_{false};
  uint64_t listener_id_ = 0;

  // Store calls in flight (BeginStoreCall): Stop waits until none is.
  common::Mutex calls_mu_;
  std::condition_variable_any calls_cv_;  // inflight_store_calls_ dropped to 0
  int inflight_store_calls_ GUARDED_BY(calls_mu_) = 0;
  int live_links_ GUARDED_BY(calls_mu_) = 0;  // LinkCreated - LinkDestroyed; calls_cv_ on 0

  mutable common::Mutex mu_;
  std::condition_variable_any links_cv_;  // a link left links_ (Stop waits for none)
  std::vector<std::shared_ptr<PeerEntry>> peers_ GUARDED_BY(mu_);
  // Refused node names: dropped by SetPeers (until SetRemovedNodes), and membership's
  // persisted removed marks.
  std::set<std::string> removed_names_ GUARDED_BY(mu_);
  std::set<std::string> membership_removed_ GUARDED_BY(mu_);
  std::set<std::string> revoked_serials_ GUARDED_BY(mu_);
  // PresentedCertificateSerials: node name -> the serials of the verified certificates it
  // presented on registered links, oldest first, at most kPresentedSerialsPerNode each.
  static constexpr size_t kPresentedSerialsPerNode = 4;
  std::map<std::string, std::vector<std::string>> presented_serials_ GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, std::shared_ptr<Link>> links_ GUARDED_BY(mu_);
  std::set<std::string> known_databases_ GUARDED_BY(mu_);
  // Links with a copy job posted (running or waiting): Stop aborts their copy queues.
  std::vector<std::weak_ptr<Link>> copy_links_ GUARDED_BY(mu_);
  bool key_ensured_ GUARDED_BY(mu_) = false;
  uint64_t link_errors_ GUARDED_BY(mu_) = 0;
  std::string last_link_error_ GUARDED_BY(mu_);
  // Per database: the link copying it now (compared, never dereferenced), the links waiting
  // for that copy, and the last attempt that failed (for the log).
  struct InitialCopy {
    const Link* holder = nullptr;
    std::string holder_peer;
    std::vector<std::weak_ptr<Link>> waiters;
    std::string failed_peer;
    uint64_t failed_records = 0;
  };
  std::map<std::string, InitialCopy> initial_copies_ GUARDED_BY(mu_);
  // Links whose subscriber receives an initial copy now: from the claim until
  // ReleaseInitialCopy (compared, never dereferenced). RegisterLink keeps them over a
  // duplicate.
  std::set<const Link*> copying_links_ GUARDED_BY(mu_);
  // Links whose publisher sends a merge resync now: from ClaimMerge until ReleaseMerge
  // (compared, never dereferenced). RegisterLink keeps them over a duplicate.
  std::set<const Link*> merging_links_ GUARDED_BY(mu_);

  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  // Initial copies and merges (RunCopyJob): ServiceOptions::copy_threads at most.
  common::WorkPool copy_pool_;

  // Retention: a thread that trims every database's log each log_trim_interval_ms.
  std::thread trim_thread_;
  common::Mutex trim_mu_;
  std::condition_variable_any trim_cv_;  // stopping_ was set
  std::atomic<uint64_t> next_verify_id_{1};
  std::atomic<uint64_t> next_call_id_{1};

  // Insecure mode: the peers' addresses from SetPeerAddresses.
  common::Mutex addresses_mu_;
  common::IpAllowList peer_addresses_ GUARDED_BY(addresses_mu_);
};

}  // namespace meshdb::replication
