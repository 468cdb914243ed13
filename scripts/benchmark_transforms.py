"""Benchmark: a phi scan of G_sc^x through JAX's own transformations against the plain call.

Four ways to the same numbers at the paper's junction (clean, theta = pi/2) at Lx = Ly = L,
W = 0.6 L, over ``--n-phi`` angles: ``conversion_scan`` as it is (plain: vmapped chunks), the
same under ``jax.jit`` with alpha3 traced (one ``lax.map``, one evaluation at a time on CPU),
``jax.jit(jax.value_and_grad(...))`` of a misfit of G_sc^x (value and d/d alpha3 in reverse
mode) and ``sensitivities(p, "alpha3")`` (value and derivatives of everything in forward mode).
Each is called once to compile (reported), then ``--repeats`` times; the medians and their
ratios to the plain scan are printed as JSON.

    .venv/bin/python scripts/benchmark_transforms.py [--L 20] [--n-phi 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--L", type=int, default=20)
    parser.add_argument("--n-phi", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxsge import JunctionParams
    from jaxsge.observables.scan import conversion_scan
    from jaxsge.observables.sensitivity import sensitivities

    p = JunctionParams(Lx=args.L, Ly=args.L, W=round(0.6 * args.L), theta=np.pi / 2,
                       phi=np.linspace(0, 2 * np.pi, args.n_phi, endpoint=False))
    with jax.enable_x64(True):
        data = conversion_scan(p).G["Gsc_x"]

        def gsc(a):
            return conversion_scan(p.replace(alpha3=a)).G["Gsc_x"]

        def misfit(a):
            return jnp.sum((gsc(a) - data) ** 2)

        cases = {"plain": lambda: conversion_scan(p).G["Gsc_x"], "jit": jax.jit(gsc),
                 "jit(value_and_grad)": jax.jit(jax.value_and_grad(misfit)),
                 "sensitivities": lambda: sensitivities(p, "alpha3").derivatives["Gsc_x"]["alpha3"]}
        out = {"L": args.L, "n_phi": args.n_phi, "machine": platform.processor() or platform.machine(),
               "devices": [str(d) for d in jax.devices()], "cases": {}}
        for name, fn in cases.items():
            call = (lambda fn=fn: fn()) if name in ("plain", "sensitivities") else (lambda fn=fn: fn(-0.2))
            start = time.perf_counter()
            jax.block_until_ready(call())
            first = time.perf_counter() - start
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                jax.block_until_ready(call())
                times.append(time.perf_counter() - start)
            out["cases"][name] = {"first_call_s": first, "median_s": statistics.median(times), "times_s": times}
        plain = out["cases"]["plain"]["median_s"]
        for case in out["cases"].values():
            case["ratio_to_plain"] = case["median_s"] / plain
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
