#include "replication/engine/replication_metrics.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/metrics.h"

namespace meshdb::replication {

namespace json = boost::json;

namespace {

// A per-socket family read from one numeric field of cluster_status's database_sockets.
struct SocketFamily {
  const char* name;
  const char* help;
  metrics::Type type;
  const char* field;
  double scale;  // the field's value is divided by it (ms -> s: 1000)
};

constexpr SocketFamily kSocketFamilies[] = {
    {"meshdb_replication_link_connected", "1 while the link to the peer for the database is open.",
     metrics::Type::kGauge, "connected", 1},
    {"meshdb_replication_records_behind",
     "Our transactions the peer has not acknowledged (cluster_status records_behind).",
     metrics::Type::kGauge, "records_behind", 1},
    {"meshdb_replication_behind_seconds",
     "Time since the peer last acknowledged, while it is behind (cluster_status ms_behind).",
     metrics::Type::kGauge, "ms_behind", 1000},
    {"meshdb_replication_latency_seconds", "Round-trip time of the link's last ping.",
     metrics::Type::kGauge, "latency", 1000},
    {"meshdb_replication_sent_bytes_total", "WebSocket payload bytes sent to the peer.",
     metrics::Type::kCounter, "bytes_sent", 1},
    {"meshdb_replication_received_bytes_total", "WebSocket payload bytes received from the peer.",
     metrics::Type::kCounter, "bytes_received", 1},
    {"meshdb_replication_copies_started_total", "Initial copies from the peer begun.",
     metrics::Type::kCounter, "copies_started", 1},
    {"meshdb_replication_copies_completed_total", "Initial copies from the peer completed.",
     metrics::Type::kCounter, "copies_completed", 1},
    {"meshdb_replication_copied_records_total",
     "Records applied from completed initial copies of the peer.", metrics::Type::kCounter,
     "copied_records", 1},
    {"meshdb_replication_merges_completed_total",
     "Merge resyncs with the peer finished (either side).", metrics::Type::kCounter,
     "merges_completed", 1},
    {"meshdb_replication_merge_sent_records_total", "Records merge resyncs sent to the peer.",
     metrics::Type::kCounter, "merge_records_sent", 1},
    {"meshdb_replication_merge_received_records_total",
     "Records merge resyncs received from the peer and committed.", metrics::Type::kCounter,
     "merge_records_received", 1},
    {"meshdb_replication_dial_failures_total", "Dials to the peer that failed or were refused.",
     metrics::Type::kCounter, "dial_failures", 1},
};

constexpr const char* kStates[] = {"Connecting", "CatchingUp", "Streaming",
                                   "Backoff",    "Idle",       "Error"};

std::optional<double> Number(const json::value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_bool()) return v->get_bool() ? 1.0 : 0.0;
  if (v->is_number()) return v->to_number<double>();
  return std::nullopt;
}

std::string_view Text(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

// A socket entry of a duplicate link, which only shows that link's merges
// (ServiceImpl::AddDatabaseSockets).
bool IsDuplicate(const json::object& socket) {
  const json::value* v = socket.if_contains("duplicate");
  return v != nullptr && v->is_bool() && v->get_bool();
}

// Whether ForEachSocket includes the entries of duplicate links.
enum class Duplicates { kSkip, kInclude };

// Calls fn(peer, socket) for every database socket of every connection.
template <typename Fn>
void ForEachSocket(const json::array& connections, Duplicates duplicates, Fn&& fn) {
  for (const json::value& c : connections) {
    const json::object* conn = c.if_object();
    if (conn == nullptr) continue;
    std::string_view peer = Text(*conn, "name");
    if (peer.empty()) peer = Text(*conn, "url");
    const json::value* sockets = conn->if_contains("database_sockets");
    if (sockets == nullptr || !sockets->is_array()) continue;
    for (const json::value& s : sockets->get_array()) {
      const json::object* socket = s.if_object();
      if (socket == nullptr) continue;
      if (duplicates == Duplicates::kInclude || !IsDuplicate(*socket)) fn(peer, *socket);
    }
  }
}
template <typename Fn>
void ForEachSocket(const json::array& connections, Fn&& fn) {
  ForEachSocket(connections, Duplicates::kSkip, std::forward<Fn>(fn));
}

}  // namespace

void WriteReplicationMetrics(const json::array& connections, const json::object& service,
                             metrics::Exposition& out) {
  if (out.Begin("meshdb_replication_peers", "Peers this node replicates with.",
                metrics::Type::kGauge)) {
    out.Sample({}, static_cast<uint64_t>(connections.size()));
  }
  if (out.Begin("meshdb_replication_link_errors_total",
                "Replication link errors since start (cluster_status link_errors).",
                metrics::Type::kCounter)) {
    out.Sample({}, Number(service.if_contains("link_errors")).value_or(0));
  }
  if (out.Begin("meshdb_replication_link_state",
                "1 for the state the link to the peer for the database is in (cluster_status "
                "state), 0 for the others.",
                metrics::Type::kGauge)) {
    ForEachSocket(connections, [&](std::string_view peer, const json::object& socket) {
      std::string_view state = Text(socket, "state");
      for (const char* s : kStates) {
        out.Sample({{"peer", peer}, {"database", Text(socket, "database")}, {"state", s}},
                   uint64_t{state == s ? 1u : 0u});
      }
    });
  }
  for (const SocketFamily& family : kSocketFamilies) {
    if (!out.Begin(family.name, family.help, family.type)) continue;
    ForEachSocket(connections, [&](std::string_view peer, const json::object& socket) {
      std::optional<double> v = Number(socket.if_contains(family.field));
      if (!v) return;  // e.g. no latency before the first ping
      out.Sample({{"peer", peer}, {"database", Text(socket, "database")}}, *v / family.scale);
    });
  }
  // The running initial copy: records applied so far and the total expected (0 when none).
  for (const char* part : {"records", "total"}) {
    const std::string name = std::string("meshdb_replication_copy_progress_") + part;
    const std::string help = std::string(part) == "records"
                                 ? "Records applied so far by the running initial copy from the "
                                   "peer (0 when none runs)."
                                 : "Records the running initial copy from the peer brings in "
                                   "all (0 when none runs).";
    if (!out.Begin(name, help, metrics::Type::kGauge)) continue;
    ForEachSocket(connections, [&](std::string_view peer, const json::object& socket) {
      const json::value* progress = socket.if_contains("copy_progress");
      double v = 0;
      if (progress != nullptr && progress->is_object()) {
        v = Number(progress->get_object().if_contains(part)).value_or(0);
      }
      out.Sample({{"peer", peer}, {"database", Text(socket, "database")}}, v);
    });
  }
  // A running merge resync, per direction: "receive" (merge_progress, the peer's rows coming
  // here) and "send" (merge_send_progress); 0 when none runs, total 0 while not yet known. A
  // duplicate link's merge (a link replaced by a newer one, until it has closed) is a series
  // of its own, labelled link="duplicate".
  for (const char* part : {"records", "total"}) {
    const std::string name = std::string("meshdb_replication_merge_progress_") + part;
    const std::string help = std::string(part) == "records"
                                 ? "Records a running merge resync with the peer has received "
                                   "and committed, or sent (0 when none runs)."
                                 : "Records the running merge resync with the peer receives or "
                                   "sends in all (0 when none runs or not yet known).";
    if (!out.Begin(name, help, metrics::Type::kGauge)) continue;
    ForEachSocket(
        connections, Duplicates::kInclude, [&](std::string_view peer, const json::object& socket) {
          for (const auto& [direction, field] :
               {std::pair{"receive", "merge_progress"}, std::pair{"send", "merge_send_progress"}}) {
            const json::value* progress = socket.if_contains(field);
            double v = 0;
            if (progress != nullptr && progress->is_object()) {
              v = Number(progress->get_object().if_contains(part)).value_or(0);
            }
            metrics::Labels labels{
                {"peer", peer}, {"database", Text(socket, "database")}, {"direction", direction}};
            if (IsDuplicate(socket)) labels.emplace_back("link", "duplicate");
            out.Sample(labels, v);
          }
        });
  }
}

}  // namespace meshdb::replication
