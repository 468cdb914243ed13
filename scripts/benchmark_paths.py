"""Benchmark: the solver paths of the lowest layer (dense LU in double or mixed precision, Krylov) against size.

Each case (L, K0, path) runs in a fresh process, so that its peak resident memory is its own:
one paper junction Lx = Ly = L, W = 0.6 L (30 at L = 50), disorder K0 in the 2DEG only (the
Krylov path's domain), lean right-hand sides (what every conversion conductance needs). It
reports the first call (compilation included), the median of the following calls (other phi),
the iterations and residual of an iterative solve, the process's peak RSS and, for the dense
paths up to ``--lu-max``, one complex128 and one complex64 LU of order 2 L^2 timed in the same
process (the issue's yardstick: evaluation / complex128 LU).

Paths: ``dense`` (precision double), ``mixed`` (dense, precision mixed), ``krylov``; a suffix
``-full`` takes every channel as right-hand side (``reflection=True``, the default of
``transmissions``). ``--together`` runs the paths of one (L, K0) in one process, their timed
calls interleaved with the LUs' (for ratios on a busy machine; the peak RSS is then shared).

    python scripts/benchmark_paths.py                                  # L = 50, 70, 100; K0 = 0, 0.5
    python scripts/benchmark_paths.py --sizes 50 --K0 0 --paths dense  # one case
    python scripts/benchmark_paths.py --sizes 30,50 --K0 0 --paths dense,dense-full,mixed,mixed-full \
        --together --repeats 5                                         # docs/performance.md, mixed precision

Writes ``--out`` (JSON, default results/benchmark_paths.json) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

WIDTH = {50: 30}


def options(path: str) -> dict:
    """``transmissions`` options of a benchmark path name (dense, mixed, krylov, with -full)."""
    name, _, full = path.partition("-")
    if name not in ("dense", "mixed", "krylov") or full not in ("", "full"):
        raise SystemExit(f"path {path!r}: expected dense, mixed or krylov, optionally with -full")
    return {"path": "dense" if name == "mixed" else name, "precision": "mixed" if name == "mixed" else "double",
            "reflection": bool(full)}


def child(L: int, K0: float, paths: list, repeats: int, lu: bool) -> list:
    import jax
    import numpy as np

    from jaxsge import JunctionParams, transmissions
    from jaxsge.core.linalg import lu_factor

    p = JunctionParams(Lx=L, Ly=L, W=WIDTH.get(L, round(0.6 * L)), K0=K0, disorder_layers="2deg")
    cases, times, reports = [], {path: [] for path in paths}, {path: [] for path in paths}
    for path in paths:
        start = time.perf_counter()
        r = transmissions(p, **options(path))
        cases.append({"L": L, "W": p.W, "K0": K0, "path": path, "first_call_s": time.perf_counter() - start})
        reports[path].append(r.solver_report)
    lu_times = {"complex128": [], "complex64": []}
    if lu:
        with jax.enable_x64(True):
            N = 2 * L * L
            a = np.random.default_rng(0).normal(size=(N, N)) + 4 * np.eye(N)
            matrices = {dtype: jax.numpy.asarray(a, dtype=dtype) for dtype in lu_times}
            factor = jax.jit(lambda m: lu_factor(m)[0])
            for m in matrices.values():
                jax.block_until_ready(factor(m))
    for phi in np.linspace(0.3, 1.1, repeats):  # one round: every path and each LU once
        for path in paths:
            start = time.perf_counter()
            r = transmissions(p.replace(phi=float(phi)), **options(path))
            times[path].append(time.perf_counter() - start)
            reports[path].append(r.solver_report)
        if lu:
            with jax.enable_x64(True):
                for dtype, m in matrices.items():
                    start = time.perf_counter()
                    jax.block_until_ready(factor(m))
                    lu_times[dtype].append(time.perf_counter() - start)
    for case in cases:
        path = case["path"]
        case.update(median_s=statistics.median(times[path]), times_s=times[path], solver=reports[path][-1],
                    iterations=[rep.get("iterations") for rep in reports[path]],
                    peak_rss_GiB=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20)
        if lu:
            case.update(lu_order=N, lu_s=statistics.median(lu_times["complex128"]),
                        lu_complex64_s=statistics.median(lu_times["complex64"]), lu_times_s=lu_times)
            case["evaluation_over_lu"] = case["median_s"] / case["lu_s"]
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50,70,100")
    parser.add_argument("--K0", default="0,0.5")
    parser.add_argument("--paths", default="dense,krylov", help="dense, mixed, krylov, each optionally -full")
    parser.add_argument("--together", action="store_true", help="the paths of one (L, K0) in one process")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls after the first")
    parser.add_argument("--lu-max", type=int, default=70, help="time one LU alone up to this L (dense path)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per case")
    parser.add_argument("--out", default="results/benchmark_paths.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        L, K0, paths, lu = json.loads(args.child)
        print(json.dumps(child(L, K0, paths, args.repeats, lu)))
        return
    from jaxsge.io.files import output_file, write_json

    out = output_file(args.out)
    record = {"machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
              "python": platform.python_version(), "cases": []}
    for L in (int(v) for v in args.sizes.split(",")):
        for K0 in (float(v) for v in args.K0.split(",")):
            paths = args.paths.split(",")
            for path in paths:
                options(path)
            for group in ([paths] if args.together else [[path] for path in paths]):
                lu = L <= args.lu_max and not all(path.startswith("krylov") for path in group)
                spec = json.dumps([L, K0, group, lu])
                try:
                    done = subprocess.run([sys.executable, __file__, "--child", spec, "--repeats", str(args.repeats)],
                                          capture_output=True, text=True, timeout=args.timeout)
                    cases = (json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else
                             [{"L": L, "K0": K0, "path": path, "error": done.stderr.strip().splitlines()[-1:]}
                              for path in group])
                except subprocess.TimeoutExpired:
                    cases = [{"L": L, "K0": K0, "path": path, "error": f"over {args.timeout:.0f} s"} for path in group]
                record["cases"] += cases
                write_json(out, record)
                for case in cases:
                    path = case["path"]
                    if "error" in case:
                        print(f"L = {L:3d} K0 = {K0:3.1f} {path:10s} failed: {case['error']}", flush=True)
                        continue
                    extra = (f" iterations {case['solver']['iterations']}" if "iterations" in case["solver"] else "")
                    if "lu_s" in case:
                        extra += (f" LU alone {case['lu_s']:.2f} s (complex64 {case['lu_complex64_s']:.2f} s), "
                                  f"ratio {case['evaluation_over_lu']:.2f}")
                    print(f"L = {L:3d} K0 = {K0:3.1f} {path:10s} first {case['first_call_s']:7.1f} s  median "
                          f"{case['median_s']:7.2f} s  peak {case['peak_rss_GiB']:5.2f} GiB{extra}", flush=True)


if __name__ == "__main__":
    main()
