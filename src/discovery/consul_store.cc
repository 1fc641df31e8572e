#include "discovery/consul_store.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <utility>

#include "common/json_parse.h"
#include "security/base64.h"

namespace meshdb::discovery {

namespace json = boost::json;

namespace {

// The decoded "Value" of each entry of a KV GET answer (Value is null for an empty value).
std::vector<std::string> ValuesOf(const std::string& body) {
  std::vector<std::string> values;
  boost::system::error_code ec;
  json::value parsed = ParseJson(body, ec);
  if (ec || !parsed.is_array()) return values;
  for (const json::value& entry : parsed.get_array()) {
    if (!entry.is_object()) continue;
    const json::value* value = entry.get_object().if_contains("Value");
    std::string decoded;
    if (value != nullptr && value->is_string() &&
        !security::Base64Decode(value->get_string(), &decoded)) {
      decoded.clear();
    }
    values.push_back(std::move(decoded));
  }
  return values;
}

bool IsTrue(const std::string& body) { return body.rfind("true", 0) == 0; }

}  // namespace

Result<std::unique_ptr<ConsulStore>> ConsulStore::Create(ConsulOptions options) {
  ASSIGN_OR_RETURN(HttpClient client, HttpClient::Create(options.tls));
  return std::unique_ptr<ConsulStore>(new ConsulStore(std::move(options), std::move(client)));
}

ConsulStore::ConsulStore(ConsulOptions options, HttpClient client)
    : options_(std::move(options)), client_(std::move(client)) {}

Result<HttpResponse> ConsulStore::Call(const std::string& method, std::string target,
                                       const std::string& body) {
  if (!options_.datacenter.empty()) {
    target += (target.find('?') == std::string::npos ? "?dc=" : "&dc=") + options_.datacenter;
  }
  HttpRequest request;
  request.method = method;
  request.target = std::move(target);
  request.body = body;
  if (!options_.token.empty()) request.headers.emplace_back("X-Consul-Token", options_.token);
  ASSIGN_OR_RETURN(HttpResponse response,
                   client_.Send(options_.base_url, request, options_.timeout));
  std::string what = "consul at " + options_.base_url + " answered " +
                     std::to_string(response.status) + " to " + method + " " +
                     request.target.substr(0, request.target.find('?'));
  if (!response.body.empty() && response.body.size() < 200 && response.status != 200) {
    what += ": " + response.body;
  }
  if (response.status == 403 || response.status == 401) return Status::PermissionDenied(what);
  if (response.status >= 500) {
    if (response.body.find("invalid session") != std::string::npos) {
      session_id_.clear();
      return Status::NotFound(what);
    }
    return Status::Unavailable(what);
  }
  if (response.status >= 400 && response.status != 404) return Status::InvalidArgument(what);
  return response;
}

Status ConsulStore::OpenSession(std::chrono::seconds ttl) {
  json::object request{{"Name", options_.session_name},
                       {"TTL", std::to_string(ttl.count()) + "s"},
                       {"Behavior", "delete"},
                       {"LockDelay", "1s"},
                       {"NodeChecks", json::array()}};
  ASSIGN_OR_RETURN(HttpResponse response,
                   Call("PUT", "/v1/session/create", json::serialize(request)));
  boost::system::error_code ec;
  json::value parsed = ParseJson(response.body, ec);
  const json::value* id =
      !ec && parsed.is_object() ? parsed.get_object().if_contains("ID") : nullptr;
  if (response.status != 200 || id == nullptr || !id->is_string() || id->get_string().empty()) {
    return Status::Unavailable("consul at " + options_.base_url + " created no session");
  }
  session_id_ = std::string(id->get_string());
  return Status::Ok();
}

Status ConsulStore::KeepAlive() {
  if (session_id_.empty()) return Status::NotFound("no session");
  ASSIGN_OR_RETURN(HttpResponse response, Call("PUT", "/v1/session/renew/" + session_id_));
  if (response.status == 404) {
    session_id_.clear();
    return Status::NotFound("consul session expired");
  }
  return Status::Ok();
}

Result<bool> ConsulStore::Acquire(const std::string& key, const std::string& value) {
  if (session_id_.empty()) return Status::NotFound("no session");
  ASSIGN_OR_RETURN(HttpResponse response,
                   Call("PUT", "/v1/kv/" + key + "?acquire=" + session_id_, value));
  if (response.status == 404) return Status::InvalidArgument("consul refused key '" + key + "'");
  return IsTrue(response.body);
}

Status ConsulStore::PutBound(const std::string& key, const std::string& value) {
  ASSIGN_OR_RETURN(bool held, Acquire(key, value));
  if (!held) return Status::Conflict("'" + key + "' is held by another consul session");
  return Status::Ok();
}

Result<SeedClaim> ConsulStore::ClaimOrRead(const std::string& key, const std::string& value) {
  ASSIGN_OR_RETURN(bool held, Acquire(key, value));
  if (held) return SeedClaim{true, value};
  ASSIGN_OR_RETURN(HttpResponse response, Call("GET", "/v1/kv/" + key));
  std::vector<std::string> values = ValuesOf(response.body);
  // Missing (404): the holder's session ended between the two calls, or the key is in its
  // lock-delay after one did; the next round claims it.
  if (response.status == 404 || values.empty()) {
    return Status::Conflict("'" + key + "' has no holder yet");
  }
  return SeedClaim{false, values.front()};
}

Result<std::vector<std::string>> ConsulStore::List(const std::string& prefix) {
  ASSIGN_OR_RETURN(HttpResponse response, Call("GET", "/v1/kv/" + prefix + "?recurse"));
  if (response.status == 404) return std::vector<std::string>{};
  return ValuesOf(response.body);
}

void ConsulStore::CloseSession() {
  if (session_id_.empty()) return;
  (void)Call("PUT", "/v1/session/destroy/" + session_id_);
  session_id_.clear();
}

}  // namespace meshdb::discovery
