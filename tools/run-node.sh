#!/usr/bin/env bash
# Builds meshdb if needed (installing missing Debian packages), then runs one node with its
# data in ./data. Extra arguments go to `meshdb run`, e.g.
#   tools/run-node.sh --OPERATIONSAPI_NETWORK_PORT 9925 --LOGGING_LEVEL debug
# Admin credentials on first start: HDB_ADMIN_USERNAME / HDB_ADMIN_PASSWORD
# (defaults admin / password: change them).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
# Only the server binary: the tests and benchmarks are not needed to run a node.
"$REPO_ROOT/tools/setup.sh" meshdb
exec "${MESHDB_BUILD_DIR:-$REPO_ROOT/build}/meshdb" run --root ./data "$@"
