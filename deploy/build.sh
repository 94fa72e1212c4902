#!/usr/bin/env bash
# Configures and builds everything into build/ (or $SAFEGUARD_BUILD_DIR). Incremental.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${SAFEGUARD_BUILD_DIR:-$root/build}"
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build/configure.log" 2>&1 \
  || { cat "$build/configure.log" >&2; exit 1; }
cmake --build "$build" -j "$(nproc)"
