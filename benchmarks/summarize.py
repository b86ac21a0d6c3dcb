#!/usr/bin/env python3
"""Medians across rounds of a scripts/bench.sh run, as Markdown tables with nabla/other ratios.

usage: summarize.py RESULTS_DIR

RESULTS_DIR holds <part>.<side>.r<round>.json files written with --benchmark_format=json:
  overhead.nabla / overhead.torch               time per iteration (ns)
  gemm-{small,large}.nabla                      nabla_gemm, nabla_matmul, openblas_sgemm (OpenBLAS
                                                as the environment configures it), GFLOP/s
  gemm-{small,large}.openblas-unset             openblas_sgemm with OPENBLAS_CORETYPE and
                                                OPENBLAS_L2_SIZE unset
  gemm-{small,large}.torch                      torch_mm
  layers.{nabla,torch,torch-unset,torch-unset-blas1}
                                                Linear, Conv2d, ConvTranspose2d forward+backward,
                                                time per iteration; torch-unset: libtorch with
                                                OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset;
                                                torch-unset-blas1: the same with OpenBLAS on one
                                                thread (two-thread cases only)
  gan.{nabla,torch,torch-unset,torch-unset-blas1}
                                                one training iteration of GAN_VARIANTS.md rows 3,
                                                6 and 7, time per iteration
Standard library only.
"""
import json
import os
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
FILE_RE = re.compile(r"^(?P<part>[\w-]+)\.(?P<side>[\w-]+)\.r(?P<round>\d+)\.json$")
SPREAD_WARNING = 0.10
DISTURBED = 0.05  # other processes used more than 5 % of the machine's CPU during a program
MIN_CLEAN = 3
UNITS = {}  # benchmark name -> the time unit its program reports in
UNIT_NAMES = {"ns": "ns", "us": "µs", "ms": "ms", "s": "s"}
# Issue 3's targets: nabla at least this many times faster than libtorch (time ratio torch / nabla).
LAYER_TARGETS = {"conv2d": 1.0, "conv_transpose2d": 1.0}
GAN_TARGETS = {"row3/batch:1": 3.0, "row6/batch:100": 1.2, "row7/batch:128": 1.0}
GAN_ROWS = {"row3/batch:1": "row 3 (batch 1)", "row6/batch:100": "row 6 (batch 100)",
            "row7/batch:128": "row 7, DCGAN (batch 128)", "row7/batch:1": "row 7, DCGAN (batch 1)",
            "mlp_classifier/batch:1": "MLP classifier, cross-entropy (batch 1)",
            "mlp_classifier/batch:64": "MLP classifier, cross-entropy (batch 64)"}


def disturbance(results, stem):
    """The share of the machine's CPU that other processes used while this program ran, or None."""
    try:
        lines = (results / f"{stem}.stat").read_text().splitlines()
        begin, end = ([int(x) for x in line.split()[1:9]] for line in lines[:2])
        elapsed, user, system = (float(x) for x in (results / f"{stem}.time").read_text().split()[-3:])
    except (OSError, ValueError):
        return None
    d = [e - b for b, e in zip(begin, end)]
    busy = (d[0] + d[1] + d[2] + d[5] + d[6]) / os.sysconf("SC_CLK_TCK")
    machine = elapsed * (os.cpu_count() or 1)
    return max(busy - user - system, 0.0) / machine if machine > 0 else None


def config_of(side):
    """How a program's OpenBLAS was set up: "env" as the environment configures it, "unset" with
    OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset, "blas1" unset and pinned to one thread."""
    if side.endswith("-blas1"):
        return "blas1"
    return "unset" if side.endswith("-unset") else "env"


def label(key):
    name, config = key
    return name + {"env": "", "unset": " [unset]", "blas1": " [unset, 1 BLAS thread]"}[config]


def load(results):
    """series[(name, config)] -> [(value, disturbed)] across rounds; context[(part, side)] -> a JSON
    context; disturbed[(file stem, benchmark)] -> the share of the CPU other processes used."""
    series = defaultdict(list)
    context = {}
    disturbed = {}
    rounds = set()
    for path in sorted(results.glob("*.json"), key=lambda p: (not p.name.startswith("overhead"), p.name)):
        m = FILE_RE.match(path.name)
        if not m:
            continue
        rounds.add(int(m["round"]))
        data = json.loads(path.read_text())
        context.setdefault((m["part"].split("-")[0], m["side"]), data.get("context", {}))
        config = config_of(m["side"])
        program_share = disturbance(results, path.stem)
        for b in data.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
                continue
            # Benchmarks with a fixed iteration count carry it in their name.
            name = re.sub(r"/iterations:\d+", "", b["name"].removesuffix("/real_time"))
            UNITS[name] = b.get("time_unit", "ns")
            if "GFLOPs" in b:
                value = float(b["GFLOPs"])
            else:
                value = float(b["real_time"]) * TO_NS[b.get("time_unit", "ns")]
            # The benchmark's own measurement when it made one, else its program's.
            share = float(b["others_cpu"]) if "others_cpu" in b else program_share
            disturbed[(path.stem, name)] = share
            series[(name, config)].append((value, share is not None and share > DISTURBED))
    return series, context, disturbed, sorted(rounds)


def values(series, key):
    """The values to take the median of: the undisturbed rounds when there are at least
    MIN_CLEAN of them (or all rounds were clean), else every round; and whether it fell back."""
    entries = series.get(key, [])
    clean = [v for v, noisy in entries if not noisy]
    if len(clean) >= MIN_CLEAN or len(clean) == len(entries):
        return clean, False
    return [v for v, _ in entries], True


FELL_BACK = set()


def median(series, key):
    chosen, fell_back = values(series, key)
    if fell_back:
        FELL_BACK.add(key)
    return statistics.median(chosen) if chosen else None


def fmt(value, digits=1):
    return "—" if value is None else f"{value:,.{digits}f}"


def ratio(a, b, digits=2):
    return "—" if a is None or b is None else f"{a / b:.{digits}f}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else ":---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def gemm_section(series, context, out):
    keys = {name for name, _ in series if re.match(r"^(nabla_gemm|nabla_matmul|openblas_sgemm|torch_mm)/", name)}
    if not keys:
        return
    shapes = sorted({tuple(int(x) for x in re.match(r"^\w+/(\d+)/threads:(\d+)$", k).groups()) for k in keys})
    env_ctx = context.get(("gemm", "nabla"), {})
    unset_ctx = context.get(("gemm", "openblas-unset"), {})
    env_name = f"OpenBLAS env ({env_ctx.get('openblas_corename', '?')})"
    unset_name = f"OpenBLAS own detection ({unset_ctx.get('openblas_corename', '?')})"
    rows = []
    for n, t in shapes:
        k = f"{n}/threads:{t}"
        g = median(series, (f"nabla_gemm/{k}", "env"))
        mm = median(series, (f"nabla_matmul/{k}", "env"))
        ob_env = median(series, (f"openblas_sgemm/{k}", "env"))
        ob_own = median(series, (f"openblas_sgemm/{k}", "unset"))
        tm = median(series, (f"torch_mm/{k}", "env"))
        best = max((v for v in (ob_env, ob_own) if v is not None), default=None)
        rows.append([str(n), str(t), fmt(g), fmt(mm), fmt(ob_env), fmt(ob_own), fmt(tm), ratio(g, ob_env),
                     ratio(g, ob_own), ratio(g, best), ratio(mm, g), ratio(g, tm)])
    out.append("### sgemm C = A·B, square float, GFLOP/s (median across rounds; higher is better)\n")
    out.append(f"OPENBLAS_CORETYPE={env_ctx.get('OPENBLAS_CORETYPE', '?')}, "
               f"OPENBLAS_L2_SIZE={env_ctx.get('OPENBLAS_L2_SIZE', '?')} in the environment; "
               f"the 'own detection' column unsets both. torch::mm calls the same OpenBLAS, as configured by the environment.\n")
    out.append(table(["n", "threads", "nabla gemm", "nabla::matmul", env_name, unset_name, "torch::mm",
                      "nabla / OpenBLAS env", "nabla / OpenBLAS own", "nabla / best OpenBLAS",
                      "matmul / gemm", "nabla / torch"], rows))
    out.append("")
    for t in sorted({t for _, t in shapes}):
        g = median(series, (f"nabla_gemm/1024/threads:{t}", "env"))
        best = max((v for v in (median(series, (f"openblas_sgemm/1024/threads:{t}", c)) for c in ("env", "unset"))
                    if v is not None), default=None)
        if g is not None and best is not None:
            verdict = "met" if g / best >= 0.85 else "MISSED"
            out.append(f"- target sgemm n=1024, {t} thread(s): nabla ≥ 85 % of the best OpenBLAS: "
                       f"{100 * g / best:.0f} % — {verdict}")
    out.append("")


def overhead_section(series, out):
    names = [name for name, config in series if re.match(r"^(sigmoid_add|mlp)/", name)]
    if not names:
        return
    rows = []
    for name in names:
        case, _, threads = name.rpartition("/threads:")
        nb = median(series, (name, "env"))
        tb = median(series, ("torch_" + name, "env"))
        rows.append([case, threads, fmt(nb, 0), fmt(tb, 0), ratio(nb, tb, 3), ratio(tb, nb, 1)])
    out.append("### Autograd overhead at batch 1, ns per iteration (median across rounds; lower is better)\n")
    out.append(table(["benchmark", "threads", "nabla ns", "libtorch ns", "nabla / torch (time)",
                      "speed-up (torch / nabla)"], rows))
    out.append("")
    for t in ("1", "2"):
        nb = median(series, (f"sigmoid_add/fwd_bwd/threads:{t}", "env"))
        tb = median(series, (f"torch_sigmoid_add/fwd_bwd/threads:{t}", "env"))
        if nb is not None and tb is not None:
            verdict = "met" if tb / nb >= 3 else "MISSED"
            out.append(f"- target sigmoid(x + b) forward+backward, {t} thread(s): ≥ 3× faster than libtorch: "
                       f"{tb / nb:.1f}× — {verdict}")
    out.append("")


def torch_comparison(series, name):
    """nabla's median and libtorch's in each configuration (ns), and the speed-ups torch / nabla
    against libtorch as configured and against the fastest configuration."""
    nb = median(series, (name, "env"))
    torch = {config: median(series, ("torch_" + name, config)) for config in ("env", "unset", "blas1")}
    fastest = min((v for v in torch.values() if v is not None), default=None)
    speedup = lambda t: None if nb is None or t is None else t / nb
    return nb, torch, {config: speedup(t) for config, t in torch.items()}, speedup(fastest)


def fmt_time(ns, unit):
    if ns is None:
        return "—"
    v = ns / TO_NS[unit]
    return f"{v:,.{0 if v >= 1000 else 1 if v >= 10 else 2}f}"


def fmt_speedup(x):
    return "—" if x is None else f"{x:.2f}×"


def verdict(x, target):
    return "—" if x is None else ("met" if x >= target else "MISSED")


def versus_torch_table(series, names, label_of, target_of):
    rows = []
    for name in names:
        case, _, threads = name.rpartition("/threads:")
        nb, torch, speedups, fastest = torch_comparison(series, name)
        unit = UNITS.get(name, "ns")
        target = target_of(case)
        rows.append([label_of(case), threads, UNIT_NAMES[unit], fmt_time(nb, unit), fmt_time(torch["env"], unit),
                     fmt_time(torch["unset"], unit), fmt_time(torch["blas1"], unit), fmt_speedup(speedups["env"]),
                     fmt_speedup(fastest), "—" if target is None else f"≥ {target:.1f}×: {verdict(fastest, target)}"])
    return table(["benchmark", "threads", "unit", "nabla", "libtorch (OpenBLAS env)", "libtorch (OpenBLAS own)",
                  "libtorch (own, 1 BLAS thread)", "speed-up vs libtorch env", "speed-up vs fastest libtorch",
                  "target vs fastest libtorch"], rows)


def verdict_lines(series, names, what, target_of, out):
    for name in names:
        case, _, threads = name.rpartition("/threads:")
        target = target_of(case)
        if target is None:
            continue
        _, _, speedups, fastest = torch_comparison(series, name)
        if fastest is None:
            continue
        blas1 = "" if speedups["blas1"] is None else f", own kernels on one BLAS thread {fmt_speedup(speedups['blas1'])}"
        out.append(f"- target {what(case)}, {threads} thread(s): ≥ {target:g}× faster than libtorch: "
                   f"{fastest:.2f}× against the fastest libtorch (as configured {fmt_speedup(speedups['env'])}, "
                   f"OpenBLAS's own kernels {fmt_speedup(speedups['unset'])}{blas1}) — {verdict(fastest, target)}")


TORCH_NOTE = ("Speed-up = libtorch's time / nabla's (above 1: nabla is faster). libtorch runs with OpenBLAS as the "
              "environment configures it (OPENBLAS_CORETYPE={env}: {env_core}), with OPENBLAS_CORETYPE and "
              "OPENBLAS_L2_SIZE unset ({own_core}), and, for two threads, unset with OpenBLAS kept on one thread so "
              "that libtorch's OpenMP pool is the only one spinning (NABLA_BENCH_BLAS_THREADS=1). Conv2d runs "
              "on oneDNN (mkldnn {mkldnn}) in every configuration; Linear and ConvTranspose2d call OpenBLAS. "
              "Targets are judged against the fastest.\n")


def torch_note(context, part):
    env_ctx = context.get((part, "torch"), {})
    own_ctx = context.get((part, "torch-unset"), {})
    return TORCH_NOTE.format(env=env_ctx.get("OPENBLAS_CORETYPE", "?"), env_core=env_ctx.get("openblas_corename", "?"),
                             own_core=own_ctx.get("openblas_corename", "?"), mkldnn=env_ctx.get("mkldnn", "?"))


def layers_section(series, context, out):
    names = [name for name, config in series if config == "env" and re.match(r"^(linear|conv2d|conv_transpose2d)/", name)]
    if not names:
        return
    target_of = lambda case: LAYER_TARGETS.get(case.split("/")[0])
    out.append("### Layers, forward + backward, time per iteration (median across rounds; lower is better)\n")
    out.append(torch_note(context, "layers"))
    out.append(versus_torch_table(series, names, lambda case: case, target_of))
    out.append("")
    verdict_lines(series, names, lambda case: case.removesuffix("/batch:128"), target_of, out)
    out.append("")


def untargeted_section(series, context, out, prefix, title):
    """A table of every benchmark named prefix..., against libtorch, without targets."""
    names = [name for name, config in series if config == "env" and name.startswith(prefix)]
    if not names:
        return
    out.append(title + "\n")
    out.append(torch_note(context, "layers"))
    out.append(versus_torch_table(series, names, lambda case: case.removeprefix(prefix), lambda case: None))
    out.append("")


def probes_section(series, context, out):
    untargeted_section(series, context, out, "probe/",
                       "### Other shapes and layers (probe/), forward + backward, time per iteration (median "
                       "across rounds; lower is better; no targets)")


def ops_section(series, context, out):
    untargeted_section(series, context, out, "ops/",
                       "### Single ops (ops/), forward (fwd: under no_grad) or forward + backward (fwd_bwd), time "
                       "per iteration (median across rounds; lower is better; no targets)")


def gan_section(series, context, out):
    names = [name for name, config in series
             if config == "env" and re.match(r"^(gan|train)/", name) and "_handwritten/" not in name]
    if not names:
        return
    row_of = lambda case: case.removeprefix("gan/").removeprefix("train/")
    target_of = lambda case: GAN_TARGETS.get(row_of(case))
    out.append("### One GAN training iteration, time per iteration (median across rounds; lower is better)\n")
    out.append(torch_note(context, "gan"))
    out.append(versus_torch_table(series, names, lambda case: GAN_ROWS.get(row_of(case), case), target_of))
    out.append("")
    verdict_lines(series, names, lambda case: GAN_ROWS.get(row_of(case), case) + " iteration", target_of, out)
    out.append("")
    # The project's own goal at batch 1: a row-3 iteration within 1.5x of the hand-written one.
    for threads in (1, 2):
        nb = median(series, (f"gan/row3/batch:1/threads:{threads}", "env"))
        hw = median(series, (f"gan/row3_handwritten/batch:1/threads:{threads}", "env"))
        if nb is None or hw is None:
            continue
        out.append(f"- goal row 3 iteration, {threads} thread(s): within 1.5× of the hand-written iteration "
                   f"(benchmarks/handwritten_row3.hpp): nabla {nb / 1e3:.1f} us, hand-written {hw / 1e3:.1f} us, "
                   f"{nb / hw:.2f}× — {'met' if nb / hw <= 1.5 else 'MISSED'}")
    out.append("")


def load_section(rounds, series, disturbed, out):
    out.append(f"Rounds: {len(rounds)}. Medians are over the rounds in which other processes used under "
               f"{100 * DISTURBED:.0f} % of the CPU, when at least {MIN_CLEAN} such rounds exist.")
    noisy = [share for share in disturbed.values() if share is not None and share > DISTURBED]
    unknown = sum(share is None for share in disturbed.values())
    out.append(f"Benchmark runs during which other processes used more than {100 * DISTURBED:.0f} % of the CPU: "
               f"{len(noisy)} of {len(disturbed)}"
               + (f" (up to {100 * max(noisy):.0f} %)" if noisy else "")
               + (f"; not measured for {unknown}" if unknown else "") + ".")
    if FELL_BACK:
        shown = sorted(label(key) for key in FELL_BACK)
        out.append(f"Too few undisturbed rounds, so the median is over all rounds, for {len(shown)} of "
                   f"{len(series)} benchmarks: " + ", ".join(shown[:12]) + (", …" if len(shown) > 12 else "") + ".")
    spread = []
    for key in series:
        chosen, _ = values(series, key)
        if len(chosen) > 1:
            med = statistics.median(chosen)
            if med and (max(chosen) - min(chosen)) / med > SPREAD_WARNING:
                spread.append(f"{label(key)} ({100 * (max(chosen) - min(chosen)) / med:.0f} %)")
    if spread:
        out.append(f"Spread (max − min) / median above {100 * SPREAD_WARNING:.0f} % among those rounds: "
                   + ", ".join(spread) + ".")
    out.append("")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    results = Path(sys.argv[1])
    series, context, disturbed, rounds = load(results)
    if not series:
        sys.exit(f"summarize.py: no benchmark results in {results}")
    out = []
    machine = results / "machine.txt"
    if machine.exists():
        out.append("```\n" + machine.read_text().strip() + "\n```\n")
    overhead_section(series, out)
    gemm_section(series, context, out)
    layers_section(series, context, out)
    probes_section(series, context, out)
    ops_section(series, context, out)
    gan_section(series, context, out)
    load_section(rounds, series, disturbed, out)
    print("\n".join(out))


if __name__ == "__main__":
    main()
