"""``jaxsge stack CONFIG.toml [--nphi N] [--out DIR] [--explain]``: any layered junction from its config.

Prints the spin-resolved conductances between every pair of leads and, when the leads are named
among L, R, F, B, M, the conversion conductances G_sc and G_cs (``response``). ``--nphi`` scans
the magnetization angle phi on [0, 2 pi) and draws the normalised g_sc(phi). ``--out`` writes
``stack.json`` (the stack's full description, the solver path and why, the results, timings)
and ``stack.npz`` (arrays), and with ``--nphi`` also ``polar.png``. See ``stack_config`` for the
config format and ``configs/stack_*.toml`` for examples.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time

import numpy as np

from . import __version__
from .precision import x64
from .response import conversions
from .stack_config import load_stack, stack_dict
from .stack_solve import PATHS, stack_transmissions


def add_parser(subparsers) -> None:
    cmd = subparsers.add_parser("stack", help="any layered junction (configs/stack_*.toml): conductances, G_sc, path")
    cmd.add_argument("config", help="TOML file describing the stack layer by layer (or a preset)")
    cmd.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="override a top-level value (energy, theta, phi, seed, or a preset parameter)")
    cmd.add_argument("--path", choices=PATHS, default="auto", help="solver path (default: auto)")
    cmd.add_argument("--nphi", type=int, help="scan phi over this many values on [0, 2 pi)")
    cmd.add_argument("--explain", action="store_true", help="print which path the solver takes for each layer, and why")
    cmd.add_argument("--out", help="output folder (stack.json, stack.npz, polar.png with --nphi)")
    cmd.add_argument("--memory-gib", type=float, help="memory budget for one vmapped chunk (default 4 GiB)")


@x64
def stack_report(stack, energy: float, path: str = "auto", memory_gib=None, progress: bool = False) -> dict:
    """Transmissions, conversions (when the leads allow) and the solver path, as JSON-able values."""
    start = time.perf_counter()
    r = stack_transmissions(stack, energy=energy, path=path, smatrix=False, memory_budget_gib=memory_gib,
                            progress=progress)
    seconds = time.perf_counter() - start
    report = {"jaxsge_version": __version__, "energy": energy, "leads": list(r.leads), "T": np.asarray(r.T).tolist(),
              "n_open": np.asarray(r.n_open).tolist(), "conservation_residual": np.asarray(r.conservation_residual()).tolist(),
              "solver": {"path": path, "explain": r.plan.explain(), "seconds": seconds},
              "stack": stack_dict(stack),
              "units": "conductances in e^2/h (transmission probabilities) at zero temperature; angles in radians",
              "axes": "T[..., to_lead, to_spin, from_lead, from_spin]; spin 0/1 = +/- along each lead's axis"}
    if {"L", "R", "M"} <= set(r.leads) and set(r.leads) <= {"L", "R", "F", "B", "M"}:
        report.update({k: np.asarray(v).tolist() for k, v in conversions(*r.five_terminal()).items()})
    return report, r


def _print(report: dict, out) -> None:
    T = np.asarray(report["T"])
    leads = report["leads"]
    batch = T.shape[:-4]
    first = (0,) * len(batch)
    if batch:
        print(f"{int(np.prod(batch))} angles; the table is for the first one", file=out)
    t = T[first]
    print(f"spin-summed conductances G(a <- b) in e^2/h at energy {report['energy']:g}", file=out)
    print("a \\ b " + "".join(f"{name:>12}" for name in leads), file=out)
    for i, a in enumerate(leads):
        print(f"{a:<6}" + "".join(f"{t[i, :, j, :].sum():>12.6g}" for j in range(len(leads))), file=out)
    print("spin-resolved T(a <- b, s) for s = +/- along b's axis:", file=out)
    for j, b in enumerate(leads):
        row = ", ".join(f"{a}: {t[i, :, j, 0].sum():.6g} / {t[i, :, j, 1].sum():.6g}" for i, a in enumerate(leads) if i != j)
        print(f"  from {b}: {row}", file=out)
    residual = np.max(report["conservation_residual"])
    print(f"current-conservation residual: {residual:.2e}", file=out)
    if "Gsc_x" in report:
        print(f"G_sc^x = {np.ravel(report['Gsc_x'])[0]:.6g}  G_sc^y = {np.ravel(report['Gsc_y'])[0]:.6g}  "
              f"G_cs^x = {np.ravel(report['Gcs_x'])[0]:.6g}  G_cs^y = {np.ravel(report['Gcs_y'])[0]:.6g}  (e^2/h)",
              file=out)
    print(f"solver: {report['solver']['seconds']:.2f} s", file=out)


def run_stack(args) -> int:
    """Handler of ``jaxsge stack``: 0 on success, 2 (with a message on stderr) on bad input."""
    try:
        stack, energy = load_stack(args.config, args.set)
        if args.nphi is not None:
            if args.nphi < 8:
                raise ValueError(f"nphi = {args.nphi} must be >= 8")
            stack = stack.replace(phi=2 * np.pi * np.arange(args.nphi) / args.nphi)
        report, r = stack_report(stack, energy, args.path, args.memory_gib, progress=args.nphi is not None)
    except ValueError as err:
        print(f"jaxsge: error: {err}", file=sys.stderr)
        return 2
    if args.explain:
        print(report["solver"]["explain"])
    _print(report, sys.stdout)
    if args.out:
        out = pathlib.Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        report["command"] = sys.argv
        with open(out / "stack.json", "w") as fh:
            json.dump(report, fh, indent=1)
        arrays = {k: np.asarray(report[k]) for k in ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y") if k in report}
        np.savez(out / "stack.npz", T=r.T, n_open=r.n_open, theta=np.asarray(stack.theta), phi=np.asarray(stack.phi),
                 energy=energy, **arrays)
        written = ["stack.json", "stack.npz"]
        if args.nphi is not None and "Gsc_x" in report:
            from .plot import polar_panels

            g = np.hypot(arrays["Gsc_x"], arrays["Gsc_y"])
            polar_panels(np.asarray(stack.phi), [{"g_sc": g / g.max()}], [pathlib.Path(args.config).stem],
                         suptitle=f"normalised g_sc(phi), max |G_sc| = {g.max():.3g} e^2/h, energy {energy:g}",
                         path=out / "polar.png")
            written.append("polar.png")
        print(f"wrote {', '.join(str(out / w) for w in written)}")
    return 0
