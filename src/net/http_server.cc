// HttpServer on Boost.Beast with C++20 coroutines (after Beast's
// advanced_server_flex_awaitable): N io_contexts each run by one thread, each connection on
// one of them (in turn), with a strand and a coroutine per connection, one request at a time
// per connection.
#include "net/http_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "common/log.h"
#include "common/thread_annotations.h"
#include "net/http_handler.h"
#include "net/metrics_endpoint.h"
#include "net/tls.h"
#include "net/upgrade_handler.h"
#include "ops/operations.h"

namespace meshdb::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using std::chrono::steady_clock;

constexpr std::chrono::seconds kIdleTimeout{30};       // waiting for the next request
constexpr std::chrono::seconds kIoTimeout{60};         // reading one body / writing one reply
constexpr std::chrono::seconds kStopGrace{5};          // in-flight requests finish within this
constexpr std::chrono::seconds kStopForceWait{10};     // then closed sockets; operations may lag
constexpr std::chrono::seconds kHandshakeTimeout{10};  // a TLS handshake or close_notify
constexpr const char* kServerName = "meshdb";
constexpr const char* kKeepAlive = "timeout=30";
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Lets an Operations completion reach the connection's executor while the io_context lives.
// After Stop() closes it, a late completion is leaked instead of run or destroyed: destroying
// it would destroy a coroutine frame (and its socket) after its io_context is gone.
struct CompletionGate {
  common::Mutex mu;
  bool open GUARDED_BY(mu) = true;
};

// co_await AsyncExecute(...) -> ops::OpResult, resumed on the awaiting coroutine's executor
// (the connection's strand) whatever thread completes the operation.
template <typename Token>
auto AsyncExecute(ops::Operations* ops, ops::OpRequest request,
                  std::shared_ptr<CompletionGate> gate, Token&& token) {
  return asio::async_initiate<Token, void(ops::OpResult)>(
      [ops, gate = std::move(gate)](auto handler, ops::OpRequest request) mutable {
        using Handler = decltype(handler);
        // Operations::Done is a std::function, so the move-only handler is shared.
        auto shared = std::make_shared<Handler>(std::move(handler));
        ops->Execute(std::move(request), [shared, gate](ops::OpResult result) {
          common::MutexLock lock(gate->mu);
          if (!gate->open) {
            new Handler(std::move(*shared));  // deliberately leaked, see CompletionGate
            return;
          }
          auto executor = asio::get_associated_executor(*shared);
          // Always post (never run inline): a handler must not run inside its initiation.
          asio::post(executor, [shared, result = std::move(result)]() mutable {
            Handler h = std::move(*shared);
            std::move(h)(std::move(result));
          });
        });
      },
      token, std::move(request));
}

// A plain connection's stream is built from the socket, a TLS one also from the context.
template <typename Stream>
Stream MakeStream(tcp::socket socket, const std::shared_ptr<TlsContext>& tls) {
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    return Stream(std::move(socket), tls->native());
  } else {
    return Stream(std::move(socket));
  }
}

class ServerImpl;

// One connection, as the server sees it (Stop asks every live one to end).
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Any thread. Closes the connection now when it waits for a request (or always, when
  // `force`); otherwise after the reply being prepared.
  virtual void RequestStop(bool force) = 0;
};

// A connection over Stream: beast::tcp_stream (port) or TlsStream (securePort).
template <typename Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `*server` outlives the session's coroutine.
  Session(tcp::socket socket, ServerImpl* server);

  [[nodiscard]] asio::any_io_executor executor() const { return executor_; }
  asio::awaitable<void> Run();
  void RequestStop(bool force) override;

 private:
  asio::awaitable<bool> Handshake();  // TLS only; false: the connection is closed
  // The next request, or nothing when the connection is to end (an error was answered).
  asio::awaitable<std::optional<http::request<http::string_body>>> ReadRequest();
  // A WebSocket upgrade on the upgrade handler's path: HandOver gives it the connection.
  [[nodiscard]] bool IsHandedOver(const http::request<http::string_body>& req) const;
  void HandOver(http::request<http::string_body> req);
  // Routes the request; runs an operation (moves the body out).
  asio::awaitable<HttpReply> Serve(http::request<http::string_body>& req);
  asio::awaitable<bool> WriteReply(HttpReply reply, unsigned version, bool keep_alive);
  asio::awaitable<void> Shutdown();

  Stream stream_;                         // moved out (a TLS stream) or emptied when handed over
  const asio::any_io_executor executor_;  // the connection's strand
  beast::flat_buffer buffer_;             // reused across requests; keeps pipelined bytes
  // The parser of the request being read, emplaced anew for each (a parser serves one
  // message). A member rather than a local of ReadRequest: with it that coroutine's frame
  // was 1144 bytes, over what Asio recycles per thread (1020) and glibc's per-thread cache
  // holds (1032), so every request paid a large malloc and free (and glibc's consolidation
  // of its fast bins); without it the frame is recycled like the others.
  std::optional<http::request_parser<http::string_body>> parser_;
  ServerImpl* server_;
  std::string remote_address_;
  // Accessed on the strand only.
  bool busy_ = false;
  bool stopping_ = false;
  bool handed_over_ = false;  // the upgrade handler owns the connection
};

class ServerImpl final : public HttpServer {
 public:
  ServerImpl(HttpServerOptions options, ops::Operations* ops)
      : options_(std::move(options)),
        ops_(ops),
        log_(log::For("http")),
        contexts_(MakeContexts(options_.threads)),
        accept_strand_(asio::make_strand(*contexts_.front())),
        acceptor_(accept_strand_) {
    for (auto& context : contexts_) work_.push_back(asio::make_work_guard(*context));
  }
  ~ServerImpl() override { Stop(); }

  Status Listen();
  void StartThreads();
  void Stop() override;
  int port() const override { return port_; }

  // For sessions.
  ops::Operations* ops() const { return ops_; }
  UpgradeHandler* upgrade_handler() const { return options_.upgrade_handler; }
  const std::shared_ptr<TlsContext>& tls() const { return options_.tls; }
  uint64_t max_body_bytes() const { return options_.max_body_bytes; }
  const std::shared_ptr<CompletionGate>& gate() const { return gate_; }
  spdlog::logger& logger() const { return *log_; }
  void OnRestartReplied();

 private:
  asio::awaitable<void> AcceptLoop();
  template <typename Stream>
  void StartSession(tcp::socket socket);
  bool Register(const std::shared_ptr<SessionBase>& session) EXCLUDES(mu_);
  void Unregister(SessionBase* session) EXCLUDES(mu_);
  std::vector<std::shared_ptr<SessionBase>> LiveSessions() EXCLUDES(mu_);
  void WaitForSessions(std::chrono::seconds timeout) EXCLUDES(mu_);

  // Constant after construction.
  const HttpServerOptions options_;
  ops::Operations* const ops_;
  const std::shared_ptr<spdlog::logger> log_;
  const std::shared_ptr<CompletionGate> gate_ = std::make_shared<CompletionGate>();
  int port_ = 0;

  common::Mutex mu_;
  std::condition_variable_any sessions_changed_;  // sessions_ became empty
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions_ GUARDED_BY(mu_);
  bool stopped_ GUARDED_BY(mu_) = false;
  std::atomic<bool> restart_signalled_{false};

  // One io_context per thread: a connection's reads, its operation and its reply stay on one
  // thread, with no wake-up of another thread between them (with one io_context shared by
  // the threads a lone client's request cost ~8 futex calls). Declared before everything
  // that uses them and destroyed after them.
  static std::vector<std::unique_ptr<asio::io_context>> MakeContexts(int threads);
  // The context of the next connection (accept strand only).
  asio::io_context& NextContext() { return *contexts_[next_context_++ % contexts_.size()]; }
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  size_t next_context_ = 0;  // accept strand only
  asio::strand<asio::io_context::executor_type> accept_strand_;
  tcp::acceptor acceptor_;  // used on accept_strand_ only
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

template <typename Stream>
Session<Stream>::Session(tcp::socket socket, ServerImpl* server)
    : stream_(MakeStream<Stream>(std::move(socket), server->tls())),
      executor_(stream_.get_executor()),
      server_(server) {
  beast::error_code ec;
  tcp::endpoint peer = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
  if (!ec) {
    asio::ip::address address = peer.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
      address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    }
    remote_address_ = address.to_string();
  }
}

template <typename Stream>
void Session<Stream>::RequestStop(bool force) {
  asio::post(executor_, [self = this->shared_from_this(), force] {
    self->stopping_ = true;
    if (!self->handed_over_ && (force || !self->busy_)) {
      beast::error_code ec;
      auto& tcp_stream = beast::get_lowest_layer(self->stream_);
      tcp_stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      tcp_stream.close();
    }
  });
}

template <typename Stream>
asio::awaitable<bool> Session<Stream>::Handshake() {
  beast::get_lowest_layer(stream_).expires_after(kHandshakeTimeout);
  auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::server, kTuple);
  if (ec) {
    // Scanners and clients that do not trust us end here: not worth more than debug.
    server_->logger().debug("TLS handshake with {} failed: {}", remote_address_, ec.message());
    beast::get_lowest_layer(stream_).close();
    co_return false;
  }
  co_return true;
}

template <typename Stream>
asio::awaitable<bool> Session<Stream>::WriteReply(HttpReply reply, unsigned version,
                                                  bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(reply.status), version};
  res.set(http::field::server, kServerName);
  if (!reply.content_type.empty()) res.set(http::field::content_type, reply.content_type);
  for (auto& [name, value] : reply.headers) res.set(name, value);
  keep_alive = keep_alive && !reply.close && !stopping_;
  res.keep_alive(keep_alive);
  if (keep_alive) res.set(http::field::keep_alive, kKeepAlive);
  res.body() = std::move(reply.body);
  // A 204 carries neither a body nor a Content-Length (RFC 9110 §8.6).
  if (reply.status != 204) res.prepare_payload();
  beast::get_lowest_layer(stream_).expires_after(kIoTimeout);
  auto [ec, n] = co_await http::async_write(stream_, res, kTuple);
  if (reply.restart) server_->OnRestartReplied();
  if (ec) {
    server_->logger().debug("write to {} failed: {}", remote_address_, ec.message());
    co_return false;
  }
  co_return keep_alive;
}

template <typename Stream>
asio::awaitable<std::optional<http::request<http::string_body>>> Session<Stream>::ReadRequest() {
  const uint64_t limit = server_->max_body_bytes();
  auto& tcp_stream = beast::get_lowest_layer(stream_);
  // A parser serves one message; the buffer it reads into is the connection's.
  http::request_parser<http::string_body>& parser = parser_.emplace();
  parser.body_limit(limit);
  tcp_stream.expires_after(kIdleTimeout);
  auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, kTuple);
  busy_ = true;
  if (!ec && !parser.is_done() && buffer_.size() > 0) {
    // The body usually came with the header: parse the bytes already buffered here. An
    // asynchronous read that needs no I/O still completes through a post, one more trip
    // through the scheduler per request. Errors are the parser's, as async_read would give.
    parser.eager(true);
    const size_t used = parser.put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == http::error::need_more) ec = {};
  }
  if (!ec && !parser.is_done()) {
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
      tcp_stream.expires_after(kIoTimeout);
      auto [cec, cn] = co_await http::async_write(stream_, cont, kTuple);
      if (cec) co_return std::nullopt;
    }
    tcp_stream.expires_after(kIoTimeout);
    std::tie(ec, n) = co_await http::async_read(stream_, buffer_, parser, kTuple);
  }
  if (ec == http::error::body_limit) {
    co_await WriteReply(TooLargeReply(limit), parser.get().version(), false);
    co_return std::nullopt;
  }
  if (ec) {
    if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
        ec != beast::error::timeout && ec != asio::error::connection_reset &&
        ec != asio::ssl::error::stream_truncated) {
      server_->logger().debug("read from {} failed: {}", remote_address_, ec.message());
      if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
        HttpReply bad;
        bad.status = 400;
        bad.body = "Bad Request\n";
        bad.close = true;
        co_await WriteReply(std::move(bad), 11, false);
      }
    }
    co_return std::nullopt;
  }
  co_return parser.release();
}

template <typename Stream>
bool Session<Stream>::IsHandedOver(const http::request<http::string_body>& req) const {
  if (server_->upgrade_handler() == nullptr || !beast::websocket::is_upgrade(req)) return false;
  std::string_view target = req.target();
  return target.substr(0, target.find('?')) == kReplicationUpgradePath;
}

template <typename Stream>
void Session<Stream>::HandOver(http::request<http::string_body> req) {
  beast::get_lowest_layer(stream_).expires_never();
  handed_over_ = true;
  if constexpr (kTls) {
    net::PeerCertificate peer = InspectPeer(stream_.native_handle());
    server_->upgrade_handler()->OnTlsUpgrade(std::make_unique<TlsStream>(std::move(stream_)),
                                             std::move(req), remote_address_, std::move(peer));
  } else {
    server_->upgrade_handler()->OnUpgrade(stream_.release_socket(), std::move(req),
                                          remote_address_);
  }
}

template <typename Stream>
asio::awaitable<HttpReply> Session<Stream>::Serve(http::request<http::string_body>& req) {
  HttpRequest request;
  request.method = std::string(req.method_string());
  request.target = std::string(req.target());
  if (auto it = req.find(http::field::content_type); it != req.end()) {
    request.content_type = std::string(it->value());
  }
  request.authorization = std::string(req[http::field::authorization]);
  request.origin = std::string(req[http::field::origin]);
  request.remote_address = remote_address_;
  request.body = std::move(req.body());

  std::variant<HttpReply, ops::OpRequest> routed = RouteHttpRequest(std::move(request));
  if (auto* immediate = std::get_if<HttpReply>(&routed)) co_return std::move(*immediate);
  if (server_->ops() == nullptr) {  // upgrade-only listener
    HttpReply reply;
    reply.status = 404;
    reply.content_type = kJsonErrorType;
    reply.body = R"({"error":"This port serves replication only"})";
    co_return reply;
  }
  beast::get_lowest_layer(stream_).expires_never();  // an operation takes as long as it takes
  ops::OpResult result =
      co_await AsyncExecute(server_->ops(), std::move(std::get<ops::OpRequest>(routed)),
                            server_->gate(), asio::use_awaitable);
  co_return ReplyForOpResult(std::move(result));
}

template <typename Stream>
asio::awaitable<void> Session<Stream>::Run() {
  OpenConnectionCount counted;  // until the connection ends or is handed over
  if constexpr (kTls) {
    if (!co_await Handshake()) co_return;
  }
  for (;;) {
    busy_ = false;
    if (stopping_) break;
    std::optional<http::request<http::string_body>> req = co_await ReadRequest();
    if (!req) break;
    if (IsHandedOver(*req)) {
      HandOver(std::move(*req));
      co_return;
    }
    const bool keep_alive = req->keep_alive();
    const auto started = steady_clock::now();
    HttpReply reply = co_await Serve(*req);
    if (server_->logger().should_log(spdlog::level::debug)) {
      auto micros =
          std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - started)
              .count();
      server_->logger().debug("{} {} {} from {} in {} us", std::string(req->method_string()),
                              std::string(req->target()), reply.status, remote_address_, micros);
    }
    if (!co_await WriteReply(std::move(reply), req->version(), keep_alive)) break;
  }
  co_await Shutdown();
}

template <typename Stream>
asio::awaitable<void> Session<Stream>::Shutdown() {
  auto& tcp_stream = beast::get_lowest_layer(stream_);
  if constexpr (kTls) {
    // close_notify, so the client can tell the end from a truncation; bounded.
    tcp_stream.expires_after(kHandshakeTimeout);
    co_await stream_.async_shutdown(kTuple);
  }
  beast::error_code ec;
  tcp_stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  tcp_stream.close();
}

Status ServerImpl::Listen() {
  const std::string address = options_.host + ":" + std::to_string(options_.port);
  beast::error_code ec;
  tcp::resolver resolver(*contexts_.front());
  auto endpoints = resolver.resolve(options_.host, std::to_string(options_.port),
                                    tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return Status::IOError("cannot resolve " + address + ": " +
                           (ec ? ec.message() : std::string("no address")));
  }
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  auto fail = [&](const char* what) {
    beast::error_code ignored;
    acceptor_.close(ignored);
    return Status::IOError(std::string("cannot ") + what + " " + address + ": " + ec.message());
  };
  if (acceptor_.open(endpoint.protocol(), ec)) return fail("open a socket for");
  if (acceptor_.set_option(asio::socket_base::reuse_address(true), ec)) return fail("configure");
  if (acceptor_.bind(endpoint, ec)) return fail("bind");
  if (acceptor_.listen(asio::socket_base::max_listen_connections, ec)) return fail("listen on");
  port_ = acceptor_.local_endpoint(ec).port();
  if (ec) return fail("read the bound port of");
  return Status::Ok();
}

void ServerImpl::StartThreads() {
  asio::co_spawn(accept_strand_, AcceptLoop(), [log = log_](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log->error("accept loop failed: {}", ex.what());
    }
  });
  threads_.reserve(contexts_.size());
  for (auto& context : contexts_) threads_.emplace_back([&context] { context->run(); });
  log_->info("listening on {}://{}:{} ({} threads, body limit {} bytes)",
             options_.tls ? "https" : "http", options_.host, port_, contexts_.size(),
             options_.max_body_bytes);
}

std::vector<std::unique_ptr<asio::io_context>> ServerImpl::MakeContexts(int threads) {
  const int count =
      threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  contexts.reserve(count);
  for (int i = 0; i < count; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
  return contexts;
}

asio::awaitable<void> ServerImpl::AcceptLoop() {
  bool error_logged = false;
  asio::steady_timer backoff(accept_strand_);
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(NextContext()), kTuple);
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      // E.g. out of file descriptors: log once, back off briefly, keep serving.
      if (!error_logged) log_->error("accept failed: {}", ec.message());
      error_logged = true;
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(kTuple);
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    if (options_.tls) {
      StartSession<TlsStream>(std::move(socket));
    } else {
      StartSession<beast::tcp_stream>(std::move(socket));
    }
  }
}

template <typename Stream>
void ServerImpl::StartSession(tcp::socket socket) {
  auto session = std::make_shared<Session<Stream>>(std::move(socket), this);
  if (!Register(session)) return;  // stopping: the socket closes with the session
  asio::co_spawn(session->executor(), session->Run(), [this, session](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log_->error("connection failed: {}", ex.what());
      }
    }
    Unregister(session.get());
  });
}

bool ServerImpl::Register(const std::shared_ptr<SessionBase>& session) {
  common::MutexLock lock(mu_);
  if (stopped_) return false;
  sessions_.emplace(session.get(), session);
  return true;
}

void ServerImpl::Unregister(SessionBase* session) {
  common::MutexLock lock(mu_);
  sessions_.erase(session);
  if (sessions_.empty()) sessions_changed_.notify_all();
}

std::vector<std::shared_ptr<SessionBase>> ServerImpl::LiveSessions() {
  common::MutexLock lock(mu_);
  std::vector<std::shared_ptr<SessionBase>> live;
  live.reserve(sessions_.size());
  for (auto& [ptr, weak] : sessions_) {
    if (auto session = weak.lock()) live.push_back(std::move(session));
  }
  return live;
}

void ServerImpl::WaitForSessions(std::chrono::seconds timeout) {
  common::MutexLock lock(mu_);
  sessions_changed_.wait_for(lock, timeout, [this]() REQUIRES(mu_) { return sessions_.empty(); });
}

void ServerImpl::OnRestartReplied() {
  if (restart_signalled_.exchange(true)) return;
  if (options_.on_restart_requested) options_.on_restart_requested();
}

void ServerImpl::Stop() {
  {
    common::MutexLock lock(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  asio::post(accept_strand_, [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
  for (auto& session : LiveSessions()) session->RequestStop(false);
  WaitForSessions(kStopGrace);
  auto remaining = LiveSessions();
  if (!remaining.empty()) {
    log_->warn("closing {} connections still busy after {} s", remaining.size(),
               kStopGrace.count());
    for (auto& session : remaining) session->RequestStop(true);
    remaining.clear();
    WaitForSessions(kStopForceWait);
  }
  work_.clear();
  for (auto& context : contexts_) context->stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  common::MutexLock lock(gate_->mu);
  gate_->open = false;
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      ops::Operations* ops) {
  auto server = std::make_unique<ServerImpl>(options, ops);
  Status status = server->Listen();
  if (!status.ok()) return status;
  server->StartThreads();
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace meshdb::net
