"""Benchmark: a phi scan of G_sc / G_cs in one batched call against separate single-angle calls.

Both are timed in the same process after one compiling call: the batched scan
(``conversion_scan`` with an array of ``n_phi`` angles) and ``n_single`` separate calls with one
angle each (median reported, and scaled to ``n_phi`` calls for the ratio).

    .venv/bin/python scripts/benchmark_scan.py [--L 50] [--n-phi 64] [--n-single 8] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time


def run(L: int, n_phi: int, n_single: int, memory_gib: float | None) -> dict:
    import jax
    import numpy as np

    from jaxsge import JunctionParams
    from jaxsge.scan import conversion_scan

    p = JunctionParams(Lx=L, Ly=L, W=round(0.6 * L), theta=np.pi / 2)
    start = time.perf_counter()
    conversion_scan(p.replace(phi=0.05), memory_budget_gib=memory_gib)
    first = time.perf_counter() - start

    phis = np.linspace(0, 2 * np.pi, n_phi, endpoint=False)
    start = time.perf_counter()
    conversion_scan(p.replace(phi=phis), memory_budget_gib=memory_gib, progress=True)
    batched = time.perf_counter() - start

    singles = []
    for phi in phis[:: max(1, n_phi // n_single)][:n_single]:
        start = time.perf_counter()
        conversion_scan(p.replace(phi=float(phi)), memory_budget_gib=memory_gib)
        singles.append(time.perf_counter() - start)
    median = statistics.median(singles)
    return {"L": L, "W": p.W, "n_phi": n_phi, "device": f"{jax.device_count()} x {jax.devices()[0].platform}",
            "machine": platform.processor() or platform.machine(), "jax": jax.__version__,
            "first_call_s": first, "batched_scan_s": batched, "single_times_s": singles, "single_median_s": median,
            "ratio_batched_to_separate": batched / (n_phi * median),
            "peak_rss_GiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--L", type=int, default=50, help="Lx = Ly (W = 0.6 L); 50 is the paper size")
    parser.add_argument("--n-phi", type=int, default=64)
    parser.add_argument("--n-single", type=int, default=8, help="separate single-angle calls timed")
    parser.add_argument("--memory-gib", type=float, default=None, help="memory budget of the batched call")
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args()
    result = run(args.L, args.n_phi, args.n_single, args.memory_gib)
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
