"""``jaxsge scan CONFIG --out DIR [--nphi 64] [--compare NAME=V1,V2] [--kT KT]``: G_sc and G_cs over phi.

For a junction or a stack config: G_sc^x, G_sc^y (Eq. (8) of the paper and its L <-> B, R <-> F
image) and G_cs^x, G_cs^y (the Onsager-reciprocal set-up of Eq. (3)) at phi_j = 2 pi j / n_phi,
one panel per value of ``--compare`` (any parameter of the system). Writes ``scan.npz``
(arrays), ``scan.json`` (every parameter, the angles actually scanned, the harmonics,
timings) and ``polar.png`` (normalised g_sc(phi) of the paper's Fig. 3, with the 2DEG's Fermi
contours for the paper's junction). Every panel is validated before the first is computed.
"""

from __future__ import annotations

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
from .common import add_config, add_solver, command_line, solver_options


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
    """(name, values, configs) of ``--compare NAME=V1,V2``: one loaded config per value, every one
    validated now (any config key: a parameter such as xi or K0, or geometry such as W)."""
    if args.compare is None:
        return None, [None], [config]
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
    panels = [load_config(args.config, [*args.set, f"{name}={item}"]) for item in items]
    compared = [panel.system.values.get(name, item) if name in panel.system.values else item
                for panel, item in zip(panels, items)]
    for item, value in zip(items, compared):
        if not isinstance(_plain(value), float):
            raise ValueError(f"--compare {name}={item}: compared values must be plain numbers (for text settings such "
                             f"as {name}, run the scan once per value with --set)")
    return name, compared, panels


def _plain(value):
    """A compared value for the records: a number when it is one, else the text given."""
    try:
        return float(np.asarray(value))
    except (TypeError, ValueError):
        return value


def n_phi_of(args, config, minimum: int) -> int:
    n = args.nphi if args.nphi is not None else config.settings.get("n_phi", 64)
    if isinstance(n, bool) or not isinstance(n, int) or not minimum <= n <= 100_000:
        raise ValueError(f"nphi = {n!r} must be an integer between {minimum} and 100000")
    return n


@x64
def run(args, argv=None) -> int:
    config = load_config(args.config, args.set)
    options = solver_options(args)
    n_phi = n_phi_of(args, config, 8)
    kT = args.kT if args.kT is not None else config.settings.get("kT", 0.0)
    if not (np.isfinite(kT) and kT >= 0):
        raise ValueError(f"kT = {kT} must be a finite number >= 0 (temperature in units of t)")
    if np.ndim(config.system.values["theta"]):
        raise ValueError("theta must be one number for a phi scan")
    name, values, configs = compare_panels(args, config)
    panels = [c.system for c in configs]
    compare = None if name is None else (name, [_plain(v) for v in values])
    phi = uniform_phi(n_phi)
    for system in panels:  # every panel is planned (and so validated) before the first is computed
        plan_for(system.stack(), np.unique(np.asarray(system.energy(), dtype=float)), fold=options["fold"],
                 path=options["path"])
    out = output_folder(args.out)
    start = time.perf_counter()
    scans = [conversion_scan(system, phi=phi, kT=kT, progress=not args.no_progress, **options) for system in panels]
    seconds = time.perf_counter() - start
    keys = sorted(scans[0].G)
    arrays = {key: np.stack([np.broadcast_to(s.G[key], phi.shape) for s in scans]) for key in keys}
    gx, gy = arrays["Gsc_x"], arrays.get("Gsc_y", np.zeros_like(arrays["Gsc_x"]))
    try:
        arrays["g_sc"] = np.stack([normalised_amplitude(x, y) for x, y in zip(gx, gy)])
    except ValueError:
        arrays.pop("g_sc", None)
    n_max = default_order(n_phi)
    meta = {"jaxsge_version": __version__, "command": command_line(argv), "config": config.path,
            "system": config.system.describe(),
            "scanned": {"phi": "2 pi j / n_phi, j = 0 .. n_phi - 1 (the config's phi is not used)", "n_phi": n_phi,
                        "theta": float(np.asarray(config.system.values["theta"]))},
            "kT": kT, "solver": {"requested": {"path": args.path, "fold": not args.no_fold}, **scans[0].solver},
            "seconds": seconds, "leads": list(scans[0].leads),
            "units": "conductances in e^2/h; angles in radians; g_sc normalised per panel",
            "harmonics": {"m": list(range(n_max + 1)),
                          **{key: angular_harmonics(arrays[key], n_max).tolist() for key in keys + ["g_sc"]
                             if key in arrays}},
            "panels": [{"compare": None if compare is None else {compare[0]: value}, "solver_path": s.path, "solver": s.solver,
                        "phi_of_local_maxima_g_sc": local_maxima(phi, arrays["g_sc"][i]) if "g_sc" in arrays else None,
                        "max_abs_Gsc": float(np.hypot(gx[i], gy[i]).max()),
                        "quadrature_nodes": s.quadrature_nodes, "quadrature_error": s.quadrature_error}
                       for i, (value, s) in enumerate(zip(compare[1] if compare else [None], scans))],
            "onsager_note": "G_cs here is at the same exchange; Eq. (4) relates G_sc(dxc) to G_cs(-dxc)",
            "arrays": {"scan.npz": "phi (n_phi), theta, " + ("compare_values (n_panels), " if compare else "")
                       + ", ".join(keys) + ", g_sc (n_panels, n_phi), T (n_panels, n_phi, n_leads, 2, n_leads, 2), "
                       "n_open (n_panels, n_phi, n_leads, 2)"}}
    if compare is not None:
        meta["compare"] = {"name": compare[0], "values": list(compare[1])}
    if "g_sc" not in arrays:
        meta["undefined"] = {"g_sc": "G_sc vanishes at every angle of a panel: nothing to normalise"}
    extra = {"compare_values": np.asarray(compare[1], dtype=float)} if compare else {}
    write_npz(out / "scan.npz", phi=phi, theta=np.asarray(config.system.values["theta"], dtype=float), **extra,
              **arrays, T=np.stack([s.T for s in scans]), n_open=np.stack([s.n_open for s in scans]))
    write_json(out / "scan.json", meta)
    if "g_sc" in arrays:
        titles = ["scan" if compare is None else f"{compare[0]} = {v:g}" for v in (compare[1] if compare else [None])]
        if compare is not None and compare[0] == "xi" and config.kind == "junction":
            titles = [f"{t} = {v / config.system.base.Lz:g} Lz" for t, v in zip(titles, compare[1])]
        stack = config.system.stack()
        polar_panels(phi, [{"g_sc": g} for g in arrays["g_sc"]], titles,
                     [junction_contours(system) for system in panels] if config.kind == "junction" else None,
                     suptitle=(f"normalised spin-charge conductance g_sc(phi), theta = "
                               f"{float(np.asarray(config.system.values['theta'])):.3g}, Lx = {stack.Lx}, "
                               f"Ly = {stack.Ly}, kT = {kT:g}"), path=out / "polar.png")
    for panel in meta["panels"]:
        label = panel["compare"] or "scan"
        maxima = [round(v, 4) for v in panel["phi_of_local_maxima_g_sc"] or []]
        print(f"{label}: g_sc maxima at phi = {maxima}, max |G_sc| = {panel['max_abs_Gsc']:.4g} e^2/h "
              f"({panel['solver_path']})")
    print(f"wrote {out}/scan.npz, scan.json" + (", polar.png" if "g_sc" in arrays else "") + f" in {seconds:.1f} s")
    return 0
