"""``jaxsge scan CONFIG --out DIR [--nphi 64] [--compare NAME=V1,V2] [--kT KT]``: G_sc and G_cs over phi.

For a junction or a stack config: G_sc^x, G_sc^y (Eq. (8) of the paper and its L <-> B, R <-> F
image) and G_cs^x, G_cs^y (the Onsager-reciprocal set-up of Eq. (3)) at phi_j = 2 pi j / n_phi,
one panel per value of ``--compare`` (any parameter of the system). Writes ``scan.npz``
(arrays), ``scan.json`` (every parameter, the angles actually scanned, the harmonics,
timings) and ``polar.png`` (normalised g_sc(phi) of the paper's Fig. 3, with the 2DEG's Fermi
contours for the paper's junction). Every panel is validated before the first is computed.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from .. import __version__
from ..core.precision import x64
from ..io.config import load_config
from ..io.files import output_folder, write_json, write_npz
from ..observables.harmonics import angular_harmonics, default_order, local_maxima, uniform_phi
from ..observables.scan import conversion_scan, normalised_amplitude
from ..plot.ensemble import junction_contours
from ..plot.transport import polar_panels
from ..solve.transmissions import plan_for
from .common import add_config, add_solver, check_n_phi, command_line, requested, solver_options


def add_parser(sub):
    cmd = sub.add_parser("scan", help="G_sc and G_cs over a phi scan, with the polar plot of Fig. 3")
    add_config(cmd)
    add_solver(cmd)
    cmd.add_argument("--out", required=True, help="output folder (scan.npz, scan.json, polar.png)")
    cmd.add_argument("--nphi", type=int, help="number of angles phi on [0, 2 pi) (default: n_phi of the config, or 64)")
    cmd.add_argument("--compare", metavar="NAME=V1,V2,...", help="one panel per value, e.g. --compare xi=7.2,9.6")
    cmd.add_argument("--kT", type=float, help="temperature in units of t (default: kT of the config, or 0)")
    cmd.add_argument("--no-progress", action="store_true", help="no progress bar")
    return cmd


def compare_panels(args, config):
    """(name, values, systems) of ``--compare NAME=V1,V2``: one loaded system per value, every one
    validated now (any config key: a parameter such as xi or K0, or geometry such as W), the
    values as numbers; (None, [None], [config.system]) without ``--compare``."""
    if args.compare is None:
        return None, [None], [config.system]
    if "=" not in args.compare:
        raise ValueError(f"--compare {args.compare!r}: expected NAME=V1,V2,...")
    name, values = (part.strip() for part in args.compare.split("=", 1))
    if name in ("theta", "phi", "n_phi", "n_realizations", "kT"):
        raise ValueError(f"--compare {name}: the angles are scanned and settings are not compared; compare a "
                         "parameter such as xi, mu, K0 or W")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not items:
        raise ValueError(f"--compare {args.compare!r}: give at least one value")
    if len(set(items)) != len(items):
        raise ValueError(f"--compare {name} = {values!r} holds a value twice")
    panels = [load_config(args.config, [*args.set, f"{name}={item}"]).system for item in items]
    return name, [_number(panel.values.get(name, item), name, item) for panel, item in zip(panels, items)], panels


def _number(value, name: str, item: str) -> float:
    """A compared value as a plain number (a text setting cannot be compared)."""
    try:
        return float(np.asarray(value))
    except (TypeError, ValueError):
        raise ValueError(f"--compare {name}={item}: compared values must be plain numbers (for text settings such "
                         f"as {name}, run the scan once per value with --set)") from None


@x64
def run(args, argv=None) -> int:
    config = load_config(args.config, args.set)
    options = solver_options(args)
    n_phi = check_n_phi(args.nphi if args.nphi is not None else config.settings.get("n_phi", 64), 8)
    kT = args.kT if args.kT is not None else config.settings.get("kT", 0.0)
    if not (np.isfinite(kT) and kT >= 0):
        raise ValueError(f"kT = {kT} must be a finite number >= 0 (temperature in units of t)")
    if np.ndim(config.system.values["theta"]):
        raise ValueError("theta must be one number for a phi scan")
    theta = float(np.asarray(config.system.values["theta"]))
    name, values, panels = compare_panels(args, config)
    phi = uniform_phi(n_phi)
    for system in panels:  # every panel is planned (and so validated) before the first is computed
        plan_for(system.stack(), system.energy(), fold=options["fold"], path=options["path"],
                 precision=options["precision"])
    out = output_folder(args.out)
    start = time.perf_counter()
    scans = [conversion_scan(system, phi=phi, kT=kT, progress=not args.no_progress, **options) for system in panels]
    seconds = time.perf_counter() - start
    keys = sorted(scans[0].G)
    arrays = {key: np.stack([np.broadcast_to(s.G[key], phi.shape) for s in scans]) for key in keys}
    gx, gy = arrays["Gsc_x"], arrays.get("Gsc_y", np.zeros_like(arrays["Gsc_x"]))
    with contextlib.suppress(ValueError):  # g_sc is undefined where G_sc vanishes at every angle of a panel
        arrays["g_sc"] = normalised_amplitude(gx, gy)
    g_sc = arrays.get("g_sc")
    n_max = default_order(n_phi)
    meta = {"jaxsge_version": __version__, "command": command_line(argv), "config": config.path,
            "system": config.system.describe(),
            "scanned": {"phi": "2 pi j / n_phi, j = 0 .. n_phi - 1 (the config's phi is not used)", "n_phi": n_phi,
                        "theta": theta},
            "kT": kT, "solver": {"requested": requested(args), **scans[0].solver},
            "seconds": seconds, "leads": list(scans[0].leads),
            "units": "conductances in e^2/h; angles in radians; g_sc normalised per panel",
            "harmonics": {"m": list(range(n_max + 1)),
                          **{key: angular_harmonics(a, n_max).tolist() for key, a in arrays.items()}},
            "panels": [{"compare": None if name is None else {name: value}, "solver_path": s.path, "solver": s.solver,
                        "phi_of_local_maxima_g_sc": None if g_sc is None else local_maxima(phi, g_sc[i]),
                        "max_abs_Gsc": float(np.hypot(gx[i], gy[i]).max()),
                        "quadrature_nodes": s.quadrature_nodes, "quadrature_error": s.quadrature_error}
                       for i, (value, s) in enumerate(zip(values, scans))],
            "onsager_note": "G_cs here is at the same exchange; Eq. (4) relates G_sc(dxc) to G_cs(-dxc)",
            "arrays": {"scan.npz": "phi (n_phi), theta, " + ("compare_values (n_panels), " if name else "")
                       + ", ".join(keys) + ", g_sc (n_panels, n_phi), T (n_panels, n_phi, n_leads, 2, n_leads, 2), "
                       "n_open (n_panels, n_phi, n_leads, 2)"}}
    if name is not None:
        meta["compare"] = {"name": name, "values": values}
        arrays = {"compare_values": np.asarray(values, dtype=float), **arrays}
    if g_sc is None:
        meta["undefined"] = {"g_sc": "G_sc vanishes at every angle of a panel: nothing to normalise"}
    write_npz(out / "scan.npz", phi=phi, theta=np.asarray(theta), **arrays,
              T=np.stack([s.T for s in scans]), n_open=np.stack([s.n_open for s in scans]))
    write_json(out / "scan.json", meta)
    if g_sc is not None:
        titles = ["scan" if name is None else f"{name} = {v:g}" for v in values]
        if name == "xi" and config.kind == "junction":
            titles = [f"{t} = {v / config.system.base.Lz:g} Lz" for t, v in zip(titles, values)]
        stack = config.system.stack()
        polar_panels(phi, [{"g_sc": g} for g in g_sc], titles,
                     [junction_contours(system) for system in panels] if config.kind == "junction" else None,
                     suptitle=(f"normalised spin-charge conductance g_sc(phi), theta = {theta:.3g}, "
                               f"Lx = {stack.Lx}, Ly = {stack.Ly}, kT = {kT:g}"), path=out / "polar.png")
    for panel in meta["panels"]:
        maxima = [round(v, 4) for v in panel["phi_of_local_maxima_g_sc"] or []]
        print(f"{panel['compare'] or 'scan'}: g_sc maxima at phi = {maxima}, max |G_sc| = {panel['max_abs_Gsc']:.4g} "
              f"e^2/h ({panel['solver_path']})")
    print(f"wrote {out}/scan.npz, scan.json" + (", polar.png" if g_sc is not None else "") + f" in {seconds:.1f} s")
    return 0
