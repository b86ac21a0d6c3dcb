#!/usr/bin/env bash
# A quick side-by-side of single ops (benchmarks/op_cases.hpp): this tree's bench_layers, an older
# bench_layers binary (optional, e.g. one copied aside before a change) and libtorch's twin, run
# interleaved for several rounds; prints the median of each case and the ratios. For checking one
# change in a few minutes; scripts/bench.sh --parts layers is the full, recorded run.
#
#   scripts/bench-ops.sh REGEX [ROUNDS] [OLD_BENCH_LAYERS]
#   REGEX matches the case names after "ops/", e.g. 'fwd_bwd/(elu|silu)/1024x1024'
#   defaults: 3 rounds, no old binary
#
# Uses build/bench/benchmarks/bench_layers and build/bench-torch/bench_layers_torch as built by
# scripts/bench.sh (run it once, or build those two targets).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[[ $# -ge 1 ]] || { sed -n '2,12p' "$0"; exit 2; }
filter="$1"
rounds="${2:-3}"
old="${3:-}"
new=build/bench/benchmarks/bench_layers
torch=build/bench-torch/bench_layers_torch
for b in "$new" "$torch" ${old:+"$old"}; do
  [[ -x "$b" ]] || { echo "bench-ops.sh: $b not found (build it with scripts/bench.sh or cmake)" >&2; exit 1; }
done

raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
run() {  # label binary prefix
  "$2" --benchmark_filter="^$3($filter)" --benchmark_format=csv 2>/dev/null |
    grep "^\"$3" | sed "s|^|$1,|;s|\"$3|\"ops/|" >>"$raw" || true
}
for ((r = 1; r <= rounds; r++)); do
  [[ -n "$old" ]] && run old "$old" ops/
  run new "$new" ops/
  run torch "$torch" torch_ops/
done

python3 - "$raw" <<'PY'
import collections, csv, re, statistics, sys
times = collections.defaultdict(lambda: collections.defaultdict(list))
scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
for row in csv.reader(open(sys.argv[1])):
    who, name, real, unit = row[0], re.sub(r"/real_time$", "", row[1]), float(row[3]), row[5]
    times[name][who].append(real * scale[unit])
if not times:
    sys.exit("bench-ops.sh: no case matched")
have_old = any("old" in w for w in times.values())
head = f"{'case':50s} " + (f"{'old us':>10s} " if have_old else "") + f"{'new us':>10s} {'torch us':>10s}"
head += (f" {'new/old':>8s}" if have_old else "") + f" {'torch/new':>9s}"
print(head)
for name, w in times.items():
    m = {k: statistics.median(v) for k, v in w.items()}
    new, torch = m.get("new", float("nan")), m.get("torch", float("nan"))
    line = f"{name:50s} " + (f"{m.get('old', float('nan')):10.1f} " if have_old else "") + f"{new:10.1f} {torch:10.1f}"
    line += (f" {new / m.get('old', float('nan')):8.2f}" if have_old else "") + f" {torch / new:9.2f}"
    print(line)
PY
