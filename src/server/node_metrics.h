// The node's scrape-time metrics (docs/operations.md): storage sizes and queue depth per
// database, replication per peer and database (replication/engine/replication_metrics.h),
// build information; and who may scrape (metrics.enabled, metrics.allowedIps).
// Thread-safety: construct and destroy on one thread; the collectors run on scrape threads.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "config/config.h"

namespace meshdb::storage {
class Store;
}
namespace meshdb::replication {
class ReplicationService;
}

namespace meshdb::server {

class NodeMetrics {
 public:
  // Applies the access settings to metrics::Registry::Default() (InvalidArgument for a bad
  // metrics.allowedIps entry, which validation already refuses).
  static Status ApplyAccess(const config::Settings& settings);

  // Adds the collectors; `*store` and `*service` must outlive this object, whose destructor
  // removes them (waiting for a scrape that runs them).
  NodeMetrics(storage::Store* store, replication::ReplicationService* service);
  ~NodeMetrics();
  NodeMetrics(const NodeMetrics&) = delete;
  NodeMetrics& operator=(const NodeMetrics&) = delete;

 private:
  uint64_t collector_id_ = 0;
};

}  // namespace meshdb::server
