// Wiring of one meshdb node: configuration, logging, storage, operations, HTTP listener,
// lifetimes and shutdown.
//
// Start order: Config (file + env + CLI) -> logging (<logging.root>/hdb.log) -> TLS identity
// (security/node_certificates.h; a bad tls.* file exits kExitBadConfig) -> <root>/hdb.pid
// -> storage::Store (storage.path; durable unless storage.writeAsync) -> ops::Operations
// (bootstraps the system database and the admin user) -> net::HttpServer. Shutdown runs in
// reverse order on SIGTERM/SIGINT, or after a `restart` operation's reply was sent, in which
// case the process then re-executes itself (/proc/self/exe with the same argv and
// environment), so the node comes back with the file's new configuration.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace meshdb::server {

struct RunOptions {
  std::string root;         // --root; "" means HDB_ROOT/ROOTPATH from the env, else "./data"
  std::string config_file;  // --config; "" means <root>/harperdb-config.yaml
  std::vector<std::pair<std::string, std::string>> cli;  // --KEY value overrides, in order
  std::vector<std::string> argv;  // the process's own argv, re-used to restart
};

// Exit codes of Run.
inline constexpr int kExitOk = 0;
inline constexpr int kExitStartupFailed = 1;  // storage, ops or the listener failed to start
inline constexpr int kExitBadConfig = 2;      // the configuration did not load or validate

// Runs the node until it is told to stop; returns the process exit code. Errors are printed
// to stderr as "meshdb: <message>". Call from the main thread before starting any other
// thread (it sets the process signal mask). Does not return after a successful restart.
int Run(const RunOptions& options);

}  // namespace meshdb::server
