// Link: one WebSocket connection for one (peer, database) — transport, Hello, and the frame
// dispatch of the session (docs/protocol.md). The subscriber half is link_subscriber.cc, the
// publisher half link_publisher.cc, merge resync and verify merge_link.cc.
#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <utility>

#include "common/log.h"
#include "replication/engine/service_impl.h"
#include "replication/engine/subscription_rules.h"
#include "replication/wire/codec.h"
#include "replication/wire/table_def_json.h"
#include "storage/store.h"

namespace meshdb::replication {

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kMaxPendingChunks = 3;        // copy chunks being applied
constexpr size_t kMaxPendingApplies = 100000;  // transactions being applied
constexpr std::chrono::seconds kPingInterval{1};

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

struct WsUrl {
  std::string host;
  std::string port;
};

std::optional<WsUrl> ParseWsUrl(std::string_view url) {
  std::string_view rest = url;
  if (rest.starts_with("ws://")) {
    rest.remove_prefix(5);
  } else if (rest.starts_with("wss://")) {
    rest.remove_prefix(6);  // TLS is a later issue: dialled as plain ws
  }
  rest = rest.substr(0, rest.find('/'));
  if (rest.empty()) return std::nullopt;
  WsUrl out;
  if (rest.front() == '[') {  // [v6]:port
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    out.port = rest.starts_with(":") ? std::string(rest.substr(1)) : "80";
    return out;
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    out.host = std::string(rest);
    out.port = "80";
  } else {
    out.host = std::string(rest.substr(0, colon));
    out.port = std::string(rest.substr(colon + 1));
  }
  if (out.host.empty() || out.port.empty()) return std::nullopt;
  return out;
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
      return true;
    default:
      return false;
  }
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
      peer_(std::move(peer)),
      log_(log::For("replication")) {}

Link::~Link() = default;

void TransitionSlot(Slot* slot, const std::string& peer, const std::string& db, LinkState s,
                    spdlog::logger& log) {
  LinkState old;
  {
    std::lock_guard<std::mutex> lock(slot->mu);
    old = slot->state;
    slot->state = s;
  }
  if (old != s) {
    log.info("peer {} db {}: {} -> {}", peer, db, LinkStateName(old), LinkStateName(s));
  }
}

void Link::SetState(LinkState s) {
  state_ = s;
  if (slot_)
    TransitionSlot(slot_.get(), peer_name_.empty() ? peer_url_ : peer_name_, database_, s, *log_);
}

void Link::AbortCopy() {
  {
    std::lock_guard<std::mutex> lock(copy_mu_);
    closed_ = true;
  }
  copy_cv_.notify_all();
}

asio::awaitable<Status> Link::RunOutbound(std::string url, std::string authorization) {
  peer_url_ = url;
  auto parsed = ParseWsUrl(url);
  if (!parsed) co_return Status::InvalidArgument("bad peer url '" + url + "'");
  tcp::resolver resolver(strand_);
  auto [rec, results] = co_await resolver.async_resolve(parsed->host, parsed->port, kTuple);
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
  if (closing_) co_return Status::Unavailable("closed");
  socket.set_option(tcp::no_delay(true), ec);
  ws_.emplace(std::move(socket));
  ws_->set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
  ws_->set_option(websocket::stream_base::decorator([authorization](websocket::request_type& req) {
    req.set(http::field::authorization, authorization);
    req.set(http::field::sec_websocket_protocol, std::string(kSubprotocol));
    req.set(http::field::user_agent, "meshdb-replication");
  }));
  websocket::response_type res;
  std::string target = std::string(kReplicationPath) + "?database=" + database_;
  auto [hec] =
      co_await ws_->async_handshake(res, parsed->host + ":" + parsed->port, target, kTuple);
  if (hec) {
    if (res.result() == http::status::unauthorized) {
      co_return Status::Unauthenticated("peer " + url +
                                        " refused our credentials (401): " + res.body());
    }
    co_return Status::Unavailable(
        "upgrade to " + url + " failed: " + hec.message() +
        (res.result_int() ? " (HTTP " + std::to_string(res.result_int()) + ")" : ""));
  }
  if (probe_) {
    co_await ws_->async_close(websocket::close_reason("probe"), kTuple);  // outcome unused
    co_return Status::Ok();
  }
  co_return co_await RunSession();
}

asio::awaitable<void> Link::RunInbound(tcp::socket socket, http::request<http::string_body> req,
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
    co_await http::async_write(socket, res, kTuple);  // best effort: the socket closes anyway
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  };
  auto who = service_->Authenticate(std::string(req[http::field::authorization]), remote_address);
  if (!who.ok()) {
    co_await refuse(http::status::unauthorized, who.status().message());
    co_return;
  }
  std::string token_name = *who;
  std::string_view protocols = req[http::field::sec_websocket_protocol];
  if (protocols.find(kSubprotocol) == std::string_view::npos) {
    co_await refuse(http::status::bad_request, "missing subprotocol " + std::string(kSubprotocol));
    co_return;
  }
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  ws_.emplace(std::move(socket));
  ws_->set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_->set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
    res.set(http::field::sec_websocket_protocol, std::string(kSubprotocol));
    res.set(http::field::server, "meshdb");
  }));
  auto [aec] = co_await ws_->async_accept(req, kTuple);
  if (aec) {
    log_->warn("replication upgrade from {} failed: {}", remote_address, aec.message());
    service_->NoteLinkError("upgrade from " + remote_address + " failed: " + aec.message());
    co_return;
  }
  peer_name_ = token_name;  // checked against Hello in RunSession ("" for Basic)
  Status st = co_await RunSession();
  if (!st.ok()) log_->debug("inbound link from {} ended: {}", remote_address, st.ToString());
}

asio::awaitable<Status> Link::RunSession() {
  const auto& opts = service_->options();
  ws_->binary(true);
  ws_->read_message_max(opts.max_frame_bytes);
  read_gate_.emplace(strand_);
  Hello mine;
  mine.node_name = opts.node_name;
  mine.node_url = opts.node_url;
  mine.capabilities = {std::string(kCapTxnBatch), std::string(kCapCopy), std::string(kCapCredit),
                       std::string(kCapMerge), std::string(kCapVerify)};
  mine.max_frame_bytes = opts.max_frame_bytes;
  mine.databases = service_->ReplicatedDatabases();
  if (outbound_) SendMessage(mine);

  Status result = Status::Ok();
  bool first = true;
  const std::string claimed_token_name = peer_name_;
  for (;;) {
    while (live_ && !closing_ &&
           (pending_chunks_ >= kMaxPendingChunks || pending_applies_ >= kMaxPendingApplies)) {
      read_gate_->expires_at(asio::steady_timer::time_point::max());
      co_await read_gate_->async_wait(kTuple);
    }
    auto [ec, n] = co_await ws_->async_read(buffer_, kTuple);
    if (ec) {
      if (ec == websocket::error::message_too_big) {
        log_->warn("peer {} db {}: frame too large (over max_frame_bytes {}); closing",
                   peer_name_.empty() ? peer_url_ : peer_name_, database_, opts.max_frame_bytes);
        Fail(ErrorCode::kTooLarge, "frame over " + std::to_string(opts.max_frame_bytes) + " bytes");
        result = Status::TooLarge("peer sent a frame over the limit");
        // The read side is unusable; let the writer send the Error, then close.
        asio::steady_timer t(strand_);
        t.expires_after(std::chrono::milliseconds(200));
        co_await t.async_wait(kTuple);
      } else if (ec != asio::error::operation_aborted) {
        log_->info("peer {} db {}: connection closed{}: {}",
                   peer_name_.empty() ? peer_url_ : peer_name_, database_,
                   first ? " before Hello" : "", ec.message());
      }
      if (first) {
        result = Status::Unavailable("connection closed before Hello: " + ec.message());
        service_->NoteLinkError((peer_name_.empty() ? peer_url_ : peer_name_) + " db " + database_ +
                                ": connection closed before Hello: " + ec.message());
      }
      break;
    }
    if (closing_) {
      buffer_.consume(buffer_.size());
      continue;
    }
    if (!ws_->got_binary()) {
      buffer_.consume(buffer_.size());
      log_->warn("peer {} db {}: protocol error: text message (frames are binary)",
                 peer_name_.empty() ? peer_url_ : peer_name_, database_);
      Fail(ErrorCode::kProtocol, "text message");
      continue;
    }
    auto data = buffer_.data();
    std::string_view bytes(static_cast<const char*>(data.data()), data.size());
    Result<Message> decoded = DecodeFrame(bytes, opts.max_frame_bytes);
    buffer_.consume(buffer_.size());
    if (!decoded.ok()) {
      log_->warn("peer {} db {}: bad frame: {}", peer_name_.empty() ? peer_url_ : peer_name_,
                 database_, decoded.status().ToString());
      Fail(decoded.status().code() == Status::Code::kTooLarge ? ErrorCode::kTooLarge
                                                              : ErrorCode::kProtocol,
           decoded.status().message());
      continue;
    }
    Message m = std::move(decoded).value();
    if (first) {
      first = false;
      auto* hello = std::get_if<Hello>(&m);
      if (hello == nullptr) {
        if (auto* err = std::get_if<Error>(&m)) {
          result = Status::Unavailable("peer refused: " + err->reason);
          log_->warn("peer {} db {}: refused: {}", peer_url_, database_, err->reason);
          StartClose("refused");
          continue;
        }
        Fail(ErrorCode::kProtocol, "first frame is not Hello");
        result = Status::InvalidArgument("first frame is not Hello");
        continue;
      }
      if (auto err = CheckPeerHello(*hello, opts.node_name)) {
        log_->warn("peer {} db {}: refused Hello from '{}': {}", peer_url_, database_,
                   hello->node_name, err->reason);
        result = Status::InvalidArgument(err->reason);
        Fail(err->code, err->reason);
        continue;
      }
      if (!outbound_ && !claimed_token_name.empty() && hello->node_name != claimed_token_name) {
        std::string reason = "peer claims node name '" + hello->node_name +
                             "' but its token is for '" + claimed_token_name + "'";
        log_->warn("peer {} db {}: {}", peer_url_, database_, reason);
        result = Status::PermissionDenied(reason);
        Fail(ErrorCode::kNameConflict, reason);
        continue;
      }
      peer_name_ = hello->node_name;
      if (!hello->node_url.empty() && !outbound_) peer_url_ = hello->node_url;
      peer_max_frame_ = hello->max_frame_bytes;
      for (const auto& cap : hello->capabilities) {
        if (cap == kCapMerge) peer_merge_ = true;
        if (cap == kCapVerify) peer_verify_ = true;
      }
      std::shared_ptr<PeerEntry> peer;
      Status reg = service_->RegisterLink(shared_from_this(), *hello, &peer);
      if (!reg.ok()) {
        result = reg;
        if (reg.message() == "duplicate") {
          log_->info("peer {} db {}: closing duplicate connection", peer_name_, database_);
          StartClose("duplicate");
        } else {
          log_->warn("peer {} db {}: refused: {}", peer_name_, database_, reg.message());
          Fail(ErrorCode::kUnauthorized, reg.message());
        }
        continue;
      }
      peer_ = std::move(peer);  // slot_ was set by RegisterLink
      live_ = true;
      if (!outbound_) SendMessage(mine);
      {
        std::lock_guard<std::mutex> lock(slot_->mu);
        slot_->connected = true;
      }
      SendSubscribe();
      asio::co_spawn(strand_, PingLoop(), asio::detached);
      continue;
    }
    Status st = OnFrame(std::move(m));
    if (!st.ok()) {
      log_->warn("peer {} db {}: {}", peer_name_, database_, st.ToString());
      Fail(ErrorCode::kProtocol, st.message());
    }
  }
  {
    std::lock_guard<std::mutex> lock(copy_mu_);
    closed_ = true;
  }
  copy_cv_.notify_all();
  FailPendingVerifies("connection closed");
  if (retry_timer_) retry_timer_->cancel();  // the link it would close is gone
  LeaveInitialCopy();
  closing_ = true;
  // A link replaced by a newer one for the same (peer, database) shares its slot: only the
  // registered link reports the slot disconnected.
  if (live_ && service_->UnregisterLink(this)) {
    std::lock_guard<std::mutex> lock(slot_->mu);
    slot_->connected = false;
    slot_->copy_progress.reset();
  }
  co_return result;
}

// --- Writing ---

void Link::Send(std::string frame) {
  if (closing_ && !close_after_flush_) return;
  {
    std::lock_guard<std::mutex> lock(copy_mu_);
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
    auto [ec, n] = co_await ws_->async_write(asio::buffer(*frame), kTuple);
    queue_.pop_front();
    {
      std::lock_guard<std::mutex> lock(copy_mu_);
      queued_bytes_ -= frame->size();
    }
    copy_cv_.notify_all();
    if (ec) {
      writing_ = false;
      {
        std::lock_guard<std::mutex> lock(copy_mu_);
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
  if (subscribed_) Pump();
}

asio::awaitable<void> Link::PingLoop() {
  auto self = shared_from_this();
  asio::steady_timer timer(strand_);
  uint64_t nonce = 0;
  while (!closing_) {
    SendMessage(Ping{++nonce, NowMs()});
    timer.expires_after(kPingInterval);
    co_await timer.async_wait(kTuple);
  }
}

void Link::Fail(ErrorCode code, std::string reason) {
  if (closing_) return;
  service_->NoteLinkError((peer_name_.empty() ? peer_url_ : peer_name_) + " db " + database_ +
                          ": " + ErrorKind(code) + ": " + reason);
  SendMessage(Error{code, reason});
  closing_ = true;
  close_after_flush_ = true;
  close_reason_ = reason.substr(0, 100);
  close_code_ = CloseCodeFor(code);
  if (!writing_) {
    close_after_flush_ = false;
    closing_ = false;
    StartClose(close_reason_);
  }
}

void Link::StartClose(std::string reason) {
  if (closing_) return;
  closing_ = true;
  {
    std::lock_guard<std::mutex> lock(copy_mu_);
    closed_ = true;
  }
  copy_cv_.notify_all();
  if (read_gate_) read_gate_->cancel();
  if (!ws_) return;
  websocket::close_reason cr(static_cast<websocket::close_code>(close_code_),
                             reason.substr(0, 120));
  asio::co_spawn(
      strand_,
      [self = shared_from_this(), cr]() -> asio::awaitable<void> {
        auto [ec] = co_await self->ws_->async_close(cr, kTuple);
        if (ec) {
          beast::error_code ignored;
          beast::get_lowest_layer(*self->ws_).socket().close(ignored);
        }
      },
      asio::detached);
}

void Link::Close(std::string reason) {
  asio::post(strand_,
             [self = shared_from_this(), reason = std::move(reason)] { self->StartClose(reason); });
}

void Link::WakePublisher() {
  if (pump_posted_.exchange(true)) return;
  asio::post(strand_, [self = shared_from_this()] {
    self->pump_posted_ = false;
    self->Pump();
  });
}

// --- Frames ---

Status Link::OnFrame(Message&& m) {
  auto same_db = [&](const std::string& db) -> Status {
    if (db != database_) {
      return Status::InvalidArgument("frame names database '" + db + "' on the connection for '" +
                                     database_ + "'");
    }
    return Status::Ok();
  };
  const MessageType type = TypeOf(m);
  if (apply_stopped_ && FeedsTheSubscriber(type)) return Status::Ok();  // see StopApplying
  switch (type) {
    case MessageType::kHello:
      return Status::InvalidArgument("second Hello");
    case MessageType::kError: {
      auto& e = std::get<Error>(m);
      log_->warn("peer {} db {} sent error {}: {}", peer_name_, database_, static_cast<int>(e.code),
                 e.reason);
      StartClose("peer error");
      return Status::Ok();
    }
    case MessageType::kSubscribe: {
      auto& s = std::get<Subscribe>(m);
      RETURN_IF_ERROR(same_db(s.database));
      return OnSubscribe(std::move(s));
    }
    case MessageType::kCopyBegin: {
      auto& c = std::get<CopyBegin>(m);
      RETURN_IF_ERROR(same_db(c.database));
      OnCopyBegin(std::move(c));
      return Status::Ok();
    }
    case MessageType::kCopyChunk: {
      auto& c = std::get<CopyChunk>(m);
      RETURN_IF_ERROR(same_db(c.database));
      OnCopyChunk(std::move(c));
      return Status::Ok();
    }
    case MessageType::kCopyEnd: {
      auto& c = std::get<CopyEnd>(m);
      RETURN_IF_ERROR(same_db(c.database));
      OnCopyEnd(std::move(c));
      return Status::Ok();
    }
    case MessageType::kTransactions: {
      auto& t = std::get<Transactions>(m);
      RETURN_IF_ERROR(same_db(t.database));
      OnTransactions(std::move(t));
      return Status::Ok();
    }
    case MessageType::kAck: {
      auto& a = std::get<Ack>(m);
      RETURN_IF_ERROR(same_db(a.database));
      while (!unacked_frames_.empty() && unacked_frames_.front() <= a.sender_sequence) {
        unacked_frames_.pop_front();
      }
      {
        std::lock_guard<std::mutex> lock(slot_->mu);
        slot_->acked_sequence = std::max(slot_->acked_sequence, a.sender_sequence);
        slot_->last_ack_ms = NowMs();
      }
      // Retention never trims past what a known peer confirmed.
      service_->store()->NotePeerConfirmed(database_, peer_name_, a.sender_sequence);
      Pump();
      return Status::Ok();
    }
    case MessageType::kCredit: {
      auto& c = std::get<Credit>(m);
      RETURN_IF_ERROR(same_db(c.database));
      credit_ = c.frames;
      Pump();
      return Status::Ok();
    }
    case MessageType::kSchema: {
      auto& s = std::get<Schema>(m);
      RETURN_IF_ERROR(same_db(s.database));
      OnSchema(std::move(s));
      return Status::Ok();
    }
    case MessageType::kPing: {
      auto& p = std::get<Ping>(m);
      SendMessage(Pong{p.nonce, p.sent_ms});
      return Status::Ok();
    }
    case MessageType::kPong: {
      auto& p = std::get<Pong>(m);
      uint64_t now = NowMs();
      std::lock_guard<std::mutex> lock(slot_->mu);
      slot_->latency_ms = now >= p.sent_ms ? static_cast<double>(now - p.sent_ms) : 0.0;
      return Status::Ok();
    }
    case MessageType::kMergeBegin: {
      auto& b = std::get<MergeBegin>(m);
      RETURN_IF_ERROR(same_db(b.database));
      OnMergeBegin(std::move(b));
      return Status::Ok();
    }
    case MessageType::kMergeHashes: {
      auto& h = std::get<MergeHashes>(m);
      RETURN_IF_ERROR(same_db(h.database));
      if (!merging_) return Status::InvalidArgument("MergeHashes outside a merge");
      OnMergeHashes(std::move(h));
      return Status::Ok();
    }
    case MessageType::kMergeRequest: {
      auto& r = std::get<MergeRequest>(m);
      RETURN_IF_ERROR(same_db(r.database));
      return OnMergeRequest(std::move(r));
    }
    case MessageType::kMergeRows: {
      auto& r = std::get<MergeRows>(m);
      RETURN_IF_ERROR(same_db(r.database));
      if (!merging_) return Status::InvalidArgument("MergeRows outside a merge");
      OnMergeRows(std::move(r));
      return Status::Ok();
    }
    case MessageType::kMergeEnd: {
      auto& e = std::get<MergeEnd>(m);
      RETURN_IF_ERROR(same_db(e.database));
      if (!merging_) return Status::InvalidArgument("MergeEnd outside a merge");
      OnMergeEnd(std::move(e));
      return Status::Ok();
    }
    case MessageType::kVerifyRequest: {
      auto& r = std::get<VerifyRequest>(m);
      RETURN_IF_ERROR(same_db(r.database));
      OnVerifyRequest(std::move(r));
      return Status::Ok();
    }
    case MessageType::kVerifyResponse:
      OnVerifyResponse(std::move(std::get<VerifyResponse>(m)));
      return Status::Ok();
  }
  return Status::InvalidArgument("unknown message");
}

}  // namespace meshdb::replication
