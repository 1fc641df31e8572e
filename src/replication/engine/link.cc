// Link: one WebSocket connection for one (peer, database) — transport, Hello, and the frame
// dispatch of the session (docs/protocol.md). The subscriber half is LinkSubscriber
// (link_subscriber.h), the publisher half LinkPublisher (link_publisher.h), merge resync
// merge_link.h, verify link_verifier.h.
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <type_traits>
#include <utility>

#include "common/log.h"
#include "replication/engine/link_stream.h"
#include "replication/engine/service_impl.h"
#include "replication/engine/subscription_rules.h"
#include "replication/engine/ws_url.h"
#include "replication/wire/codec.h"
#include "replication/wire/table_def_json.h"
#include "storage/store.h"

namespace meshdb::replication {

namespace {

using TcpLinkStream = WsLinkStream<beast::tcp_stream>;
using TlsLinkStream = WsLinkStream<net::TlsStream>;
constexpr std::chrono::seconds kTlsHandshakeTimeout{10};
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kCopyQueueBytes = 8u << 20;  // a copy thread waits above this
constexpr std::chrono::seconds kPingInterval{1};
// A live peer sends at least a Ping every kPingInterval. A read that has waited this long
// for any frame means the peer is stopped (SIGSTOP), hung or cut off without the TCP
// connection failing: the link is aborted, so the slot shows it disconnected and a dialler
// redials. Twenty pings' worth, for peers whose I/O threads are slowed (sanitizer builds).
constexpr std::chrono::seconds kPeerSilenceLimit{20};
// How long Close waits for the answers to peer calls in progress (see Link::Close).
constexpr std::chrono::seconds kCloseWaitForAnswers{2};

// The kind of an Error code, for last_link_error.
const char* ErrorKind(ErrorCode code) {
  switch (code) {
    case ErrorCode::kProtocol:
      return "protocol error";
    case ErrorCode::kUnsupportedVersion:
      return "unsupported version";
    case ErrorCode::kUnauthorized:
      return "unauthorized";
    case ErrorCode::kNameConflict:
      return "name conflict";
    case ErrorCode::kTooLarge:
      return "too large";
    case ErrorCode::kInternal:
      return "internal error";
  }
  return "error";
}

uint16_t CloseCodeFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kProtocol:
    case ErrorCode::kUnsupportedVersion:
      return 1002;
    case ErrorCode::kUnauthorized:
    case ErrorCode::kNameConflict:
      return 1008;
    case ErrorCode::kTooLarge:
      return 1009;
    default:
      return 1011;
  }
}

// Frames that carry the peer's data to our subscriber half.
bool FeedsTheSubscriber(MessageType type) {
  switch (type) {
    case MessageType::kSchema:
    case MessageType::kTransactions:
    case MessageType::kCopyBegin:
    case MessageType::kCopyChunk:
    case MessageType::kCopyEnd:
    case MessageType::kMergeBegin:
    case MessageType::kMergeHashes:
    case MessageType::kMergeRows:
    case MessageType::kMergeEnd:
    case MessageType::kMergeTotal:
      return true;
    default:
      return false;
  }
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "'" : ", '") + name + "'";
  return out.empty() ? "no name" : out;
}

}  // namespace

const char* LinkStateName(LinkState s) {
  switch (s) {
    case LinkState::kConnecting:
      return "Connecting";
    case LinkState::kCatchingUp:
      return "CatchingUp";
    case LinkState::kStreaming:
      return "Streaming";
    case LinkState::kBackoff:
      return "Backoff";
    case LinkState::kIdle:
      return "Idle";
  }
  return "Unknown";
}

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

Link::Link(ServiceImpl* service, Strand strand, bool outbound, std::string database,
           std::shared_ptr<PeerEntry> peer)
    : service_(service),
      strand_(std::move(strand)),
      outbound_(outbound),
      database_(std::move(database)),
      log_(log::For("replication")),
      peer_(std::move(peer)),
      publisher_(*this),
      subscriber_(*this),
      verifier_(service->store(), database_) {
  service_->LinkCreated();
}

Link::~Link() { service_->LinkDestroyed(); }

void TransitionSlot(Slot* slot, const std::string& peer, const std::string& db, LinkState s,
                    spdlog::logger& log) {
  LinkState old;
  {
    common::MutexLock lock(slot->mu);
    old = slot->state;
    slot->state = s;
  }
  if (old != s) {
    log.info("peer {} db {}: {} -> {}", peer, db, LinkStateName(old), LinkStateName(s));
  }
}

void IdleSlotIfDisconnected(Slot* slot, const std::string& peer, const std::string& db,
                            spdlog::logger& log) {
  LinkState old;
  {
    common::MutexLock lock(slot->mu);
    old = slot->state;
    if (slot->connected || (old != LinkState::kCatchingUp && old != LinkState::kStreaming)) {
      return;
    }
    slot->state = LinkState::kIdle;
  }
  log.info("peer {} db {}: {} -> {} (the connection closed)", peer, db, LinkStateName(old),
           LinkStateName(LinkState::kIdle));
}

void Link::SetState(LinkState s) {
  state_ = s;
  if (slot_ && !ended_)
    TransitionSlot(slot_.get(), peer_name_.empty() ? peer_url_ : peer_name_, database_, s, *log_);
}

void Link::AbortCopy() { CloseCopyQueue(); }

void Link::CloseCopyQueue() {
  {
    common::MutexLock lock(copy_mu_);
    closed_ = true;
  }
  copy_cv_.notify_all();
}

void Link::LoadSubscriptions() {
  std::vector<TableSubscription> subscriptions = service_->SubscriptionsFor(peer_);
  // A copy thread may be reading them: rewritten only when they changed (and SetPeers closes
  // the links of a peer whose subscriptions changed).
  if (subscriptions != subscriptions_) subscriptions_ = std::move(subscriptions);
}

void Link::WakeReader() {
  if (read_gate_) read_gate_->cancel();
}

asio::awaitable<Status> Link::RunOutbound(std::string url, std::string authorization) {
  peer_url_ = url;
  auto parsed = ParseWsUrl(url);
  if (!parsed.ok()) co_return Status::InvalidArgument("bad peer url '" + url + "'");
  const bool tls = parsed->scheme == "wss";
  const std::shared_ptr<net::TlsContext>& tls_context = service_->options().tls_client;
  if (tls && !tls_context) {
    co_return Status::Unavailable("cannot dial " + url +
                                  ": wss:// needs TLS and this node has no certificate");
  }
  const std::string host = parsed->host;
  const std::string port =
      parsed->port != 0 ? std::to_string(parsed->port) : std::string(tls ? "443" : "80");
  Result<tcp::socket> socket = co_await Connect(host, port, url);
  if (!socket.ok()) co_return socket.status();
  if (closing_) co_return Status::Unavailable("closed");
  if (!tls) {
    co_return co_await RunClient(std::make_unique<TcpLinkStream>(std::move(*socket)), url,
                                 host + ":" + port, authorization);
  }
  auto owned = std::make_unique<TlsLinkStream>(std::move(*socket), tls_context->native());
  tls_ssl_ = owned->ws().next_layer().native_handle();  // lives as long as the stream
  tls_session_epoch_ = tls_context->OfferSession(tls_ssl_, url);
  Status st = co_await TlsHandshake(owned->ws().next_layer(), host, url);
  if (st.ok()) st = co_await RunClient(std::move(owned), url, host + ":" + port, authorization);
  // The session is kept once the link is live (OnPeerHello); an attempt that resumed it and
  // failed on its account forgets it, so the next dial is a full handshake (the peer's trust
  // in us, or ours in it, may have changed since the session was made).
  if (!st.ok() && !live_ && SSL_session_reused(tls_ssl_) == 1 && FailureMayBeTheTlsSession()) {
    tls_context->ForgetSession(url);
  }
  co_return st;
}

asio::awaitable<Result<tcp::socket>> Link::Connect(const std::string& host, const std::string& port,
                                                   const std::string& url) {
  tcp::resolver resolver(strand_);
  auto [rec, results] = co_await resolver.async_resolve(host, port, kTuple);
  if (rec || results.empty()) {
    co_return Status::Unavailable("cannot resolve " + url + ": " + rec.message());
  }
  tcp::socket socket(strand_);
  beast::error_code ec = asio::error::host_unreachable;
  const std::string& bind_address = service_->options().bind_address;
  for (const auto& entry : results) {
    beast::error_code ignored;
    socket.close(ignored);
    socket.open(entry.endpoint().protocol(), ec);
    if (ec) continue;
    if (!bind_address.empty() && bind_address != "0.0.0.0" && bind_address != "::") {
      beast::error_code aec;
      auto address = asio::ip::make_address(bind_address, aec);
      if (!aec && address.is_v4() == entry.endpoint().address().is_v4()) {
        socket.bind(tcp::endpoint(address, 0), aec);
        if (aec) log_->debug("cannot bind to {}: {}", bind_address, aec.message());
      }
    }
    std::tie(ec) = co_await socket.async_connect(entry.endpoint(), kTuple);
    if (!ec) break;
  }
  if (ec) co_return Status::Unavailable("cannot connect to " + url + ": " + ec.message());
  socket.set_option(tcp::no_delay(true), ec);
  co_return std::move(socket);
}

asio::awaitable<Status> Link::TlsHandshake(net::TlsStream& stream, const std::string& host,
                                           const std::string& url) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());  // SNI: names only
  beast::get_lowest_layer(stream).expires_after(kTlsHandshakeTimeout);
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kTuple);
  beast::get_lowest_layer(stream).expires_never();
  if (hec) co_return Status::Unavailable("TLS handshake with " + url + " failed: " + hec.message());
  net::PeerCertificate cert = net::InspectPeer(stream.native_handle());
  if (!cert.verified && probe_ && !verify_tls_ && cert.presented) {
    log_->warn(
        "accepting the unverified certificate of {} for this add_node only (verify_tls: "
        "false): {}",
        url, cert.verify_error);
  } else if (!cert.verified) {
    co_return Status::PermissionDenied(
        "the certificate of " + url + " is not trusted: " +
        (cert.presented ? cert.verify_error : std::string("it presented none")));
  }
  if (!cert.Names(host)) {
    co_return Status::PermissionDenied("the certificate of " + url + " is not for '" + host +
                                       "' (it names " + JoinNames(cert.names) + ")");
  }
  if (service_->IsRevoked(cert.serial_hex)) {
    co_return Status::PermissionDenied("the certificate of " + url + " (serial " + cert.serial_hex +
                                       ") was revoked");
  }
  peer_certificate_ = std::move(cert);
  co_return Status::Ok();
}

template <typename NextLayer>
asio::awaitable<Status> Link::RunClient(std::unique_ptr<WsLinkStream<NextLayer>> owned,
                                        std::string url, std::string host_port,
                                        std::string authorization) {
  WsLinkStream<NextLayer>* ws = owned.get();
  stream_ = std::move(owned);
  ws->ws().set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
  ws->ws().set_option(
      websocket::stream_base::decorator([authorization](websocket::request_type& req) {
        req.set(http::field::authorization, authorization);
        req.set(http::field::sec_websocket_protocol, std::string(kSubprotocol));
        req.set(http::field::user_agent, "meshdb-replication");
      }));
  websocket::response_type res;
  std::string target = std::string(kReplicationPath) + "?database=" + database_;
  auto [hec] = co_await ws->ws().async_handshake(res, host_port, target, kTuple);
  if (hec) {
    if (res.result() == http::status::unauthorized) {
      peer_refused_our_certificate_ =
          res.body().find(kUntrustedCertificateWords) != std::string::npos;
      co_return Status::Unauthenticated("peer " + url +
                                        " refused our credentials (401): " + res.body());
    }
    co_return Status::Unavailable(
        "upgrade to " + url + " failed: " + hec.message() +
        (res.result_int() ? " (HTTP " + std::to_string(res.result_int()) + ")" : "") +
        (res.body().empty() ? "" : ": " + res.body()));
  }
  if (probe_) {
    // Not a conditional expression: GCC 12 mis-destroys a co_await operand's temporaries in
    // `?:` (it freed a Status twice here).
    Status joined = Status::Ok();
    if (join_) joined = co_await ExchangeJoin();
    co_await stream_->Close(websocket::close_reason("probe"));  // outcome unused
    co_return joined;
  }
  co_return co_await RunSession();
}

asio::awaitable<void> Link::RunInbound(tcp::socket socket, http::request<http::string_body> req,
                                       std::string remote_address) {
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  co_await ServeUpgrade(beast::tcp_stream(std::move(socket)), std::move(req),
                        std::move(remote_address));
}

asio::awaitable<void> Link::RunInboundTls(std::unique_ptr<net::TlsStream> stream,
                                          http::request<http::string_body> req,
                                          std::string remote_address,
                                          net::PeerCertificate certificate) {
  beast::error_code ec;
  beast::get_lowest_layer(*stream).socket().set_option(tcp::no_delay(true), ec);
  peer_certificate_ = std::move(certificate);
  co_await ServeUpgrade(std::move(*stream), std::move(req), std::move(remote_address));
}

template <typename NextLayer>
asio::awaitable<void> Link::ServeUpgrade(NextLayer stream, http::request<http::string_body> req,
                                         std::string remote_address) {
  peer_url_ = remote_address;
  auto refuse = [&](http::status status, std::string reason) -> asio::awaitable<void> {
    log_->warn("refused replication connection from {}: {}", remote_address, reason);
    service_->NoteLinkError("refused a connection from " + remote_address + ": " + reason);
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::server, "meshdb");
    res.set(http::field::content_type, "text/plain");
    res.body() = reason;
    res.keep_alive(false);
    res.prepare_payload();
    co_await http::async_write(stream, res, kTuple);  // best effort: the socket closes anyway
    beast::get_lowest_layer(stream).close();
  };
  auto who = service_->Authenticate(std::string(req[http::field::authorization]), remote_address);
  if (!who.ok()) {
    co_await refuse(http::status::unauthorized, who.status().message());
    co_return;
  }
  std::string token_name = *who;
  // A revoked certificate is no identity; a super_user's credentials may still join again.
  if (peer_certificate_ && !token_name.empty() &&
      service_->IsRevoked(peer_certificate_->serial_hex)) {
    co_await refuse(http::status::unauthorized, "node '" + token_name + "' presented certificate " +
                                                    peer_certificate_->serial_hex +
                                                    ", which was revoked");
    co_return;
  }
  // Insecure mode: over plain ws:// a node token is honoured only from a known address; a
  // super_user's credentials (add_node's first contact) are honoured from any.
  if (!peer_certificate_ && !token_name.empty()) {
    if (Status known = service_->CheckPlainPeerAddress(remote_address); !known.ok()) {
      co_await refuse(http::status::forbidden, known.message());
      co_return;
    }
  }
  // Over TLS a node token is honoured only with a certificate we trust (mutual TLS); a
  // super_user's credentials (add_node's first contact) need none.
  if (peer_certificate_ && !token_name.empty() && !peer_certificate_->verified) {
    // Built before the co_await: GCC 12 frees a `?:` temporary in a co_await operand twice
    // (it crashed here: free(): double free).
    std::string why = "none";
    if (peer_certificate_->presented) why = peer_certificate_->verify_error;
    std::string reason =
        "node '" + token_name + "' " + std::string(kUntrustedCertificateWords) + " (" + why + ")";
    co_await refuse(http::status::unauthorized, std::move(reason));
    co_return;
  }
  std::string_view protocols = req[http::field::sec_websocket_protocol];
  if (protocols.find(kSubprotocol) == std::string_view::npos) {
    co_await refuse(http::status::bad_request, "missing subprotocol " + std::string(kSubprotocol));
    co_return;
  }
  auto owned = std::make_unique<WsLinkStream<NextLayer>>(std::move(stream));
  WsLinkStream<NextLayer>* ws = owned.get();
  stream_ = std::move(owned);
  ws->ws().set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws->ws().set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
    res.set(http::field::sec_websocket_protocol, std::string(kSubprotocol));
    res.set(http::field::server, "meshdb");
  }));
  auto [aec] = co_await ws->ws().async_accept(req, kTuple);
  if (aec) {
    log_->warn("replication upgrade from {} failed: {}", remote_address, aec.message());
    service_->NoteLinkError("upgrade from " + remote_address + " failed: " + aec.message());
    co_return;
  }
  peer_name_ = token_name;  // checked against Hello in RunSession ("" for Basic)
  by_credentials_ = token_name.empty();
  Status st = co_await RunSession();
  if (!st.ok()) log_->debug("inbound link from {} ended: {}", remote_address, st.ToString());
}

Hello Link::OurHello() const {
  const auto& opts = service_->options();
  Hello mine;
  mine.node_name = opts.node_name;
  mine.node_url = opts.node_url;
  mine.capabilities = {std::string(kCapTxnBatch),  std::string(kCapCopy),   std::string(kCapCredit),
                       std::string(kCapMerge),     std::string(kCapVerify), std::string(kCapCall),
                       std::string(kCapMergeTotal)};
  if (opts.copy_stored_rows) mine.capabilities.emplace_back(kCapCopyStored);
  mine.max_frame_bytes = opts.max_frame_bytes;
  mine.databases = service_->ReplicatedDatabases();
  return mine;
}

const std::string& Link::PeerLabel() const { return peer_name_.empty() ? peer_url_ : peer_name_; }

asio::awaitable<Status> Link::RunOpen(std::unique_ptr<LinkStream> stream, std::string token_name) {
  stream_ = std::move(stream);
  peer_name_ = std::move(token_name);
  co_return co_await RunSession();
}

asio::awaitable<Status> Link::RunSession() {
  const auto& opts = service_->options();
  stream_->SetBinary(opts.max_frame_bytes);
  read_gate_.emplace(strand_);
  const Hello mine = OurHello();
  if (outbound_) SendMessage(mine);

  auto [result, ended] = co_await Handshake(mine);
  // The session's frames; after a refusal only those read until the close completes.
  while (!ended) {
    while (live_ && !closing_ && subscriber_.ReadsPaused()) {
      read_gate_->expires_at(asio::steady_timer::time_point::max());
      co_await read_gate_->async_wait(kTuple);
    }
    read_waiting_since_ = std::chrono::steady_clock::now();
    ReadResult read = co_await ReadFrame(/*before_hello=*/false);
    read_waiting_since_.reset();
    if (read.ended) {
      if (read.too_large) result = Status::TooLarge("peer sent a frame over the limit");
      break;
    }
    if (!read.message) continue;
    Status st = OnFrame(std::move(*read.message));
    if (!st.ok()) {
      log_->warn("peer {} db {}: {}", peer_name_, database_, st.ToString());
      Fail(ErrorCode::kProtocol, st.message());
    }
  }
  CloseCopyQueue();
  verifier_.FailPending("connection closed");
  calls_.FailPending("connection closed");
  subscriber_.OnClose();
  closing_ = true;
  ended_ = true;
  // A link replaced by a newer one for the same (peer, database) shares its slot: only the
  // registered link reports the slot disconnected.
  if (live_ && service_->UnregisterLink(this)) {
    {
      common::MutexLock lock(slot_->mu);
      slot_->connected = false;
      slot_->copy_progress.reset();
    }
    // Nothing flows any more: a dialler's loop moves on to Backoff or Connecting; the side
    // that waits for the peer to dial again shows Idle, never Streaming while disconnected
    // (unless a new link has connected meanwhile).
    IdleSlotIfDisconnected(slot_.get(), peer_name_.empty() ? peer_url_ : peer_name_, database_,
                           *log_);
  }
  // Its merges end with it, registered or not (a duplicate's merge shows until it closes).
  service_->ReleaseMerge(this);
  if (slot_) {
    common::MutexLock lock(slot_->mu);
    slot_->merges.erase(this);
  }
  co_return result;
}

asio::awaitable<Link::ReadResult> Link::ReadFrame(bool before_hello) {
  const auto& opts = service_->options();
  ReadResult out;
  beast::error_code ec = co_await stream_->Read(buffer_);
  if (ec) {
    out.ended = true;
    out.error = ec;
    if (ec == websocket::error::message_too_big) {
      log_->warn("peer {} db {}: frame too large (over max_frame_bytes {}); closing", PeerLabel(),
                 database_, opts.max_frame_bytes);
      Fail(ErrorCode::kTooLarge, "frame over " + std::to_string(opts.max_frame_bytes) + " bytes");
      out.too_large = true;
      // The read side is unusable; let the writer send the Error, then close.
      asio::steady_timer t(strand_);
      t.expires_after(std::chrono::milliseconds(200));
      co_await t.async_wait(kTuple);
    } else if (ec != asio::error::operation_aborted) {
      log_->info("peer {} db {}: connection closed{}: {}", PeerLabel(), database_,
                 before_hello ? " before Hello" : "", ec.message());
    }
    co_return out;
  }
  if (closing_) {
    buffer_.consume(buffer_.size());
    co_return out;
  }
  if (!stream_->GotBinary()) {
    buffer_.consume(buffer_.size());
    log_->warn("peer {} db {}: protocol error: text message (frames are binary)", PeerLabel(),
               database_);
    Fail(ErrorCode::kProtocol, "text message");
    co_return out;
  }
  auto data = buffer_.data();
  if (slot_) slot_->bytes_received.fetch_add(data.size(), std::memory_order_relaxed);
  std::string_view bytes(static_cast<const char*>(data.data()), data.size());
  Result<Message> decoded = DecodeFrame(bytes, opts.max_frame_bytes);
  buffer_.consume(buffer_.size());
  if (!decoded.ok()) {
    log_->warn("peer {} db {}: bad frame: {}", PeerLabel(), database_, decoded.status().ToString());
    Fail(decoded.status().code() == Status::Code::kTooLarge ? ErrorCode::kTooLarge
                                                            : ErrorCode::kProtocol,
         decoded.status().message());
    co_return out;
  }
  out.message = std::move(decoded).value();
  co_return out;
}

asio::awaitable<Link::HandshakeResult> Link::Handshake(const Hello& mine) {
  const std::string claimed_token_name = peer_name_;  // inbound: from the token ("" for Basic)
  for (;;) {
    ReadResult read = co_await ReadFrame(/*before_hello=*/true);
    if (read.ended) {
      service_->NoteLinkError(PeerLabel() + " db " + database_ +
                              ": connection closed before Hello: " + read.error.message());
      co_return HandshakeResult{
          Status::Unavailable("connection closed before Hello: " + read.error.message()), true};
    }
    if (read.message) {
      co_return HandshakeResult{OnPeerHello(std::move(*read.message), mine, claimed_token_name),
                                false};
    }
  }
}

bool Link::FailureMayBeTheTlsSession() const {
  switch (refusal_) {
    case LinkRefusal::kNone:  // the handshake or the connection failed before any answer
    case LinkRefusal::kNotHello:
    case LinkRefusal::kCertificateMismatch:
    case LinkRefusal::kUntrustedCertificate:
    case LinkRefusal::kUnexpectedPeer:
      return true;
    case LinkRefusal::kRefusedByPeer:
      return peer_refused_our_certificate_;
    case LinkRefusal::kBadHello:
    case LinkRefusal::kTokenMismatch:
    case LinkRefusal::kDuplicate:
    case LinkRefusal::kRemovedPeer:
    case LinkRefusal::kStopping:
    case LinkRefusal::kJoin:
      return false;
  }
  return true;
}

Status Link::Refuse(LinkRefusal why, Status st) {
  refusal_ = why;
  return st;
}

Status Link::OnPeerHello(Message&& m, const Hello& mine, const std::string& claimed_token_name) {
  const auto& opts = service_->options();
  auto* hello = std::get_if<Hello>(&m);
  if (auto* join = std::get_if<JoinRequest>(&m); join != nullptr && !outbound_) {
    return OnJoinRequest(std::move(*join), claimed_token_name);
  }
  if (hello == nullptr) {
    if (auto* err = std::get_if<Error>(&m)) {
      log_->warn("peer {} db {}: refused: {}", peer_url_, database_, err->reason);
      peer_refused_our_certificate_ =
          err->reason.find(kUntrustedCertificateWords) != std::string::npos;
      StartClose("refused");
      return Refuse(LinkRefusal::kRefusedByPeer,
                    Status::Unavailable("peer refused: " + err->reason));
    }
    Fail(ErrorCode::kProtocol, "first frame is not Hello");
    return Refuse(LinkRefusal::kNotHello, Status::InvalidArgument("first frame is not Hello"));
  }
  if (auto err = CheckPeerHello(*hello, opts.node_name)) {
    log_->warn("peer {} db {}: refused Hello from '{}': {}", peer_url_, database_, hello->node_name,
               err->reason);
    Fail(err->code, err->reason);
    return Refuse(LinkRefusal::kBadHello, Status::InvalidArgument(err->reason));
  }
  if (!outbound_ && !claimed_token_name.empty() && hello->node_name != claimed_token_name) {
    std::string reason = "peer claims node name '" + hello->node_name + "' but its token is for '" +
                         claimed_token_name + "'";
    log_->warn("peer {} db {}: {}", peer_url_, database_, reason);
    Fail(ErrorCode::kNameConflict, reason);
    return Refuse(LinkRefusal::kTokenMismatch, Status::PermissionDenied(reason));
  }
  if (peer_certificate_ && peer_certificate_->verified &&
      !peer_certificate_->Names(hello->node_name)) {
    std::string reason = "peer claims node name '" + hello->node_name +
                         "' but its certificate names " + JoinNames(peer_certificate_->names);
    log_->warn("peer {} db {}: {}", peer_url_, database_, reason);
    Fail(ErrorCode::kNameConflict, reason);
    return Refuse(LinkRefusal::kCertificateMismatch, Status::PermissionDenied(reason));
  }
  peer_name_ = hello->node_name;
  if (!hello->node_url.empty() && !outbound_) peer_url_ = hello->node_url;
  peer_max_frame_ = hello->max_frame_bytes;
  for (const auto& cap : hello->capabilities) {
    if (cap == kCapMerge) publisher_.set_peer_merges(true);
    if (cap == kCapMergeTotal) publisher_.set_peer_takes_merge_total(true);
    if (cap == kCapCopyStored && service_->options().copy_stored_rows) {
      publisher_.set_peer_copies_stored(true);
    }
    if (cap == kCapVerify) verifier_.set_peer_verifies(true);
    if (cap == kCapCall) calls_.set_peer_answers(true);
  }
  std::shared_ptr<PeerEntry> peer;
  LinkRefusal why = LinkRefusal::kNone;
  Status reg = service_->RegisterLink(shared_from_this(), *hello, &peer, &why);
  if (!reg.ok()) {
    if (why == LinkRefusal::kDuplicate) {
      log_->info("peer {} db {}: closing duplicate connection", peer_name_, database_);
      StartClose("duplicate");
    } else {
      log_->warn("peer {} db {}: refused: {}", peer_name_, database_, reg.message());
      Fail(ErrorCode::kUnauthorized, reg.message());
    }
    return Refuse(why, reg);
  }
  peer_ = std::move(peer);  // slot_ was set by RegisterLink
  live_ = true;
  if (!outbound_) SendMessage(mine);
  // The peer's Hello was read, so a TLS 1.3 ticket sent after the handshake has been too.
  if (tls_ssl_ != nullptr) {
    opts.tls_client->KeepSession(tls_ssl_, peer_url_, tls_session_epoch_);
  }
  {
    common::MutexLock lock(slot_->mu);
    slot_->connected = true;
    slot_->tls_resumed.reset();
    if (peer_certificate_) slot_->tls_resumed = peer_certificate_->resumed;
  }
  subscriber_.SendSubscribe();
  asio::co_spawn(strand_, PingLoop(weak_from_this(), strand_), asio::detached);
  return Status::Ok();
}

Status Link::OnJoinRequest(JoinRequest&& request, const std::string& claimed_token_name) {
  const auto& on_join = service_->options().on_join;
  Result<JoinGrant> grant = Status::PermissionDenied("this node does not sign certificates");
  if (!claimed_token_name.empty()) {
    // A node token is a member's credential, not an administrator's.
    grant = Status::PermissionDenied("joining needs a super_user's credentials, not a node token");
  } else if (on_join) {
    grant = on_join(request);
  }
  if (!grant.ok()) {
    log_->warn("refused the join of '{}' ({}) from {}: {}", request.node_name, request.node_url,
               peer_url_, grant.status().message());
    Fail(ErrorCode::kUnauthorized, grant.status().message());
    return Refuse(LinkRefusal::kJoin, grant.status());
  }
  log_->info("'{}' ({}) joined through this node from {}: its certificate is signed",
             request.node_name, request.node_url, peer_url_);
  SendFinal(*grant, "joined", 1000);
  return Refuse(LinkRefusal::kJoin, Status::Ok());
}

asio::awaitable<Status> Link::ExchangeJoin() {
  const std::string& url = peer_url_;
  stream_->SetBinary(service_->options().max_frame_bytes);
  std::string frame = EncodeFrame(*join_);
  beast::error_code wec = co_await stream_->Write(asio::buffer(frame));
  if (wec)
    co_return Status::Unavailable("sending the join to " + url + " failed: " + wec.message());
  ReadResult read = co_await ReadFrame(/*before_hello=*/true);
  if (read.ended) {
    co_return Status::Unavailable("no answer to the join from " + url + ": " +
                                  read.error.message());
  }
  if (!read.message) co_return Status::Unavailable("a bad answer to the join from " + url);
  if (auto* grant = std::get_if<JoinGrant>(&*read.message)) {
    join_grant_ = std::move(*grant);
    co_return Status::Ok();
  }
  if (auto* err = std::get_if<Error>(&*read.message)) {
    co_return Status::PermissionDenied(url + " refused the join: " + err->reason);
  }
  co_return Status::Unavailable("a bad answer to the join from " + url + ": " +
                                std::string(MessageTypeName(TypeOf(*read.message))));
}

// --- Writing ---

void Link::Send(std::string frame) {
  if (closing_ && !close_after_flush_) return;
  {
    common::MutexLock lock(copy_mu_);
    queued_bytes_ += frame.size();
  }
  queue_.push_back(std::make_shared<const std::string>(std::move(frame)));
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(strand_, WriteLoop(), asio::detached);
  }
}

asio::awaitable<void> Link::WriteLoop() {
  auto self = shared_from_this();
  while (!queue_.empty()) {
    std::shared_ptr<const std::string> frame = queue_.front();
    beast::error_code ec = co_await stream_->Write(asio::buffer(*frame));
    queue_.pop_front();
    if (!ec && slot_) slot_->bytes_sent.fetch_add(frame->size(), std::memory_order_relaxed);
    {
      common::MutexLock lock(copy_mu_);
      queued_bytes_ -= frame->size();
    }
    copy_cv_.notify_all();
    if (ec) {
      writing_ = false;
      {
        common::MutexLock lock(copy_mu_);
        for (auto& f : queue_) queued_bytes_ -= f->size();
      }
      queue_.clear();
      close_after_flush_ = false;
      StartClose("write failed");
      co_return;
    }
  }
  writing_ = false;
  if (close_after_flush_) {
    close_after_flush_ = false;
    closing_ = false;  // let StartClose run
    StartClose(close_reason_);
  }
  publisher_.Pump();
}

asio::awaitable<void> Link::PingLoop(std::weak_ptr<Link> link, Strand strand) {
  asio::steady_timer timer(strand);
  uint64_t nonce = 0;
  while (true) {
    {
      std::shared_ptr<Link> self = link.lock();
      if (!self || self->closing_) co_return;
      if (self->AbortIfPeerSilent()) co_return;
      self->SendMessage(Ping{++nonce, NowMs()});
    }
    timer.expires_after(kPingInterval);
    co_await timer.async_wait(kTuple);
  }
}

void Link::Fail(ErrorCode code, std::string reason) {
  if (closing_) return;
  service_->NoteLinkError((peer_name_.empty() ? peer_url_ : peer_name_) + " db " + database_ +
                          ": " + ErrorKind(code) + ": " + reason);
  SendFinal(Error{code, reason}, reason, CloseCodeFor(code));
}

void Link::SendFinal(const Message& message, std::string reason, uint16_t close_code) {
  if (closing_) return;
  SendMessage(message);
  CloseAfterFlush(std::move(reason), close_code);
}

void Link::CloseAfterFlush(std::string reason, uint16_t close_code) {
  if (closing_) return;
  closing_ = true;
  close_after_flush_ = true;
  close_reason_ = reason.substr(0, 100);
  close_code_ = close_code;
  if (!writing_) {
    close_after_flush_ = false;
    closing_ = false;
    StartClose(close_reason_);
  }
}

bool Link::AbortIfPeerSilent() {
  if (!live_ || !read_waiting_since_) return false;
  const auto silent = std::chrono::steady_clock::now() - *read_waiting_since_;
  if (silent < kPeerSilenceLimit) return false;
  log_->warn(
      "peer {} db {}: nothing received for {} s: closing the link (the peer is stopped, "
      "hung or cut off)",
      PeerLabel(), database_, std::chrono::duration_cast<std::chrono::seconds>(silent).count());
  closing_ = true;
  CloseCopyQueue();
  WakeReader();
  if (stream_) stream_->Abort();  // a close handshake would wait for the silent peer
  return true;
}

void Link::StartClose(std::string reason) {
  if (closing_) return;
  closing_ = true;
  CloseCopyQueue();
  WakeReader();
  if (!stream_) return;
  websocket::close_reason cr(static_cast<websocket::close_code>(close_code_),
                             reason.substr(0, 120));
  asio::co_spawn(
      strand_,
      [self = shared_from_this(), cr]() -> asio::awaitable<void> {
        beast::error_code ec = co_await self->stream_->Close(cr);
        if (ec) self->stream_->Abort();
      },
      asio::detached);
}

void Link::Close(std::string reason) {
  asio::post(strand_, [self = shared_from_this(), reason = std::move(reason)] {
    if (self->closing_ || self->close_when_answered_) return;
    if (self->calls_unanswered_ > 0) {
      self->close_when_answered_ = reason;
    } else {
      self->CloseAfterFlush(reason, 1000);
    }
    // A peer that does not read (or a call that is never answered) holds the close back no
    // longer than this.
    auto timer = std::make_shared<asio::steady_timer>(self->strand_, kCloseWaitForAnswers);
    // The wait holds the link only weakly: a closed link must not outlive its io_context's
    // listeners for this timer (see PingLoop).
    timer->async_wait([link = std::weak_ptr<Link>(self), timer, reason](boost::system::error_code) {
      std::shared_ptr<Link> self = link.lock();
      if (!self) return;
      if (!self->close_when_answered_ && !self->close_after_flush_) return;  // closing already
      self->close_when_answered_.reset();
      self->close_after_flush_ = false;
      self->closing_ = false;
      self->StartClose(reason);
    });
  });
}

void Link::WakePublisher() {
  if (pump_posted_.exchange(true)) return;
  asio::post(strand_, [self = shared_from_this()] {
    self->pump_posted_ = false;
    self->publisher_.Pump();
  });
}

// --- Frames ---

namespace {
// Frames checked against the connection's database before dispatch. A VerifyResponse is
// matched to its request by id instead.
template <typename T>
constexpr bool kChecksDatabase = requires(const T& t) {
  t.database;
}
&&!std::is_same_v<T, VerifyResponse>;
}  // namespace

Status Link::OnFrame(Message&& m) {
  // A subscriber that stopped applying drops the peer's data (LinkSubscriber::StopApplying).
  if (subscriber_.apply_stopped() && FeedsTheSubscriber(TypeOf(m))) return Status::Ok();
  return std::visit(
      [this](auto& frame) -> Status {
        using T = std::decay_t<decltype(frame)>;
        if constexpr (kChecksDatabase<T>) {
          if (frame.database != database_) {
            return Status::InvalidArgument("frame names database '" + frame.database +
                                           "' on the connection for '" + database_ + "'");
          }
        }
        return Handle(std::move(frame));
      },
      m);
}

Status Link::Handle(Hello&&) { return Status::InvalidArgument("second Hello"); }

Status Link::Handle(Error&& e) {
  log_->warn("peer {} db {} sent error {}: {}", peer_name_, database_, static_cast<int>(e.code),
             e.reason);
  StartClose("peer error");
  return Status::Ok();
}

Status Link::Handle(Subscribe&& s) { return publisher_.OnSubscribe(std::move(s)); }

Status Link::Handle(CopyBegin&& c) {
  subscriber_.OnCopyBegin(std::move(c));
  return Status::Ok();
}

Status Link::Handle(CopyChunk&& c) {
  subscriber_.OnCopyChunk(std::move(c));
  return Status::Ok();
}

Status Link::Handle(CopyEnd&& c) {
  subscriber_.OnCopyEnd(std::move(c));
  return Status::Ok();
}

Status Link::Handle(Transactions&& t) {
  subscriber_.OnTransactions(std::move(t));
  return Status::Ok();
}

Status Link::Handle(Ack&& a) {
  publisher_.OnAck(a);
  return Status::Ok();
}

Status Link::Handle(Credit&& c) {
  publisher_.OnCredit(c);
  return Status::Ok();
}

Status Link::Handle(Schema&& s) {
  subscriber_.OnSchema(std::move(s));
  return Status::Ok();
}

Status Link::Handle(Ping&& p) {
  SendMessage(Pong{p.nonce, p.sent_ms});
  return Status::Ok();
}

Status Link::Handle(Pong&& p) {
  uint64_t now = NowMs();
  common::MutexLock lock(slot_->mu);
  slot_->latency_ms = now >= p.sent_ms ? static_cast<double>(now - p.sent_ms) : 0.0;
  return Status::Ok();
}

Status Link::Handle(MergeBegin&& b) {
  subscriber_.merge().OnBegin(std::move(b));
  return Status::Ok();
}

Status Link::Handle(MergeHashes&& h) {
  if (!subscriber_.merge().merging()) return Status::InvalidArgument("MergeHashes outside a merge");
  subscriber_.merge().OnHashes(std::move(h));
  return Status::Ok();
}

Status Link::Handle(MergeRequest&& r) { return publisher_.OnMergeRequest(std::move(r)); }

Status Link::Handle(MergeRows&& r) {
  if (!subscriber_.merge().merging()) return Status::InvalidArgument("MergeRows outside a merge");
  subscriber_.merge().OnRows(std::move(r));
  return Status::Ok();
}

Status Link::Handle(MergeTotal&& t) {
  if (!subscriber_.merge().merging()) return Status::InvalidArgument("MergeTotal outside a merge");
  subscriber_.merge().OnTotal(std::move(t));
  return Status::Ok();
}

Status Link::Handle(MergeEnd&& e) {
  if (!subscriber_.merge().merging()) return Status::InvalidArgument("MergeEnd outside a merge");
  subscriber_.merge().OnEnd(std::move(e));
  return Status::Ok();
}

Status Link::Handle(VerifyRequest&& r) {
  SendMessage(verifier_.Answer(r));
  return Status::Ok();
}

Status Link::Handle(VerifyResponse&& r) {
  verifier_.OnResponse(std::move(r));
  return Status::Ok();
}

Status Link::Handle(JoinRequest&& /*r*/) {
  return Status::InvalidArgument("JoinRequest after Hello");
}

Status Link::Handle(JoinGrant&& /*g*/) { return Status::InvalidArgument("unexpected JoinGrant"); }

Status Link::Handle(PeerCall&& c) {
  const auto& on_call = service_->options().on_peer_call;
  if (!on_call) {
    SendMessage(PeerCallResult{c.request_id, "this node answers no calls", ""});
    return Status::Ok();
  }
  ++calls_unanswered_;
  auto reply = [self = shared_from_this()](PeerCallResult result) {
    asio::post(self->strand_, [self, result = std::move(result)] {
      --self->calls_unanswered_;
      self->SendMessage(result);  // dropped once the link is closing without a flush
      if (self->calls_unanswered_ == 0 && self->close_when_answered_) {
        std::string reason = *std::exchange(self->close_when_answered_, std::nullopt);
        self->CloseAfterFlush(std::move(reason), 1000);
      }
    });
  };
  on_call(PeerCaller{peer_name_, peer_url_}, c, std::move(reply));
  return Status::Ok();
}

Status Link::Handle(PeerCallResult&& r) {
  calls_.OnResult(std::move(r));
  return Status::Ok();
}

size_t Link::QueuedBytes() {
  common::MutexLock lock(copy_mu_);
  return queued_bytes_;
}

bool Link::EnqueueFromCopyThread(std::string frame) {
  {
    common::MutexLock lock(copy_mu_);
    copy_cv_.wait(lock,
                  [&]() REQUIRES(copy_mu_) { return closed_ || queued_bytes_ < kCopyQueueBytes; });
    if (closed_) return false;
    queued_bytes_ += frame.size();
  }
  asio::post(strand_, [self = shared_from_this(),
                       f = std::make_shared<const std::string>(std::move(frame))] {
    if (self->closing_) {
      common::MutexLock lock(self->copy_mu_);
      self->queued_bytes_ -= f->size();
      return;
    }
    self->queue_.push_back(f);
    if (!self->writing_) {
      self->writing_ = true;
      asio::co_spawn(self->strand_, self->WriteLoop(), asio::detached);
    }
  });
  return true;
}

void Link::ResumeAfterCopy() {
  asio::post(strand_, [self = shared_from_this()] { self->subscriber_.ResumeAfterCopy(); });
}

void Link::ResumeAfterDial() {
  asio::post(strand_, [self = shared_from_this()] {
    self->subscriber_.ResumeAfterDial();
    self->publisher_.ResumeAfterDial();
  });
}

void Link::RequestVerify(uint64_t request_id, std::string table,
                         std::function<void(VerifyResponse)> done) {
  asio::post(strand_, [self = shared_from_this(), request_id, table = std::move(table),
                       done = std::move(done)]() mutable {
    auto request = self->verifier_.Request(request_id, std::move(table), std::move(done),
                                           !self->closing_ && self->live_);
    if (request) self->SendMessage(*request);
  });
}

void Link::RequestCall(uint64_t request_id, std::string method, std::string payload,
                       std::function<void(PeerCallResult)> done) {
  asio::post(strand_, [self = shared_from_this(), request_id, method = std::move(method),
                       payload = std::move(payload), done = std::move(done)]() mutable {
    auto call = self->calls_.Request(request_id, std::move(method), std::move(payload),
                                     std::move(done), !self->closing_ && self->live_);
    if (call) self->SendMessage(*call);
  });
}

const char* LinkRefusalName(LinkRefusal r) {
  switch (r) {
    case LinkRefusal::kNone:
      return "none";
    case LinkRefusal::kNotHello:
      return "not-hello";
    case LinkRefusal::kRefusedByPeer:
      return "refused-by-peer";
    case LinkRefusal::kBadHello:
      return "bad-hello";
    case LinkRefusal::kTokenMismatch:
      return "token-mismatch";
    case LinkRefusal::kCertificateMismatch:
      return "certificate-mismatch";
    case LinkRefusal::kUntrustedCertificate:
      return "untrusted-certificate";
    case LinkRefusal::kDuplicate:
      return "duplicate";
    case LinkRefusal::kRemovedPeer:
      return "removed-peer";
    case LinkRefusal::kUnexpectedPeer:
      return "unexpected-peer";
    case LinkRefusal::kStopping:
      return "stopping";
    case LinkRefusal::kJoin:
      return "join";
  }
  return "unknown";
}

}  // namespace meshdb::replication
