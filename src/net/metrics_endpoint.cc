#include "net/metrics_endpoint.h"

#include "common/metrics.h"
#include "net/http_status.h"

namespace meshdb::net {

namespace {

metrics::Gauge* OpenConnections() {
  static metrics::Gauge* gauge =
      metrics::Registry::Default()
          .AddGauge("meshdb_http_open_connections",
                    "HTTP connections open on the operations API listeners (WebSocket "
                    "replication links handed over from them not included).")
          ->GetGauge({});
  return gauge;
}

metrics::Counter* Scrapes(const char* outcome) {
  static metrics::Family* family = metrics::Registry::Default().AddCounter(
      "meshdb_metrics_scrapes_total", "Requests for GET /metrics, by outcome.", {"outcome"});
  return family->GetCounter({outcome});
}

HttpReply Refused(int status, const std::string& message) {
  HttpReply reply;
  reply.status = status;
  reply.content_type = kJsonErrorType;
  reply.body = ErrorBody(message);
  return reply;
}

}  // namespace

OpenConnectionCount::OpenConnectionCount() { OpenConnections()->Add(1); }
OpenConnectionCount::~OpenConnectionCount() { OpenConnections()->Add(-1); }

HttpReply MetricsReply(const HttpRequest& request) {
  metrics::Registry& registry = metrics::Registry::Default();
  if (!registry.ScrapeEnabled()) {
    static metrics::Counter* disabled = Scrapes("disabled");
    disabled->Add();
    return Refused(404, "Metrics are disabled on this node (metrics.enabled)");
  }
  if (!registry.MayScrape(request.remote_address)) {
    static metrics::Counter* refused = Scrapes("refused");
    refused->Add();
    return Refused(403,
                   "Metrics are not served to " + request.remote_address + " (metrics.allowedIps)");
  }
  static metrics::Counter* served = Scrapes("served");
  served->Add();
  HttpReply reply;
  reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
  reply.body = registry.Render();
  return reply;
}

}  // namespace meshdb::net
