// The seam between the HTTP listener and a WebSocket service: a WebSocket upgrade request on
// the path the handler claims (replication: /replication) is handed over with its socket,
// before any response is written. The handler owns the socket from then on.
// Thread-safety: OnUpgrade may be called concurrently from any HTTP I/O thread.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <string>

#include "net/tls.h"
#include "net/tls_stream.h"

namespace meshdb::net {

class UpgradeHandler {
 public:
  virtual ~UpgradeHandler() = default;
  // `socket` belongs to the HTTP server's io_context; the handler may move its native handle
  // to its own context (socket.release()). Must not block.
  virtual void OnUpgrade(boost::asio::ip::tcp::socket socket,
                         boost::beast::http::request<boost::beast::http::string_body> request,
                         std::string remote_address) = 0;
  // The same over TLS (a securePort), after the handshake. The stream stays on the HTTP
  // server's io_context: the handler must be done with it before that server stops (the
  // node stops replication first). `peer` is what the handshake proved about the client's
  // certificate.
  virtual void OnTlsUpgrade(std::unique_ptr<TlsStream> stream,
                            boost::beast::http::request<boost::beast::http::string_body> request,
                            std::string remote_address, PeerCertificate peer) = 0;
};

// The request path that upgrades go to (the query string is ignored).
inline constexpr const char* kReplicationUpgradePath = "/replication";

}  // namespace meshdb::net
