#include "server/peer_links.h"

#include <array>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <string_view>

#include "common/json_parse.h"

namespace meshdb::server {

namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 5> kProgressFields = {"records", "total", "phase", "rate",
                                                             "elapsed_ms"};

// A progress object reduced to kProgressFields' numbers and text; null for anything else.
json::value ProgressOf(const json::value* v) {
  if (v == nullptr || !v->is_object()) return nullptr;
  json::object out;
  for (std::string_view key : kProgressFields) {
    const json::value* field = v->get_object().if_contains(key);
    if (field != nullptr && (field->is_number() || field->is_string() || field->is_null())) {
      out[key] = *field;
    }
  }
  return out;
}

// Copies `key` of `from` into `to` when `keep` accepts its value.
template <typename Keep>
void CopyIf(const json::object& from, std::string_view key, json::object& to, Keep keep) {
  const json::value* v = from.if_contains(key);
  if (v != nullptr && keep(*v)) to[key] = *v;
}

json::object SummarizeSocket(const json::object& socket) {
  json::object out;
  auto is_string = [](const json::value& v) { return v.is_string(); };
  auto is_number = [](const json::value& v) { return v.is_number(); };
  CopyIf(socket, "database", out, is_string);
  CopyIf(socket, "state", out, is_string);
  CopyIf(socket, "connected", out, [](const json::value& v) { return v.is_bool(); });
  CopyIf(socket, "records_behind", out, is_number);
  CopyIf(socket, "ms_behind", out, is_number);
  for (const char* key : {"copy_progress", "merge_progress", "merge_send_progress"}) {
    out[key] = ProgressOf(socket.if_contains(key));
  }
  const json::value* dial_error = socket.if_contains("last_dial_error");
  out["last_dial_error"] =
      dial_error != nullptr && dial_error->is_string() ? *dial_error : json::value(nullptr);
  return out;
}

}  // namespace

json::array SummarizeLinks(const json::array& connections) {
  json::array links;
  for (const json::value& entry : connections) {
    if (!entry.is_object()) continue;
    const json::object& conn = entry.get_object();
    const json::value* name = conn.if_contains("name");
    if (name == nullptr || !name->is_string() || name->get_string().empty()) continue;
    json::array sockets;
    if (const json::value* list = conn.if_contains("database_sockets");
        list != nullptr && list->is_array()) {
      for (const json::value& socket : list->get_array()) {
        if (socket.is_object()) sockets.push_back(SummarizeSocket(socket.get_object()));
      }
    }
    links.push_back(json::object{{"name", *name}, {"database_sockets", std::move(sockets)}});
  }
  return links;
}

std::string LinkSummaryAnswer(const std::string& node_name, const json::array& connections) {
  return json::serialize(
      json::object{{"node_name", node_name}, {"links", SummarizeLinks(connections)}});
}

json::object PeerLinksEntry(const std::string& member, const Result<std::string>& answer) {
  auto unknown = [&member](const std::string& reason) {
    return json::object{{"node_name", member}, {"status", "unknown"}, {"reason", reason}};
  };
  if (!answer.ok()) return unknown(answer.status().message());
  boost::system::error_code ec;
  json::value parsed = ParseJson(*answer, ec);
  const json::value* links =
      !ec && parsed.is_object() ? parsed.get_object().if_contains("links") : nullptr;
  if (links == nullptr || !links->is_array()) return unknown("its answer is not a link summary");
  return json::object{
      {"node_name", member}, {"status", "ok"}, {"links", SummarizeLinks(links->get_array())}};
}

}  // namespace meshdb::server
