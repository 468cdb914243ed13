"""The Eq. (6) symmetry study: angular harmonics of G_sc(phi) for linear vs cubic Rashba.

Eq. (6) of G. Fleury, M. Barth, C. Gorini, PRB 108, L081402 (2023) writes
G_sc = sum_k sum_n G^(n) [n.b(k)]^n: odd terms vanish and the even ones carry the texture of
the 2DEG spin-orbit field b(k). Linear Rashba, b = alpha1 (sin ky, -sin kx), is isotropic up
to lattice corrections, so the four-fold harmonic of |G_sc(phi)| should be only a lattice and
geometry remainder; cubic Rashba (the paper's C4v texture) should give a large one. The two
textures are compared at the same mean |b| on the 2DEG Fermi contour.

The clean square five-terminal junction of ``jaxsge.junction`` is used with the 2DEG
(layer 0) stripped of exchange, so that its b(k) is the spin-orbit field alone; both Rashba
terms are set on that layer (``JunctionParams.alpha1`` would put linear Rashba in the
barrier instead). What it finds (docs/harmonics.md): odd harmonics vanish to rounding, but in
these clean cavities the four-fold harmonic of linear Rashba is not generally much weaker than
that of cubic Rashba.

    .venv/bin/python scripts/harmonics_study.py [--L 30] [--n-phi 64] [--out results/harmonics] [--docs]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import shutil
import sys
import time

import jax
import numpy as np
from matplotlib.figure import Figure
from scipy.optimize import brentq

from jaxsge import JunctionParams, junction, stack_system
from jaxsge.io.files import write_figure, write_json, write_npz
from jaxsge.observables.harmonics import angular_harmonics, uniform_phi
from jaxsge.observables.scan import conversion_scan

MU = 1.1
# The weak strengths probe the perturbative regime, the others the brief's comparison.
ALPHA3 = (-0.01, -0.03, -0.1, -0.2, -0.3)
N_MAX = 8
BASE = dict(Lz=6, n_barrier=2, mu=MU, theta=np.pi / 2, xi=7.2, dxc=-0.6, U0=1.9)


def spin_orbit_field(kx, ky, alpha1=0.0, alpha3=0.0):
    """In-plane b(k) of the 2DEG, lattice symbols of docs/model.md: (bx, by)."""
    bx = alpha1 * np.sin(ky) + alpha3 * ((2 - 2 * np.cos(kx)) * np.sin(ky) - np.sin(ky) ** 3)
    by = -alpha1 * np.sin(kx) - alpha3 * (np.sin(kx) ** 3 - (2 - 2 * np.cos(ky)) * np.sin(kx))
    return bx, by


def fermi_contour(mu=MU, n=2048):
    """Points k(a) of E(k) = 4 - 2cos kx - 2cos ky = mu at polar angles a = 2 pi j / n, and the
    arc-length weights ds/da normalised to sum 1: (kx, ky, weights)."""
    a = 2 * np.pi * np.arange(n) / n
    energy = lambda k, c, s: 4 - 2 * np.cos(k * c) - 2 * np.cos(k * s) - mu
    k = np.array([brentq(energy, 1e-9, np.pi, args=(np.cos(v), np.sin(v)), xtol=1e-15) for v in a])
    kx, ky = k * np.cos(a), k * np.sin(a)
    ex, ey = 2 * np.sin(kx), 2 * np.sin(ky)
    # dk/da from d E(k(a) cos a, k(a) sin a)/da = 0.
    dk = k * (ex * np.sin(a) - ey * np.cos(a)) / (ex * np.cos(a) + ey * np.sin(a))
    ds = np.hypot(k, dk)
    return kx, ky, ds / ds.sum()


def contour_mean_b(alpha1=0.0, alpha3=0.0, mu=MU, weighting="arc"):
    """<|b(k)|> over the 2DEG Fermi contour, weighted by arc length ("arc") or uniformly in the
    polar angle of k ("angle")."""
    kx, ky, w = fermi_contour(mu)
    b = np.hypot(*spin_orbit_field(kx, ky, alpha1, alpha3))
    return float(b @ w) if weighting == "arc" else float(b.mean())


def matched_alpha1(alpha3, mu=MU, weighting="arc"):
    """alpha1 (same sign as alpha3) with the contour mean |b| of cubic Rashba alpha3."""
    return float(alpha3) * contour_mean_b(alpha3=1.0, mu=mu, weighting=weighting) / contour_mean_b(
        alpha1=1.0, mu=mu, weighting=weighting)


def build_stack(L, W=None, Lz=6, n_barrier=2, alpha1=0.0, alpha3=0.0, phi=0.0):
    """The clean square five-terminal junction, its 2DEG with no exchange and Rashba alpha1/alpha3."""
    # W keeps the parity of L so that the leads are exactly centred: the pi/2 symmetry needs it.
    W = 2 * round(L / 3) if W is None else W
    p = JunctionParams(**{**BASE, "Lz": Lz, "n_barrier": n_barrier}, Lx=L, Ly=L, W=W)
    s = junction(p)
    layers = (s.layers[0].replace(dxc=0.0, alpha1=alpha1, alpha3=alpha3),) + s.layers[1:]
    return s.replace(layers=layers, phi=np.asarray(phi, dtype=float))


def phi_grid(n_phi):
    """phi_j = 2 pi j / n_phi, the grid that ``angular_harmonics`` expects."""
    return uniform_phi(n_phi)


def spin_charge_scan(stack, mu=MU):
    """(Gsc_x, Gsc_y) over the stack's phi array, one solver call (conversion conductances only)."""
    scan = conversion_scan(stack_system(stack, mu))
    return np.asarray(scan.Gsc_x), np.asarray(scan.Gsc_y)


def harmonics(gx, gy, n_max=N_MAX):
    """A_m / A_0 (m = 0..n_max) of g(phi) = hypot(Gsc_x, Gsc_y), and A_0."""
    a = angular_harmonics(np.hypot(gx, gy), n_max)
    return a / a[0], float(a[0])


def summary(rel):
    rel = np.asarray(rel)
    # In the clean square junction a pi/2 rotation of n maps G_sc^x onto G_sc^y, so only m = 0 mod 4 survive.
    return {"max_odd": float(rel[1::2].max()), "max_not_multiple_of_4": float(np.delete(rel, np.s_[::4]).max()),
            **{f"A{m}": float(rel[m]) for m in range(2, len(rel), 2)}}


def quiver_inset(ax, alpha1, alpha3, color):
    kx, ky, _ = fermi_contour(n=256)
    bx, by = spin_orbit_field(kx, ky, alpha1, alpha3)
    inset = ax.inset_axes([0.78, 0.78, 0.3, 0.3])
    inset.plot(np.append(kx, kx[0]), np.append(ky, ky[0]), color="0.6", lw=0.8)
    step = slice(None, None, 8)
    inset.quiver(kx[step], ky[step], bx[step], by[step], color=color, angles="xy", scale_units="xy",
                 scale=np.hypot(bx, by).max() / 0.45, width=0.012)
    inset.set_aspect("equal")
    inset.set_xlim(-1.6, 1.6)
    inset.set_ylim(-1.6, 1.6)
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_title("b(k) on Fermi contour", fontsize=7)


def finish(fig, suptitle, path):
    """Title, layout, and the file."""
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    write_figure(path, fig)


def case_label(c):
    return f"alpha1 = {c['alpha1']:.4g}" if c["texture"] == "linear" else f"alpha3 = {c['alpha3']:g}"


def plots(out, phi, cases, title):
    colors = {"linear": "C0", "cubic": "C3"}
    # The paper's strength alpha3 = -0.2 when scanned, else the last one.
    ref = next((c for c in cases if np.isclose(c["alpha3_ref"], -0.2)), cases[-1])
    pair = [c for c in cases if c["index"] == ref["index"]]
    closed = np.append(phi, phi[0] + 2 * np.pi)
    fig = Figure(figsize=(10.4, 5.8))
    for i, c in enumerate(pair):
        ax = fig.add_subplot(1, 2, i + 1, projection="polar")
        g = np.hypot(c["Gsc_x"], c["Gsc_y"])
        g = g / g.max()
        ax.plot(closed, np.append(g, g[0]), color=colors[c["texture"]], lw=1.8)
        ax.set_ylim(0, 1.05)
        ax.set_rlabel_position(112)
        ax.set_title(f"{c['texture']} Rashba, {case_label(c)}\nA4/A0 = {c['rel'][4]:.3g}, min/max = {g.min():.3f}",
                     pad=18, fontsize=9)
        quiver_inset(ax, c["alpha1"], c["alpha3"], colors[c["texture"]])
    fig.suptitle(f"g(phi) = |G_sc| / max, {title}, 2<|b|> = {2 * ref['mean_b']:.3f}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    write_figure(out / "harmonics_polar.png", fig)

    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    m = np.arange(N_MAX + 1)
    for shift, c in zip((-0.15, 0.15), pair):
        ax.bar(m + shift, c["rel"], width=0.3, color=colors[c["texture"]], log=True,
               label=f"{c['texture']} ({case_label(c)})")
    ax.axhline(np.finfo(float).eps, color="0.5", ls=":", lw=1, label="machine epsilon")
    ax.set_ylim(1e-18, 2)
    ax.set_xticks(m)
    ax.set_xlabel("harmonic m")
    ax.set_ylabel("A_m / A_0")
    ax.legend(fontsize=8)
    finish(fig, f"harmonic spectrum of g(phi), {title}", out / "harmonics_spectrum.png")

    fig = Figure(figsize=(6.0, 4.4))
    ax = fig.subplots()
    for texture in ("linear", "cubic"):
        sel = [c for c in cases if c["texture"] == texture]
        ax.loglog([2 * c["mean_b"] for c in sel], [c["rel"][4] for c in sel], "o-", color=colors[texture],
                  label=f"{texture} Rashba")
    x = np.array([2 * c["mean_b"] for c in cases])
    small = min(cases, key=lambda c: c["mean_b"])
    ax.loglog(x, small["rel"][4] * (x / (2 * small["mean_b"])) ** 2, ":", color="0.5", label="slope 2")
    ax.set_xlabel("2 <|b(k)|> on the 2DEG Fermi contour (units of t)")
    ax.set_ylabel("A_4 / A_0")
    ax.legend()
    finish(fig, f"four-fold harmonic vs spin splitting, {title}", out / "harmonics_vs_splitting.png")


def survey(out, sizes=range(8, 21, 2), strengths=(-0.01, -0.1, -0.2, -0.3), n_phi=16):
    """A_4/A_0 linear vs cubic over small junctions, stacks Lz = 3 (n_barrier = 1) and Lz = 6 (2)."""
    rows, phi = [], phi_grid(n_phi)
    for Lz, nb in ((3, 1), (6, 2)):
        for L in sizes:
            W = 2 * round(L / 3)
            for alpha3 in strengths:
                alpha1, r = matched_alpha1(alpha3), {}
                for texture, (a1, a3) in (("linear", (alpha1, 0.0)), ("cubic", (0.0, alpha3))):
                    gx, gy = spin_charge_scan(build_stack(L, W, Lz, nb, alpha1=a1, alpha3=a3, phi=phi))
                    r[texture] = float(harmonics(gx, gy, 6)[0][4])
                rows.append(dict(Lz=Lz, n_barrier=nb, L=L, W=W, alpha3=alpha3, alpha1=alpha1,
                                 A4_linear=r["linear"], A4_cubic=r["cubic"], ratio=r["cubic"] / r["linear"]))
                print(f"Lz = {Lz} L = {L:2d} W = {W:2d} alpha3 = {alpha3:+.2f}: A4/A0 linear {r['linear']:.2e} "
                      f"cubic {r['cubic']:.2e} cubic/linear {r['cubic'] / r['linear']:6.2f}", flush=True)
    write_json(out / "harmonics_survey.json", {"n_phi": n_phi, "params": BASE, "rows": rows})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/harmonics")
    parser.add_argument("--L", type=int, default=30)
    parser.add_argument("--W", type=int, default=None, help="side-lead width (default 2 round(L/3))")
    parser.add_argument("--n-phi", type=int, default=64)
    parser.add_argument("--alpha3", type=float, nargs="+", default=list(ALPHA3),
                        help="cubic strengths, each matched by a linear alpha1 (default %(default)s)")
    parser.add_argument("--survey", action="store_true",
                        help="instead: A4/A0 over L = 8..20 for Lz = 3 and 6 (n_phi = 16), harmonics_survey.json")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: L = 8, W = 4, n_phi = 24, alpha3 = -0.01, -0.2")
    parser.add_argument("--docs", action="store_true", help="copy the PNGs and the JSON to docs/")
    args = parser.parse_args()
    if args.quick:
        args.L, args.W, args.n_phi, args.alpha3 = 8, 4, 24, [-0.01, -0.2]
    W = 2 * round(args.L / 3) if args.W is None else args.W
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.survey:
        return survey(out)
    phi = phi_grid(args.n_phi)
    start = time.perf_counter()
    cases = []
    for index, alpha3 in enumerate(args.alpha3):
        alpha1 = matched_alpha1(alpha3)
        for texture, (a1, a3) in (("linear", (alpha1, 0.0)), ("cubic", (0.0, alpha3))):
            t0 = time.perf_counter()
            gx, gy = spin_charge_scan(build_stack(args.L, W, alpha1=a1, alpha3=a3, phi=phi))
            rel, a0 = harmonics(gx, gy)
            cases.append(dict(index=index, texture=texture, alpha1=a1, alpha3=a3, alpha3_ref=alpha3,
                              mean_b=contour_mean_b(a1, a3),
                              mean_b_uniform_angle=contour_mean_b(a1, a3, weighting="angle"),
                              Gsc_x=gx, Gsc_y=gy, A0=a0, rel=rel, seconds=time.perf_counter() - t0))
            print(f"{texture:6s} alpha1 = {a1:+.5f} alpha3 = {a3:+.3f}  2<|b|> = {2 * cases[-1]['mean_b']:.4f}  "
                  f"A0 = {a0:.4e}  A2/A0 = {rel[2]:.2e}  A4/A0 = {rel[4]:.3e}  A8/A0 = {rel[8]:.2e}  "
                  f"max odd = {rel[1::2].max():.1e}  ({cases[-1]['seconds']:.1f} s)", flush=True)
    seconds = time.perf_counter() - start
    title = f"L = {args.L}, W = {W}, n_phi = {args.n_phi}"
    plots(out, phi, cases, title)

    result = {
        "description": "Angular harmonics A_m of g(phi) = hypot(Gsc_x, Gsc_y), Eq. (6) of PRB 108, L081402 (2023); "
                       "2DEG without exchange, linear vs cubic Rashba at matched contour-mean |b|",
        "params": {**BASE, "Lx": args.L, "Ly": args.L, "W": W, "n_phi": args.n_phi, "t": 1.0, "K0": 0.0,
                   "layer0": "dxc = 0, alpha1 or alpha3 as listed", "n_max": N_MAX},
        "matching": "alpha1 = alpha3 <|b_cubic|/alpha3> / <|b_linear|/alpha1>, means over the 2DEG Fermi contour "
                    "4 - 2cos kx - 2cos ky = mu weighted by arc length (mean_b_uniform_angle: uniform in polar angle)",
        "cases": [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in c.items()
                   if k not in ("Gsc_x", "Gsc_y")} | summary(c["rel"])
                  | {"A4_over_splitting_squared": float(c["rel"][4] / (2 * c["mean_b"]) ** 2)} for c in cases],
        "A4_ratio_cubic_over_linear": {str(a3): cases[2 * i + 1]["rel"][4] / cases[2 * i]["rel"][4]
                                       for i, a3 in enumerate(args.alpha3)},
        "max_odd_over_all": float(max(c["rel"][1::2].max() for c in cases)),
        "max_not_multiple_of_4_over_all": float(max(np.delete(c["rel"], np.s_[::4]).max() for c in cases)),
        "seconds_total": seconds,
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "python": platform.python_version(), "jax": jax.__version__,
                    "jax_backend": jax.default_backend()},
        "command": " ".join([".venv/bin/python", "scripts/harmonics_study.py", *sys.argv[1:]]),
    }
    write_json(out / "harmonics.json", result)
    write_npz(out / "harmonics.npz", phi=phi,
              **{f"{c['texture']}_{c['alpha3_ref']:g}_{g}": c[g] for c in cases for g in ("Gsc_x", "Gsc_y")})
    print(f"total {seconds:.1f} s; wrote {out}")
    if args.docs:
        docs = pathlib.Path(__file__).resolve().parents[1] / "docs"
        for name in ("harmonics_polar.png", "harmonics_spectrum.png", "harmonics_vs_splitting.png", "harmonics.json"):
            shutil.copy(out / name, docs / name)


if __name__ == "__main__":
    main()
