#!/usr/bin/env bash
# Installs the Debian packages meshdb needs (only when one is missing), then configures and
# builds meshdb with CMake + Ninja into ./build (or $MESHDB_BUILD_DIR).
# Idempotent: on a machine that has everything it only runs an incremental build.
#
#   tools/setup.sh              install + configure + build everything
#   tools/setup.sh TARGET...    install + configure + build only these ninja targets
#                               (tools/run-node.sh builds just `meshdb`)
#   tools/setup.sh --no-build   install the packages only
#
# Environment:
#   MESHDB_BUILD_DIR    build directory (default: <repo>/build)
#   MESHDB_CMAKE_ARGS   extra CMake arguments, e.g. "-DMESHDB_ENABLE_ASAN=ON"
#   MESHDB_JOBS         parallel build jobs (default: 2)
#   MESHDB_EXTRA_PACKAGES  more Debian packages to install, space-separated (tools/lint.sh and
#                          tools/test.sh add clang, clang-format, clang-tidy, ... this way)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${MESHDB_BUILD_DIR:-$REPO_ROOT/build}"
JOBS="${MESHDB_JOBS:-2}"

PACKAGES=(
  cmake ninja-build g++
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  liblmdb-dev libzstd-dev liburing-dev libcsv-dev libssl-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libargon2-dev libsqlite3-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3
  # The discovery tests start their own etcd (tests/integration/etcd_fixture.py), never the
  # package's systemd service on port 2379.
  etcd-server etcd-client
  # The web console's browser test (tests/integration/test_console.py) drives Debian's
  # chromium with puppeteer-core from tests/console (npm ci below; never a browser download).
  chromium
)
# shellcheck disable=SC2206  # a space-separated list on purpose
PACKAGES+=(${MESHDB_EXTRA_PACKAGES:-})
# The client tests (tests/clients: harperive from npm) and the console test (tests/console:
# puppeteer-core) need Node.js; Debian's only when the machine has none of its own.
if ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "setup: installing missing packages: ${missing[*]}"
  SUDO=()
  if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      SUDO=(sudo)
    else
      echo "setup: not root and no sudo; install these packages: ${missing[*]}" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# puppeteer-core for the console test, at the versions of tests/console/package-lock.json.
CONSOLE_TEST_DIR="$REPO_ROOT/tests/console"
if [[ ! -d "$CONSOLE_TEST_DIR/node_modules" ||
      "$CONSOLE_TEST_DIR/package-lock.json" -nt "$CONSOLE_TEST_DIR/node_modules" ]]; then
  echo "setup: npm ci in tests/console"
  (cd "$CONSOLE_TEST_DIR" && npm ci --no-audit --no-fund)
  touch "$CONSOLE_TEST_DIR/node_modules"
fi

if [[ "${1:-}" == "--no-build" ]]; then
  exit 0
fi

# shellcheck disable=SC2086  # MESHDB_CMAKE_ARGS is a list of words on purpose
if [[ ! -f "$BUILD_DIR/build.ninja" || -n "${MESHDB_CMAKE_ARGS:-}" ]]; then
  cmake -S "$REPO_ROOT" -B "$BUILD_DIR" -G Ninja ${MESHDB_CMAKE_ARGS:-}
fi
ninja -C "$BUILD_DIR" -j "$JOBS" "$@"
