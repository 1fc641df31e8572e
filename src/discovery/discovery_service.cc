#include "discovery/discovery_service.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <mutex>
#include <random>
#include <utility>

#include "common/log.h"

namespace meshdb::discovery {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kMaxBackoff{30000};

std::string Field(const json::object& object, const char* name) {
  const json::value* v = object.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

}  // namespace

std::string NodeRecord::ToJson() const {
  json::object out{{"name", name}, {"url", url}, {"operations_url", operations_url}};
  if (!ca.empty()) out["ca"] = ca;
  return json::serialize(out);
}

Result<NodeRecord> NodeRecord::FromJson(const std::string& text) {
  boost::system::error_code ec;
  json::value parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) return Status::InvalidArgument("not a JSON object");
  const json::object& object = parsed.get_object();
  NodeRecord record{Field(object, "name"), Field(object, "url"), Field(object, "operations_url"),
                    Field(object, "ca")};
  if (record.name.empty() || record.url.empty()) {
    return Status::InvalidArgument("no 'name' or 'url'");
  }
  return record;
}

std::string NodeKeyId(const std::string& node_name) {
  std::string id;
  id.reserve(node_name.size());
  for (char c : node_name) {
    char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    bool keep = (lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9') || lower == '_' ||
                lower == '-';
    id.push_back(keep ? lower : '-');
  }
  return id;
}

DiscoveryService::DiscoveryService(DiscoveryServiceOptions options)
    : options_(std::move(options)), log_(log::For("discovery")) {
  common::MutexLock lock(mu_);
  endpoint_ = options_.store->Endpoint();
}

DiscoveryService::~DiscoveryService() { Stop(false); }

void DiscoveryService::Start() {
  if (thread_.joinable()) return;
  log_->info("{} at {}, key '{}', ttl {} s, refresh {} ms", options_.mode,
             options_.store->Endpoint(), options_.key, options_.ttl.count(),
             options_.refresh.count());
  thread_ = std::thread([this] { Run(); });
}

void DiscoveryService::Stop(bool leave) {
  {
    common::MutexLock lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (!thread_.joinable()) return;
  thread_.join();
  if (leave) {
    options_.store->CloseSession();
    log_->info("left {} (lease ended, keys removed)", options_.store->Endpoint());
  }
}

json::object DiscoveryService::Status() const {
  common::MutexLock lock(mu_);
  json::object out;
  out["mode"] = options_.mode;
  out["key"] = options_.key;
  out["endpoint"] = endpoint_;
  out["registered"] = registered_;
  out["is_seed"] = seed_.has_value() && *seed_ == options_.self.name;
  out["seed"] = seed_ ? json::value(*seed_) : json::value(nullptr);
  out["last_error"] = last_error_ ? json::value(*last_error_) : json::value(nullptr);
  out["ttl_s"] = options_.ttl.count();
  out["refresh_ms"] = options_.refresh.count();
  return out;
}

milliseconds DiscoveryService::NextDelay(int failures) const {
  if (failures == 0) return options_.refresh;
  milliseconds base = std::min<milliseconds>(options_.refresh, milliseconds(1000));
  milliseconds delay =
      std::min<milliseconds>(kMaxBackoff, base * (int64_t{1} << std::min(failures - 1, 15)));
  // Jitter: 75-125 %, so nodes that lost the store together do not return together.
  thread_local std::mt19937 random{std::random_device{}()};
  std::uniform_int_distribution<int64_t> spread(delay.count() * 3 / 4, delay.count() * 5 / 4);
  return milliseconds(spread(random));
}

void DiscoveryService::Run() {
  int failures = 0;
  while (true) {
    meshdb::Status outcome = Round();
    Record(outcome);
    failures = outcome.ok() ? 0 : failures + 1;
    common::MutexLock lock(mu_);
    if (wake_.wait_for(lock, NextDelay(failures), [&]() REQUIRES(mu_) { return stopping_; })) {
      return;
    }
  }
}

meshdb::Status DiscoveryService::EnsureSession() {
  bool open = false;
  {
    common::MutexLock lock(mu_);
    open = session_open_;
  }
  if (open) {
    meshdb::Status alive = options_.store->KeepAlive();
    if (!alive.IsNotFound()) return alive;
    log_->warn("{}; opening a new one", alive.message());
  }
  {
    common::MutexLock lock(mu_);
    session_open_ = false;
    registered_ = false;
  }
  RETURN_IF_ERROR(options_.store->OpenSession(options_.ttl));
  common::MutexLock lock(mu_);
  session_open_ = true;
  return meshdb::Status::Ok();
}

meshdb::Status DiscoveryService::Round() {
  RETURN_IF_ERROR(EnsureSession());
  NodeRecord self = options_.self;
  if (options_.current_ca) self.ca = options_.current_ca();
  const std::string record = self.ToJson();
  bool registered = false;
  {
    common::MutexLock lock(mu_);
    registered = registered_;
  }
  if (!registered || record != registered_record_) {
    RETURN_IF_ERROR(
        options_.store->PutBound(options_.key + "/nodes/" + NodeKeyId(options_.self.name), record));
    if (!registered) {
      log_->info("registered as {}/nodes/{}", options_.key, NodeKeyId(options_.self.name));
    }
    registered_record_ = record;
    common::MutexLock lock(mu_);
    registered_ = true;
  }
  const std::string seed_key = options_.key + "/seed";
  ASSIGN_OR_RETURN(SeedClaim claim, options_.store->ClaimOrRead(seed_key, record));
  // Held from an earlier round with an older record (a join has signed a new certificate
  // since): the seed's value must say what verifies this node now.
  if (claim.won && claim.holder_value != record) {
    RETURN_IF_ERROR(options_.store->PutBound(seed_key, record));
    claim.holder_value = record;
  }
  Result<NodeRecord> seed = NodeRecord::FromJson(claim.holder_value);
  if (!seed.ok()) {
    return meshdb::Status::Unavailable("the seed key holds no node record: " +
                                       seed.status().message());
  }
  {
    common::MutexLock lock(mu_);
    if (seed_ != seed->name) {
      log_->info("the seed is {}{}", seed->name, claim.won ? " (this node)" : "");
    }
    seed_ = seed->name;
  }
  if (claim.won || seed->name == options_.self.name || options_.is_member(seed->name)) {
    return meshdb::Status::Ok();
  }
  log_->info("joining the seed {} at {}", seed->name, seed->url);
  meshdb::Status joined = JoinKeepingSessionAlive(*seed);
  if (!joined.ok()) return joined.WithPrefix("joining the seed " + seed->name);
  // Renewed now too, not a refresh interval after the keeper's last renewal.
  return EnsureSession();
}

meshdb::Status DiscoveryService::JoinKeepingSessionAlive(const NodeRecord& seed) {
  std::mutex done_mu;
  std::condition_variable done_changed;
  bool done = false;
  const milliseconds interval = std::max<milliseconds>(
      std::chrono::duration_cast<milliseconds>(options_.ttl) / 3, milliseconds(1));
  // The store is used by one thread at a time: this one leaves it to the keeper until the
  // keeper has ended.
  std::thread keeper([&] {
    std::unique_lock lock(done_mu);
    while (!done_changed.wait_for(lock, interval, [&] { return done; })) {
      lock.unlock();
      meshdb::Status alive = options_.store->KeepAlive();
      lock.lock();
      // Gone: the EnsureSession after the join opens a new one. Unavailable: try again.
      if (alive.IsNotFound()) return;
    }
  });
  meshdb::Status joined = options_.join(seed);
  {
    std::lock_guard lock(done_mu);
    done = true;
  }
  done_changed.notify_all();
  keeper.join();
  return joined;
}

void DiscoveryService::Record(const meshdb::Status& outcome) {
  common::MutexLock lock(mu_);
  endpoint_ = options_.store->Endpoint();
  if (outcome.ok()) {
    if (last_error_) log_->info("{} answers again", endpoint_);
    last_error_.reset();
    return;
  }
  // A lost store leaves the registration unknown: write it again when the store is back.
  if (outcome.code() == meshdb::Status::Code::kUnavailable) registered_ = false;
  if (outcome.IsNotFound()) session_open_ = false;
  if (last_error_ != outcome.message()) {
    log_->warn("{} (retrying with backoff; the node keeps serving)", outcome.message());
  }
  last_error_ = outcome.message();
}

}  // namespace meshdb::discovery
