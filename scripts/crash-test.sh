#!/usr/bin/env bash
# Crash campaign (issue 9): ROUNDS rounds of 8 simulated gateways sending random batches (new events,
# resends, in-batch duplicates, shuffled) to a real taktd that is SIGKILLed at a random moment, then
# restarted and checked: every acknowledged event stored, nothing never sent, no identity twice, a
# full resend answered exactly as the store says, `PRAGMA integrity_check` ok (sqlite3 CLI) on the
# files the crash left and after a clean stop. Then the disk-full cases (max_page_count, and a real
# ENOSPC on a small tmpfs when running as root).
#
#   scripts/crash-test.sh ROUNDS [SEED]     SEED defaults to 9: the same choices every run
#
# Builds the tests into .build (override with TAKT_BUILD_DIR) unless TAKT_SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:?usage: scripts/crash-test.sh ROUNDS [SEED]}
seed=${2:-9}
[[ "$rounds" =~ ^[0-9]+$ && "$seed" =~ ^[0-9]+$ ]] || { echo "usage: scripts/crash-test.sh ROUNDS [SEED]" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "crash-test: the sqlite3 CLI is needed (scripts/setup.sh installs it)" >&2; exit 2; }
build=${TAKT_BUILD_DIR:-.build}
if [ "${TAKT_SKIP_BUILD:-0}" != 1 ]; then
  log=$(mktemp)
  swift build --build-tests --scratch-path "$build" >"$log" 2>&1 || { tail -n 40 "$log" >&2; rm -f "$log"; exit 1; }
  rm -f "$log"
fi
echo "crash-test: $rounds rounds, seed $seed"
TAKT_CRASH_ROUNDS=$rounds TAKT_CRASH_SEED=$seed \
  swift test --skip-build --scratch-path "$build" --filter 'CrashCampaignTests|DiskFullTests' 2>&1 \
  | grep -E --line-buffered "crash-test|DiskFullTests|✘|✔ Test run|passed after|failed after|error|Expectation failed"
exit "${PIPESTATUS[0]}"
