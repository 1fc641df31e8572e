#!/usr/bin/env bash
# Builds meshdb (installing missing Debian packages) and runs every test with ctest.
# Extra arguments go to ctest, e.g. `tools/test.sh -L unit` or `tools/test.sh -R config`.
# Every build uses -Werror (MESHDB_WERROR=ON): a compiler warning fails the run.
#
# MESHDB_SANITIZERS=1 (CI sets it; .ci/run) runs, in this order, stopping at the first failure:
#   1. tools/lint.sh: clang-format on every C++ file, clang-tidy on the files changed since
#      $MESHDB_LINT_BASE (default HEAD~1)
#   2. ./build (gcc): every ctest test (unit, integration, fuzz corpus replay); under CI a
#      unity build (CMAKE_UNITY_BUILD: a few sources per compiler run, so gcc parses Boost's
#      headers less often; 6 minutes instead of 11 on 2 cores, docs/testing.md)
#   3. ./build-fuzz (clang, MESHDB_BUILD_FUZZERS=ON): frame_decoder_fuzz as a libFuzzer
#      binary, its corpus replayed, then a short fuzzing pass (ctest label `fuzz`)
#   4. ./build-sanitizers (clang, Debug, AddressSanitizer + UndefinedBehaviorSanitizer): unit tests
#      (clang with its precompiled headers builds in about half gcc's time; the gcc build of
#      stage 2 keeps gcc's warnings)
#   5. ./build-tsan (clang, ThreadSanitizer): the unit tests of the modules that run threads
#      of their own (ctest label `unit_threads`: common, storage, net, replication engine and
#      cluster, server; not config, security, ops, the wire format or the fuzz corpus replay,
#      whose code runs only on its caller's thread), and the integration modules in
#      $MESHDB_TSAN_INTEGRATION against build-tsan/meshdb; only those targets are built
# Any sanitizer report fails the run.
#
# MESHDB_INTEGRATION_LOCK=FILE: run the ctest commands that start integration tests under
# `flock FILE` (machines shared by several people running integration tests).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

CI=0
if [[ "${MESHDB_SANITIZERS:-0}" == 1 ]]; then
  CI=1
  # clang 14 for the TSan and libFuzzer builds: its runtimes (libclang-rt-14-dev) are only
  # recommended by clang-14; llvm gives llvm-symbolizer for readable sanitizer stacks.
  export MESHDB_EXTRA_PACKAGES="clang libclang-rt-14-dev llvm ${MESHDB_EXTRA_PACKAGES:-}"
fi

# Prints and times one stage.
stage() {
  echo "=== test.sh: $* ($(date -u +%H:%M:%S))"
}
with_lock() {
  if [[ -n "${MESHDB_INTEGRATION_LOCK:-}" ]]; then
    flock "$MESHDB_INTEGRATION_LOCK" "$@"
  else
    "$@"
  fi
}

if ((CI)); then
  stage "lint"
  "$REPO_ROOT/tools/lint.sh"
fi

stage "build (gcc) and all tests"
GCC_ARGS="-DMESHDB_WERROR=ON -DMESHDB_LINE_TABLES_ONLY=ON"
# Not outside CI: an edit recompiles its whole unity batch, which slows a developer's rebuilds.
if ((CI)); then GCC_ARGS+=" -DCMAKE_UNITY_BUILD=ON"; fi
MESHDB_CMAKE_ARGS="$GCC_ARGS ${MESHDB_CMAKE_ARGS:-}" "$REPO_ROOT/tools/setup.sh"
with_lock ctest --test-dir "${MESHDB_BUILD_DIR:-$REPO_ROOT/build}" --output-on-failure -j2 "$@"

if ((CI)); then
  stage "libFuzzer build (clang) and a short fuzzing pass"
  FUZZ_DIR="$REPO_ROOT/build-fuzz"
  CC=clang CXX=clang++ MESHDB_BUILD_DIR="$FUZZ_DIR" \
    MESHDB_CMAKE_ARGS="-DMESHDB_BUILD_FUZZERS=ON -DMESHDB_BUILD_BENCH=OFF -DMESHDB_WERROR=ON -DMESHDB_LINE_TABLES_ONLY=ON" \
    "$REPO_ROOT/tools/setup.sh" frame_decoder_fuzz
  ctest --test-dir "$FUZZ_DIR" -R '^fuzz_' --output-on-failure

  stage "ASan + UBSan build (clang, Debug) and unit tests"
  SANITIZER_DIR="$REPO_ROOT/build-sanitizers"
  CC=clang CXX=clang++ MESHDB_BUILD_DIR="$SANITIZER_DIR" \
    MESHDB_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Debug -DMESHDB_ENABLE_ASAN=ON -DMESHDB_ENABLE_UBSAN=ON -DMESHDB_BUILD_BENCH=OFF -DMESHDB_WERROR=ON -DMESHDB_LINE_TABLES_ONLY=ON" \
    "$REPO_ROOT/tools/setup.sh"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$SANITIZER_DIR" -L unit --output-on-failure -j2

  stage "TSan build (clang) and threaded unit + replication integration tests"
  TSAN_DIR="$REPO_ROOT/build-tsan"
  CC=clang CXX=clang++ MESHDB_BUILD_DIR="$TSAN_DIR" \
    MESHDB_CMAKE_ARGS="-DMESHDB_ENABLE_TSAN=ON -DMESHDB_BUILD_BENCH=OFF -DMESHDB_WERROR=ON -DMESHDB_LINE_TABLES_ONLY=ON" \
    "$REPO_ROOT/tools/setup.sh" meshdb meshdb_certgen threaded_unit_tests
  # Reports go to files (log_path), not only to the failing process's stderr: a meshdb
  # process that an integration test stops or kills may exit without its status being
  # looked at, so the run fails if any report file exists afterwards.
  TSAN_LOG_DIR="$TSAN_DIR/tsan-reports"
  rm -rf "$TSAN_LOG_DIR" && mkdir -p "$TSAN_LOG_DIR"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$TSAN_LOG_DIR/tsan"
  tsan_failed=0
  ctest --test-dir "$TSAN_DIR" -L unit_threads --output-on-failure -j2 || tsan_failed=1
  # ctest runs them with MESHDB_BINARY=build-tsan/meshdb.
  TSAN_INTEGRATION="${MESHDB_TSAN_INTEGRATION:-replication_links replication_data}"
  with_lock ctest --test-dir "$TSAN_DIR" --output-on-failure -j2 \
    -R "^integration_(${TSAN_INTEGRATION// /|})\$" || tsan_failed=1
  unset TSAN_OPTIONS
  if compgen -G "$TSAN_LOG_DIR/tsan.*" >/dev/null; then
    for report in "$TSAN_LOG_DIR"/tsan.*; do
      echo "=== $report"
      cat "$report"
    done
    echo "test.sh: ThreadSanitizer reports above" >&2
    tsan_failed=1
  fi
  if ((tsan_failed)); then
    exit 1
  fi
fi
stage "all passed"
