#!/usr/bin/env bash
# Installs what is needed and runs every test: generated-code freshness, the Swift suite (unit
# tests and end-to-end tests that start real taktd processes on loopback), then the Python and C
# clients against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/gen-proto.sh --check
swift build --build-tests
swift test --skip-build
scripts/test-clients.sh
