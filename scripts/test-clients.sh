#!/usr/bin/env bash
# Tests the Python and C clients (clients/) against real taktd processes on 127.0.0.1 port 0
# with temporary data directories: generated-code freshness, the C build (-Wall -Wextra -Werror),
# then one pytest run (clients/tests) that starts and stops the servers and runs the C programs
# directly and under valgrind. Ends with "clients: N passed, M failed".
#
# Environment: SWIFT_SCRATCH_PATH  swift build --scratch-path (default: the package's .build)
#              TAKTD               use this taktd binary instead of building one
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

# --- apt packages (installed only when missing) ---
need=(protobuf-compiler protobuf-c-compiler libprotobuf-c-dev pkg-config make gcc valgrind python3 python3-protobuf)
py_ok() { "$1" -c 'import google.protobuf, pytest' >/dev/null 2>&1; }
python=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && py_ok "$p"; then python=$(command -v "$p"); break; fi
done
[ -z "$python" ] && need+=(python3-pytest)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "test-clients: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ -z "$python" ]; then
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && py_ok "$p"; then python=$(command -v "$p"); break; fi
  done
fi
[ -n "$python" ] || { echo "test-clients: no python3 with protobuf and pytest" >&2; exit 1; }

# --- generated code is fresh ---
scripts/gen-clients.sh --check

# --- taktd ---
if [ -z "${TAKTD:-}" ]; then
  scratch=()
  [ -n "${SWIFT_SCRATCH_PATH:-}" ] && scratch=(--scratch-path "$SWIFT_SCRATCH_PATH")
  swift build "${scratch[@]}" --product taktd 2>&1 | tail -n 3
  TAKTD="$(swift build "${scratch[@]}" --show-bin-path)/taktd"
fi
[ -x "$TAKTD" ] || { echo "test-clients: taktd not found at $TAKTD" >&2; exit 1; }
export TAKTD
# the takt CLI next to taktd (built by a plain `swift build`), for the metrics comparison test
[ -z "${TAKT_CLI:-}" ] && [ -x "$(dirname "$TAKTD")/takt" ] && export TAKT_CLI="$(dirname "$TAKTD")/takt"

# --- C client ---
make -s -C clients/c
export TAKT_C_BUILD="$repo/clients/c/build"

# --- tests ---
report=$(mktemp)
trap 'rm -f "$report"' EXIT
echo "test-clients: $("$python" --version 2>&1), taktd $TAKTD"
set +e
PYTHONDONTWRITEBYTECODE=1 timeout 600 "$python" -m pytest -p no:cacheprovider -q -rs clients/tests --junitxml="$report"
status=$?
set -e
"$python" - "$report" "$status" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
except Exception:
    total, failed, skipped = 0, 1, 0
if int(sys.argv[2]) != 0 and failed == 0:
    failed = 1  # pytest failed outside a test (collection, timeout)
passed = total - failed - skipped
print(f"clients: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $status
