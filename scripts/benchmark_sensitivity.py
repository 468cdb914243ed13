"""Benchmark: value plus dG_sc/d alpha3 over a phi scan, against the value alone.

Each case runs in a fresh subprocess (so that its peak resident memory is its own), after one
compiling call whose time is reported separately; the ratio compares the two scans.

    .venv/bin/python scripts/benchmark_sensitivity.py [--L 30] [--n-phi 64] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys


def _case(kind: str, L: int, n_phi: int) -> dict:
    import resource
    import time

    import jax
    import numpy as np

    from jaxsge import JunctionParams
    from jaxsge.scan import conversion_scan
    from jaxsge.sensitivity import sensitivities

    p = JunctionParams(Lx=L, Ly=L, W=round(0.6 * L), theta=np.pi / 2)
    run = (lambda q: conversion_scan(q)) if kind == "value" else (lambda q: sensitivities(q, "alpha3"))
    start = time.perf_counter()
    run(p.replace(phi=0.05))
    first = time.perf_counter() - start
    start = time.perf_counter()
    run(p.replace(phi=2 * np.pi * np.arange(n_phi) / n_phi))
    return {"kind": kind, "first_call_s": first, "scan_s": time.perf_counter() - start,
            "peak_rss_GiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
            "device": f"{jax.device_count()} x {jax.devices()[0].platform}"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--L", type=int, default=30, help="Lx = Ly (W = 0.6 L); 50 is the paper size")
    parser.add_argument("--n-phi", type=int, default=64)
    parser.add_argument("--out", help="write the results as JSON")
    args = parser.parse_args()
    rows = {}
    for kind in ("value", "value+dGsc/dalpha3"):
        code = (f"import json, sys; sys.path.insert(0, '.'); from scripts.benchmark_sensitivity import _case; "
                f"print(json.dumps(_case({kind!r}, {args.L}, {args.n_phi})))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        rows[kind] = json.loads(out.strip().splitlines()[-1])
    result = {"L": args.L, "n_phi": args.n_phi, "machine": platform.processor() or platform.machine(), **rows,
              "ratio": rows["value+dGsc/dalpha3"]["scan_s"] / rows["value"]["scan_s"]}
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)


if __name__ == "__main__":
    main()
