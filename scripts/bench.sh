#!/usr/bin/env bash
# Builds nabla's benchmarks (preset `bench`) and their libtorch twins (benchmarks/libtorch, into
# build/bench-torch), runs them interleaved for several rounds, and prints the medians across
# rounds with the ratios nabla/other and the targets' verdicts (benchmarks/summarize.py). JSON and
# logs go to bench-results/<date-time>/; bench-results/latest points at the newest run.
#
#   scripts/bench.sh [--rounds N] [--min-time SECONDS] [--max-wait SECONDS] [--parts LIST]
#                    [--no-torch] [--no-build]
#   defaults: 5 rounds, 0.25 s per benchmark, at most 300 s in all waiting for a quiet machine,
#   every part: --parts overhead,gemm,layers,gan
#
# Each round runs, one after the other, the parts asked for:
#   overhead  nabla, torch
#   gemm      nabla GEMM (nabla's kernel, nabla::matmul, OpenBLAS as this environment configures
#             it), OpenBLAS alone with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (its own CPU
#             detection), torch GEMM; first for n <= 1024, then for n = 2048
#   layers    Linear, Conv2d, ConvTranspose2d forward+backward, other layers (probe/) and single
#             ops (ops/, benchmarks/op_cases.hpp): nabla, torch, torch with the two
#             OpenBLAS variables unset, and (two threads only) torch unset with OpenBLAS on one
#             thread (NABLA_BENCH_BLAS_THREADS=1: no second pool spinning beside libtorch's)
#   gan       a training iteration of GAN_VARIANTS.md rows 3, 6, 7, the same four ways
# n = 2048 takes 0.1–0.3 s per product, so there each round times one product per benchmark
# (after an untimed warm-up) instead of running for --min-time; the batch-128 convolutions and
# the row-7 iteration likewise run a fixed, small number of iterations (set in the programs).
#
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset for those runs only, here and nowhere else
# (never in the tests). With the defaults one round takes about 90 s on 2 cores (overhead 10 s,
# gemm 22 s, layers 38 s, gan 19 s), 5 rounds about 7.5 minutes, plus the build and any wait for a
# quiet machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rounds=5
min_time=0.25
max_wait=300
torch=1
build=1
parts=overhead,gemm,layers,gan
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --min-time) min_time="$2"; shift 2 ;;
    --max-wait) max_wait="$2"; shift 2 ;;
    --parts) parts="$2"; shift 2 ;;
    --no-torch) torch=0; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

for part in ${parts//,/ }; do
  case "$part" in
    overhead | gemm | layers | gan) ;;
    *) echo "bench.sh: unknown part '$part' in --parts (expected overhead, gemm, layers, gan)" >&2; exit 2 ;;
  esac
done
want() { [[ ",$parts," == *",$1,"* ]]; }

python=/usr/bin/python3
[[ -x $python ]] || python=python3

out="bench-results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
ln -sfn "$(basename "$out")" bench-results/latest

if [[ $build -eq 1 ]]; then
  scripts/bootstrap.sh --bench
  export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
  export CCACHE_DIR="${CCACHE_DIR:-$PWD/.cache/ccache}"
  echo "bench.sh: building (log: $out/build.log)"
  {
    cmake --preset bench && cmake --build --preset bench
    if [[ $torch -eq 1 ]]; then
      cmake -S benchmarks/libtorch -B build/bench-torch -DCMAKE_BUILD_TYPE=Release &&
        cmake --build build/bench-torch
    fi
  } >"$out/build.log" 2>&1 || {
    tail -n 40 "$out/build.log" >&2
    echo "bench.sh: the build failed (full log: $out/build.log)" >&2
    exit 1
  }
fi

nabla_bin=build/bench/benchmarks
torch_bin=build/bench-torch
for part in overhead gemm layers gan; do
  want "$part" || continue
  exes=("$nabla_bin/bench_$part")
  [[ $torch -eq 1 ]] && exes+=("$torch_bin/bench_${part}_torch")
  for exe in "${exes[@]}"; do
    [[ -x $exe ]] || { echo "bench.sh: $exe is missing; run without --no-build" >&2; exit 1; }
  done
done

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- include 2>/dev/null || echo ' (include/ has uncommitted changes)')"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  echo "avx512: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no)"
  echo "environment: $(env | grep '^OPENBLAS_' | sort | tr '\n' ' ')"
  echo "rounds: $rounds, min_time: $min_time s, parts: $parts"
} >"$out/machine.txt"
cat "$out/machine.txt"
cat /proc/loadavg >"$out/loadavg_begin.txt"

# The machine may be shared: before each program, wait (within a budget of --max-wait seconds for
# the whole run) until other processes use under 10 % of the CPU. Each program's own CPU time and
# the machine's CPU counters around it are kept, so that summarize.py can tell which runs shared
# the machine and take the medians over the undisturbed rounds.
waited_halves=0
wait_quiet() {
  local u n s i w q sq st u2 n2 s2 i2 w2 q2 sq2 st2 busy total
  while ((waited_halves < 2 * max_wait)); do
    read -r _ u n s i w q sq st _ </proc/stat
    sleep 0.5
    read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ </proc/stat
    busy=$(((u2 + n2 + s2 + q2 + sq2) - (u + n + s + q + sq)))
    total=$((busy + (i2 + w2) - (i + w) + st2 - st))
    ((busy * 10 < total)) && return 0
    waited_halves=$((waited_halves + 1))
  done
}

# run NAME COMMAND...: one benchmark program, its JSON (stdout) into $out/NAME.json.
run() {
  local name="$1"
  shift
  wait_quiet
  local timer=()
  [[ -x /usr/bin/time ]] && timer=(/usr/bin/time -o "$out/$name.time" -f "%e %U %S")
  head -n1 /proc/stat >"$out/$name.stat"
  "${timer[@]}" "$@" --benchmark_format=json >"$out/$name.json" 2>"$out/$name.log" || {
    cat "$out/$name.log" >&2
    echo "bench.sh: $name failed" >&2
    exit 1
  }
  head -n1 /proc/stat >>"$out/$name.stat"
}

small='/(256|512|1024)/'
large='/2048/'
start=$SECONDS
# torch_all PART EXE ARGS...: a libtorch program as the environment configures OpenBLAS, then
# with OpenBLAS's own CPU detection, then (two-thread cases only) with OpenBLAS's own detection
# and OpenBLAS kept on one thread, libtorch's OpenMP pool alone on the two (torch_threads.hpp).
torch_all() {
  local part="$1"
  shift
  [[ $torch -eq 1 ]] || return 0
  local unset=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
  run "$part.torch.r$r" "$@"
  run "$part.torch-unset.r$r" "${unset[@]}" "$@"
  run "$part.torch-unset-blas1.r$r" "${unset[@]}" NABLA_BENCH_BLAS_THREADS=1 "$@" --benchmark_filter=/threads:2
}

for ((r = 1; r <= rounds; r++)); do
  echo "bench.sh: round $r/$rounds ($((SECONDS - start)) s so far)"
  if want overhead; then
    run "overhead.nabla.r$r" "$nabla_bin/bench_overhead" --benchmark_min_time="$min_time"
    if [[ $torch -eq 1 ]]; then
      run "overhead.torch.r$r" "$torch_bin/bench_overhead_torch" --benchmark_min_time="$min_time"
    fi
  fi
  if want gemm; then
    for size in small large; do
      filter=${!size}
      t=$min_time
      [[ $size == large ]] && t=0.01
      run "gemm-$size.nabla.r$r" "$nabla_bin/bench_gemm" --benchmark_min_time="$t" --benchmark_filter="$filter"
      run "gemm-$size.openblas-unset.r$r" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        "$nabla_bin/bench_gemm" --benchmark_min_time="$t" --benchmark_filter="^openblas_sgemm$filter"
      if [[ $torch -eq 1 ]]; then
        run "gemm-$size.torch.r$r" "$torch_bin/bench_gemm_torch" --benchmark_min_time="$t" --benchmark_filter="$filter"
      fi
    done
  fi
  for part in layers gan; do
    want "$part" || continue
    run "$part.nabla.r$r" "$nabla_bin/bench_$part" --benchmark_min_time="$min_time"
    torch_all "$part" "$torch_bin/bench_${part}_torch" --benchmark_min_time="$min_time"
  done
done

cat /proc/loadavg >"$out/loadavg_end.txt"
echo "bench.sh: done in $((SECONDS - start)) s (of which $((waited_halves / 2)) s waiting for a quiet machine); results in $out"
"$python" benchmarks/summarize.py "$out" | tee "$out/summary.md"
