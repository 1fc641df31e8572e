// meshdb: flags only; everything else is server::Run.
//
//   meshdb run [--root DIR] [--config FILE] [--KEY value | --KEY=value ...]
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "server/server.h"

namespace {

constexpr char kUsage[] =
    "usage: meshdb run [--root DIR] [--config FILE] [--KEY value ...]\n"
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
  if (command == "--help" || command == "-h" || command == "help") return Usage(stdout, 0);
  if (command != "run") {
    std::fprintf(stderr, "meshdb: unknown command '%s'\n", command.c_str());
    return Usage(stderr, 2);
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
