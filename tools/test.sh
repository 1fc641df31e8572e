#!/usr/bin/env bash
# Builds meshdb (installing missing Debian packages) and runs every test with ctest.
# Extra arguments go to ctest, e.g. `tools/test.sh -L unit` or `tools/test.sh -R config`.
#
# MESHDB_SANITIZERS=1 (CI sets it) then also builds ./build-sanitizers with AddressSanitizer
# and UndefinedBehaviorSanitizer and runs the unit tests there; any report fails the run.
# Both builds use -Werror (MESHDB_WERROR=ON): a compiler warning fails the run.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
MESHDB_CMAKE_ARGS="-DMESHDB_WERROR=ON ${MESHDB_CMAKE_ARGS:-}" "$REPO_ROOT/tools/setup.sh"
ctest --test-dir "${MESHDB_BUILD_DIR:-$REPO_ROOT/build}" --output-on-failure -j2 "$@"

if [[ "${MESHDB_SANITIZERS:-0}" == 1 ]]; then
  SANITIZER_DIR="$REPO_ROOT/build-sanitizers"
  MESHDB_BUILD_DIR="$SANITIZER_DIR" \
    MESHDB_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Debug -DMESHDB_ENABLE_ASAN=ON -DMESHDB_ENABLE_UBSAN=ON -DMESHDB_WERROR=ON" \
    "$REPO_ROOT/tools/setup.sh"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$SANITIZER_DIR" -L unit --output-on-failure -j2
fi
