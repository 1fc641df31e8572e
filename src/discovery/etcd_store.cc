#include "discovery/etcd_store.h"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <utility>

#include "common/json_parse.h"
#include "security/base64.h"

namespace meshdb::discovery {

namespace json = boost::json;

namespace {

std::string EtcdKey(const std::string& key) { return security::Base64Encode("/" + key); }

// The first key after every key starting with `prefix` (etcd's range_end for a prefix).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last < 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::string StringField(const json::object& object, const char* name) {
  const json::value* v = object.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

// A kv's value, decoded; "" when absent or not base64.
std::string ValueOf(const json::object& kv) {
  std::string value;
  if (!security::Base64Decode(StringField(kv, "value"), &value)) value.clear();
  return value;
}

}  // namespace

Result<std::unique_ptr<EtcdStore>> EtcdStore::Create(EtcdOptions options) {
  if (options.endpoints.empty()) return Status::InvalidArgument("etcd needs at least one endpoint");
  ASSIGN_OR_RETURN(HttpClient client, HttpClient::Create(options.tls));
  return std::unique_ptr<EtcdStore>(new EtcdStore(std::move(options), std::move(client)));
}

EtcdStore::EtcdStore(EtcdOptions options, HttpClient client)
    : options_(std::move(options)), client_(std::move(client)) {}

std::string EtcdStore::Endpoint() const { return options_.endpoints[current_]; }

Status EtcdStore::Authenticate(const std::string& endpoint) {
  HttpRequest request;
  request.method = "POST";
  request.target = "/v3/auth/authenticate";
  request.body =
      json::serialize(json::object{{"name", options_.username}, {"password", options_.password}});
  ASSIGN_OR_RETURN(HttpResponse response, client_.Send(endpoint, request, options_.timeout));
  boost::system::error_code ec;
  json::value body = ParseJson(response.body, ec);
  if (response.status == 200 && !ec && body.is_object()) {
    token_ = StringField(body.get_object(), "token");
    if (!token_.empty()) return Status::Ok();
  }
  if (response.status >= 500) {
    return Status::Unavailable("etcd at " + endpoint + " answered " +
                               std::to_string(response.status) + " to authenticate");
  }
  return Status::PermissionDenied("etcd at " + endpoint + " refused user '" + options_.username +
                                  "'");
}

Result<json::object> EtcdStore::CallOnce(const std::string& endpoint, const std::string& path,
                                         const json::object& body) {
  if (!options_.username.empty() && token_.empty()) RETURN_IF_ERROR(Authenticate(endpoint));
  HttpRequest request;
  request.method = "POST";
  request.target = path;
  request.body = json::serialize(body);
  if (!token_.empty()) request.headers.emplace_back("Authorization", token_);
  ASSIGN_OR_RETURN(HttpResponse response, client_.Send(endpoint, request, options_.timeout));
  boost::system::error_code ec;
  json::value parsed = ParseJson(response.body, ec);
  json::object reply = !ec && parsed.is_object() ? parsed.get_object() : json::object();
  if (response.status == 200) {
    if (ec || !parsed.is_object()) {
      return Status::Unavailable("etcd at " + endpoint + " sent a reply that is not JSON");
    }
    // Streaming endpoints (keepalive) wrap each message as {"result": {...}}.
    if (const json::value* result = reply.if_contains("result"); result && result->is_object()) {
      return result->get_object();
    }
    return reply;
  }
  const json::value* code_value = reply.if_contains("code");
  int64_t code = code_value != nullptr && code_value->is_int64() ? code_value->get_int64() : -1;
  std::string message = StringField(reply, "message");
  if (message.empty()) message = "HTTP " + std::to_string(response.status);
  std::string what = "etcd at " + endpoint + ": " + message;
  if (code == 5) return Status::NotFound(what);
  if (code == 7 || code == 16 || response.status == 401 || response.status == 403) {
    return Status::PermissionDenied(what);
  }
  if (response.status >= 500 || code == 14 || code == 4) return Status::Unavailable(what);
  return Status::InvalidArgument(what);
}

Result<json::object> EtcdStore::Call(const std::string& path, const json::object& body) {
  Status last;
  for (size_t tried = 0; tried < options_.endpoints.size(); ++tried) {
    const std::string& endpoint = options_.endpoints[current_];
    Result<json::object> reply = CallOnce(endpoint, path, body);
    if (!reply.ok() && reply.status().IsPermissionDenied() && !options_.username.empty() &&
        !token_.empty()) {
      token_.clear();  // an expired token: authenticate once more
      reply = CallOnce(endpoint, path, body);
    }
    if (reply.ok() || reply.status().code() != Status::Code::kUnavailable) return reply;
    last = reply.status();
    current_ = (current_ + 1) % options_.endpoints.size();
    token_.clear();  // tokens are per member
  }
  return last;
}

Status EtcdStore::OpenSession(std::chrono::seconds ttl) {
  ASSIGN_OR_RETURN(json::object reply, Call("/v3/lease/grant", json::object{{"TTL", ttl.count()}}));
  std::string id = StringField(reply, "ID");
  if (id.empty()) return Status::Unavailable("etcd granted a lease without an ID");
  lease_id_ = std::move(id);
  return Status::Ok();
}

Status EtcdStore::KeepAlive() {
  if (lease_id_.empty()) return Status::NotFound("no lease");
  ASSIGN_OR_RETURN(json::object reply,
                   Call("/v3/lease/keepalive", json::object{{"ID", lease_id_}}));
  // A lease that expired or was revoked still answers 200, without a TTL.
  std::string ttl = StringField(reply, "TTL");
  if (ttl.empty() || ttl == "0") {
    lease_id_.clear();
    return Status::NotFound("etcd lease expired");
  }
  return Status::Ok();
}

Status EtcdStore::PutBound(const std::string& key, const std::string& value) {
  if (lease_id_.empty()) return Status::NotFound("no lease");
  Result<json::object> reply =
      Call("/v3/kv/put", json::object{{"key", EtcdKey(key)},
                                      {"value", security::Base64Encode(value)},
                                      {"lease", lease_id_}});
  if (reply.status().IsNotFound()) lease_id_.clear();
  return reply.status();
}

Result<SeedClaim> EtcdStore::ClaimOrRead(const std::string& key, const std::string& value) {
  if (lease_id_.empty()) return Status::NotFound("no lease");
  std::string etcd_key = EtcdKey(key);
  json::object txn{
      {"compare", json::array{json::object{{"target", "CREATE"},
                                           {"result", "EQUAL"},
                                           {"key", etcd_key},
                                           {"create_revision", "0"}}}},
      {"success", json::array{json::object{
                      {"request_put", json::object{{"key", etcd_key},
                                                   {"value", security::Base64Encode(value)},
                                                   {"lease", lease_id_}}}}}},
      {"failure", json::array{json::object{{"request_range", json::object{{"key", etcd_key}}}}}}};
  Result<json::object> reply = Call("/v3/kv/txn", txn);
  if (reply.status().IsNotFound()) lease_id_.clear();
  if (!reply.ok()) return reply.status();
  // A failed transaction has no "succeeded" field at all.
  if (const json::value* ok = reply->if_contains("succeeded");
      ok && ok->is_bool() && ok->get_bool()) {
    return SeedClaim{true, value};
  }
  const json::value* responses = reply->if_contains("responses");
  if (responses != nullptr && responses->is_array() && !responses->get_array().empty()) {
    const json::value& first = responses->get_array().front();
    const json::value* range =
        first.is_object() ? first.get_object().if_contains("response_range") : nullptr;
    const json::value* kvs =
        range != nullptr && range->is_object() ? range->get_object().if_contains("kvs") : nullptr;
    if (kvs != nullptr && kvs->is_array() && !kvs->get_array().empty() &&
        kvs->get_array().front().is_object()) {
      const json::object& kv = kvs->get_array().front().get_object();
      return SeedClaim{StringField(kv, "lease") == lease_id_, ValueOf(kv)};
    }
  }
  return Status::Conflict("'" + key + "' vanished while it was claimed");
}

Result<std::vector<std::string>> EtcdStore::List(const std::string& prefix) {
  std::string begin = "/" + prefix;
  ASSIGN_OR_RETURN(
      json::object reply,
      Call("/v3/kv/range", json::object{{"key", security::Base64Encode(begin)},
                                        {"range_end", security::Base64Encode(PrefixEnd(begin))}}));
  std::vector<std::string> values;
  if (const json::value* kvs = reply.if_contains("kvs"); kvs && kvs->is_array()) {
    for (const json::value& kv : kvs->get_array()) {
      if (kv.is_object()) values.push_back(ValueOf(kv.get_object()));
    }
  }
  return values;
}

void EtcdStore::CloseSession() {
  if (lease_id_.empty()) return;
  (void)Call("/v3/lease/revoke", json::object{{"ID", lease_id_}});
  lease_id_.clear();
}

}  // namespace meshdb::discovery
