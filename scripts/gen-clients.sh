#!/usr/bin/env bash
# Regenerates the committed message code of the Python client from proto/:
#   Python: protoc        → clients/python/takt/v1/*_pb2.py            (import path: clients/python;
#           the generated modules import each other as `takt.v1.…`, so they live in the package `takt.v1`)
# The C client compiles the server's protoc-c output in Sources/TaktProtoC (scripts/gen-proto.sh).
# Usage: scripts/gen-clients.sh            write the files
#        scripts/gen-clients.sh --check    fail (exit 1) when the committed files are stale or missing
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "gen-clients: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }
check=0
[ "${1:-}" = "--check" ] && check=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/python"
protoc --proto_path=proto --python_out="$tmp/python" proto/takt/v1/*.proto
# Package markers so that `takt.v1` is importable (and installable) as a regular package.
echo '"""Generated protobuf messages of the Takt wire protocol (scripts/gen-clients.sh). Do not edit."""' > "$tmp/python/takt/__init__.py"
cp "$tmp/python/takt/__init__.py" "$tmp/python/takt/v1/__init__.py"

# (generated dir, committed dir) pairs
pairs=("$tmp/python/takt:clients/python/takt" "$tmp/python/takt/v1:clients/python/takt/v1")
status=0
for pair in "${pairs[@]}"; do
  src=${pair%%:*}; dst=${pair#*:}
  if [ $check = 1 ]; then
    for f in "$src"/*.*; do
      [ -f "$f" ] || continue
      cmp -s "$f" "$dst/$(basename "$f")" || { echo "stale: $dst/$(basename "$f")"; status=1; }
    done
    # committed generated files whose .proto is gone
    for f in "$dst"/*_pb2.py; do
      [ -f "$f" ] || continue
      [ -f "$src/$(basename "$f")" ] || { echo "stale (no longer generated): $f"; status=1; }
    done
  else
    mkdir -p "$dst"
    rm -f "$dst"/*_pb2.py
    for f in "$src"/*.*; do [ -f "$f" ] && cp "$f" "$dst/"; done
  fi
done
if [ $check = 1 ]; then
  [ $status = 0 ] && echo "gen-clients: generated client code is up to date"
  exit $status
fi
echo "gen-clients: wrote clients/python/takt"
