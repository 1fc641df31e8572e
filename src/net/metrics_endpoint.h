// GET /metrics: the Prometheus text exposition of metrics::Registry::Default(), served to the
// addresses metrics.allowedIps lists while metrics.enabled (docs/operations.md). Also the
// HTTP listeners' own metrics (open connections).
// Thread-safety: any thread.
#pragma once

#include "net/http_handler.h"

namespace meshdb::net {

// 200 with the exposition (Content-Type text/plain; version=0.0.4), 403 for an address the
// setting does not allow, 404 when metrics are disabled.
HttpReply MetricsReply(const HttpRequest& request);

// Counts one open HTTP connection in meshdb_http_open_connections for its lifetime.
class OpenConnectionCount {
 public:
  OpenConnectionCount();
  ~OpenConnectionCount();
  OpenConnectionCount(const OpenConnectionCount&) = delete;
  OpenConnectionCount& operator=(const OpenConnectionCount&) = delete;
};

}  // namespace meshdb::net
