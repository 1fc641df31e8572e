// What membership and the server read of cluster_status's `connections`, typed: each peer's
// name and URL and, per database socket, whether it is live and what the peer acknowledged.
// Thread-safety: a pure function of its argument.
#pragma once

#include <boost/json/array.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace meshdb::replication {

struct SocketSummary {
  std::string database;
  bool connected = false;
  uint64_t acked_sequence = 0;  // of this node's log of `database`, by the peer
};

struct PeerLinkSummary {
  std::string name;  // "" for a route that has not answered yet
  std::string url;
  std::vector<SocketSummary> sockets;

  // The sockets of the system database (more than one while a duplicate link drains).
  [[nodiscard]] std::vector<SocketSummary> SystemSockets() const;
  [[nodiscard]] bool SystemLinkLive() const;
};

// `connections`: ReplicationService::ConnectionsStatus(). Entries that are not objects are
// skipped; a missing or mistyped field reads as its default.
std::vector<PeerLinkSummary> SummarizeLinks(const boost::json::array& connections);

}  // namespace meshdb::replication
