#!/usr/bin/env bash
# Style checks; CI runs them first (tools/test.sh with MESHDB_SANITIZERS=1), so a style
# failure costs seconds, not a build.
#
#   tools/lint.sh          clang-format on every tracked *.h/*.cc, then clang-tidy on the
#                          *.h/*.cc changed since $MESHDB_LINT_BASE (uncommitted changes too)
#   tools/lint.sh --all    clang-format as above, clang-tidy on every tracked *.h/*.cc
#
# Fails if a file is not formatted as .clang-format says (fix: clang-format -i FILE), or if
# clang-tidy reports anything for the checks .clang-tidy enables (all warnings are errors).
# Headers are checked as files of their own; a .cc's diagnostics inside the headers it
# includes are not reported, so only the changed files are judged.
#
# Environment:
#   MESHDB_LINT_BASE   git revision to diff against (default: HEAD~1, the previous commit)
#   MESHDB_BUILD_DIR   build directory whose compile_commands.json clang-tidy uses (default:
#                      <repo>/build; configured with cmake, not built, if it has none)
#   MESHDB_JOBS        parallel clang-tidy processes (default: 2)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
BUILD_DIR="${MESHDB_BUILD_DIR:-$REPO_ROOT/build}"
JOBS="${MESHDB_JOBS:-2}"
BASE="${MESHDB_LINT_BASE:-HEAD~1}"

all=0
case "${1:-}" in
  --all) all=1 ;;
  "") ;;
  *)
    echo "usage: tools/lint.sh [--all]" >&2
    exit 2
    ;;
esac

# clang-format and clang-tidy 14 on Debian 12; the rest (cmake, libraries) for the compile
# database.
MESHDB_EXTRA_PACKAGES="clang-format clang-tidy ${MESHDB_EXTRA_PACKAGES:-}" \
  "$REPO_ROOT/tools/setup.sh" --no-build

echo "lint: clang-format $(clang-format --version | grep -o '[0-9][0-9.]*' | head -1)"
if ! git ls-files -z -- '*.h' '*.cc' | xargs -0 clang-format --dry-run -Werror; then
  echo "lint: FAILED: files above are not clang-formatted (clang-format -i FILE)" >&2
  exit 1
fi

if ((all)); then
  mapfile -t files < <(git ls-files -- '*.h' '*.cc')
else
  if ! git rev-parse -q --verify "$BASE^{commit}" >/dev/null; then
    echo "lint: base revision '$BASE' not found (shallow clone?); set MESHDB_LINT_BASE or use --all" >&2
    exit 1
  fi
  # Changed and still present (not deleted) files, committed since BASE or not yet committed.
  mapfile -t files < <(git diff --name-only --diff-filter=d "$BASE" -- '*.h' '*.cc')
fi
if ((${#files[@]} == 0)); then
  echo "lint: no C++ files changed since $BASE; clang-tidy skipped"
  exit 0
fi

if [[ ! -f "$BUILD_DIR/compile_commands.json" ]]; then
  cmake -S "$REPO_ROOT" -B "$BUILD_DIR" -G Ninja >/dev/null
fi

# clang-tidy reads a copy of the compile database without the precompiled-header flags
# (MESHDB_PCH in CMakeLists.txt): clang-tidy 14 would try to load a gcc build's .gch files,
# which it cannot read; and without the PCH a changed file missing an #include fails here.
TIDY_DB="$(mktemp -d)"
trap 'rm -rf "$TIDY_DB"' EXIT
sed -E -e 's# -Winvalid-pch##g' \
  -e 's# -Xclang -include-pch -Xclang [^ ]*/cmake_pch\.hxx\.pch##g' \
  -e 's# (-Xclang )?-include (-Xclang )?[^ ]*/cmake_pch\.hxx##g' \
  "$BUILD_DIR/compile_commands.json" >"$TIDY_DB/compile_commands.json"

echo "lint: clang-tidy on ${#files[@]} file(s)$( ((all)) || echo " changed since $BASE")"
# One clang-tidy per file; "N warnings generated." counts diagnostics of disabled checks and
# system headers, so it is dropped. xargs exits non-zero if any clang-tidy did.
# shellcheck disable=SC2016  # expanded by the bash -c below, per file
tidy_one='out="$(clang-tidy -p "$0" --quiet --warnings-as-errors="*" "$1" 2>&1)"; rc=$?
if [[ -n "$out" ]]; then grep -v "^[0-9]* warnings\{0,1\} generated\.$" <<<"$out" || true; fi
exit $rc'
if ! printf '%s\0' "${files[@]}" | xargs -0 -n1 -P "$JOBS" bash -c "$tidy_one" "$TIDY_DB"; then
  echo "lint: FAILED: clang-tidy findings above (checks and exceptions: .clang-tidy)" >&2
  exit 1
fi
echo "lint: OK"
