"""Fig. 3 shape check at any size from one quadrant of phi, using the pi/2 period of g_sc.

In a clean square junction (Lx = Ly, leads centred) rotating n by pi/2 maps G_sc^x onto
G_sc^y (checked in tests/test_response.py), so |G_sc(phi)| has period pi/2 and a scan of
[0, pi/2) determines the polar plot: a quarter of the cost of ``jaxsge scan``.

    .venv/bin/python scripts/fig3_quadrant.py [--config configs/paper.toml] [--n 16] [--out results/fig3_quadrant]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np

from jaxsge.config import load_params, params_dict
from jaxsge.plot import polar_panels
from jaxsge.scan import conversion_scan


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/paper.toml")
    parser.add_argument("--xi", type=float, nargs="+", default=[7.2, 9.6])
    parser.add_argument("--n", type=int, default=16, help="angles in [0, pi/2)")
    parser.add_argument("--out", default="results/fig3_quadrant")
    args = parser.parse_args()
    p = load_params(args.config)
    if p.Lx != p.Ly or (p.Lx - p.W) % 2:
        raise ValueError("the pi/2 period needs Lx = Ly with centred leads (Lx - W even)")
    quadrant = 0.5 * np.pi * np.arange(args.n) / args.n
    full = np.concatenate([quadrant + k * np.pi / 2 for k in range(4)])
    curves, results, start = [], {}, time.perf_counter()
    for xi in args.xi:
        s = conversion_scan(p.replace(xi=xi, phi=quadrant), progress=True)
        amplitude = np.tile(np.hypot(s.Gsc_x, s.Gsc_y), 4)
        g = amplitude / amplitude.max()
        local_max = np.flatnonzero((g > np.roll(g, 1)) & (g >= np.roll(g, -1)))
        curves.append({"g_sc": g})
        results[str(xi)] = {"phi": quadrant.tolist(), "Gsc_x": s.Gsc_x.tolist(), "Gsc_y": s.Gsc_y.tolist(),
                            "phi_of_local_maxima": full[local_max].tolist(), "min_over_max": float(g.min())}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "fig3_quadrant.json", "w") as fh:
        json.dump({"params": params_dict(p), "xi": args.xi, "seconds": time.perf_counter() - start,
                   "results": results}, fh, indent=1)
    polar_panels(full, curves, [f"xi = {xi:g} = {xi / p.Lz:g} Lz" for xi in args.xi],
                 suptitle=f"g_sc(phi), Lx = Ly = {p.Lx}, W = {p.W}, theta = {float(p.theta):.3g} (from one quadrant)",
                 path=out / "polar.png")
    for xi, r in results.items():
        print(f"xi = {xi}: maxima at phi = {np.round(r['phi_of_local_maxima'], 3).tolist()}, min/max = "
              f"{r['min_over_max']:.3f}")


if __name__ == "__main__":
    main()
