#include "replication/cluster/cluster_ops.h"

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "common/host_limits.h"
#include "ops/node_operations.h"
#include "ops/op_context.h"
#include "replication/cluster/cluster_peers.h"
#include "replication/cluster/cluster_routes.h"

namespace meshdb::replication {

namespace json = boost::json;

namespace {

const json::value* Field(const json::object& body, const char* name) {
  const json::value* v = body.if_contains(name);
  return v == nullptr || v->is_null() ? nullptr : v;
}

std::string StringOr(const json::object& body, const char* name) {
  const json::value* v = Field(body, name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

void ReplyWithMessage(const ops::OpCall& call, Result<std::string> result) {
  if (result.ok()) {
    call.ReplyMessage(*result);
  } else {
    call.Fail(result.status());
  }
}

void HandleAddNode(ClusterManager* manager, ops::OpCall call, bool update) {
  Result<AddNodeRequest> request = ParseAddNodeRequest(call.body);
  if (!request.ok()) return call.Fail(request.status());
  auto shared = std::make_shared<ops::OpCall>(std::move(call));
  manager->AddNode(std::move(request).value(), update,
                   [shared](Result<std::string> r) { ReplyWithMessage(*shared, std::move(r)); });
}

void HandleRemoveNode(ClusterManager* manager, ops::OpCall call) {
  Result<std::string> target = ParseRemoveNodeTarget(call.body);
  if (!target.ok()) return call.Fail(target.status());
  auto shared = std::make_shared<ops::OpCall>(std::move(call));
  manager->RemoveNode(std::move(target).value(),
                      [shared](Result<std::string> r) { ReplyWithMessage(*shared, std::move(r)); });
}

void HandleConfigureCluster(ClusterManager* manager, ops::OpCall call) {
  const json::value* connections = Field(call.body, "connections");
  if (connections == nullptr)
    return call.Fail(Status::InvalidArgument("'connections' is required"));
  if (!connections->is_array()) {
    return call.Fail(Status::InvalidArgument("'connections' must be an array"));
  }
  std::vector<AddNodeRequest> requests;
  const json::array& items = connections->get_array();
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_object()) {
      return call.Fail(Status::InvalidArgument("'connections[" + std::to_string(i) +
                                               "]' must be of type object"));
    }
    Result<AddNodeRequest> request = ParseAddNodeRequest(items[i].get_object());
    if (!request.ok()) {
      return call.Fail(Status::InvalidArgument("'connections[" + std::to_string(i) +
                                               "]': " + request.status().message()));
    }
    requests.push_back(std::move(request).value());
  }
  auto shared = std::make_shared<ops::OpCall>(std::move(call));
  manager->ConfigureCluster(std::move(requests), [shared](Result<json::value> r) {
    if (r.ok()) {
      shared->Reply(std::move(r).value());
    } else {
      shared->Fail(r.status());
    }
  });
}

void HandleRoutes(ClusterManager* manager, ops::OpCall call, bool add) {
  if (add) {
    if (const json::value* server = Field(call.body, "server")) {
      if (!server->is_string() ||
          (server->get_string() != "hub" && server->get_string() != "leaf")) {
        return call.Fail(Status::InvalidArgument("'server' must be one of [hub, leaf]"));
      }
    }
  }
  if (Status s = ValidateRoutesField(call.body); !s.ok()) return call.Fail(s);
  json::array routes = call.body.at("routes").get_array();
  auto shared = std::make_shared<ops::OpCall>(std::move(call));
  auto done = [shared, add](Result<RouteChange> r) {
    if (!r.ok()) return shared->Fail(r.status());
    json::object body;
    body["message"] =
        add ? "cluster routes successfully set" : "cluster routes successfully deleted";
    body[add ? "set" : "deleted"] = std::move(r->changed);
    body["skipped"] = std::move(r->skipped);
    shared->Reply(std::move(body));
  };
  if (add) {
    manager->SetRoutes(std::move(routes), std::move(done));
  } else {
    manager->DeleteRoutes(std::move(routes), std::move(done));
  }
}

}  // namespace

Result<AddNodeRequest> ParseAddNodeRequest(const json::object& body) {
  std::string type_errors;
  auto type_error = [&](const char* name, const char* type) {
    if (!type_errors.empty()) type_errors += ". ";
    type_errors += std::string("'") + name + "' must be " + type;
  };
  const char* hostname_field = Field(body, "hostname") != nullptr ? "hostname" : "node_name";
  const json::value* hostname = Field(body, hostname_field);
  if (hostname != nullptr && !hostname->is_string()) type_error("hostname", "a string");
  if (const json::value* v = Field(body, "verify_tls"); v && !v->is_bool()) {
    type_error("verify_tls", "a boolean");
  }
  if (const json::value* v = Field(body, "replicates"); v && !v->is_bool()) {
    type_error("replicates", "a boolean");
  }
  if (const json::value* v = Field(body, "subscriptions"); v && !v->is_array()) {
    type_error("subscriptions", "an array");
  }
  if (const json::value* v = Field(body, "revoked_certificates"); v && !v->is_array()) {
    type_error("revoked_certificates", "an array");
  }
  if (const json::value* v = Field(body, "shard"); v && !v->is_number()) {
    type_error("shard", "a number");
  }
  if (!type_errors.empty()) return Status::InvalidArgument(type_errors);

  AddNodeRequest request;
  if (hostname != nullptr) {
    if (hostname->get_string().size() > kMaxHostNameLength) {
      return Status::InvalidArgument(TooLongMessage(hostname_field, kMaxHostNameLength));
    }
    request.name = std::string(hostname->get_string());
  }
  if (const json::value* url = Field(body, "url")) {
    const Status not_a_url = Status::InvalidArgument("'url' must be a ws:// or wss:// URL");
    if (!url->is_string()) return not_a_url;
    RETURN_IF_ERROR(CheckUrlLength(url->get_string(), "url"));
    Result<Route> parsed = ParseUrl(url->get_string());
    if (!parsed.ok()) return not_a_url;
    request.url = std::string(url->get_string());
    if (request.name.empty()) request.name = parsed->host;
  }
  if (request.name.empty()) return Status::InvalidArgument("'hostname' or 'url' is required");
  if (const json::value* auth = Field(body, "authorization")) {
    ASSIGN_OR_RETURN(request.authorization, AuthorizationHeader(*auth));
  }
  if (const json::value* v = Field(body, "retain_authorization")) {
    if (!v->is_bool()) return Status::InvalidArgument("'retain_authorization' must be a boolean");
    request.retain_authorization = v->get_bool();
  }
  if (const json::value* v = Field(body, "subscriptions")) request.subscriptions = *v;
  if (const json::value* v = Field(body, "start_time")) {
    RETURN_IF_ERROR(ParseStartTime(*v).status());
    request.start_time = *v;
  }
  if (const json::value* v = Field(body, "shard")) request.shard = *v;
  if (const json::value* v = Field(body, "verify_tls")) request.verify_tls = v->get_bool();
  return request;
}

Result<std::string> ParseRemoveNodeTarget(const json::object& body) {
  for (const char* name : {"hostname", "node_name", "name", "url"}) {
    std::string value = StringOr(body, name);
    if (value.empty()) continue;
    size_t limit = std::string_view(name) == "url" ? kMaxUrlLength : kMaxHostNameLength;
    if (value.size() > limit) return Status::InvalidArgument(TooLongMessage(name, limit));
    return value;
  }
  return Status::InvalidArgument("'hostname' is required");
}

Result<bool> ParsePeerLinksFlag(const json::object& body) {
  const json::value* v = Field(body, "peer_links");
  if (v == nullptr) return false;
  if (!v->is_bool()) return Status::InvalidArgument("'peer_links' must be a boolean");
  return v->get_bool();
}

namespace {

// cluster_status: this node's status, with the members' own links when asked for. The
// members are asked first, so this node's part is as fresh as the answer.
void HandleClusterStatus(ClusterManager* manager, const PeerLinksGatherer& peer_links,
                         ops::OpCall call) {
  Result<bool> with_peer_links = ParsePeerLinksFlag(call.body);
  if (!with_peer_links.ok()) return call.Fail(with_peer_links.status());
  auto shared = std::make_shared<ops::OpCall>(std::move(call));
  if (!*with_peer_links) {
    manager->GetStatus([shared](json::object status) { shared->Reply(std::move(status)); });
    return;
  }
  auto with_links = [manager, shared](json::array links) {
    manager->GetStatus([shared, links = std::move(links)](json::object status) mutable {
      status["peer_links"] = std::move(links);
      shared->Reply(std::move(status));
    });
  };
  if (!peer_links) return with_links(json::array{});
  peer_links(std::move(with_links));
}

}  // namespace

void RegisterClusterOperations(ops::NodeOperations* ops, ClusterManager* m,
                               PeerLinksGatherer peer_links) {
  ops->RegisterOperation(
      "add_node", [m](ops::OpCall call) { HandleAddNode(m, std::move(call), false); }, "addNode");
  ops->RegisterOperation(
      "set_node", [m](ops::OpCall call) { HandleAddNode(m, std::move(call), false); }, "addNode");
  ops->RegisterOperation(
      "update_node", [m](ops::OpCall call) { HandleAddNode(m, std::move(call), true); },
      "updateNode");
  ops->RegisterOperation(
      "set_node_replication", [m](ops::OpCall call) { HandleAddNode(m, std::move(call), false); },
      "updateNode");
  ops->RegisterOperation(
      "remove_node", [m](ops::OpCall call) { HandleRemoveNode(m, std::move(call)); }, "removeNode");
  ops->RegisterOperation(
      "configure_cluster", [m](ops::OpCall call) { HandleConfigureCluster(m, std::move(call)); },
      "configureCluster");
  ops->RegisterOperation(
      "cluster_status",
      [m, peer_links = std::move(peer_links)](ops::OpCall call) {
        HandleClusterStatus(m, peer_links, std::move(call));
      },
      "clusterStatus");
  ops->RegisterOperation(
      "cluster_set_routes", [m](ops::OpCall call) { HandleRoutes(m, std::move(call), true); },
      "setRoutes");
  ops->RegisterOperation(
      "cluster_delete_routes", [m](ops::OpCall call) { HandleRoutes(m, std::move(call), false); },
      "deleteRoutes");
  ops->RegisterOperation(
      "cluster_get_routes",
      [m](ops::OpCall call) {
        auto shared = std::make_shared<ops::OpCall>(std::move(call));
        m->GetRoutes([shared](json::array routes) { shared->Reply(std::move(routes)); });
      },
      "getRoutes");
  // The legacy (NATS) clustering operation: in replication mode HarperDB 4.7 answers this.
  ops->RegisterOperation(
      "cluster_network",
      [](ops::OpCall call) {
        call.Fail(Status::InvalidArgument("Clustering must be enabled to perform this operation."));
      },
      "clusterNetwork");
}

}  // namespace meshdb::replication
