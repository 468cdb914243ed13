"""Benchmark: a phi scan cut into calls for its progress bar against the same scan in one call per chunk of memory.

``core.batching.progress_steps`` cuts a loop-like chunk of large evaluations into at least
``PROGRESS_STEPS`` calls so that ``jaxsge scan`` shows progress per evaluation and the time left.
This measures what the cut costs: the conversion scan of a config (default ``configs/fig3_small.toml``,
the ``make run`` junction, 64 angles) with the cut and without it (``PROGRESS_ORDER`` raised past any
evaluation), alternately in one process (both compiled first, untimed), ``--repeats`` times each;
medians and their ratio. The machine's load changes during a run: compare the ratio, not the times.

    .venv/bin/python scripts/benchmark_progress.py [--config configs/fig3_small.toml] [--n-phi 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time


def run(config: str, n_phi: int, repeats: int) -> dict:
    import jax

    from jaxsge.core import batching
    from jaxsge.io.config import load_config
    from jaxsge.observables.harmonics import uniform_phi
    from jaxsge.observables.scan import conversion_scan
    from jaxsge.solve.transmissions import evaluation_order, plan_for

    system = load_config(config, []).system
    phi = uniform_phi(n_phi)
    order = evaluation_order(system.stack(), plan_for(system.stack(), system.energy()))
    threshold = batching.PROGRESS_ORDER
    times = {"cut": [], "whole": []}

    def timed(kind):
        batching.PROGRESS_ORDER = threshold if kind == "cut" else 10 ** 12
        start = time.perf_counter()
        scan = conversion_scan(system, phi=phi)
        return time.perf_counter() - start, scan

    try:
        compile_s = {kind: timed(kind)[0] for kind in times}  # first calls: compilation of each chunk shape
        results = {}
        for _ in range(repeats):
            for kind in times:
                seconds, results[kind] = timed(kind)
                times[kind].append(seconds)
    finally:
        batching.PROGRESS_ORDER = threshold
    deviation = max(float(abs(results["cut"].G[k] - results["whole"].G[k]).max()) for k in results["cut"].G)
    median = {kind: statistics.median(t) for kind, t in times.items()}
    return {"config": config, "n_phi": n_phi, "evaluation_order": order, "progress_steps": batching.PROGRESS_STEPS,
            "device": f"{jax.device_count()} x {jax.devices()[0].platform}",
            "machine": platform.processor() or platform.machine(), "jax": jax.__version__,
            "first_call_s": compile_s, "times_s": times, "median_s": median,
            "ratio_cut_to_whole": median["cut"] / median["whole"], "max_abs_difference_e2h": deviation}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/fig3_small.toml", help="junction or stack config")
    parser.add_argument("--n-phi", type=int, default=64, help="angles of the scan (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="timed scans of each kind (default 3)")
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args()
    from jaxsge.io.files import json_text, output_file, write_json

    out = output_file(args.out) if args.out else None  # an unwritable --out fails before the run
    result = run(args.config, args.n_phi, args.repeats)
    print(json_text(result))
    if out is not None:
        write_json(out, result)


if __name__ == "__main__":
    main()
