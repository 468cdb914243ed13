"""Benchmark: value plus dG_sc/d alpha3 over a phi scan, against the value alone.

The value alone is ``jaxsge.observables.scan.conversion_scan``; the value plus the derivative
of every quantity (T, G_sc, G_cs) with respect to alpha3 is
``jaxsge.observables.sensitivity.sensitivities`` (forward mode). The junction is the paper's
(clean, theta = pi/2) at Lx = Ly = L, W = 0.6 L; ``--path`` picks the solver of the lowest layer.
Each case runs in a fresh subprocess (so that its peak resident memory is its own), after one
compiling call of one chunk of angles whose time is reported separately; the ratio compares
the two scans.

    .venv/bin/python scripts/benchmark_sensitivity.py [--L 30] [--n-phi 64] [--path auto] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
KINDS = ("value", "value+dGsc/dalpha3")


def _case(kind: str, L: int, n_phi: int, path: str = "auto", memory_gib=None) -> dict:
    import resource
    import time

    import jax
    import numpy as np

    from jaxsge import JunctionParams, junction
    from jaxsge.core.batching import chunk_size, mapping, memory_budget, progress_steps
    from jaxsge.observables.harmonics import uniform_phi
    from jaxsge.observables.scan import conversion_scan
    from jaxsge.observables.sensitivity import sensitivities
    from jaxsge.solve.transmissions import evaluation_bytes, evaluation_order, plan_for

    p = JunctionParams(Lx=L, Ly=L, W=round(0.6 * L), theta=np.pi / 2)
    options = dict(path=path, memory_budget_gib=memory_gib)
    stack = junction(p)
    plan = plan_for(stack, p.mu, path=path)
    budget, where = memory_budget(memory_gib), f"at Lx = Ly = {L}"
    # Angles per call, as the two functions choose them (the value alone: lean right-hand sides;
    # the derivative: the value and one tangent, one point per call on CPU), so that the untimed
    # first call of one chunk compiles the shape the timed scan runs.
    if kind == KINDS[0]:
        run = lambda q: conversion_scan(q, **options)  # noqa: E731
        order = evaluation_order(stack, plan)  # the solver's cut for its progress bar (core.batching.progress_steps)
        chunk = chunk_size(evaluation_bytes(stack, plan, reflection=False), budget, n_phi, where, how=mapping(order),
                           steps=progress_steps(order, mapping(order)))
    else:
        run = lambda q: sensitivities(q, "alpha3", **options)  # noqa: E731
        chunk = chunk_size(2 * evaluation_bytes(stack, plan, reflection=True), budget, n_phi, where, one_on_cpu=True)
    phis = uniform_phi(n_phi)
    start = time.perf_counter()
    first_result = run(p.replace(phi=phis[:chunk]))
    first = time.perf_counter() - start
    start = time.perf_counter()
    run(p.replace(phi=phis))
    return {"kind": kind, "angles_per_chunk": chunk, "first_call_s": first, "scan_s": time.perf_counter() - start,
            "solver": first_result.solver,
            "peak_rss_GiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
            "device": f"{jax.device_count()} x {jax.devices()[0].platform}"}


def main():
    from jaxsge.plan.plan import SOLVERS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--L", type=int, default=30, help="Lx = Ly (W = 0.6 L); 50 is the paper size")
    parser.add_argument("--n-phi", type=int, default=64, help="angles of the timed scans")
    parser.add_argument("--path", choices=SOLVERS, default="auto", help="solver of the lowest layer (default auto)")
    parser.add_argument("--memory-gib", type=float, default=None,
                        help="memory budget of one chunk (default: 60%% of what the device has)")
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args()
    from jaxsge.io.files import json_text, output_file, write_json

    out = output_file(args.out) if args.out else None  # an unwritable --out fails before the run
    rows = {}
    for kind in KINDS:
        code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); "
                "from scripts.benchmark_sensitivity import _case; "
                f"print(json.dumps(_case({kind!r}, {args.L}, {args.n_phi}, {args.path!r}, {args.memory_gib!r})))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            sys.exit(f"benchmark_sensitivity: the {kind} case failed:\n{done.stderr.strip()}")
        rows[kind] = json.loads(done.stdout.strip().splitlines()[-1])
    result = {"L": args.L, "n_phi": args.n_phi, "path_requested": args.path,
              "machine": platform.processor() or platform.machine(), **rows,
              "ratio": rows[KINDS[1]]["scan_s"] / rows[KINDS[0]]["scan_s"]}
    print(json_text(result))
    if out is not None:
        write_json(out, result)


if __name__ == "__main__":
    main()
