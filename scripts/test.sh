#!/usr/bin/env bash
# Installs what is needed and runs every test: generated-code freshness, then the Swift suite
# (unit tests and end-to-end tests that start a real taktd on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/gen-proto.sh --check
swift build --build-tests
swift test --skip-build --parallel --num-workers 2 2>&1 | tee /tmp/takt-swift-test.log
