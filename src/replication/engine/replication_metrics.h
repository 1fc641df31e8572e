// The replication families of GET /metrics (docs/operations.md), written from what
// cluster_status shows: one series per (peer, database) socket for link state, lag, bytes,
// copy and merge progress, and the node-wide link error count.
// Thread-safety: a pure function of its arguments.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace meshdb::metrics {
class Exposition;
}

namespace meshdb::replication {

// `connections`: ReplicationService::ConnectionsStatus(); `service`: ServiceStatus().
void WriteReplicationMetrics(const boost::json::array& connections,
                             const boost::json::object& service, metrics::Exposition& out);

}  // namespace meshdb::replication
