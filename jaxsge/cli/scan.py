"""``jaxsge scan CONFIG --out DIR [--nphi 64] [--compare NAME=V1,V2] [--kT KT]``: G_sc and G_cs over phi.

For a junction or a stack config: G_sc^x, G_sc^y (Eq. (8) of the paper and its L <-> B, R <-> F
image) and G_cs^x, G_cs^y (the Onsager-reciprocal set-up of Eq. (3)) at phi_j = 2 pi j / n_phi,
one panel per value of ``--compare`` (any parameter of the system). Writes ``scan.npz``
(arrays), ``scan.json`` (every parameter, the angles actually scanned, the harmonics,
timings), ``polar.png`` (normalised g_sc(phi) of the paper's Fig. 3, its maximum stated, or
``|G_sc|`` in e^2/h with ``--absolute``; with the 2DEG's Fermi contours for the paper's junction),
``junction.png`` (a drawing of the junction: layers, leads, magnetization), ``scan.nc`` (the
labelled arrays with the full provenance, ``io.results``; the figures are drawn from it, as
``jaxsge plot`` redraws them) and ``run.json``,
replacing a previous scan in that folder as a whole with ``--overwrite`` (without it a non-empty
``--out`` is refused: README.md, Output files). Every panel is
validated before the first is computed.
"""

from __future__ import annotations

import contextlib
import sys
import time

import numpy as np

from .. import __version__
from ..core.precision import x64
from ..io.config import load_config, parse_number
from ..io.files import result_folder
from ..observables.fermi import junction_contours
from ..observables.harmonics import angular_harmonics, default_order, local_maxima, uniform_phi
from ..observables.response import conversion_axes
from ..observables.scan import (ZERO_CONDUCTANCE, check_temperature, conversion_scan, normalised_amplitude,
                                spin_charge_pair)
from ..io.results import provenance, scan_dataset, write_result
from ..plot.results import draw_scan
from ..plot.style import value_text
from ..solve.transmissions import plan_for
from .common import add_config, add_output, add_solver, check_n_phi, command_line, requested, solver_options


FILES = ("scan.npz", "scan.json", "scan.nc", "polar.png", "junction.png")


def add_parser(sub):
    cmd = sub.add_parser("scan", help="G_sc and G_cs over a phi scan, with the polar plot of Fig. 3")
    add_config(cmd)
    add_solver(cmd)
    add_output(cmd, "output folder (scan.npz, scan.json, scan.nc, polar.png, junction.png)")
    cmd.add_argument("--nphi", type=int, help="number of angles phi on [0, 2 pi) (default: n_phi of the config, or 64)")
    cmd.add_argument("--compare", metavar="NAME=V1,V2,...", help="one panel per value, e.g. --compare xi=7.2,9.6")
    cmd.add_argument("--kT", type=float, help="temperature in units of t (default: kT of the config, or 0)")
    cmd.add_argument("--absolute", action="store_true",
                     help="polar figure of |G_sc| in e^2/h (default: normalised per panel, the maximum stated)")
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
    if not name:
        raise ValueError(f"--compare {args.compare!r}: the name is empty; expected NAME=V1,V2,...")
    if name in ("theta", "phi", "n_phi", "n_realizations", "kT"):
        raise ValueError(f"--compare {name}: the angles are scanned and settings are not compared; compare a "
                         "parameter such as xi, mu, K0 or W")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not items:
        raise ValueError(f"--compare {args.compare!r}: give at least one value")
    if len(set(items)) != len(items):
        raise ValueError(f"--compare {name} = {values!r} holds a value twice")
    panels = [load_config(args.config, [*args.set, f"{name}={item}"]).system for item in items]
    numbers = [_number(panel.values.get(name, item), name, item) for panel, item in zip(panels, items)]
    for k, value in enumerate(numbers):
        if value in numbers[:k]:
            raise ValueError(f"--compare {name} = {values!r}: {items[numbers.index(value)]!r} and {items[k]!r} are the "
                             f"same value ({value:g}); compare different values")
    return name, numbers, panels


def _number(value, name: str, item: str) -> float:
    """A compared value as a plain number (a text setting cannot be compared); a geometry key's value
    (not a parameter of the system) is read as the config reads it, so Lx=2**4 is 16."""
    try:
        return float(np.asarray(value)) if not isinstance(value, str) else parse_number(value, name)
    except (TypeError, ValueError):
        raise ValueError(f"--compare {name}={item}: compared values must be plain numbers (for text settings such "
                         f"as {name}, run the scan once per value with --set)") from None


@x64
def run(args, argv=None) -> int:
    config = load_config(args.config, args.set)
    options = solver_options(args)
    n_phi = check_n_phi(args.nphi if args.nphi is not None else config.settings.get("n_phi", 64), 8)
    kT = args.kT if args.kT is not None else config.settings.get("kT", 0.0)
    if np.ndim(config.system.values["theta"]):
        raise ValueError("theta must be one number for a phi scan")
    theta = float(np.asarray(config.system.values["theta"]))
    name, values, panels = compare_panels(args, config)
    phi = uniform_phi(n_phi)
    for system in panels:  # every panel is planned (and so validated) before the first is computed
        stack = system.stack()
        plan_for(stack, system.energy(), fold=options["fold"], path=options["path"], precision=options["precision"])
        check_temperature(stack, system.energy(), kT)
        if not conversion_axes(stack.lead_names):
            raise ValueError(f"a conversion scan needs the injector M and the side leads L, R (and B, F for the y "
                             f"axis): the leads are {stack.lead_names}" + (f" (--compare {name})" if name else ""))
    with result_folder(args.out, "scan", FILES, overwrite=args.overwrite) as out:
        start = time.perf_counter()
        scans = [conversion_scan(system, phi=phi, kT=kT, progress=not args.no_progress, **options)
                 for system in panels]
        seconds = time.perf_counter() - start
        arrays, meta, labelled = _result(config, argv, args, kT, theta, phi, n_phi, name, values, panels, scans,
                                         seconds)

        def write(folder):
            write_result(folder, "scan", arrays, meta, labelled)
            draw_scan(labelled, folder)

        written = out.commit(write)
    for panel in meta["panels"]:
        maxima = [round(v, 4) for v in panel["phi_of_local_maxima_g_sc"] or []]
        print(f"{panel['compare'] or 'scan'}: g_sc maxima at phi = {maxima}, max |G_sc| = {panel['max_abs_Gsc']:.4g} "
              f"e^2/h ({panel['solver_path']})")
    print(f"wrote {args.out}: {', '.join(written)} in {seconds:.1f} s")
    return 0


def _result(config, argv, args, kT, theta, phi, n_phi, name, values, panels, scans, seconds):
    """The arrays of scan.npz, the content of scan.json, and the labelled Dataset of scan.nc (``io.results``), from
    which ``plot.results.draw_scan`` draws polar.png (where g_sc is defined) and junction.png."""
    keys = sorted(scans[0].G)
    arrays = {key: np.stack([np.broadcast_to(s.G[key], phi.shape) for s in scans]) for key in keys}
    gx, gy = spin_charge_pair(arrays)  # side leads on one axis only: the other is zero
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
        meta["undefined"] = {"g_sc": f"G_sc vanishes (below {ZERO_CONDUCTANCE:g} e^2/h) at every angle of a panel: "
                                     "nothing to normalise, no polar.png"}
        print(f"jaxsge: warning: g_sc is {meta['undefined']['g_sc']}", file=sys.stderr)
    arrays = {"phi": phi, "theta": np.asarray(theta), **arrays, "T": np.stack([s.T for s in scans]),
              "n_open": np.stack([s.n_open for s in scans])}
    stack = config.system.stack()
    labels = ["" if name is None else value_text(name, v) for v in values]
    if name == "xi" and config.kind == "junction":
        labels = [f"{t[:-1]} = {v / config.system.base.Lz:g}\\,L_z$" for t, v in zip(labels, values)]
    energy = value_text(config.system.energy_name, float(np.asarray(config.system.energy())))
    figure = {"polar": g_sc is not None, "labels": labels, "absolute": bool(args.absolute),
              "titles": [f"({chr(97 + i)})" if name else "" for i in range(len(labels))],
              "suptitle": (f"spin-charge conductance $|G_{{\\mathrm{{sc}}}}|(\\varphi)$: {value_text('theta', theta)}, "
                           f"{energy}, {value_text('kT', kT)}, $L_x \\times L_y = {stack.Lx} \\times {stack.Ly}$"),
              "junction_title": f"junction of {config.path.rsplit('/', 1)[-1]}"}
    contours = ([junction_contours(system) for system in panels] if config.kind == "junction" and g_sc is not None
                else None)
    labelled = scan_dataset(arrays, meta, provenance(config.system, config.path, command_line(argv)), figure, contours,
                            energy=np.asarray(config.system.energy(), dtype=float))
    return arrays, meta, labelled
