#!/usr/bin/env bash
# The whole test suite, as CI runs it: install dependencies, build, run every test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/deploy/install-deps.sh"
"$root/deploy/build.sh"
cd "${SAFEGUARD_BUILD_DIR:-$root/build}"
ctest -j "$(nproc)" --output-on-failure --timeout 600
