#!/usr/bin/env bash
# Builds meshdb (installing missing Debian packages) and runs every test with ctest.
# Extra arguments go to ctest, e.g. `tools/test.sh -L unit` or `tools/test.sh -R config`.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
"$REPO_ROOT/tools/setup.sh"
exec ctest --test-dir "${MESHDB_BUILD_DIR:-$REPO_ROOT/build}" --output-on-failure -j2 "$@"
