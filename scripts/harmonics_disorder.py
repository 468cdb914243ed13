"""Does disorder averaging remove the geometric four-fold harmonic of |G_sc(phi)|? (docs/harmonics.md)

The clean-cavity study (``harmonics_study.py``) finds a four-fold harmonic for linear Rashba of
the same order as for cubic Rashba, set by interference in the clean square cavity. Here the
2DEG carries on-site disorder of strength K0 (``Layer.K0``, realizations = stack seeds 0..R-1),
G_sc^x and G_sc^y are averaged over the realizations, and the harmonics A_m of
hypot(<G_sc^x>, <G_sc^y>) are compared for the two textures at matched spin splitting [Eq. (6)
of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023)]. The ensemble is C4 symmetric only on
average: harmonics m = 2, 6 measure the statistical noise of the average.

    .venv/bin/python -m scripts.harmonics_disorder [--L 20] [--K0 1.0 2.0] [--realizations 32] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from scripts.harmonics_study import build_stack, harmonics, matched_alpha1, phi_grid, spin_charge_scan


def averaged(L, K0, realizations, alpha1, alpha3, n_phi):
    stack = build_stack(L, alpha1=alpha1, alpha3=alpha3, phi=phi_grid(n_phi))
    stack = stack.replace(layers=(stack.layers[0].replace(K0=K0),) + stack.layers[1:])
    g = np.array([spin_charge_scan(stack.replace(seed=seed)) for seed in range(realizations)])  # (R, 2, n_phi)
    mean = g.mean(axis=0)
    rel, a0 = harmonics(mean[0], mean[1], n_max=min(8, n_phi // 2 - 1))
    return rel, a0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--L", type=int, default=20)
    parser.add_argument("--K0", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--alpha3", type=float, default=-0.2)
    parser.add_argument("--realizations", type=int, default=32)
    parser.add_argument("--n-phi", type=int, default=16)
    parser.add_argument("--out", default="docs/harmonics_disorder.json")
    args = parser.parse_args()
    alpha1 = matched_alpha1(args.alpha3)
    rows, start = [], time.perf_counter()
    for K0 in [0.0] + list(args.K0):
        reps = 1 if K0 == 0 else args.realizations
        lin, a0_lin = averaged(args.L, K0, reps, alpha1, 0.0, args.n_phi)
        cub, a0_cub = averaged(args.L, K0, reps, 0.0, args.alpha3, args.n_phi)
        rows.append({"K0": K0, "realizations": reps, "A0_linear": a0_lin, "A0_cubic": a0_cub,
                     "rel_linear": lin.tolist(), "rel_cubic": cub.tolist(),
                     "A4_ratio_cubic_over_linear": float(cub[4] / lin[4])})
        print(f"K0 = {K0}: A4/A0 linear {lin[4]:.3g}, cubic {cub[4]:.3g}, ratio {cub[4] / lin[4]:.3g}; "
              f"noise (m = 2) {max(lin[2], cub[2]):.2g}", flush=True)
    out = {"L": args.L, "W": 2 * round(args.L / 3), "alpha3": args.alpha3, "alpha1": alpha1, "n_phi": args.n_phi,
           "disorder": "2DEG only, V = K0 w, seeds 0..R-1", "rows": rows, "seconds": time.perf_counter() - start,
           "machine": {"platform": platform.platform(), "processor": platform.processor()}}
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
