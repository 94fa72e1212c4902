#!/usr/bin/env bash
# Fuzz smoke test: builds the libFuzzer targets with clang in their own build directory and runs
# each for a short while from the seed corpus. Exits non-zero if a build fails or a fuzzer finds
# a crash, a sanitizer report, a leak or a violated property; the input that did it is left in
# BUILD_DIR/artifacts/.
#
# Usage: tests/fuzz/run-smoke.sh BUILD_DIR [SECONDS_PER_FUZZER]   (default 20 seconds)
# Environment: CC / CXX (default clang / clang++), JOBS (build parallelism, default 2).
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 BUILD_DIR [SECONDS_PER_FUZZER]" >&2
  exit 2
fi
build_dir=$1
seconds=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fuzzers=(proof_fuzzer checkpoint_fuzzer)
# The envelope fuzzer needs the root project (protobuf); it is added below when the root has
# the tests/fuzz hook.

mkdir -p "$build_dir"
build_dir=$(cd "$build_dir" && pwd)

# Prefer the root project when it hooks tests/fuzz in (the fuzzers then build exactly as the
# rest of the tree does); otherwise configure tests/fuzz on its own, which needs no hook.
if grep -Eq '^[[:space:]]*add_subdirectory\(tests/fuzz\)' "$root/CMakeLists.txt"; then
  source_dir=$root
  extra=(-DSAFEGUARD_BUILD_TESTS=OFF)
  fuzzers+=(envelope_fuzzer)
else
  source_dir=$here
  extra=()
fi

echo "== configuring $source_dir in $build_dir with ${CC:-clang} / ${CXX:-clang++}"
cmake -S "$source_dir" -B "$build_dir" \
  -DCMAKE_C_COMPILER="${CC:-clang}" -DCMAKE_CXX_COMPILER="${CXX:-clang++}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSAFEGUARD_FUZZ=ON "${extra[@]}" >/dev/null
cmake --build "$build_dir" --target "${fuzzers[@]}" -j "${JOBS:-2}"

mkdir -p "$build_dir/artifacts"
status=0
for fuzzer in "${fuzzers[@]}"; do
  binary=$build_dir/fuzzers/$fuzzer
  if [[ ! -x $binary ]]; then
    echo "FAIL: $binary was not built (is the compiler clang?)" >&2
    exit 1
  fi
  # A scratch corpus, seeded from the checked-in one, so runs never write into the source tree.
  corpus=$build_dir/corpus/$fuzzer
  mkdir -p "$corpus"
  cp "$here/corpus/$fuzzer"/* "$corpus"/
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$build_dir/artifacts/$fuzzer-")
  [[ -f $here/$fuzzer.dict ]] && args+=(-dict="$here/$fuzzer.dict")
  echo "== $fuzzer for ${seconds}s"
  if "$binary" "${args[@]}" "$corpus" 2>"$build_dir/$fuzzer.log"; then
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$build_dir/$fuzzer.log" || true
    tail -n 1 "$build_dir/$fuzzer.log" | grep -q 'Done' || true
    echo "ok: $fuzzer"
  else
    echo "FAIL: $fuzzer (log: $build_dir/$fuzzer.log, input: $build_dir/artifacts/)" >&2
    tail -n 40 "$build_dir/$fuzzer.log" >&2
    status=1
  fi
done
exit $status
