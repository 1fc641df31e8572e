// Link: one WebSocket connection for one (peer, database) — transport, Hello, and both the
// publisher and the subscriber half of the session (docs/protocol.md).
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
#include "replication/codec.h"
#include "replication/service_impl.h"
#include "replication/subscription_rules.h"
#include "replication/table_def_json.h"
#include "storage/store.h"

namespace meshdb::replication {

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr uint32_t kCreditFrames = 16;
constexpr size_t kSoftFrameBytes = 1u << 20;   // Transactions frames are cut here
constexpr size_t kCopyChunkBytes = 2u << 20;   // CopyChunk payload target
constexpr size_t kCopyQueueBytes = 8u << 20;   // copy thread waits above this
constexpr size_t kPumpQueueBytes = 8u << 20;   // publisher pauses above this
constexpr size_t kMaxScanPerPump = 20000;      // log entries per Pump step
constexpr size_t kMaxPendingChunks = 3;        // copy chunks being applied
constexpr size_t kMaxPendingApplies = 100000;  // transactions being applied
constexpr std::chrono::seconds kPingInterval{1};

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
    auto [cec] = co_await ws_->async_close(websocket::close_reason("probe"), kTuple);
    co_return Status::Ok();
  }
  co_return co_await RunSession();
}

asio::awaitable<void> Link::RunInbound(tcp::socket socket, http::request<http::string_body> req,
                                       std::string remote_address) {
  peer_url_ = remote_address;
  auto refuse = [&](http::status status, std::string reason) -> asio::awaitable<void> {
    log_->warn("refused replication connection from {}: {}", remote_address, reason);
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::server, "meshdb");
    res.set(http::field::content_type, "text/plain");
    res.body() = reason;
    res.keep_alive(false);
    res.prepare_payload();
    auto [wec, n] = co_await http::async_write(socket, res, kTuple);
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
      if (first) result = Status::Unavailable("connection closed before Hello: " + ec.message());
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
  switch (TypeOf(m)) {
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

// --- Subscriber ---

void Link::SendSubscribe() {
  storage::Store* store = service_->store();
  auto cursor_or = store->PeerCursor(database_, peer_name_);
  uint64_t cursor = cursor_or.ok() ? *cursor_or : 0;
  auto vector_or = store->ReadVersionVector(database_);
  VersionVector vector = vector_or.ok() ? VersionVector::FromEntries(*vector_or) : VersionVector();
  std::optional<uint64_t> start_time;
  {
    // PeerSpec is guarded by the service lock; copy what we need through the service.
    start_time = service_->StartTimeFor(peer_);
    subscriptions_ = service_->SubscriptionsFor(peer_);
  }
  rules_ = RulesFor(subscriptions_, database_);
  SubscribeStart start = ChooseSubscribeStart(vector, cursor, start_time);
  std::optional<std::vector<TableRule>> previous_rules;
  if (!std::holds_alternative<StartWithCopy>(start)) {
    // Rules our position was reached under: when they differ, the publisher first merges the
    // tables they did not subscribe to, and the merge's end records today's rules.
    auto stored = store->PeerView(database_, peer_name_);
    std::optional<std::vector<TableRule>> before;
    if (stored.ok() && stored->has_value()) {
      if (auto decoded = DecodeRules(**stored); decoded.ok()) before = std::move(decoded).value();
    }
    if (cursor > 0 && before && *before != rules_) {
      log_->info("peer {} db {}: subscriptions changed since position {}: tables newly "
                 "subscribed to will be merged first",
                 peer_name_, database_, cursor);
      previous_rules = std::move(before);
    } else if (!before || *before != rules_) {
      RecordRules();
    }
  }
  if (std::holds_alternative<StartWithCopy>(start)) {
    log_->info("starting initial copy of database {} from {}", database_, peer_name_);
    copying_ = true;
    SetState(LinkState::kCatchingUp);
    std::lock_guard<std::mutex> lock(slot_->mu);
    slot_->copy_progress = std::make_pair(uint64_t{0}, uint64_t{0});
  } else if (auto* t = std::get_if<StartFromTime>(&start)) {
    log_->info("peer {} db {}: starting from time {} (no copy)", peer_name_, database_,
               t->start_time_ms);
    SetState(LinkState::kStreaming);
  } else {
    auto& v = std::get<StartFromVector>(start);
    if (v.after_sender_sequence > 0) {
      log_->info("peer {} db {}: resuming from sequence {}", peer_name_, database_,
                 v.after_sender_sequence);
    } else {
      log_->info("peer {} db {}: streaming from version vector {}", peer_name_, database_,
                 v.vector.ToString());
    }
    applied_seq_ = v.after_sender_sequence;
    acked_sent_ = applied_seq_;
    SetState(LinkState::kStreaming);
  }
  SendMessage(Subscribe{database_, {}, std::move(start), std::move(previous_rules)});
  SendMessage(Credit{database_, kCreditFrames});
}

void Link::RecordRules() {
  storage::CopyChunk chunk;
  chunk.database = database_;
  chunk.peer_name = peer_name_;
  chunk.peer_view = EncodeRules(rules_);
  ApplyChunk(std::move(chunk), "recording the subscription rules", [](Link&) {});
}

void Link::OnSchema(Schema&& s) {
  auto def = TableDefFromJson(s.table_def_json);
  if (!def.ok()) {
    Fail(ErrorCode::kProtocol, "bad Schema: " + def.status().message());
    return;
  }
  storage::TableDef d = std::move(def).value();
  d.database = database_;
  storage::Store* store = service_->store();
  auto current = store->GetTable(database_, d.name);
  // replicate:false here (or in the peer's definition): never created nor touched by peers.
  if (!AcceptsRemoteTableDef(d, current.ok() ? &*current : nullptr, subscriptions_)) return;
  bool needed = !current.ok();
  if (!needed) {
    for (const auto& a : d.attributes) {
      if (current->FindAttribute(a.name) == nullptr) needed = true;
    }
  }
  if (needed) {
    Status st = store->ApplyTableDef(d);
    if (!st.ok()) {
      log_->error("peer {} db {}: cannot apply table {}: {}", peer_name_, database_, d.name,
                  st.ToString());
      return;
    }
  }
  known_tables_.insert(d.name);
}

void Link::OnTransactions(Transactions&& t) {
  if (t.entries.empty()) return;
  storage::Store* store = service_->store();
  const uint64_t now = NowMs();
  for (auto& e : t.entries) {
    if (e.origin == 0 || e.origin_sequence == 0) {
      Fail(ErrorCode::kProtocol, "transaction without origin");
      return;
    }
    storage::ReplicatedTxn txn;
    txn.database = database_;
    txn.peer_name = peer_name_;
    txn.peer_sequence = e.sender_sequence;
    txn.origin = e.origin;
    txn.origin_sequence = e.origin_sequence;
    txn.version = e.version;
    txn.partial = e.partial || RulesExcludeTables(rules_);
    txn.writes.reserve(e.writes.size());
    for (auto& w : e.writes) {
      if (!known_tables_.contains(w.table)) {
        auto local = store->GetTable(database_, w.table);
        if (!local.ok()) continue;  // dropped or never defined
        // A table that is replicate:false here never takes a peer's rows.
        if (!AppliesRemoteRows(*local, {})) continue;
        known_tables_.insert(w.table);
      }
      if (!subscriptions_.empty() && !SubscribesTable(subscriptions_, database_, w.table)) continue;
      txn.writes.push_back(
          storage::LogEntry::Write{std::move(w.table), std::move(w.key), std::move(w.value)});
    }
    ++pending_applies_;
    const uint64_t seq = e.sender_sequence;
    service_->BeginStoreCall();
    store->ApplyReplicatedAsync(
        std::move(txn), [self = shared_from_this(), seq](Result<storage::ApplyResult> r) {
          Status st = r.ok() ? Status::Ok() : r.status();
          ServiceImpl* svc = self->service_;
          asio::post(self->strand_, [self, seq, st = std::move(st)]() mutable {
            self->OnApplied(seq, std::move(st), false);
          });
          svc->EndStoreCall();
        });
  }
  std::lock_guard<std::mutex> lock(slot_->mu);
  slot_->received_sequence = t.entries.back().sender_sequence;
  slot_->last_received_version = t.entries.back().version;
  slot_->last_received_local_ms = now;
}

void Link::OnApplied(uint64_t peer_sequence, Status st, bool copy_end) {
  (void)copy_end;
  if (pending_applies_ > 0) --pending_applies_;
  if (read_gate_) read_gate_->cancel();
  if (!st.ok()) {
    log_->error("peer {} db {}: applying sequence {} failed: {}", peer_name_, database_,
                peer_sequence, st.ToString());
    Fail(ErrorCode::kInternal, "apply failed: " + st.message());
    return;
  }
  applied_seq_ = std::max(applied_seq_, peer_sequence);
  {
    std::lock_guard<std::mutex> lock(slot_->mu);
    slot_->applied_sequence = applied_seq_;
    slot_->last_applied_local_ms = NowMs();
  }
  if (ack_posted_) return;
  ack_posted_ = true;
  asio::post(strand_, [self = shared_from_this()] {
    self->ack_posted_ = false;
    if (self->applied_seq_ > self->acked_sent_) {
      self->acked_sent_ = self->applied_seq_;
      self->SendMessage(Ack{self->database_, self->applied_seq_});
    }
  });
}

void Link::OnCopyBegin(CopyBegin&& c) {
  copying_ = true;
  copy_vector_ = std::move(c.snapshot_vector);
  // A copy that leaves tables out (here or at the publisher, which then sends no vector)
  // installs no vector floor, so nodes pulling from us would never see its rows unless they
  // are logged as ours.
  copy_is_partial_ = RulesExcludeTables(rules_) || copy_vector_.empty();
  copy_total_ = c.total_records;
  copy_records_ = 0;
  SetState(LinkState::kCatchingUp);
  std::lock_guard<std::mutex> lock(slot_->mu);
  slot_->copy_progress = std::make_pair(uint64_t{0}, copy_total_);
}

void Link::OnCopyChunk(CopyChunk&& c) {
  const size_t n = c.records.size();
  if (!SubscribesTable(subscriptions_, database_, c.table)) {
    copy_records_ += n;
    return;
  }
  storage::CopyChunk chunk;
  chunk.database = database_;
  chunk.table = c.table;
  auto local = service_->store()->GetTable(database_, c.table);
  if (!c.table_def_json.empty()) {
    auto def = TableDefFromJson(c.table_def_json);
    if (!def.ok()) {
      Fail(ErrorCode::kProtocol, "bad CopyChunk table definition: " + def.status().message());
      return;
    }
    chunk.table_def = std::move(def).value();
    chunk.table_def->database = database_;
    if (!AcceptsRemoteTableDef(*chunk.table_def, local.ok() ? &*local : nullptr, subscriptions_)) {
      copy_records_ += n;  // replicate:false here or there: the rows stay out
      return;
    }
    known_tables_.insert(c.table);
  } else if (!known_tables_.contains(c.table) && !local.ok()) {
    Fail(ErrorCode::kProtocol, "CopyChunk for table '" + c.table + "' without its definition");
    return;
  } else if (local.ok() && !AppliesRemoteRows(*local, subscriptions_)) {
    copy_records_ += n;
    return;
  }
  if (n == 0 && !chunk.table_def) return;
  chunk.rows.reserve(n);
  for (auto& r : c.records) {
    chunk.rows.push_back(storage::RawRow{std::move(r.key), std::move(r.value)});
  }
  chunk.log_rows = copy_is_partial_;
  ApplyChunk(std::move(chunk), "applying a copy chunk", [n](Link& link) {
    link.copy_records_ += n;
    std::lock_guard<std::mutex> lock(link.slot_->mu);
    link.slot_->copy_progress = std::make_pair(link.copy_records_, link.copy_total_);
  });
}

void Link::ApplyChunk(storage::CopyChunk chunk, std::string what,
                      std::function<void(Link&)> on_applied) {
  ++pending_chunks_;
  service_->BeginStoreCall();
  service_->store()->ApplyCopyChunkAsync(
      std::move(chunk),
      [self = shared_from_this(), what = std::move(what),
       on_applied = std::move(on_applied)](Result<storage::ApplyResult> r) mutable {
        Status st = r.ok() ? Status::Ok() : r.status();
        ServiceImpl* svc = self->service_;
        asio::post(self->strand_, [self, what = std::move(what), on_applied = std::move(on_applied),
                                   st = std::move(st)]() mutable {
          --self->pending_chunks_;
          if (self->read_gate_) self->read_gate_->cancel();
          if (!st.ok()) {
            self->log_->error("peer {} db {}: {} failed: {}", self->peer_name_, self->database_,
                              what, st.ToString());
            self->Fail(ErrorCode::kInternal, what + " failed: " + st.message());
            return;
          }
          on_applied(*self);
        });
        svc->EndStoreCall();
      });
}

void Link::OnCopyEnd(CopyEnd&& c) {
  storage::CopyChunk end;
  end.database = database_;
  // A partial copy is no floor (OnCopyBegin): its rows were logged instead.
  if (!copy_is_partial_) end.vector_floor = copy_vector_.entries();
  end.peer_name = peer_name_;
  end.peer_sequence = c.snapshot_sequence;
  end.peer_view = EncodeRules(rules_);
  const uint64_t seq = c.snapshot_sequence;
  ApplyChunk(std::move(end), "finishing the copy", [seq](Link& link) {
    link.copying_ = false;
    link.log_->info("initial copy of database {} from {} done ({} records)", link.database_,
                    link.peer_name_, link.copy_records_);
    {
      std::lock_guard<std::mutex> lock(link.slot_->mu);
      link.slot_->copy_progress.reset();
    }
    link.SetState(LinkState::kStreaming);
    ++link.pending_applies_;  // OnApplied balances it
    link.OnApplied(seq, Status::Ok(), true);
  });
}

// --- Publisher ---

Status Link::OnSubscribe(Subscribe&& s) {
  if (subscribed_) return Status::InvalidArgument("second Subscribe");
  if (!DatabaseReplicates(service_->options().databases, database_)) {
    Fail(ErrorCode::kUnauthorized, "database '" + database_ + "' is not replicated here");
    return Status::Ok();
  }
  subscribed_ = true;
  requested_tables_ = std::move(s.tables);
  if (!outbound_) service_->PeerSubscribed(peer_name_, peer_url_, database_);
  filter_.subscriber_id = NodeIdForName(peer_name_);
  if (subscriptions_.empty()) subscriptions_ = service_->SubscriptionsFor(peer_);
  storage::Store* store = service_->store();
  RefreshSchema();
  uint64_t last = 0;
  if (auto l = store->LastSequence(database_); l.ok()) last = *l;
  if (auto* v = std::get_if<StartFromVector>(&s.start)) {
    filter_.subscriber_vector = v->vector;
    next_seq_ = v->after_sender_sequence + 1;
    // The peer becomes a known peer for retention, confirmed through its cursor.
    store->NotePeerConfirmed(database_, peer_name_, v->after_sender_sequence);
    if (next_seq_ > last + 1) {
      log_->warn("peer {} db {}: its cursor {} is past our log ({}); scanning from the start",
                 peer_name_, database_, v->after_sender_sequence, last);
      next_seq_ = 1;
    }
  } else if (auto* t = std::get_if<StartFromTime>(&s.start)) {
    next_seq_ = last + 1;
    if (auto snap = store->Read(database_); snap.ok()) {
      if (auto seq = (*snap)->FindSequenceAtOrAfterTime(t->start_time_ms); seq.ok()) {
        next_seq_ = *seq;
      }
    }
  } else {
    // A known peer for retention from now on (it confirms later entries by Ack).
    store->NotePeerConfirmed(database_, peer_name_, 0);
    log_->info("sending initial copy of database {} to {}", database_, peer_name_);
    copy_running_ = true;
    SetState(LinkState::kCatchingUp);
    service_->AddCopyThread(shared_from_this(),
                            std::thread([self = shared_from_this()] { self->RunCopy(); }));
    return Status::Ok();
  }
  {
    std::lock_guard<std::mutex> lock(slot_->mu);
    slot_->sent_sequence = next_seq_ - 1;
    slot_->acked_sequence = std::max(slot_->acked_sequence, next_seq_ - 1);
  }
  if (s.previous_rules) {
    StartNewTablesMerge(*s.previous_rules);  // streaming waits for it (Pump checks)
    return Status::Ok();
  }
  Pump();
  return Status::Ok();
}

void Link::RefreshSchema() {
  storage::Store* store = service_->store();
  auto version = store->SchemaVersion(database_);
  if (!version.ok()) return;
  if (schema_version_ && *schema_version_ == *version) return;
  auto defs = store->ListTables(database_);
  if (!defs.ok()) return;
  schema_version_ = *version;
  filter_.tables = PublishedTables(*defs, subscriptions_, requested_tables_);
  filter_.excludes_tables = ExcludesTables(*defs, filter_.tables);
  for (const auto& def : *defs) {
    if (!filter_.tables.contains(def.name)) continue;
    std::string json = TableDefToJson(def);
    auto& sent = sent_schema_[def.name];
    if (sent == json) continue;
    sent = json;
    SendMessage(Schema{database_, std::move(json)});
  }
}

void Link::Pump() {
  if (!subscribed_ || copy_running_ || merge_running_ || closing_ || !live_) return;
  storage::Store* store = service_->store();
  RefreshSchema();
  const size_t peer_max = static_cast<size_t>(peer_max_frame_);
  const size_t soft = std::min(kSoftFrameBytes, peer_max);
  for (;;) {
    size_t queued;
    {
      std::lock_guard<std::mutex> lock(copy_mu_);
      queued = queued_bytes_;
    }
    if (queued >= kPumpQueueBytes || unacked_frames_.size() >= credit_) break;
    const size_t frames_allowed = credit_ - unacked_frames_.size();
    auto snap = store->Read(database_);
    if (!snap.ok()) return;
    if (StartMergeIfTrimmed(**snap)) return;
    auto last = (*snap)->LastSequence();
    if (!last.ok() || next_seq_ > *last) break;
    std::vector<Transactions> frames;
    Transactions current{database_, {}};
    size_t current_bytes = 0;
    size_t scanned = 0;
    uint64_t next = next_seq_;
    Status too_large = Status::Ok();
    Status st = (*snap)->ScanLog(next_seq_, [&](const storage::LogEntry& e) {
      std::optional<TxnEntry> out = FilterLogEntry(e, filter_);
      if (out) {
        size_t bytes = TxnEntryWireBytes(*out);
        size_t overhead = TransactionsOverheadBytes(database_, current.entries.size() + 1);
        if (bytes + TransactionsOverheadBytes(database_, 1) > peer_max) {
          too_large = Status::TooLarge("transaction " + std::to_string(e.sequence) + " is " +
                                       std::to_string(bytes) + " bytes");
          return false;
        }
        if (!current.entries.empty() && current_bytes + bytes + overhead > soft) {
          frames.push_back(std::move(current));
          current = Transactions{database_, {}};
          current_bytes = 0;
          if (frames.size() >= frames_allowed) return false;  // the entry waits for credit
        }
        current_bytes += bytes;
        current.entries.push_back(std::move(*out));
      }
      next = e.sequence + 1;
      return ++scanned < kMaxScanPerPump;
    });
    (void)st;
    if (!current.entries.empty()) frames.push_back(std::move(current));
    if (!too_large.ok()) {
      log_->error("peer {} db {}: {}", peer_name_, database_, too_large.message());
      Fail(ErrorCode::kTooLarge, too_large.message());
      return;
    }
    const bool progressed = next != next_seq_;
    next_seq_ = next;
    for (auto& f : frames) {
      uint64_t highest = f.entries.back().sender_sequence;
      unacked_frames_.push_back(highest);
      last_sent_seq_ = highest;
      SendMessage(f);
    }
    {
      std::lock_guard<std::mutex> lock(slot_->mu);
      slot_->sent_sequence = next_seq_ - 1;
      if (unacked_frames_.empty()) slot_->acked_sequence = next_seq_ - 1;
    }
    // Everything sent is acknowledged and the rest was filtered out (the peer needs none
    // of it): the peer is confirmed through the scan position, for retention.
    if (unacked_frames_.empty() && progressed) {
      store->NotePeerConfirmed(database_, peer_name_, next_seq_ - 1);
    }
    if (!progressed) break;
  }
}

void Link::RunCopy() {
  storage::Store* store = service_->store();
  auto fail = [&](const std::string& why) {
    log_->error("peer {} db {}: initial copy failed: {}", peer_name_, database_, why);
    asio::post(strand_, [self = shared_from_this(), why] {
      self->Fail(ErrorCode::kInternal, "copy failed: " + why);
    });
  };
  uint64_t last = 0;
  VersionVector vector;
  uint64_t sent_records = 0;
  {
    auto snap_or = store->Read(database_);
    std::unique_ptr<storage::Snapshot> snap;
    if (snap_or.ok()) snap = std::move(snap_or).value();
    std::vector<storage::TableDef> defs;
    if (snap) {
      auto v = snap->ReadVersionVector();
      auto l = snap->LastSequence();
      if (!v.ok() || !l.ok()) return fail(!v.ok() ? v.status().ToString() : l.status().ToString());
      vector = VersionVector::FromEntries(*v);
      last = *l;
      if (auto d = store->ListTables(database_); d.ok()) defs = std::move(d).value();
    }
    auto tables = PublishedTables(defs, subscriptions_, requested_tables_);
    // A copy that leaves tables out does not hold everything the vector covers.
    if (ExcludesTables(defs, tables)) vector = VersionVector();
    uint64_t total = 0;
    for (const auto& def : defs) {
      if (!tables.contains(def.name)) continue;
      if (auto stats = store->GetStats(database_, def.name); stats.ok()) {
        total += stats->record_count;
      }
    }
    if (!EnqueueFromCopyThread(EncodeFrame(CopyBegin{database_, vector, total}))) return;
    const size_t chunk_limit = std::min(kCopyChunkBytes, static_cast<size_t>(peer_max_frame_) / 2);
    for (const auto& def : defs) {
      if (!tables.contains(def.name)) continue;
      CopyChunk chunk{database_, def.name, TableDefToJson(def), {}};
      size_t bytes = 0;
      bool any_sent = false;
      bool ok = true;
      Status st = snap->ScanRaw(def.name, [&](std::string_view key, std::string_view value) {
        chunk.records.push_back(CopyRecord{std::string(key), std::string(value)});
        bytes += key.size() + value.size() + 8;
        if (bytes >= chunk_limit) {
          sent_records += chunk.records.size();
          if (!EnqueueFromCopyThread(EncodeFrame(chunk))) {
            ok = false;
            return false;
          }
          any_sent = true;
          chunk.records.clear();
          chunk.table_def_json.clear();
          bytes = 0;
        }
        return true;
      });
      if (!ok) return;
      if (!st.ok() && st.code() != Status::Code::kNotFound) return fail(st.ToString());
      if (!chunk.records.empty() || !any_sent) {
        sent_records += chunk.records.size();
        if (!EnqueueFromCopyThread(EncodeFrame(chunk))) return;
      }
    }
  }  // the snapshot closes here, on the thread that opened it
  if (!EnqueueFromCopyThread(EncodeFrame(CopyEnd{database_, last}))) return;
  log_->info("sent initial copy of database {} to {} ({} records, through sequence {})", database_,
             peer_name_, sent_records, last);
  asio::post(strand_, [self = shared_from_this(), vector = std::move(vector), last] {
    self->copy_running_ = false;
    self->filter_.subscriber_vector.Merge(vector);
    self->next_seq_ = last + 1;
    self->SetState(LinkState::kStreaming);
    self->Pump();
  });
}

bool Link::EnqueueFromCopyThread(std::string frame) {
  {
    std::unique_lock<std::mutex> lock(copy_mu_);
    copy_cv_.wait(lock, [&] { return closed_ || queued_bytes_ < kCopyQueueBytes; });
    if (closed_) return false;
    queued_bytes_ += frame.size();
  }
  asio::post(strand_, [self = shared_from_this(),
                       f = std::make_shared<const std::string>(std::move(frame))] {
    if (self->closing_) {
      std::lock_guard<std::mutex> lock(self->copy_mu_);
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

}  // namespace meshdb::replication
