"""Benchmark: one evaluation (all spin-resolved transmissions at one angle), jaxsge vs Kwant.

Both codes run in the same process on the same machine; times are medians over repeats
(jaxsge after one compiling call, whose time is reported separately). Peak memory is the
process's maximum resident set size, measured in a fresh subprocess per case.

    .venv/bin/python scripts/benchmark_transport.py [--sizes 30 50] [--kwant-sizes 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time


def _time_jaxsge(L, W, path, repeats):
    import numpy as np

    from jaxsge import JunctionParams, transmissions

    p = JunctionParams(Lx=L, Ly=L, W=W, K0=0.5 if path == "recursive" else 0.0)
    start = time.perf_counter()
    transmissions(p, path=path)  # returns NumPy arrays: the computation has finished
    first = time.perf_counter() - start
    times = []
    for phi in np.linspace(0.1, 1.0, repeats):
        start = time.perf_counter()
        transmissions(p.replace(phi=float(phi)), path=path)
        times.append(time.perf_counter() - start)
    return {"first_call_s": first, "median_s": statistics.median(times), "times_s": times,
            "peak_rss_GiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def _time_kwant(L, W, repeats):
    import jax
    import numpy as np

    from jaxsge import JunctionParams
    from jaxsge.model import disorder_potential
    from validation import kwant_junction

    p = JunctionParams(Lx=L, Ly=L, W=W)
    with jax.enable_x64(True):
        potential = np.asarray(disorder_potential(p))
    times = []
    for phi in np.linspace(0.1, 1.0, repeats):
        start = time.perf_counter()
        kwant_junction.transmissions(p.Lx, p.Ly, p.Lz, p.W, p.n_barrier, p.t, p.mu, p.alpha3, p.dxc, p.U0, p.xi,
                                     p.theta, float(phi), potential)
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "times_s": times,
            "peak_rss_GiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def _in_subprocess(kind, L, W, path, repeats):
    code = (f"import json, sys; sys.path.insert(0, '.'); from scripts.benchmark_transport import _time_{kind}; "
            f"print(json.dumps(_time_{kind}({L}, {W}, " + (f"'{path}', " if kind == "jaxsge" else "") + f"{repeats})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 50], help="Lx = Ly values for jaxsge")
    parser.add_argument("--kwant-sizes", type=int, nargs="*", default=[30], help="Lx = Ly values also run with Kwant")
    parser.add_argument("--recursive", action="store_true", help="also time the recursive path (disorder in every layer)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args()

    import jax

    rows = []
    print(f"machine: {platform.processor() or platform.machine()}, {jax.device_count()} x {jax.devices()[0].platform}, "
          f"jax {jax.__version__}")
    for L in args.sizes:
        W = round(0.6 * L)
        for path in ["auto"] + (["recursive"] if args.recursive else []):
            res = _in_subprocess("jaxsge", L, W, path, args.repeats)
            row = {"L": L, "W": W, "code": f"jaxsge ({path})", **res}
            if L in args.kwant_sizes and path == "auto":
                kw = _in_subprocess("kwant", L, W, None, max(1, min(args.repeats, 2)))
                row["kwant_median_s"] = kw["median_s"]
                row["kwant_peak_rss_GiB"] = kw["peak_rss_GiB"]
                row["speedup_vs_kwant"] = kw["median_s"] / res["median_s"]
            rows.append(row)
            line = (f"Lx=Ly={L} W={W} {row['code']}: median {res['median_s']:.3f} s "
                    f"(first call {res['first_call_s']:.1f} s), peak RSS {res['peak_rss_GiB']:.2f} GiB")
            if "kwant_median_s" in row:
                line += (f" | Kwant median {row['kwant_median_s']:.1f} s, peak RSS {row['kwant_peak_rss_GiB']:.2f} GiB"
                         f" | speed-up {row['speedup_vs_kwant']:.0f}x")
            print(line, flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
