"""Benchmark: the general layered solver (stack_solve) against the five-terminal special case (solve).

The same junction (``presets.junction``) is solved by both in the same process, alternating,
after one compiling call each; medians over ``--repeats`` calls. Cases:

* ``folded``: the clean paper junction (upper layers folded, one LU on the 2DEG), one angle;
* ``spin_blocks``: disorder on every layer (upper layers eliminated in spin blocks), one angle;
* ``scan``: the clean junction over ``--n-phi`` angles in one batched call.

    .venv/bin/python scripts/benchmark_stack.py [--L 50] [--L-disorder 30] [--n-phi 16] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time


def _timed(fn, repeats: int):
    fn()  # compile
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def run(L: int, L_disorder: int, n_phi: int, repeats: int) -> dict:
    import jax
    import numpy as np

    from jaxsge import JunctionParams, presets, transmissions
    from jaxsge.stack_solve import stack_transmissions

    cases = {
        "folded": JunctionParams(Lx=L, Ly=L, W=round(0.6 * L), phi=0.3),
        "spin_blocks": JunctionParams(Lx=L_disorder, Ly=L_disorder, W=round(0.6 * L_disorder), phi=0.3, K0=0.5),
        "scan": JunctionParams(Lx=L_disorder, Ly=L_disorder, W=round(0.6 * L_disorder),
                               phi=np.linspace(0, 2 * np.pi, n_phi, endpoint=False)),
    }
    out = {"device": f"{jax.device_count()} x {jax.devices()[0].platform}", "jax": jax.__version__,
           "machine": platform.processor() or platform.machine(), "repeats": repeats, "cases": {}}
    for name, p in cases.items():
        stack = presets.junction(p)
        special = _timed(lambda: transmissions(p, smatrix=False), repeats)
        general = _timed(lambda: stack_transmissions(stack, energy=p.mu, smatrix=False), repeats)
        diff = np.abs(stack_transmissions(stack, energy=p.mu, smatrix=False).five_terminal()[0]
                      - transmissions(p, smatrix=False).T).max()
        out["cases"][name] = {"Lx": p.Lx, "W": p.W, "K0": float(p.K0), "angles": int(np.size(p.phi)),
                              "special_s": special, "general_s": general,
                              "special_median_s": statistics.median(special),
                              "general_median_s": statistics.median(general),
                              "ratio_general_to_special": statistics.median(general) / statistics.median(special),
                              "max_abs_difference_T": float(diff)}
        print(name, json.dumps(out["cases"][name]), flush=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--L", type=int, default=50, help="Lx = Ly of the folded case (50: the paper size)")
    parser.add_argument("--L-disorder", type=int, default=30, help="Lx = Ly of the disordered case and of the scan")
    parser.add_argument("--n-phi", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args()
    result = run(args.L, args.L_disorder, args.n_phi, args.repeats)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
