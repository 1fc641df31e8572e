// HttpServer on Boost.Beast with C++20 coroutines (after Beast's
// advanced_server_flex_awaitable): one io_context run by N threads, a strand and a coroutine
// per connection, one request at a time per connection.
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
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "common/log.h"
#include "common/thread_annotations.h"
#include "net/http_handler.h"
#include "net/upgrade_handler.h"
#include "ops/operations.h"

namespace meshdb::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using std::chrono::steady_clock;

constexpr std::chrono::seconds kIdleTimeout{30};    // waiting for the next request
constexpr std::chrono::seconds kIoTimeout{60};      // reading one body / writing one reply
constexpr std::chrono::seconds kStopGrace{5};       // in-flight requests finish within this
constexpr std::chrono::seconds kStopForceWait{10};  // then closed sockets; operations may lag
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

class ServerImpl;

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `*server` outlives the session's coroutine.
  Session(tcp::socket socket, ServerImpl* server);

  asio::any_io_executor executor() { return stream_.get_executor(); }
  asio::awaitable<void> Run();
  // Any thread. Closes the connection now when it waits for a request (or always, when
  // `force`); otherwise after the reply being prepared.
  void RequestStop(bool force);

 private:
  asio::awaitable<bool> WriteReply(HttpReply reply, unsigned version, bool keep_alive);

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;  // reused across requests; keeps pipelined bytes
  ServerImpl* server_;
  std::string remote_address_;
  // Accessed on the strand only.
  bool busy_ = false;
  bool stopping_ = false;
};

class ServerImpl final : public HttpServer {
 public:
  ServerImpl(HttpServerOptions options, ops::Operations* ops)
      : options_(std::move(options)),
        ops_(ops),
        log_(log::For("http")),
        accept_strand_(asio::make_strand(ioc_)),
        acceptor_(accept_strand_),
        work_(asio::make_work_guard(ioc_)) {}
  ~ServerImpl() override { Stop(); }

  Status Listen();
  void StartThreads();
  void Stop() override;
  int port() const override { return port_; }

  // For sessions.
  ops::Operations* ops() const { return ops_; }
  UpgradeHandler* upgrade_handler() const { return options_.upgrade_handler; }
  uint64_t max_body_bytes() const { return options_.max_body_bytes; }
  const std::shared_ptr<CompletionGate>& gate() const { return gate_; }
  spdlog::logger& logger() const { return *log_; }
  void OnRestartReplied();

 private:
  asio::awaitable<void> AcceptLoop();
  bool Register(const std::shared_ptr<Session>& session) EXCLUDES(mu_);
  void Unregister(Session* session) EXCLUDES(mu_);
  std::vector<std::shared_ptr<Session>> LiveSessions() EXCLUDES(mu_);
  void WaitForSessions(std::chrono::seconds timeout) EXCLUDES(mu_);

  // Constant after construction.
  const HttpServerOptions options_;
  ops::Operations* const ops_;
  const std::shared_ptr<spdlog::logger> log_;
  const std::shared_ptr<CompletionGate> gate_ = std::make_shared<CompletionGate>();
  int port_ = 0;

  common::Mutex mu_;
  std::condition_variable_any sessions_changed_;  // sessions_ became empty
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_ GUARDED_BY(mu_);
  bool stopped_ GUARDED_BY(mu_) = false;
  std::atomic<bool> restart_signalled_{false};

  // The io_context is declared before everything that uses it and destroyed after them.
  asio::io_context ioc_;
  asio::strand<asio::io_context::executor_type> accept_strand_;
  tcp::acceptor acceptor_;  // used on accept_strand_ only
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

Session::Session(tcp::socket socket, ServerImpl* server)
    : stream_(std::move(socket)), server_(server) {
  beast::error_code ec;
  tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
  if (!ec) {
    asio::ip::address address = peer.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
      address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    }
    remote_address_ = address.to_string();
  }
}

void Session::RequestStop(bool force) {
  asio::post(stream_.get_executor(), [self = shared_from_this(), force] {
    self->stopping_ = true;
    if (force || !self->busy_) {
      beast::error_code ec;
      self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      self->stream_.close();
    }
  });
}

asio::awaitable<bool> Session::WriteReply(HttpReply reply, unsigned version, bool keep_alive) {
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
  stream_.expires_after(kIoTimeout);
  auto [ec, n] = co_await http::async_write(stream_, res, kTuple);
  if (reply.restart) server_->OnRestartReplied();
  if (ec) {
    server_->logger().debug("write to {} failed: {}", remote_address_, ec.message());
    co_return false;
  }
  co_return keep_alive;
}

asio::awaitable<void> Session::Run() {
  const uint64_t limit = server_->max_body_bytes();
  for (;;) {
    busy_ = false;
    if (stopping_) break;
    // A parser serves one message; the buffer it reads into is the connection's.
    http::request_parser<http::string_body> parser;
    parser.body_limit(limit);
    stream_.expires_after(kIdleTimeout);
    auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, kTuple);
    busy_ = true;
    if (!ec && !parser.is_done()) {
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
        stream_.expires_after(kIoTimeout);
        auto [cec, cn] = co_await http::async_write(stream_, cont, kTuple);
        if (cec) break;
      }
      stream_.expires_after(kIoTimeout);
      std::tie(ec, n) = co_await http::async_read(stream_, buffer_, parser, kTuple);
    }
    if (ec == http::error::body_limit) {
      co_await WriteReply(TooLargeReply(limit), parser.get().version(), false);
      break;
    }
    if (ec) {
      if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
          ec != beast::error::timeout && ec != asio::error::connection_reset) {
        server_->logger().debug("read from {} failed: {}", remote_address_, ec.message());
        if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
          HttpReply bad;
          bad.status = 400;
          bad.body = "Bad Request\n";
          bad.close = true;
          co_await WriteReply(std::move(bad), 11, false);
        }
      }
      break;
    }

    http::request<http::string_body> req = parser.release();
    if (server_->upgrade_handler() != nullptr && beast::websocket::is_upgrade(req)) {
      std::string_view target = req.target();
      std::string_view path = target.substr(0, target.find('?'));
      if (path == kReplicationUpgradePath) {
        stream_.expires_never();
        server_->upgrade_handler()->OnUpgrade(stream_.release_socket(), std::move(req),
                                              remote_address_);
        co_return;
      }
    }
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();
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
    const auto started = steady_clock::now();

    std::variant<HttpReply, ops::OpRequest> routed = RouteHttpRequest(std::move(request));
    HttpReply reply;
    if (auto* immediate = std::get_if<HttpReply>(&routed)) {
      reply = std::move(*immediate);
    } else if (server_->ops() == nullptr) {  // upgrade-only listener
      reply.status = 404;
      reply.content_type = kJsonErrorType;
      reply.body = R"({"error":"This port serves replication only"})";
    } else {
      stream_.expires_never();  // an operation takes as long as it takes
      ops::OpResult result =
          co_await AsyncExecute(server_->ops(), std::move(std::get<ops::OpRequest>(routed)),
                                server_->gate(), asio::use_awaitable);
      reply = ReplyForOpResult(std::move(result));
    }
    if (server_->logger().should_log(spdlog::level::debug)) {
      auto micros =
          std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - started)
              .count();
      server_->logger().debug("{} {} {} from {} in {} us", std::string(req.method_string()),
                              std::string(req.target()), reply.status, remote_address_, micros);
    }
    if (!co_await WriteReply(std::move(reply), version, keep_alive)) break;
  }
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.close();
}

Status ServerImpl::Listen() {
  const std::string address = options_.host + ":" + std::to_string(options_.port);
  beast::error_code ec;
  tcp::resolver resolver(ioc_);
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
  int count = options_.threads > 0
                  ? options_.threads
                  : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_.reserve(count);
  for (int i = 0; i < count; ++i) threads_.emplace_back([this] { ioc_.run(); });
  log_->info("listening on http://{}:{} ({} threads, body limit {} bytes)", options_.host, port_,
             count, options_.max_body_bytes);
}

asio::awaitable<void> ServerImpl::AcceptLoop() {
  bool error_logged = false;
  asio::steady_timer backoff(accept_strand_);
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(ioc_), kTuple);
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
    auto session = std::make_shared<Session>(std::move(socket), this);
    if (!Register(session)) continue;  // stopping: the socket closes with the session
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
}

bool ServerImpl::Register(const std::shared_ptr<Session>& session) {
  common::MutexLock lock(mu_);
  if (stopped_) return false;
  sessions_.emplace(session.get(), session);
  return true;
}

void ServerImpl::Unregister(Session* session) {
  common::MutexLock lock(mu_);
  sessions_.erase(session);
  if (sessions_.empty()) sessions_changed_.notify_all();
}

std::vector<std::shared_ptr<Session>> ServerImpl::LiveSessions() {
  common::MutexLock lock(mu_);
  std::vector<std::shared_ptr<Session>> live;
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
  work_.reset();
  ioc_.stop();
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
