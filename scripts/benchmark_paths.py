"""Benchmark: the two solver paths of the lowest layer (lean dense LU, Krylov) against size.

Each case (L, K0, path) runs in a fresh process, so that its peak resident memory is its own:
one paper junction Lx = Ly = L, W = 0.6 L (30 at L = 50), disorder K0 in the 2DEG only (the
Krylov path's domain), lean right-hand sides (what every conversion conductance needs). It
reports the first call (compilation included), the median of the following calls (other phi),
the Krylov iterations and residual, the process's peak RSS and, for the dense path up to
``--lu-max``, one complex LU of order 2 L^2 timed in the same process (the issue's yardstick:
evaluation / LU).

    python scripts/benchmark_paths.py                                  # L = 50, 70, 100; K0 = 0, 0.5
    python scripts/benchmark_paths.py --sizes 50 --K0 0 --paths dense  # one case

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


def child(L: int, K0: float, path: str, repeats: int, lu: bool) -> dict:
    import jax
    import numpy as np

    from jaxsge import JunctionParams, transmissions
    from jaxsge.core.linalg import lu_factor

    p = JunctionParams(Lx=L, Ly=L, W=WIDTH.get(L, round(0.6 * L)), K0=K0, disorder_layers="2deg")
    start = time.perf_counter()
    r = transmissions(p, path=path, reflection=False)
    first = time.perf_counter() - start
    times, reports = [], [r.solver_report]
    for phi in np.linspace(0.3, 1.1, repeats):
        start = time.perf_counter()
        r = transmissions(p.replace(phi=float(phi)), path=path, reflection=False)
        times.append(time.perf_counter() - start)
        reports.append(r.solver_report)
    out = {"L": L, "W": p.W, "K0": K0, "path": path, "first_call_s": first, "median_s": statistics.median(times),
           "times_s": times, "solver": reports[-1], "iterations": [rep.get("iterations") for rep in reports],
           "peak_rss_GiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}
    if lu:
        with jax.enable_x64(True):
            N = 2 * L * L
            a = jax.numpy.asarray(np.random.default_rng(0).normal(size=(N, N)) + 4 * np.eye(N), dtype=complex)
            factor = jax.jit(lambda m: lu_factor(m)[0])
            jax.block_until_ready(factor(a))
            lu_times = []
            for _ in range(2):
                start = time.perf_counter()
                jax.block_until_ready(factor(a))
                lu_times.append(time.perf_counter() - start)
        out["lu_order"], out["lu_s"] = N, min(lu_times)
        out["evaluation_over_lu"] = out["median_s"] / out["lu_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50,70,100")
    parser.add_argument("--K0", default="0,0.5")
    parser.add_argument("--paths", default="dense,krylov")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls after the first")
    parser.add_argument("--lu-max", type=int, default=70, help="time one LU alone up to this L (dense path)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per case")
    parser.add_argument("--out", default="results/benchmark_paths.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        L, K0, path, lu = json.loads(args.child)
        print(json.dumps(child(L, K0, path, args.repeats, lu)))
        return
    from jaxsge.io.files import output_file, write_json

    out = output_file(args.out)
    record = {"machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
              "python": platform.python_version(), "cases": []}
    for L in (int(v) for v in args.sizes.split(",")):
        for K0 in (float(v) for v in args.K0.split(",")):
            for path in args.paths.split(","):
                spec = json.dumps([L, K0, path, path == "dense" and L <= args.lu_max])
                try:
                    done = subprocess.run([sys.executable, __file__, "--child", spec, "--repeats", str(args.repeats)],
                                          capture_output=True, text=True, timeout=args.timeout)
                    case = (json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else
                            {"L": L, "K0": K0, "path": path, "error": done.stderr.strip().splitlines()[-1:]})
                except subprocess.TimeoutExpired:
                    case = {"L": L, "K0": K0, "path": path, "error": f"over {args.timeout:.0f} s"}
                record["cases"].append(case)
                write_json(out, record)
                if "error" in case:
                    print(f"L = {L:3d} K0 = {K0:3.1f} {path:6s} failed: {case['error']}", flush=True)
                    continue
                extra = (f" iterations {case['solver']['iterations']}" if path == "krylov" else
                         f" LU alone {case['lu_s']:.2f} s, ratio {case['evaluation_over_lu']:.2f}" if "lu_s" in case
                         else "")
                print(f"L = {L:3d} K0 = {K0:3.1f} {path:6s} first {case['first_call_s']:7.1f} s  median "
                      f"{case['median_s']:7.2f} s  peak {case['peak_rss_GiB']:5.2f} GiB{extra}", flush=True)


if __name__ == "__main__":
    main()
