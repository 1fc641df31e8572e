// The operations API listener: HTTP/1.1 (or HTTPS, net/tls.h) on Boost.Beast, every `POST /` handed
// to ops::Operations (HarperDB-compatible envelope, see docs/compatibility.md "HTTP").
//
// Threads: the server runs `threads` io_contexts of its own, one thread each; each connection
// is a coroutine on its own strand of one of them (taken in turn), serving one request at a
// time (keep-alive, pipelining-safe).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"

namespace meshdb::ops {
class Operations;
}  // namespace meshdb::ops

namespace meshdb::net {

class UpgradeHandler;
class TlsContext;

struct HttpServerOptions {
  // Address to bind: an IP literal or a host name (the first resolved address is used).
  std::string host = "127.0.0.1";
  int port = 9925;  // 0: any free port (see HttpServer::port())
  // Larger bodies get 413 and the connection is closed. Big enough for bulk inserts.
  uint64_t max_body_bytes = 100ull << 20;
  int threads = 0;  // I/O threads (one io_context each); 0: one per core
  // Called once, on an I/O thread, after a reply with restart_after_reply was written. Must
  // not block and must not call Stop().
  std::function<void()> on_restart_requested;
  // When set, a WebSocket upgrade request on /replication (any query) is handed to it with
  // the socket (net/upgrade_handler.h). Must outlive the server.
  UpgradeHandler* upgrade_handler = nullptr;
  // When set (a server context), every connection is TLS (a securePort); upgrades are then
  // handed over with OnTlsUpgrade.
  std::shared_ptr<TlsContext> tls;
};

class HttpServer {
 public:
  // Binds and listens, runs its own io_contexts on `threads` threads. IOError naming the
  // address when bind fails. `*ops` must stay live until the server is destroyed. `ops` may
  // be null: an upgrade-only listener (replication.port) answers other requests with 404.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   ops::Operations* ops);
  virtual ~HttpServer() = default;
  // Stops accepting, closes idle connections, lets in-flight requests finish (bounded grace,
  // then closes the rest) and joins the threads. Idempotent; the destructor calls it. Not
  // to be called from an I/O thread (e.g. not from on_restart_requested).
  virtual void Stop() = 0;
  [[nodiscard]] virtual int port() const = 0;  // the bound port
};

}  // namespace meshdb::net
