"""A/B benchmark of one checkout of jaxsge against another, through the public API.

Times one case in this process: a compiling call, then two calls at other phi (median).
Run it once per checkout, with that checkout first on the path, and compare the medians:

    git worktree add /tmp/old 092f59f
    PYTHONPATH=/tmp/old python scripts/benchmark_ab.py paper1     # the special solver
    PYTHONPATH=.        python scripts/benchmark_ab.py paper1     # this checkout

Cases: paper1 (50 x 50, W = 30, clean, one angle), scan16 (the same, a 16-angle
conversion_scan), every30 (30 x 30, W = 18, K0 = 0.5 on every layer, one angle). Prints one
JSON line. Figures of 2026-11-30: docs/one_engine_ab_cpu.json, docs/performance.md.
"""

import json
import statistics
import sys
import time

import numpy as np

from jaxsge import JunctionParams, transmissions

try:
    from jaxsge.observables.scan import conversion_scan
except ImportError:  # checkouts before the one engine
    from jaxsge.scan import conversion_scan

CASES = ("paper1", "scan16", "every30")


def run(case: str, phi0: float) -> None:
    if case == "paper1":
        transmissions(JunctionParams(phi=phi0))
    elif case == "scan16":
        phis = phi0 + 2 * np.pi * np.arange(16) / 16
        try:
            conversion_scan(JunctionParams(), phi=phis)
        except TypeError:  # the old API: the angles in the parameters
            conversion_scan(JunctionParams(phi=phis))
    else:
        transmissions(JunctionParams(Lx=30, Ly=30, W=18, K0=0.5, phi=phi0))


def main() -> None:
    case = sys.argv[1] if len(sys.argv) > 1 else "paper1"
    if case not in CASES:
        raise SystemExit(f"case {case!r} must be one of {CASES}")
    start = time.perf_counter()
    run(case, 0.05)
    first = time.perf_counter() - start
    times = []
    for phi0 in (0.1, 0.2):
        start = time.perf_counter()
        run(case, phi0)
        times.append(time.perf_counter() - start)
    print(json.dumps({"case": case, "first_s": first, "median_s": statistics.median(times), "times_s": times}))


if __name__ == "__main__":
    main()
