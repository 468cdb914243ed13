"""Benchmark: a phi scan of G_sc / G_cs in one batched call against separate single-angle calls.

Both are timed in the same process, each after one compiling call of its own shape (one chunk
of angles, one angle; reported apart): the batched scan (``jaxsge.observables.scan.conversion_scan`` with an array of
``n_phi`` angles: the solver evaluates them in memory-bounded chunks) and ``n_single`` separate
calls with one angle each (median reported, and scaled to ``n_phi`` calls for the ratio). The junction is the paper's
(clean, theta = pi/2) at Lx = Ly = L, W = 0.6 L; ``--path`` picks the solver of the lowest layer.

    .venv/bin/python scripts/benchmark_scan.py [--L 50] [--n-phi 64] [--n-single 8] [--path auto] [--out F.json]
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time

from jaxsge.plan.plan import SOLVERS


def run(L: int, n_phi: int, n_single: int, path: str, memory_gib: float | None) -> dict:
    import jax
    import numpy as np

    from jaxsge import JunctionParams, junction
    from jaxsge.core.batching import chunk_size, mapping, memory_budget, progress_steps
    from jaxsge.observables.harmonics import uniform_phi
    from jaxsge.observables.scan import conversion_scan
    from jaxsge.solve.transmissions import evaluation_bytes, evaluation_order, plan_for

    p = JunctionParams(Lx=L, Ly=L, W=round(0.6 * L), theta=np.pi / 2)
    options = dict(path=path, memory_budget_gib=memory_gib)
    phis = uniform_phi(n_phi)
    # The solver evaluates the scan in chunks of a fixed number of angles, which sets the shape
    # that compiles: one untimed call of one chunk compiles the batched scan (the "first call").
    stack = junction(p)
    plan = plan_for(stack, p.mu, path=path)
    order = evaluation_order(stack, plan)
    chunk = chunk_size(evaluation_bytes(stack, plan, reflection=False), memory_budget(memory_gib), n_phi,
                       f"at Lx = Ly = {L}", how=mapping(order), steps=progress_steps(order, mapping(order)))
    start = time.perf_counter()
    first_scan = conversion_scan(p.replace(phi=phis[:chunk]), **options)
    first = time.perf_counter() - start
    start = time.perf_counter()
    conversion_scan(p.replace(phi=phis), progress=True, **options)
    batched = time.perf_counter() - start

    start = time.perf_counter()
    conversion_scan(p.replace(phi=0.05), **options)
    first_single = time.perf_counter() - start
    singles = []
    for phi in phis[:: max(1, n_phi // n_single)][:n_single]:
        start = time.perf_counter()
        conversion_scan(p.replace(phi=float(phi)), **options)
        singles.append(time.perf_counter() - start)
    median = statistics.median(singles)
    return {"L": L, "W": p.W, "n_phi": n_phi, "angles_per_chunk": chunk, "path_requested": path,
            "solver": first_scan.solver,
            "device": f"{jax.device_count()} x {jax.devices()[0].platform}",
            "machine": platform.processor() or platform.machine(), "jax": jax.__version__,
            "first_call_s": first, "first_single_call_s": first_single, "batched_scan_s": batched,
            "single_times_s": singles, "single_median_s": median,
            "ratio_batched_to_separate": batched / (n_phi * median),
            "peak_rss_GiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--L", type=int, default=50, help="Lx = Ly (W = 0.6 L); 50 is the paper size")
    parser.add_argument("--n-phi", type=int, default=64, help="angles of the batched scan")
    parser.add_argument("--n-single", type=int, default=8, help="separate single-angle calls timed")
    parser.add_argument("--path", choices=SOLVERS, default="auto", help="solver of the lowest layer (default auto)")
    parser.add_argument("--memory-gib", type=float, default=None,
                        help="memory budget of one chunk (default: 60%% of what the device has)")
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args()
    from jaxsge.io.files import json_text, output_file, write_json

    out = output_file(args.out) if args.out else None  # an unwritable --out fails before the run
    result = run(args.L, args.n_phi, args.n_single, args.path, args.memory_gib)
    print(json_text(result))
    if out is not None:
        write_json(out, result)


if __name__ == "__main__":
    main()
