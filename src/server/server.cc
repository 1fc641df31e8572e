#include "server/server.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "common/log.h"
#include "common/status.h"
#include "config/config.h"
#include "net/http_server.h"
#include "ops/node_operations.h"
#include "server/shutdown_waiter.h"
#include "storage/store.h"

extern char** environ;

namespace meshdb::server {

namespace fs = std::filesystem;

namespace {

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

  const std::string node_name = settings.replication_hostname.empty()
                                    ? settings.operations_host
                                    : settings.replication_hostname;
  std::error_code ec;
  fs::create_directories(settings.log_dir, ec);
  if (ec) {
    return Fail(kExitStartupFailed,
                "cannot create log directory '" + settings.log_dir + "': " + ec.message());
  }
  log::Init(node_name, settings.log_level, settings.log_dir + "/hdb.log");
  auto log = log::For("server");
  log->info("starting meshdb: node '{}', root '{}', config '{}'", node_name, settings.root_path,
            config.file_path());

  const std::string pid_path = (fs::path(settings.root_path) / "hdb.pid").string();
  fs::create_directories(settings.root_path, ec);
  if (Status s = WritePidFile(pid_path); !s.ok()) {
    log->error("{}", s.message());
    return Fail(kExitStartupFailed, s.message());
  }

  storage::StoreOptions store_options;
  store_options.database_dir = settings.storage_path;
  store_options.durable = !settings.storage_write_async;
  Result<std::unique_ptr<storage::Store>> store = storage::Store::Open(store_options);
  if (!store.ok()) {
    log->error("cannot open storage at '{}': {}", settings.storage_path, store.status().ToString());
    return Fail(kExitStartupFailed, "cannot open storage at '" + settings.storage_path +
                                        "': " + store.status().message());
  }
  log->info("storage open: data dir '{}', {}", settings.storage_path,
            store_options.durable ? "durable commits (fsync before reply)"
                                  : "writeAsync: commits not fsync'd (a machine crash can lose "
                                    "the last writes)");

  ops::OpsDeps deps;
  deps.store = store->get();
  deps.config = &config;
  deps.admin_username = EnvOr(env, "HDB_ADMIN_USERNAME", "admin");
  deps.admin_password = EnvOr(env, "HDB_ADMIN_PASSWORD", "password");
  Result<std::unique_ptr<ops::NodeOperations>> operations = ops::CreateNodeOperations(deps);
  if (!operations.ok()) {
    log->error("cannot start the operations API: {}", operations.status().ToString());
    return Fail(kExitStartupFailed,
                "cannot start the operations API: " + operations.status().message());
  }

  net::HttpServerOptions http_options;
  http_options.host = settings.operations_host;
  http_options.port = settings.operations_port;
  http_options.max_body_bytes = settings.max_body_bytes;
  http_options.threads = settings.threads;
  ShutdownWaiter* waiter_ptr = waiter.get();  // outlives the HTTP server (stopped first)
  http_options.on_restart_requested = [waiter_ptr] { waiter_ptr->RequestRestart(); };
  Result<std::unique_ptr<net::HttpServer>> http =
      net::HttpServer::Start(http_options, operations->get());
  if (!http.ok()) {
    log->error("cannot listen on {}:{}: {}", settings.operations_host, settings.operations_port,
               http.status().ToString());
    return Fail(kExitStartupFailed, "cannot listen on " + settings.operations_host + ":" +
                                        std::to_string(settings.operations_port) + ": " +
                                        http.status().message());
  }
  log->info("node '{}' listening on http://{}:{} (operations API), data dir '{}', {}", node_name,
            settings.operations_host, (*http)->port(), settings.storage_path,
            store_options.durable ? "durable" : "writeAsync");

  ShutdownWaiter::Reason reason = waiter->Wait();
  if (reason == ShutdownWaiter::Reason::kRestart) {
    log->info("restart requested: shutting down, then starting again");
  } else {
    log->info("received {}: shutting down",
              waiter->signal_number() == SIGINT ? "SIGINT" : "SIGTERM");
  }

  log->info("stopping the HTTP server");
  (*http)->Stop();
  http->reset();
  log->info("stopping the operations API");
  operations->reset();
  log->info("closing storage");
  store->reset();
  waiter.reset();  // joins the signal thread, restores the signal mask

  if (reason == ShutdownWaiter::Reason::kRestart) {
    log->info("restarting: exec /proc/self/exe");
    spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& logger) { logger->flush(); });
    ReExec(options.argv);
    log->error("restart failed; exiting");
    return kExitStartupFailed;
  }
  fs::remove(pid_path, ec);
  log->info("stopped");
  return kExitOk;
}

}  // namespace meshdb::server
