#!/usr/bin/env bash
# Installs what Takt needs on a fresh Debian/Ubuntu machine that has Swift: the C libraries
# (protobuf-c, SQLite) and their tools. Idempotent: does nothing when everything is there.
set -euo pipefail
packages=(pkg-config libprotobuf-c-dev protobuf-c-compiler libsqlite3-dev sqlite3 protobuf-compiler python3 python3-venv tmux)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: swift not found on PATH (install Swift 6.x first)" >&2; exit 1; }
