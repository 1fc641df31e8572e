#include "server/peer_calls.h"

#include <boost/json/serialize.hpp>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/json_parse.h"
#include "common/thread_annotations.h"
#include "ops/node_operations.h"
#include "replication/cluster/cluster_manager.h"
#include "replication/engine/link_summary.h"
#include "replication/engine/replication_service.h"
#include "replication/wire/message.h"
#include "server/peer_links.h"

namespace meshdb::server {

namespace json = boost::json;
using replication::PeerCallResult;

namespace {

// Bounds the wait of a renewal beyond the call's own deadline (a stopping service).
constexpr auto kRenewalWait = std::chrono::seconds(30);

// What a member answered to a fanned-out operation, as an entry of "replicated".
json::object FanOutEntry(const std::string& node, const Result<std::string>& answer) {
  json::object entry;
  if (answer.ok()) {
    boost::system::error_code ec;
    json::value parsed = ParseJson(*answer, ec);
    if (!ec && parsed.is_object()) entry = std::move(parsed.get_object());
    if (ec) entry = json::object{{"status", "failed"}, {"reason", "a bad answer"}};
  } else {
    entry = json::object{{"status", "failed"}, {"reason", answer.status().message()}};
  }
  entry["node"] = node;
  return entry;
}

// Gathers one answer per member; the last one calls done.
struct CallGather {
  common::Mutex mu;
  std::map<std::string, json::object> entries GUARDED_BY(mu);
  size_t remaining GUARDED_BY(mu) = 0;
  std::function<void(json::array)> done;

  void Add(const std::string& node, json::object entry) {
    json::array out;
    {
      common::MutexLock lock(mu);
      entries[node] = std::move(entry);
      if (--remaining != 0) return;
      for (auto& [name, e] : entries) out.emplace_back(std::move(e));
    }
    done(std::move(out));
  }
};

// Calls `method` of each of `nodes` with `payload` (each within `timeout`); `done` gets
// entry(node, answer) of each, in name order, once the last one is in (at once when none).
void CallEach(replication::ReplicationService* service, const std::vector<std::string>& nodes,
              const char* method, const std::string& payload, std::chrono::milliseconds timeout,
              json::object (*entry)(const std::string&, const Result<std::string>&),
              std::function<void(json::array)> done) {
  if (nodes.empty()) return done(json::array{});
  auto gather = std::make_shared<CallGather>();
  gather->done = std::move(done);
  {
    common::MutexLock lock(gather->mu);
    gather->remaining = nodes.size();
  }
  for (const std::string& node : nodes) {
    service->CallPeer(node, method, payload, timeout,
                      [gather, node, entry](Result<std::string> answer) {
                        gather->Add(node, entry(node, answer));
                      });
  }
}

}  // namespace

void AnswerPeerCall(replication::ClusterManager* cluster, ops::NodeOperations* operations,
                    replication::ReplicationService* service, const replication::PeerCaller& caller,
                    const replication::PeerCall& call, std::function<void(PeerCallResult)> reply) {
  const uint64_t id = call.request_id;
  if (call.method == kRenewCertificateCall) {
    Result<std::string> signed_cert = cluster->SignRenewal(caller, call.payload);
    reply(signed_cert.ok() ? PeerCallResult{id, "", std::move(signed_cert).value()}
                           : PeerCallResult{id, signed_cert.status().message(), ""});
    return;
  }
  if (call.method == kOperationCall) {
    boost::system::error_code ec;
    json::value body = ParseJson(call.payload, ec);
    if (ec || !body.is_object()) {
      reply(PeerCallResult{id, "the operation is not a JSON object", ""});
      return;
    }
    operations->ExecuteFannedOut(std::move(body.get_object()),
                                 [id, reply = std::move(reply)](ops::OpResult result) {
                                   if (result.status.ok()) {
                                     reply(PeerCallResult{id, "", json::serialize(result.body)});
                                   } else {
                                     reply(PeerCallResult{id, result.status.message(), ""});
                                   }
                                 });
    return;
  }
  if (call.method == replication::kOwnRowVersionCall) {
    Result<uint64_t> version = cluster->OwnRowVersion();
    reply(version.ok() ? PeerCallResult{id, "", std::to_string(*version)}
                       : PeerCallResult{id, version.status().message(), ""});
    return;
  }
  if (call.method == kLinkSummaryCall) {
    reply(PeerCallResult{id, "",
                         LinkSummaryAnswer(cluster->node_name(), service->ConnectionsStatus())});
    return;
  }
  reply(PeerCallResult{id, "unknown call '" + call.method + "'", ""});
}

void FanOutOperation(replication::ClusterManager* cluster, replication::ReplicationService* service,
                     json::object request, std::function<void(json::array)> done) {
  cluster->Members([service, payload = json::serialize(request),
                    done = std::move(done)](std::vector<std::string> members) mutable {
    CallEach(service, members, kOperationCall, payload, replication::kPeerCallTimeout, FanOutEntry,
             std::move(done));
  });
}

void GatherPeerLinks(replication::ReplicationService* service,
                     std::function<void(json::array)> done) {
  std::set<std::string> peers;
  for (replication::PeerLinkSummary& peer :
       replication::SummarizeLinks(service->ConnectionsStatus())) {
    if (!peer.name.empty()) peers.insert(std::move(peer.name));
  }
  CallEach(service, std::vector<std::string>(peers.begin(), peers.end()), kLinkSummaryCall, "",
           kPeerLinksTimeout, PeerLinksEntry, std::move(done));
}

Result<RemoteRenewal> RenewThroughIssuer(replication::ClusterManager* cluster,
                                         replication::ReplicationService* service,
                                         const std::string& csr_pem,
                                         const std::string& issuer_ca_pem) {
  const std::string signer = cluster->MemberHoldingCa(issuer_ca_pem);
  if (signer.empty()) {
    return Status::Unavailable("no member holds the CA that issued it (its node was removed?)");
  }
  auto promise = std::make_shared<std::promise<Result<std::string>>>();
  std::future<Result<std::string>> answer = promise->get_future();
  service->CallPeer(signer, kRenewCertificateCall, csr_pem, replication::kPeerCallTimeout,
                    [promise](Result<std::string> r) { promise->set_value(std::move(r)); });
  if (answer.wait_for(kRenewalWait) != std::future_status::ready) {
    return Status::Unavailable("'" + signer + "' did not answer");
  }
  ASSIGN_OR_RETURN(std::string certificate, answer.get());
  return RemoteRenewal{signer, std::move(certificate)};
}

}  // namespace meshdb::server
