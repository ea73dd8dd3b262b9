#!/usr/bin/env bash
# Installs what is needed and runs every test: generated-code freshness, the Swift suite (unit
# tests and end-to-end tests that start real taktd processes on loopback), a 5-round crash
# campaign, a minute of each libFuzzer target, then the Python and C clients against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/gen-proto.sh --check
swift build --build-tests
swift test --skip-build
TAKT_SKIP_BUILD=1 scripts/crash-test.sh 5
for target in frames messages eventtext; do scripts/fuzz.sh "$target" 60; done
scripts/test-clients.sh
