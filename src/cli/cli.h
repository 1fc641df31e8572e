// The command line client (docs/operations.md "CLI"), as HarperDB's:
//
//   meshdb <operation> [key=value ...] [--target URL] [--user U] [--password P] [--json]
//   meshdb status [--target URL ...]      one-screen summary of cluster_status
//   meshdb stop [--root DIR]              SIGTERM to the pid in <root>/hdb.pid, waits for exit
//
// Values that parse as JSON are sent as JSON ("limit=10" is a number, "records=[...]" an
// array), others as strings. The answer is printed as YAML (HarperDB's default) or, with
// --json (or json=true), as indented JSON. The node is --target (or target=, CLI_TARGET),
// else the operations address of the local configuration (--root, $HDB_ROOT, ./data).
// Credentials: --user/--password (or username=/password=), else CLI_TARGET_USERNAME /
// CLI_TARGET_PASSWORD, else HDB_ADMIN_USERNAME / HDB_ADMIN_PASSWORD. They are sent only in the
// Authorization header, never printed.
//
// Errors (unknown operation, unreachable node, refused credentials) are one line on stderr
// and exit status 1; bad usage exits 2.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace meshdb::cli {

// Runs the command in `args` (argv without the program name). `env`: the environment.
int Main(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

}  // namespace meshdb::cli
