#!/usr/bin/env bash
# Installs what is needed, builds release binaries and starts taktd on 127.0.0.1:7411 with its
# SQLite store in ./data, loading demo data on first start. Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release
bin=$(swift build -c release --show-bin-path)
cat <<MSG

taktd is starting on 127.0.0.1:7411 (data in ./data). In another terminal try:
  $bin/takt metrics workers
  $bin/takt metrics factory
  $bin/takt timeline
  $bin/takt top
MSG
exec "$bin/taktd" --data-dir ./data --demo "$@"
