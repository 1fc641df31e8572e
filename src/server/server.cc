#include "server/server.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/ip_allow_list.h"
#include "common/log.h"
#include "common/status.h"
#include "common/work_pool.h"
#include "config/config.h"
#include "net/http_server.h"
#include "ops/certificate_rows.h"
#include "ops/csv_load_ops.h"
#include "ops/graphql_schema.h"
#include "ops/jobs.h"
#include "ops/node_operations.h"
#include "replication/cluster/cluster_manager.h"
#include "replication/cluster/cluster_ops.h"
#include "replication/cluster/cluster_peers.h"
#include "replication/cluster/cluster_routes.h"
#include "replication/cluster/verify_ops.h"
#include "replication/engine/replication_service.h"
#include "replication/wire/message.h"
#include "security/node_certificates.h"
#include "security/private_file.h"
#include "security/secret_box.h"
#include "server/node_discovery.h"
#include "server/node_identity.h"
#include "server/node_metrics.h"
#include "server/peer_calls.h"
#include "server/shutdown_waiter.h"
#include "server/tls_contexts.h"
#include "storage/store.h"

extern char** environ;

namespace meshdb::server {

namespace fs = std::filesystem;

namespace {

// Where peers reach this node's replication, in HarperDB's order of preference:
// replication.port (ws), replication.securePort (wss), operationsApi.network.port (ws),
// operationsApi.network.securePort (wss).
struct ReplicationEndpoint {
  std::string scheme;
  int port = 0;
};
ReplicationEndpoint OwnReplicationEndpoint(const config::Settings& settings) {
  if (settings.replication_port != 0) return {"ws", settings.replication_port};
  if (settings.replication_secure_port != 0) return {"wss", settings.replication_secure_port};
  if (settings.operations_port) return {"ws", *settings.operations_port};
  return {"wss", settings.operations_secure_port};
}

// Threads of replication's own listeners. A plain one only reads upgrade requests: the
// replication service takes each socket over. Inbound wss:// links run on the TLS one's thread
// (a TLS stream cannot move to another io_context). One thread: with two, ThreadSanitizer
// found two inbound handshakes racing inside OpenSSL 3.0 on a shared CA's lazily decoded
// extensions (fixed in TlsContext::RebuildTrustLocked), and a second thread stays off until a
// CI run has checked it.
constexpr int kPlainReplicationListenerThreads = 1;
constexpr int kTlsReplicationListenerThreads = 1;

// One listener the node opens: TLS when `tls` is set; the operations API when `ops` is set,
// else replication upgrades only.
struct ListenerSpec {
  std::string what;  // for the log and errors
  int port = 0;
  std::shared_ptr<net::TlsContext> tls;
  ops::Operations* ops = nullptr;
};

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string text(*entry);
    size_t eq = text.find('=');
    if (eq == std::string::npos) continue;
    env.emplace(text.substr(0, eq), text.substr(eq + 1));
  }
  return env;
}

std::string EnvOr(const std::map<std::string, std::string>& env, const char* name,
                  const char* fallback) {
  auto it = env.find(name);
  return it == env.end() || it->second.empty() ? fallback : it->second;
}

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "meshdb: %s\n", message.c_str());
  return code;
}

Status WritePidFile(const std::string& path) {
  std::ofstream out(path, std::ios::trunc);
  out << ::getpid() << "\n";
  out.close();
  if (!out) return Status::IOError("cannot write '" + path + "': " + std::strerror(errno));
  return Status::Ok();
}

// Replaces this process with a fresh copy of itself. Returns only on failure.
void ReExec(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::fflush(nullptr);
  // Descriptors opened without O_CLOEXEC (the log file) must not leak into the new image.
  for (int fd = 3; fd < 1024; ++fd) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
  ::execv("/proc/self/exe", args.data());
  std::fprintf(stderr, "meshdb: restart failed: execv: %s\n", std::strerror(errno));
}

// Brief §1: replication.hostname, else the host of replication.url, else the operations host.
std::string NodeName(const config::Settings& settings) {
  if (!settings.replication_hostname.empty()) return settings.replication_hostname;
  if (!settings.replication_url.empty()) {
    Result<replication::Route> url = replication::ParseUrl(settings.replication_url);
    if (url.ok() && !url->host.empty()) return url->host;
  }
  return settings.operations_host;
}

// replication.databases: "*" (every database) or names / {name} objects.
std::vector<std::string> ReplicatedDatabases(const config::Settings& settings) {
  std::vector<std::string> out;
  if (!settings.replication_databases.is_array()) return out;
  // An empty list: no user database replicates (an empty vector would mean all of them).
  if (settings.replication_databases.get_array().empty()) return {"system"};
  for (const auto& db : settings.replication_databases.get_array()) {
    if (db.is_string()) {
      out.emplace_back(db.get_string());
    } else if (db.is_object() && db.get_object().contains("name") &&
               db.get_object().at("name").is_string()) {
      out.emplace_back(db.get_object().at("name").get_string());
    }
  }
  return out;
}

}  // namespace

int Run(const RunOptions& options) {
  std::map<std::string, std::string> env = ProcessEnvironment();
  config::LoadOptions load;
  load.root = options.root;
  load.config_file = options.config_file;
  load.env = env;
  load.cli = options.cli;
  Result<config::Config> loaded = config::Config::Load(load);
  if (!loaded.ok()) return Fail(kExitBadConfig, loaded.status().message());
  const config::Config config = std::move(loaded).value();
  const config::Settings& settings = config.settings();

  // Before any thread starts, so every thread inherits the blocked SIGTERM/SIGINT.
  ::signal(SIGPIPE, SIG_IGN);
  auto waiter = std::make_unique<ShutdownWaiter>();

  const std::string node_name = NodeName(settings);
  const ReplicationEndpoint endpoint = OwnReplicationEndpoint(settings);
  const std::string node_url =
      !settings.replication_url.empty()
          ? settings.replication_url
          : replication::MakeUrl(node_name, endpoint.port, endpoint.scheme);
  std::error_code ec;
  fs::create_directories(settings.log_dir, ec);
  if (ec) {
    return Fail(kExitStartupFailed,
                "cannot create log directory '" + settings.log_dir + "': " + ec.message());
  }
  log::FileOptions log_file;
  log_file.path = settings.log_dir + "/hdb.log";
  log_file.rotate = settings.log_rotation_enabled;
  log_file.rotate_bytes = settings.log_rotation_max_bytes;
  log_file.rotate_interval_s = settings.log_rotation_interval_s;
  const std::string log_error = log::Init(node_name, settings.log_level, log_file);
  auto log = log::For("server");
  log->info("starting meshdb: node '{}', root '{}', config '{}'", node_name, settings.root_path,
            config.file_path());
  if (!log_error.empty()) log->error("cannot open the log file: {}", log_error);
  if (settings.log_rotation_enabled && settings.log_rotation_max_bytes == 0 &&
      settings.log_rotation_interval_s == 0) {
    log->warn(
        "logging.rotation.enabled is true but neither logging.rotation.maxSize nor "
        "logging.rotation.interval is set: hdb.log is not rotated");
  }
  if (Status s = NodeMetrics::ApplyAccess(settings); !s.ok()) {
    log->error("{}", s.message());
    return Fail(kExitBadConfig, s.message());
  }
  if (std::vector<std::string> inert = config.InertKeysSet(); !inert.empty()) {
    std::string names;
    for (const std::string& key : inert) names += (names.empty() ? "" : ", ") + key;
    log->warn(
        "configuration keys accepted but not acted on: {} (HarperDB keys set to other than their "
        "defaults; meshdb ignores them: docs/configuration.md \"Keys accepted but not acted "
        "on\")",
        names);
  }
  if (std::vector<std::string> unknown = config.UnknownKeysSet(); !unknown.empty()) {
    std::string names;
    for (const std::string& key : unknown) names += (names.empty() ? "" : ", ") + key;
    log->warn(
        "configuration keys meshdb does not know: {} (kept in the file, not checked, not acted "
        "on: docs/configuration.md)",
        names);
  }

  // Self-forming clusters (docs/discovery.md): checked now, so a bad flag stops the start
  // before anything is opened.
  Result<std::optional<discovery::DiscoverySettings>> discovery_settings =
      ReadDiscoverySettings(settings, node_name);
  if (!discovery_settings.ok()) {
    log->error("{}", discovery_settings.status().message());
    return Fail(kExitBadConfig, discovery_settings.status().message());
  }

  // The node's TLS identity (docs/security.md): generated under <root>/keys on first start,
  // loaded after, or the configured tls.* files. A bad configured file stops the start.
  security::NodeTlsOptions tls_options;
  tls_options.keys_dir = (fs::path(settings.root_path) / "keys").string();
  tls_options.node_name = node_name;
  tls_options.listen_addresses = {settings.operations_host};
  if (Result<replication::Route> url = replication::ParseUrl(node_url); url.ok()) {
    tls_options.listen_addresses.push_back(url->host);
  }
  tls_options.validity_s = settings.certificate_validity_s;
  tls_options.tls_certificate = settings.tls_certificate;
  tls_options.tls_private_key = settings.tls_private_key;
  tls_options.tls_certificate_authority = settings.tls_certificate_authority;
  tls_options.ops_certificate = settings.ops_tls_certificate;
  tls_options.ops_private_key = settings.ops_tls_private_key;
  tls_options.ops_certificate_authority = settings.ops_tls_certificate_authority;
  tls_options.ciphers = settings.tls_ciphers;
  Result<security::ProvisionedTls> provisioned = security::ProvisionNodeTls(tls_options);
  if (!provisioned.ok()) {
    log->error("{}", provisioned.status().message());
    return Fail(provisioned.status().IsInvalidArgument() ? kExitBadConfig : kExitStartupFailed,
                provisioned.status().message());
  }
  for (const std::string& warning : provisioned->warnings) log->warn("{}", warning);
  // What the TLS listeners and clients use: the node's certificate, key and CA (and the
  // operations API's). Holds private keys: never log it. Peers' trusted CAs are
  // ops::TrustedCaPems(store), read when needed (add_certificate changes them).
  const security::NodeTls node_tls = std::move(provisioned->tls);
  log->info("TLS identity: node certificate '{}' ({}), CA '{}'", node_tls.node.certificate_name,
            node_tls.node.source, node_tls.node.ca_name);

  // Seals secrets kept in the database (retained add_node credentials): its key lives in
  // <root>/keys, never in the database (docs/security.md).
  const std::string keys_dir = (fs::path(settings.root_path) / "keys").string();
  Result<security::SecretBox> secret_box = [&]() -> Result<security::SecretBox> {
    RETURN_IF_ERROR(security::EnsurePrivateDirectory(keys_dir));
    return security::SecretBox::LoadOrCreate(keys_dir + "/.secret-box.key");
  }();
  if (!secret_box.ok()) {
    log->error("cannot open the secret-sealing key: {}", secret_box.status().ToString());
    return Fail(kExitStartupFailed,
                "cannot open the secret-sealing key: " + secret_box.status().message());
  }

  const std::string pid_path = (fs::path(settings.root_path) / "hdb.pid").string();
  fs::create_directories(settings.root_path, ec);
  if (Status s = WritePidFile(pid_path); !s.ok()) {
    log->error("{}", s.message());
    return Fail(kExitStartupFailed, s.message());
  }

  storage::StoreOptions store_options;
  store_options.database_dir = settings.storage_path;
  store_options.durable = !settings.storage_write_async;
  store_options.local_node_id = replication::NodeIdForName(node_name);
  Result<std::unique_ptr<storage::Store>> store = storage::Store::Open(store_options);
  if (!store.ok()) {
    log->error("cannot open storage at '{}': {}", settings.storage_path, store.status().ToString());
    return Fail(kExitStartupFailed, "cannot open storage at '" + settings.storage_path +
                                        "': " + store.status().message());
  }
  log->info("storage open: data dir '{}', {}", settings.storage_path,
            store_options.durable ? "durable commits (write-ahead log synced before reply)"
                                  : "writeAsync: commits not fsync'd (a machine crash can lose "
                                    "the last writes)");

  // GraphQL schema: <root>/schema.graphql when present, then schema.files. Tables are created
  // before replication starts, so a replicate:false table is never published.
  std::vector<std::string> schema_files;
  const std::string root_schema = (fs::path(settings.root_path) / "schema.graphql").string();
  if (fs::exists(root_schema, ec)) schema_files.push_back(root_schema);
  for (const std::string& f : settings.schema_files) schema_files.push_back(f);
  if (Status s = ops::LoadSchemaFiles(schema_files, store->get()); !s.ok()) {
    log->error("cannot load the GraphQL schema: {}", s.ToString());
    return Fail(kExitStartupFailed, "cannot load the GraphQL schema: " + s.message());
  }

  // Set once the TLS contexts exist (below), before any request can arrive.
  std::unique_ptr<TlsContexts> tls_contexts;
  // Set before the listeners open; `cluster` reset only after replication stopped.
  std::unique_ptr<replication::ClusterManager> cluster;
  replication::ReplicationService* replication_service = nullptr;
  // A fanned-out operation finishes here (replicated add/remove_certificate write their row
  // and change trust after the members answered): its completion comes on the replication
  // thread that got the last answer, which must not wait there for a commit.
  common::WorkPool fan_out_completions(1, "fan-out completions");
  ops::OpsDeps deps;
  deps.fan_out = [&cluster, &replication_service, &fan_out_completions](
                     boost::json::object request, std::function<void(boost::json::array)> done) {
    if (!cluster || replication_service == nullptr) return done(boost::json::array{});
    FanOutOperation(cluster.get(), replication_service, std::move(request),
                    [&fan_out_completions, done = std::move(done)](boost::json::array results) {
                      std::function<void()> finish = [done, results = std::move(results)] {
                        done(results);
                      };
                      // Refused only once shutdown began: then it finishes on this thread.
                      if (!fan_out_completions.Post(finish)) finish();
                    });
  };
  deps.on_certificates_changed = [&tls_contexts, &store, log] {
    if (!tls_contexts) return;
    Result<std::vector<std::string>> cas = ops::TrustedCaPems(store->get());
    Status s = cas.ok() ? tls_contexts->SetTrustedCertificates(*cas) : cas.status();
    if (!s.ok()) log->warn("cannot update the trusted certificate authorities: {}", s.message());
  };
  deps.store = store->get();
  deps.config = &config;
  deps.admin_username = EnvOr(env, "HDB_ADMIN_USERNAME", "admin");
  deps.admin_password = EnvOr(env, "HDB_ADMIN_PASSWORD", ops::kDefaultAdminPassword);
  Result<std::unique_ptr<ops::NodeOperations>> operations = ops::CreateNodeOperations(deps);
  if (!operations.ok()) {
    log->error("cannot start the operations API: {}", operations.status().ToString());
    return Fail(kExitStartupFailed,
                "cannot start the operations API: " + operations.status().message());
  }
  // Background jobs (csv loads); stopped after the listeners, before storage closes.
  Result<std::unique_ptr<ops::Jobs>> jobs = ops::Jobs::Create(store->get());
  if (!jobs.ok()) {
    log->error("cannot start the jobs runner: {}", jobs.status().ToString());
    return Fail(kExitStartupFailed, "cannot start the jobs runner: " + jobs.status().message());
  }
  ops::RegisterJobOperations(operations->get(), jobs->get());
  ops::RegisterCsvLoadOperations(operations->get(), store->get(), jobs->get());
  if (Status s = ops::RecordNodeCertificates(store->get(), node_tls); !s.ok()) {
    log->error("cannot record the node's certificates in system.hdb_certificate: {}", s.ToString());
    return Fail(kExitStartupFailed, "cannot record the node's certificates: " + s.message());
  }
  Result<std::vector<std::string>> trusted_cas = ops::TrustedCaPems(store->get());
  if (!trusted_cas.ok()) {
    log->error("cannot read the trusted certificate authorities: {}",
               trusted_cas.status().ToString());
    return Fail(kExitStartupFailed, "cannot read the trusted certificate authorities: " +
                                        trusted_cas.status().message());
  }
  Result<std::unique_ptr<TlsContexts>> contexts =
      TlsContexts::Create(node_tls, *trusted_cas, settings.replication_enable_root_cas);
  if (!contexts.ok()) {
    log->error("cannot set up TLS: {}", contexts.status().message());
    return Fail(kExitBadConfig, "cannot set up TLS: " + contexts.status().message());
  }
  tls_contexts = std::move(contexts).value();
  if (node_tls.replication.source == "replication") {
    log->info("replication presents the certificate signed by '{}' (a cross-signed join)",
              node_tls.replication.ca_name);
  }
  ServerNodeIdentity identity(node_tls, tls_contexts.get(), keys_dir, node_name,
                              settings.certificate_validity_s);

  // Replication: always on (a lone node simply has no peers). The engine links to peers;
  // cluster membership decides who they are and answers the cluster operations.
  std::unique_ptr<discovery::DiscoveryService> node_discovery;
  replication::ServiceOptions repl_options;
  repl_options.store = store->get();
  repl_options.auth = (*operations)->auth();
  repl_options.node_name = node_name;
  repl_options.node_url = node_url;
  repl_options.bind_address = settings.operations_host;
  repl_options.tls_client = tls_contexts->replication_client();
  repl_options.databases = ReplicatedDatabases(settings);
  repl_options.reconnect_min_ms = settings.replication_reconnect_min_ms;
  repl_options.reconnect_max_ms = settings.replication_reconnect_max_ms;
  repl_options.cluster_key = settings.replication_cluster_key;
  // Validated at load (config/validate.cc): a bad entry never gets here.
  Result<common::IpAllowList> allowed_ips =
      common::IpAllowList::Parse(settings.replication_allowed_ips);
  if (!allowed_ips.ok()) {
    return Fail(kExitBadConfig, "replication.allowedIps: " + allowed_ips.status().message());
  }
  repl_options.allowed_ips = *allowed_ips;
  repl_options.log_retention_ms = settings.replication_log_retention_s * 1000;
  repl_options.log_retention_bytes = settings.replication_log_retention_bytes;
  repl_options.log_trim_interval_ms = settings.replication_log_trim_interval_ms;
  repl_options.copy_stored_rows = settings.replication_copy_stored_rows;
  // `cluster` is set before the service starts and reset only after it stopped.
  repl_options.on_peer_hello = [&cluster](const std::string& name, const std::string& url,
                                          bool by_credentials) {
    if (cluster) cluster->OnPeerHello(name, url, by_credentials);
  };
  repl_options.on_join =
      [&cluster](const replication::JoinRequest& request) -> Result<replication::JoinGrant> {
    if (!cluster) return Status::Unavailable("cluster membership is not running");
    return cluster->GrantJoin(request);
  };
  repl_options.on_peer_call = [&cluster, &operations, &replication_service](
                                  const replication::PeerCaller& caller,
                                  const replication::PeerCall& call,
                                  std::function<void(replication::PeerCallResult)> reply) {
    if (!cluster || replication_service == nullptr) {
      return reply(replication::PeerCallResult{call.request_id, "not running", ""});
    }
    AnswerPeerCall(cluster.get(), operations->get(), replication_service, caller, call,
                   std::move(reply));
  };
  repl_options.on_certificate_refused = [&identity](const std::string& peer,
                                                    const std::string& reason) {
    identity.RenewFromOwnCaAfterRefusal(peer, reason);
  };
  Result<std::unique_ptr<replication::ReplicationService>> service =
      replication::ReplicationService::Create(repl_options);
  if (!service.ok()) {
    log->error("cannot start replication: {}", service.status().ToString());
    return Fail(kExitStartupFailed, "cannot start replication: " + service.status().message());
  }
  replication_service = service->get();
  replication::ClusterOptions cluster_options;
  cluster_options.store = store->get();
  cluster_options.service = service->get();
  cluster_options.node_name = node_name;
  cluster_options.node_url = node_url;
  cluster_options.default_port = endpoint.port;
  cluster_options.default_scheme = endpoint.scheme;
  cluster_options.routes = settings.replication_routes;
  cluster_options.config_file = config.file_path();
  cluster_options.backup_dir = (fs::path(settings.root_path) / "backup").string();
  cluster_options.cluster_key = settings.replication_cluster_key;
  cluster_options.secret_box = &*secret_box;
  cluster_options.identity = &identity;
  if (*discovery_settings) {
    // `node_discovery` is set before membership starts and reset only after it stopped.
    cluster_options.discovery_status = [&node_discovery] {
      return node_discovery ? node_discovery->Status() : boost::json::object();
    };
  }
  Result<std::unique_ptr<replication::ClusterManager>> created =
      replication::ClusterManager::Create(cluster_options);
  if (!created.ok()) {
    log->error("cannot start cluster membership: {}", created.status().ToString());
    return Fail(kExitStartupFailed,
                "cannot start cluster membership: " + created.status().message());
  }
  cluster = std::move(created).value();
  if (*discovery_settings) {
    NodeDiscoveryInputs inputs;
    inputs.settings = std::move(**discovery_settings);
    inputs.self = {
        node_name, node_url,
        std::string(settings.operations_port ? "http" : "https") + "://" +
            settings.operations_host + ":" +
            std::to_string(settings.operations_port.value_or(settings.operations_secure_port)),
        identity.CaCertificatePem()};
    inputs.cluster = cluster.get();
    inputs.identity = &identity;
    Result<std::unique_ptr<discovery::DiscoveryService>> made = CreateNodeDiscovery(inputs);
    if (!made.ok()) {
      log->error("{}", made.status().message());
      return Fail(kExitBadConfig, made.status().message());
    }
    node_discovery = std::move(made).value();
  }
  // Scrape-time metrics; removed before the service and the store go.
  auto node_metrics = std::make_unique<NodeMetrics>(store->get(), service->get());
  replication::RegisterClusterOperations(
      operations->get(), cluster.get(),
      [service = replication_service](std::function<void(boost::json::array)> done) {
        GatherPeerLinks(service, std::move(done));
      });
  replication::RegisterVerifyOperation(operations->get(), store->get(), service->get(), node_name);
  (*service)->Start();
  if (Status s = cluster->Start(); !s.ok()) {
    log->error("cannot start cluster membership: {}", s.ToString());
    cluster->Stop();
    (*service)->Stop();
    return Fail(kExitStartupFailed, "cannot start cluster membership: " + s.message());
  }
  log->info("replication: node '{}' at {}", node_name, node_url);
  if (node_url.starts_with("ws://")) {
    log->warn(
        "replication is unencrypted: peers reach this node at {}, where records and credentials "
        "cross the network in clear; peers on plain ws:// connections are authenticated by IP "
        "address (the routes' and members' hosts, and replication.allowedIps [{}]); set "
        "replication.securePort for wss:// (docs/security.md)",
        node_url, allowed_ips->empty() ? "none" : allowed_ips->ToString());
  }

  // Stops replication (membership first, then the engine) before the operations API goes.
  auto stop_replication = [&] {
    identity.StopRenewal();  // its callback reaches the cluster manager
    // Leaves the store (its keys go at once, so another node claims the seed now); joins
    // reach the cluster manager.
    if (node_discovery) node_discovery->Stop(true);
    if (cluster) cluster->Stop();
    if (*service) (*service)->Stop();
  };

  // The listeners: the operations API on its port (and HTTPS on its securePort), replication
  // upgrades on every one of them and on replication.port / replication.securePort.
  ShutdownWaiter* waiter_ptr = waiter.get();  // outlives the listeners (stopped first)
  net::UpgradeHandler* upgrades = (*service)->upgrade_handler();
  // Replication's own ports listen first and the plain operations API last: a client that
  // sees /health answer may at once call add_node on this node, whose peer then dials back
  // to the replication port.
  std::vector<ListenerSpec> specs;
  if (settings.replication_port != 0 && settings.replication_port != settings.operations_port) {
    specs.push_back(
        {"replication (replication.port)", settings.replication_port, nullptr, nullptr});
  }
  if (settings.replication_secure_port != 0) {
    specs.push_back({"replication (replication.securePort)", settings.replication_secure_port,
                     tls_contexts->replication_server(), nullptr});
  }
  if (settings.operations_secure_port != 0) {
    specs.push_back({"operations API (operationsApi.network.securePort)",
                     settings.operations_secure_port, tls_contexts->operations_server(),
                     operations->get()});
  }
  if (settings.operations_port) {
    specs.push_back({"operations API", *settings.operations_port, nullptr, operations->get()});
  }
  std::vector<std::unique_ptr<net::HttpServer>> listeners;
  auto stop_listeners = [&listeners] {
    for (auto& listener : listeners) listener->Stop();
  };
  for (const ListenerSpec& spec : specs) {
    net::HttpServerOptions http_options;
    http_options.host = settings.operations_host;
    http_options.port = spec.port;
    http_options.max_body_bytes = settings.max_body_bytes;
    http_options.threads = spec.ops != nullptr ? settings.threads
                           : spec.tls          ? kTlsReplicationListenerThreads
                                               : kPlainReplicationListenerThreads;
    http_options.on_restart_requested = [waiter_ptr] { waiter_ptr->RequestRestart(); };
    http_options.upgrade_handler = upgrades;
    http_options.tls = spec.tls;
    Result<std::unique_ptr<net::HttpServer>> started =
        net::HttpServer::Start(http_options, spec.ops);
    const std::string where = settings.operations_host + ":" + std::to_string(spec.port);
    if (!started.ok()) {
      log->error("cannot listen on {} ({}): {}", where, spec.what, started.status().ToString());
      stop_replication();
      stop_listeners();
      return Fail(kExitStartupFailed, "cannot listen on " + where + " (" + spec.what +
                                          "): " + started.status().message());
    }
    log->info("{} listening on {}://{}:{}", spec.what,
              spec.ops != nullptr ? (spec.tls ? "https" : "http") : (spec.tls ? "wss" : "ws"),
              settings.operations_host, (*started)->port());
    listeners.push_back(std::move(started).value());
  }
  log->info("node '{}' serving the operations API on port {}, data dir '{}', {}", node_name,
            listeners.back()->port(), settings.storage_path,
            store_options.durable ? "durable" : "writeAsync");

  // Stopped by stop_replication, before the cluster manager goes.
  identity.StartRenewal(
      [&cluster, replication_service](const std::string& csr, const std::string& issuer) {
        return RenewThroughIssuer(cluster.get(), replication_service, csr, issuer);
      },
      [&cluster, &identity, &store, log] {
        cluster->RefreshOwnRow();
        if (Status s = ops::RecordNodeCertificates(store->get(), identity.CurrentTls()); !s.ok()) {
          log->warn("cannot record the renewed certificates: {}", s.message());
        }
      });
  if (node_discovery) node_discovery->Start();
  ShutdownWaiter::Reason reason = waiter->Wait();
  if (reason == ShutdownWaiter::Reason::kRestart) {
    log->info("restart requested: shutting down, then starting again");
  } else {
    log->info("received {}: shutting down",
              waiter->signal_number() == SIGINT ? "SIGINT" : "SIGTERM");
  }

  // Replication stops first: a link over TLS does its I/O on the io_context of the listener
  // that accepted it (net/upgrade_handler.h), so every link must end before that one stops.
  log->info("stopping replication");
  stop_replication();
  log->info("stopping the HTTP listeners");
  stop_listeners();
  listeners.clear();
  node_metrics.reset();
  cluster.reset();
  node_discovery.reset();
  service->reset();
  log->info("stopping the operations API");
  fan_out_completions.Shutdown();
  (*jobs)->Stop();
  operations->reset();
  log->info("closing storage");
  store->reset();

  if (reason == ShutdownWaiter::Reason::kRestart) {
    waiter->RestoreSignalMask();  // the new image starts with the mask we started with
    waiter.reset();
    log->info("restarting: exec /proc/self/exe");
    spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& logger) { logger->flush(); });
    ReExec(options.argv);
    log->error("restart failed; exiting");
    return kExitStartupFailed;
  }
  // SIGTERM/SIGINT stay blocked until the process exits: one sent from here on is dropped.
  waiter.reset();
  fs::remove(pid_path, ec);
  log->info("stopped");
  return kExitOk;
}

}  // namespace meshdb::server
