#include "cli/status_view.h"

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <string_view>
#include <utility>
#include <vector>

namespace meshdb::cli {

namespace json = boost::json;

namespace {

std::string Text(const json::object& o, std::string_view key, const char* fallback = "-") {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return fallback;
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_double()) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1f", v->get_double());
    return buf;
  }
  return json::serialize(*v);
}

// Columns padded to the widest cell.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

// "records/total" of a progress object ("?" for a total not known yet), "-" when none runs.
std::string ProgressText(const json::object& socket, std::string_view key) {
  const json::value* p = socket.if_contains(key);
  if (p == nullptr || !p->is_object()) return "-";
  return Text(p->get_object(), "records", "0") + "/" + Text(p->get_object(), "total", "?");
}

// The merge resyncs of a socket: "in <phase> records/total" for the peer's rows coming here
// (merge_progress), "out ..." for ours going there (merge_send_progress); "-" when none runs.
std::string MergeText(const json::object& socket) {
  std::string out;
  for (auto [key, way] :
       {std::pair{"merge_progress", "in "}, std::pair{"merge_send_progress", "out "}}) {
    const json::value* p = socket.if_contains(key);
    if (p == nullptr || !p->is_object()) continue;
    if (!out.empty()) out += ", ";
    out += way + Text(p->get_object(), "phase", "?") + " " + ProgressText(socket, key);
  }
  return out.empty() ? "-" : out;
}

}  // namespace

std::string FormatStatus(const json::value& status) {
  const json::object* s = status.if_object();
  if (s == nullptr) return "unexpected cluster_status answer: " + json::serialize(status) + "\n";
  const json::value* conns = s->if_contains("connections");
  const size_t peers = conns != nullptr && conns->is_array() ? conns->get_array().size() : 0;
  std::string out = "node " + Text(*s, "node_name") + " (" + Text(*s, "url") + "), " +
                    std::to_string(peers) + (peers == 1 ? " peer" : " peers") +
                    ", link errors: " + Text(*s, "link_errors", "0") + "\n";
  if (std::string last = Text(*s, "last_link_error", ""); !last.empty()) {
    out += "last link error: " + last + "\n";
  }
  if (peers == 0) return out + "no peers (add_node or replication.routes to add one)\n";
  std::vector<std::vector<std::string>> rows = {{"PEER", "DATABASE", "STATE", "CONNECTED", "BEHIND",
                                                 "LAG_MS", "LATENCY_MS", "COPY", "MERGE", "ERROR"}};
  for (const json::value& c : conns->get_array()) {
    const json::object* conn = c.if_object();
    if (conn == nullptr) continue;
    std::string peer = Text(*conn, "name", "");
    if (peer.empty()) peer = Text(*conn, "url");
    const json::value* sockets = conn->if_contains("database_sockets");
    if (sockets == nullptr || !sockets->is_array()) continue;
    for (const json::value& sv : sockets->get_array()) {
      const json::object* sock = sv.if_object();
      if (sock == nullptr) continue;
      std::string error = Text(*sock, "last_error", "");
      if (error.empty()) error = Text(*sock, "last_dial_error");
      rows.push_back({peer, Text(*sock, "database"), Text(*sock, "state"),
                      Text(*sock, "connected") == "true" ? "yes" : "no",
                      Text(*sock, "records_behind", "0"), Text(*sock, "ms_behind", "0"),
                      Text(*sock, "latency"), ProgressText(*sock, "copy_progress"),
                      MergeText(*sock), error});
    }
  }
  return out + Table(rows);
}

}  // namespace meshdb::cli
