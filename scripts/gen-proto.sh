#!/usr/bin/env bash
# Regenerates the committed protoc-c output in Sources/TaktProtoC from proto/.
# Usage: scripts/gen-proto.sh [OUT_DIR]   (default: Sources/TaktProtoC; --check compares instead)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc-c >/dev/null || { echo "gen-proto: protoc-c not found (apt-get install protobuf-c-compiler)" >&2; exit 1; }
out=Sources/TaktProtoC
check=0
if [ "${1:-}" = "--check" ]; then check=1; out=$(mktemp -d); fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
protoc-c --proto_path=proto --c_out="$tmp" proto/takt/v1/*.proto
# Flatten: sources next to each other, headers under include/takt/v1 (the include path the .c files use).
mkdir -p "$out/include/takt/v1"
for f in "$tmp"/takt/v1/*.pb-c.c; do cp "$f" "$out/"; done
for f in "$tmp"/takt/v1/*.pb-c.h; do cp "$f" "$out/include/takt/v1/"; done
if [ $check = 1 ]; then
  status=0
  for f in "$out"/*.pb-c.c; do cmp -s "$f" "Sources/TaktProtoC/$(basename "$f")" || { echo "stale: Sources/TaktProtoC/$(basename "$f")"; status=1; }; done
  for f in "$out"/include/takt/v1/*.pb-c.h; do cmp -s "$f" "Sources/TaktProtoC/include/takt/v1/$(basename "$f")" || { echo "stale: Sources/TaktProtoC/include/takt/v1/$(basename "$f")"; status=1; }; done
  rm -rf "$out"
  [ $status = 0 ] && echo "gen-proto: generated code is up to date"
  exit $status
fi
echo "gen-proto: wrote $out"
