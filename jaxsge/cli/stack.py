"""``jaxsge stack CONFIG [--nphi N] [--out DIR] [--explain]``: any layered junction, every pair of leads.

Prints the spin-summed and spin-resolved conductances between every pair of leads and, when the
leads are named for it (L, R, and B, F, with the injector M), G_sc and G_cs. ``--explain`` says
which path the solver takes for each layer and why. ``--nphi`` scans phi on [0, 2 pi) and draws
g_sc(phi). ``--out`` writes ``stack.json`` (the stack's full description, the path and why, the
results, timings), ``stack.npz`` and, with ``--nphi``, ``polar.png``.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from .. import __version__
from ..core.precision import x64
from ..io.config import load_config
from ..io.files import output_folder, write_json, write_npz
from ..observables.harmonics import uniform_phi
from ..observables.scan import normalised_amplitude
from ..plot.transport import polar_panels
from ..solve.transmissions import solve
from .common import add_config, add_solver, check_n_phi, command_line, requested, solver_options
from .conductance import conversions_or_undefined


def add_parser(sub):
    cmd = sub.add_parser("stack", help="any layered junction (configs/stack_*.toml): conductances, G_sc, path")
    add_config(cmd)
    add_solver(cmd)
    cmd.add_argument("--nphi", type=int, help="scan phi over this many values on [0, 2 pi) (at least 8)")
    cmd.add_argument("--explain", action="store_true", help="print which path the solver takes for each layer, and why")
    cmd.add_argument("--out", help="output folder (stack.json, stack.npz, polar.png with --nphi)")
    return cmd


def _print(result, energy, conversion, undefined) -> None:
    T = np.asarray(result.T)
    leads = result.leads
    if T.ndim > 4:
        print(f"{T.shape[0]} angles; the table is for the first one")
        T = T[0]
    print(f"spin-summed conductances G(a <- b) in e^2/h at energy {energy:g}")
    print("a \\ b " + "".join(f"{name:>12}" for name in leads))
    for i, a in enumerate(leads):
        print(f"{a:<6}" + "".join(f"{T[i, :, j, :].sum():>12.6g}" for j in range(len(leads))))
    print("spin-resolved T(a <- b, s) for s = +/- along b's axis:")
    for j, b in enumerate(leads):
        print(f"  from {b}: " + ", ".join(f"{a}: {T[i, :, j, 0].sum():.6g} / {T[i, :, j, 1].sum():.6g}"
                                          for i, a in enumerate(leads) if i != j))
    print(f"current-conservation residual: {np.max(result.conservation_residual()):.2e}")
    if conversion:
        print("  ".join(f"{k.replace('sc_', '_sc^').replace('cs_', '_cs^')} = {np.ravel(v)[0]:.6g}"
                        for k, v in sorted(conversion.items())) + "  (e^2/h)")
    for key, why in undefined.items():
        print(f"{key}: {why}")


@x64
def run(args, argv=None) -> int:
    config = load_config(args.config, args.set)
    options = solver_options(args)
    system = config.system
    stack = system.stack()
    energy = float(np.asarray(system.energy()))
    if args.nphi is not None:
        stack = stack.replace(phi=uniform_phi(check_n_phi(args.nphi, 8)))
    out = output_folder(args.out) if args.out else None
    start = time.perf_counter()
    result = solve(stack, energy, reflection=args.nphi is None, progress=args.nphi is not None, **options)
    seconds = time.perf_counter() - start
    conversion, undefined = conversions_or_undefined(result)
    if args.explain:
        print(result.plan.explain())
    _print(result, energy, conversion, undefined)
    print(f"solver: {result.plan.summary} ({seconds:.2f} s)")
    if out is None:
        return 0
    report = {"jaxsge_version": __version__, "command": command_line(argv), "config": config.path, "energy": energy,
              "leads": list(result.leads), "T": result.T, "n_open": result.n_open,
              "conservation_residual": result.conservation_residual(),
              "solver": {"requested": requested(args), **result.solver_report,
                         "explain": result.plan.explain(), "seconds": seconds},
              "system": system.describe(), **conversion,
              "units": "conductances in e^2/h (transmission probabilities) at zero temperature; angles in radians",
              "axes": "T[..., to_lead, to_spin, from_lead, from_spin]; spin 0/1 = +/- along each lead's axis"}
    if args.nphi is not None:
        report["scanned"] = {"phi": "2 pi j / n_phi", "n_phi": args.nphi}
    if undefined:
        report["undefined"] = undefined
    if not result.reflection_resolved:
        report["note"] = "the top lead's spin-resolved self-reflection is from unitarity (its sums are exact)"
    write_json(out / "stack.json", report)
    write_npz(out / "stack.npz", T=result.T, n_open=result.n_open, theta=np.asarray(stack.theta),
              phi=np.asarray(stack.phi), energy=energy, **conversion)
    written = ["stack.json", "stack.npz"]
    if args.nphi is not None and "Gsc_x" in conversion:
        gx, gy = conversion["Gsc_x"], conversion.get("Gsc_y", 0 * conversion["Gsc_x"])
        g = None
        with contextlib.suppress(ValueError):  # G_sc vanishes at every angle: no figure
            g = normalised_amplitude(gx, gy)
        if g is not None:
            polar_panels(np.asarray(stack.phi), [{"g_sc": g}], [config.path.rsplit("/", 1)[-1]],
                         suptitle=f"normalised g_sc(phi), max |G_sc| = {np.hypot(gx, gy).max():.3g} e^2/h, "
                                  f"energy {energy:g}", path=out / "polar.png")
            written.append("polar.png")
    print(f"wrote {', '.join(str(out / w) for w in written)}")
    return 0
