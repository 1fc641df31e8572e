// meshdb: flags only. `run` starts a node (server::Run); anything else is the command line
// client (cli/cli.h: operations, status, stop, --version).
//
//   meshdb run [--root DIR] [--config FILE] [--KEY value | --KEY=value ...]
//   meshdb <operation> [key=value ...] | status | stop | --version
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "server/server.h"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace {

constexpr char kUsage[] =
    "usage: meshdb run [--root DIR] [--config FILE] [--KEY value ...]\n"
    "       meshdb <operation> [key=value ...] | status | stop | --version  (meshdb help)\n"
    "\n"
    "  --root DIR      data directory (default: $HDB_ROOT, else ./data)\n"
    "  --config FILE   configuration file (default: DIR/harperdb-config.yaml)\n"
    "  --KEY value     override a configuration key for this run, e.g.\n"
    "                  --OPERATIONSAPI_NETWORK_PORT 9925 --LOGGING_LEVEL debug\n"
    "                  (keys: docs/configuration.md)\n";

int Usage(FILE* out, int code) {
  std::fputs(kUsage, out);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage(stderr, 2);
  std::string command = argv[1];
  if (command != "run") {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string text(*e);
      if (size_t eq = text.find('='); eq != std::string::npos) {
        env.emplace(text.substr(0, eq), text.substr(eq + 1));
      }
    }
    return meshdb::cli::Main(std::vector<std::string>(argv + 1, argv + argc), env);
  }

  meshdb::server::RunOptions options;
  options.argv.assign(argv, argv + argc);
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") return Usage(stdout, 0);
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      std::fprintf(stderr, "meshdb: unexpected argument '%s'\n", arg.c_str());
      return Usage(stderr, 2);
    }
    std::string key = arg.substr(2);
    std::string value;
    if (size_t eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "meshdb: '--%s' needs a value\n", key.c_str());
      return 2;
    }
    if (key == "root") {
      options.root = value;
    } else if (key == "config") {
      options.config_file = value;
    } else {
      options.cli.emplace_back(key, value);
    }
  }
  return meshdb::server::Run(options);
}
