#include "replication/engine/link_summary.h"

#include <boost/json/object.hpp>
#include <string_view>

#include "replication/engine/publish_filter.h"

namespace meshdb::replication {
namespace {

namespace json = boost::json;

std::string StringField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

SocketSummary ReadSocket(const json::object& s) {
  SocketSummary out;
  out.database = StringField(s, "database");
  const json::value* up = s.if_contains("connected");
  out.connected = up != nullptr && up->is_bool() && up->get_bool();
  const json::value* acked = s.if_contains("acked_sequence");
  if (acked != nullptr && acked->is_number()) {
    boost::system::error_code ec;
    const uint64_t value = acked->to_number<uint64_t>(ec);
    if (!ec) out.acked_sequence = value;
  }
  return out;
}

}  // namespace

std::vector<SocketSummary> PeerLinkSummary::SystemSockets() const {
  std::vector<SocketSummary> out;
  for (const SocketSummary& s : sockets) {
    if (s.database == kSystemDatabase) out.push_back(s);
  }
  return out;
}

bool PeerLinkSummary::SystemLinkLive() const {
  for (const SocketSummary& s : SystemSockets()) {
    if (s.connected) return true;
  }
  return false;
}

std::vector<PeerLinkSummary> SummarizeLinks(const json::array& connections) {
  std::vector<PeerLinkSummary> out;
  for (const json::value& entry : connections) {
    const json::object* conn = entry.if_object();
    if (conn == nullptr) continue;
    PeerLinkSummary peer;
    peer.name = StringField(*conn, "name");
    peer.url = StringField(*conn, "url");
    const json::value* sockets = conn->if_contains("database_sockets");
    if (sockets != nullptr && sockets->is_array()) {
      for (const json::value& s : sockets->get_array()) {
        if (const json::object* o = s.if_object()) peer.sockets.push_back(ReadSocket(*o));
      }
    }
    out.push_back(std::move(peer));
  }
  return out;
}

}  // namespace meshdb::replication
