#!/usr/bin/env bash
# Builds and runs the tests twice: an optimised release build, then a debug build under
# AddressSanitizer and UndefinedBehaviorSanitizer; then the kernel-heavy tests in a portable
# build (-DNABLA_NATIVE=OFF). Then builds the libFuzzer targets in fuzz/ with
# clang and runs each for NABLA_FUZZ_SECONDS (default 20) from its committed corpus. Stops at the
# first failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh

export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.cache/ccache}"

cmake --workflow --preset release
cmake --workflow --preset debug

# The kernel-heavy tests once more in a portable build (-DNABLA_NATIVE=OFF: baseline x86-64, so
# Eigen's paths stand in for nabla's AVX2/AVX-512 GEMM kernel and there is no Winograd path).
portable_tests=(test_ops_golden test_gemm test_im2col test_layer_paths)
cmake -S . -B build/portable -DCMAKE_BUILD_TYPE=Release -DNABLA_NATIVE=OFF -DNABLA_BUILD_TESTS=ON \
  -DNABLA_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/portable --target "${portable_tests[@]}"
ctest --test-dir build/portable --output-on-failure -j2 \
  -R "^($(IFS='|'; echo "${portable_tests[*]}"))\$"

if ! command -v clang++ >/dev/null || ! command -v clang >/dev/null; then
  echo "test.sh: clang not found, so the fuzz targets are skipped (scripts/bootstrap.sh installs it)"
  exit 0
fi
fuzz_seconds="${NABLA_FUZZ_SECONDS:-20}"
fuzz_build=build/fuzz
cmake -S . -B "$fuzz_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DNABLA_BUILD_FUZZERS=ON -DNABLA_BUILD_TESTS=OFF \
  -DNABLA_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$fuzz_build"
for corpus in fuzz/corpus/*/; do
  name=$(basename "$corpus")
  # New inputs go to a scratch folder: the committed corpus stays as it is.
  scratch="$fuzz_build/corpus/$name"
  artifacts="$fuzz_build/artifacts/$name/"
  log="$fuzz_build/fuzz_$name.log"
  mkdir -p "$scratch" "$artifacts"
  if "$fuzz_build/fuzz/fuzz_$name" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 \
       -artifact_prefix="$artifacts" "$scratch" "$corpus" >"$log" 2>&1; then
    echo "test.sh: fuzz_$name: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log"), no failures"
  else
    tail -n 40 "$log" >&2
    echo "test.sh: fuzz_$name failed; the input that failed is in $artifacts (full log: $log)" >&2
    exit 1
  fi
done
