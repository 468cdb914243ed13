"""Does disorder averaging remove the geometric four-fold harmonic of |G_sc(phi)|? (docs/harmonics.md)

The clean-cavity study (``harmonics_study.py``) finds a four-fold harmonic for linear Rashba of
the same order as for cubic Rashba, set by interference in the clean square cavity. Here the
2DEG carries on-site disorder V = K0 w of strength K0, G_sc^x and G_sc^y are averaged over the
realizations, and the harmonics A_m of hypot(<G_sc^x>, <G_sc^y>) are compared for the two
textures at matched spin splitting [Eq. (6) of G. Fleury, M. Barth, C. Gorini, PRB 108,
L081402 (2023)]. The ensemble is C4 symmetric only on average: harmonics m = 2, 6 measure the
statistical noise of the average.

Realization j is the standard-normal draw of seed j (``disorder_realization(j, 0, ...)``, its
2DEG slice), j = 0..R-1: the draws behind docs/harmonics_disorder.json.

    .venv/bin/python -m scripts.harmonics_disorder [--L 20] [--K0 1.0 2.0] [--realizations 32] [--out F.json]
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import numpy as np

from jaxsge.core.lattice import disorder_realization
from jaxsge.io.files import output_file, write_json
from scripts.harmonics_study import build_stack, harmonics, matched_alpha1, phi_grid, spin_charge_scan


def with_2deg_disorder(stack, K0, seed):
    """The stack with V = K0 w added to the on-site energy of its 2DEG (layer 0), w the z = 0 slice of
    realization 0 of ``seed``."""
    # The potential goes in as an on-site profile rather than as Layer.K0 with Stack.seed = seed:
    # the seed is a static (compiled-in) value, the profile is data, so every realization reuses
    # one compiled solver instead of compiling once per seed.
    with jax.enable_x64(True):
        w = np.asarray(disorder_realization(seed, 0, (stack.Lz, stack.Lx, stack.Ly)))[0]
    layer = stack.layers[0]
    return stack.replace(layers=(layer.replace(onsite=np.asarray(layer.onsite) + K0 * w),) + stack.layers[1:])


def averaged(L, K0, realizations, alpha1, alpha3, n_phi):
    """Harmonics (A_m / A_0, A_0) of hypot(<G_sc^x>, <G_sc^y>), averages over ``realizations`` draws."""
    stack = build_stack(L, alpha1=alpha1, alpha3=alpha3, phi=phi_grid(n_phi))
    if K0 == 0:
        g = np.array([spin_charge_scan(stack)])
    else:
        g = np.array([spin_charge_scan(with_2deg_disorder(stack, K0, seed)) for seed in range(realizations)])
    mean = g.mean(axis=0)  # g: (R, 2, n_phi)
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
    out = output_file(args.out)
    alpha1 = matched_alpha1(args.alpha3)
    rows, start = [], time.perf_counter()
    for K0 in [0.0] + list(args.K0):
        reps = 1 if K0 == 0 else args.realizations
        lin, a0_lin = averaged(args.L, K0, reps, alpha1, 0.0, args.n_phi)
        cub, a0_cub = averaged(args.L, K0, reps, 0.0, args.alpha3, args.n_phi)
        rows.append({"K0": K0, "realizations": reps, "A0_linear": a0_lin, "A0_cubic": a0_cub,
                     "rel_linear": lin, "rel_cubic": cub, "A4_ratio_cubic_over_linear": float(cub[4] / lin[4])})
        print(f"K0 = {K0}: A4/A0 linear {lin[4]:.3g}, cubic {cub[4]:.3g}, ratio {cub[4] / lin[4]:.3g}; "
              f"noise (m = 2) {max(lin[2], cub[2]):.2g}", flush=True)
    write_json(out, {"L": args.L, "W": 2 * round(args.L / 3), "alpha3": args.alpha3, "alpha1": alpha1,
                     "n_phi": args.n_phi, "disorder": "2DEG only, V = K0 w, seeds 0..R-1", "rows": rows,
                     "seconds": time.perf_counter() - start,
                     "machine": {"platform": platform.platform(), "processor": platform.processor()}})


if __name__ == "__main__":
    main()
