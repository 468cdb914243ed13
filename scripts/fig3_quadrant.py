"""Fig. 3 shape check at any size from one quadrant of phi, using the pi/2 period of g_sc.

The shape of g_sc(phi) = |G_sc(phi)| / max [Fig. 3 of G. Fleury, M. Barth, C. Gorini, PRB 108,
L081402 (2023); G_sc^x from Eq. (8), G_sc^y from its image under L <-> B, R <-> F]. In a clean
square junction (Lx = Ly, leads centred) rotating n by pi/2 maps G_sc^x onto G_sc^y (checked
in tests/observables/test_response.py), so |G_sc(phi)| has period pi/2 and a scan of
[0, pi/2) determines the polar plot: a quarter of the cost of ``jaxsge scan``.

    .venv/bin/python scripts/fig3_quadrant.py [--config configs/paper.toml] [--xi 7.2 9.6] [--n 16]
        [--set NAME=VALUE] [--out results/fig3_quadrant]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from jaxsge.io.config import load_config
from jaxsge.io.files import output_folder, write_json
from jaxsge.observables.harmonics import local_maxima
from jaxsge.observables.scan import conversion_scan
from jaxsge.plot.style import value_text
from jaxsge.plot.transport import polar_panels


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/paper.toml", help="a junction config (not a stack)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a config value (repeatable, as for the jaxsge commands), e.g. --set W=18")
    parser.add_argument("--xi", type=float, nargs="+", default=[7.2, 9.6])
    parser.add_argument("--n", type=int, default=16, help="angles in [0, pi/2)")
    parser.add_argument("--out", default="results/fig3_quadrant")
    args = parser.parse_args()
    config = load_config(args.config, args.set)
    if config.kind != "junction":
        raise ValueError(f"{args.config} describes a stack; the pi/2 period is checked for the paper's junction only")
    system = config.system
    p = system.base.replace(**system.values)
    if p.Lx != p.Ly or (p.Lx - p.W) % 2 or set(p.side_leads) != {"L", "R", "F", "B"}:
        raise ValueError("the pi/2 period needs Lx = Ly with four centred side leads (Lx - W even)")
    if p.K0 != 0 or p.disorder is not None:
        raise ValueError("the pi/2 period holds for a clean junction only (K0 = 0, no disorder file); use jaxsge "
                         "ensemble for disorder")
    out = output_folder(args.out)
    quadrant = 0.5 * np.pi * np.arange(args.n) / args.n
    full = np.concatenate([quadrant + k * np.pi / 2 for k in range(4)])
    curves, results, start = [], {}, time.perf_counter()
    for xi in args.xi:
        s = conversion_scan(system.with_values(xi=xi), phi=quadrant, progress=True)
        amplitude = np.tile(np.hypot(s.Gsc_x, s.Gsc_y), 4)
        g = amplitude / amplitude.max()
        curves.append(amplitude)
        results[str(xi)] = {"phi": quadrant, "Gsc_x": s.Gsc_x, "Gsc_y": s.Gsc_y,
                            "phi_of_local_maxima": local_maxima(full, g), "min_over_max": float(g.min())}
    write_json(out / "fig3_quadrant.json", {"params": system.describe()["params"], "xi": args.xi,
                                            "seconds": time.perf_counter() - start, "results": results})
    labels = [f"$\\xi = {xi:g}\\,a = {xi / p.Lz:g}\\,L_z$" for xi in args.xi]
    polar_panels(full, [{label: c} for label, c in zip(labels, curves)],
                 [f"({chr(97 + i)})" for i in range(len(labels))],
                 suptitle=(f"$|G_{{\\mathrm{{sc}}}}|(\\varphi)$, $L_x = L_y = {p.Lx}$, $W = {p.W}$, "
                           f"{value_text('theta', float(p.theta))} (from one quadrant)"), path=out / "polar.png")
    for xi, r in results.items():
        print(f"xi = {xi}: maxima at phi = {np.round(r['phi_of_local_maxima'], 3).tolist()}, min/max = "
              f"{r['min_over_max']:.3f}")


if __name__ == "__main__":
    main()
