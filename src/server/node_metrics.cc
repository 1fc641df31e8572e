#include "server/node_metrics.h"

#include <chrono>

#include "common/ip_allow_list.h"
#include "common/metrics.h"
#include "common/version.h"
#include "replication/engine/replication_metrics.h"
#include "replication/engine/replication_service.h"
#include "storage/store.h"

namespace meshdb::server {

Status NodeMetrics::ApplyAccess(const config::Settings& settings) {
  Result<common::IpAllowList> allowed = common::IpAllowList::Parse(settings.metrics_allowed_ips);
  if (!allowed.ok()) return allowed.status().WithPrefix("metrics.allowedIps");
  metrics::ScrapeAccess access;
  access.enabled = settings.metrics_enabled;
  access.allowed = std::move(allowed).value();
  metrics::Registry::Default().SetScrapeAccess(std::move(access));
  return Status::Ok();
}

NodeMetrics::NodeMetrics(storage::Store* store, replication::ReplicationService* service) {
  metrics::Registry& registry = metrics::Registry::Default();
  registry.AddGauge("meshdb_build_info", "Always 1; the version is the label.", {"version"})
      ->GetGauge({kVersion})
      ->Set(1);
  const auto started = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  registry.AddGauge("meshdb_start_time_seconds", "When the node started, in Unix seconds.")
      ->GetGauge({})
      ->Set(started);
  collector_id_ = registry.AddCollector([store, service](metrics::Exposition& out) {
    if (out.Begin("meshdb_storage_used_bytes",
                  "Bytes of the database's LMDB environment in use (the file is larger: space "
                  "is allocated ahead).",
                  metrics::Type::kGauge)) {
      for (const std::string& db : store->ListDatabases()) {
        if (Result<uint64_t> used = store->UsedBytes(db); used.ok()) {
          out.Sample({{"database", db}}, *used);
        }
      }
    }
    if (out.Begin("meshdb_storage_write_queue_depth",
                  "Write requests waiting for the storage writer thread.", metrics::Type::kGauge)) {
      out.Sample({}, static_cast<uint64_t>(store->QueuedWrites()));
    }
    replication::WriteReplicationMetrics(service->ConnectionsStatus(), service->ServiceStatus(),
                                         out);
  });
}

NodeMetrics::~NodeMetrics() { metrics::Registry::Default().RemoveCollector(collector_id_); }

}  // namespace meshdb::server
