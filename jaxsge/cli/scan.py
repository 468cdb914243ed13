"""``jaxsge scan CONFIG --out DIR [--nphi 64] [--energy SPEC] [--compare NAME=V1,V2] [--kT KT]``: G_sc, G_cs.

For a junction or a stack config: G_sc^x, G_sc^y (Eq. (8) of Fleury, Barth, Gorini (2023) and its
L <-> B, R <-> F image) and G_cs^x, G_cs^y (the Onsager-reciprocal set-up of their Eq. (3)) at
phi_j = 2 pi j / n_phi, one panel per value of ``--compare`` (any parameter of the system).
``--energy`` adds a Fermi-energy (gate) axis: START:STOP:N (N equally spaced energies, both ends
included) or V1,V2,... (units of t; mu of a junction, energy of a stack); with ``--nphi 1`` at the
config's phi (``energy.png``: the conductances against energy), else on the phi grid
(``map.png``: phi x energy maps). Writes ``scan.npz`` (arrays), ``scan.json`` (every parameter,
the angles and energies actually scanned, the harmonics, timings), ``polar.png`` (without
``--energy``: normalised g_sc(phi) of the paper's Fig. 3, its maximum stated, or ``|G_sc|`` in
e^2/h with ``--absolute``; with the 2DEG's Fermi contours for the paper's junction),
``junction.png`` (a drawing of the junction: layers, leads, magnetization), ``scan.nc`` (the
labelled arrays with the full provenance, ``io.results``; the figures are drawn from it, as
``jaxsge plot`` redraws them) and ``run.json``,
replacing a previous scan in that folder as a whole with ``--overwrite`` (without it a non-empty
``--out`` is refused: README.md, Output files). Every panel and every energy is validated before
the first is computed.
"""

from __future__ import annotations

import contextlib
import sys
import time

import numpy as np

from .. import __version__
from ..core.precision import x64
from ..io.config import load_config, parse_integer, parse_number
from ..io.files import result_folder
from ..observables.fermi import junction_contours
from ..observables.harmonics import angular_harmonics, default_order, local_maxima, uniform_phi
from ..observables.response import conversion_axes
from ..observables.scan import (ZERO_CONDUCTANCE, check_temperature, conversion_scan, normalised_amplitude,
                                spin_charge_pair)
from ..io.results import provenance, scan_dataset, write_result
from ..plot.results import draw_scan
from ..plot.style import axis_label, value_text
from ..solve.transmissions import plan_for
from .common import (add_config, add_output, add_solver, angle_text, check_n_phi, command_line, quantity_text,
                     requested, solver_options)


FILES = ("scan.npz", "scan.json", "scan.nc", "polar.png", "energy.png", "map.png", "junction.png")
# The most energies of --energy (the run's length is bounded before it starts).
MAX_ENERGIES = 10_000
ENERGY_SYNTAX = "START:STOP:N (N equally spaced energies, both ends included, e.g. 0.8:1.2:21) or V1,V2,..."


def add_parser(sub):
    cmd = sub.add_parser("scan", help="G_sc and G_cs over phi (and the Fermi energy), with the polar plot of Fig. 3")
    add_config(cmd)
    add_solver(cmd)
    add_output(cmd, "output folder (scan.npz, scan.json, scan.nc, junction.png, and polar.png, or with --energy "
               "energy.png or map.png)")
    cmd.add_argument("--nphi", type=int, help="number of angles phi on [0, 2 pi) (default: n_phi of the config, or "
                     "64); with --energy, 1 is the config's phi")
    cmd.add_argument("--energy", metavar="START:STOP:N|V1,V2,...",
                     help="Fermi energies in units of t (mu of a junction, energy of a stack): N equally spaced from "
                          "START to STOP, both included (e.g. 0.8:1.2:21), or a list (e.g. 0.9,1.0,1.1); with --nphi 1 "
                          "G_sc and G_cs against energy at the config's phi (energy.png), else phi x energy maps "
                          "(map.png)")
    cmd.add_argument("--compare", metavar="NAME=V1,V2,...", help="one panel per value, e.g. --compare xi=7.2,9.6")
    cmd.add_argument("--kT", type=float, help="temperature in units of t (default: kT of the config, or 0)")
    cmd.add_argument("--absolute", action="store_true",
                     help="polar figure of |G_sc| in e^2/h (default: normalised per panel, the maximum stated)")
    cmd.add_argument("--no-progress", action="store_true",
                     help="no progress bar (by default one per panel on stderr: evaluations done, time left)")
    return cmd


def energy_values(spec):
    """The Fermi energies of ``--energy`` (ENERGY_SYNTAX) in increasing order, checked in plain Python: numbers,
    at least two, distinct, at most MAX_ENERGIES; None without the option."""
    if spec is None:
        return None
    text = spec.strip()
    if ":" in text:
        parts = [part.strip() for part in text.split(":")]
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"--energy {spec!r}: expected {ENERGY_SYNTAX}")
        start, stop = parse_number(parts[0], "--energy START"), parse_number(parts[1], "--energy STOP")
        n = parse_integer(parts[2], "--energy N", 2, MAX_ENERGIES)
        if not start < stop:
            raise ValueError(f"--energy {spec!r}: START = {start:g} must be below STOP = {stop:g}")
        return np.linspace(start, stop, n)
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise ValueError(f"--energy {spec!r}: an empty value; expected {ENERGY_SYNTAX}")
    values = np.asarray([parse_number(item, "--energy") for item in items])
    if values.size < 2:
        raise ValueError(f"--energy {spec!r}: give at least two energies (for one energy: --set mu=VALUE, or "
                         "energy=VALUE for a stack)")
    if values.size > MAX_ENERGIES:
        raise ValueError(f"--energy: {values.size} energies, more than {MAX_ENERGIES}")
    if np.unique(values).size < values.size:
        raise ValueError(f"--energy {spec!r} holds a value twice")
    return np.sort(values)


def check_energies(system, energies, options, what: str) -> None:
    """Every energy of ``--energy`` planned on its own (the planner refuses an energy at which a lead has no open
    channel or that sits on a subband edge), the error naming the option and the value."""
    stack = system.stack()
    for value in energies:
        try:
            plan_for(stack, [value], fold=options["fold"], path=options["path"], precision=options["precision"])
        except ValueError as err:
            # the planner's advice to allow closed leads is the conductance command's option, not scan's
            why, _, closed = str(err).partition("; pass allow_closed")
            raise ValueError(f"--energy: {system.energy_name} = {value:.6g} t{what}: {why}"
                             + ("; give energies at which every lead has open channels" if closed else "")) from None


def scan_angles(args, config, energies):
    """(n_phi, phi): the uniform grid of ``--nphi`` angles, or with ``--energy`` and ``--nphi 1`` the config's phi."""
    n_phi = args.nphi if args.nphi is not None else config.settings.get("n_phi", 64)
    if energies is not None and n_phi == 1:
        if np.ndim(config.system.values["phi"]):
            raise ValueError("--nphi 1 evaluates at the config's phi, which must then be one number")
        return 1, np.asarray([float(np.asarray(config.system.values["phi"]))])
    if n_phi == 1 and energies is None:
        raise ValueError("--nphi 1 (one angle) needs an energy axis, --energy START:STOP:N; at one angle and one "
                         "energy use jaxsge conductance")
    return check_n_phi(n_phi, 8), uniform_phi(n_phi)


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
    energies = energy_values(args.energy)
    n_phi, phi = scan_angles(args, config, energies)
    kT = args.kT if args.kT is not None else config.settings.get("kT", 0.0)
    if np.ndim(config.system.values["theta"]):
        raise ValueError("theta must be one number for a phi scan")
    theta = float(np.asarray(config.system.values["theta"]))
    name, values, panels = compare_panels(args, config)
    energy_name = config.system.energy_name
    if energies is not None and name == energy_name:
        raise ValueError(f"--compare {name} and --energy both set the Fermi energy {energy_name}: give one of them")
    for system, value in zip(panels, values):  # every panel is planned (and so validated) before the first is computed
        where = "" if name is None else f" (--compare {quantity_text(name, value)})"
        stack = system.stack()
        if energies is not None:
            check_energies(system, energies, options, where)
        plan_for(stack, system.energy() if energies is None else energies, fold=options["fold"], path=options["path"],
                 precision=options["precision"])
        check_temperature(stack, system.energy() if energies is None else energies, kT)
        if not conversion_axes(stack.lead_names):
            raise ValueError(f"a conversion scan needs the injector M and the side leads L, R (and B, F for the y "
                             f"axis): the leads are {stack.lead_names}" + where)
    grid = {"phi": phi} if energies is None else {"phi": phi[None, :], "energy": energies[:, None]}
    with result_folder(args.out, "scan", FILES, overwrite=args.overwrite) as out:
        start = time.perf_counter()
        scans = [conversion_scan(system, kT=kT, progress=False if args.no_progress else _label(k, panels, name, value),
                                 **grid, **options)
                 for k, (system, value) in enumerate(zip(panels, values))]
        seconds = time.perf_counter() - start
        arrays, meta, labelled = _result(config, argv, args, kT, theta, phi, energies, name, values, panels, scans,
                                         seconds)

        def write(folder):
            write_result(folder, "scan", arrays, meta, labelled)
            draw_scan(labelled, folder)

        written = out.commit(write)
    for line in summary(meta, energy_name):
        print(line)
    print(f"wrote {args.out}: {', '.join(written)} in {seconds:.1f} s")
    return 0


def _label(k, panels, name, value) -> str:
    """What a panel's progress bar computes: ``scan 1/2 (xi = 7.2 a)``."""
    count = f" {k + 1}/{len(panels)}" if len(panels) > 1 else ""
    return f"scan{count}" + ("" if name is None else f" ({quantity_text(name, value)})")


def summary(meta, energy_name) -> list:
    """Readable lines of a scan's results (units stated), one per panel: the largest ``|G_sc|``, where it is, and
    the solver path."""
    lines = []
    scanned = meta["scanned"]
    for panel in meta["panels"]:
        compare = panel["compare"]
        head = "scan" if compare is None else ", ".join(quantity_text(k, v) for k, v in compare.items())
        if "energy" in scanned:
            energy, lowest = scanned["energy"]["values"], min(panel["max_abs_Gsc_per_energy"])
            top = quantity_text(energy_name, panel["energy_of_max_abs_Gsc"])
            text = (f"{head}: {'max over phi of ' if scanned['n_phi'] > 1 else ''}|G_sc| = {lowest:.4g} .. "
                    f"{panel['max_abs_Gsc']:.4g} e^2/h over {energy_name} = {energy[0]:.4g} .. {energy[-1]:.4g} t "
                    f"({len(energy)} energies), largest at {top}")
            if scanned["n_phi"] > 1:
                text += f", {quantity_text('phi', panel['phi_of_max_abs_Gsc'])}"
        else:
            text = f"{head}: max |G_sc| = {panel['max_abs_Gsc']:.4g} e^2/h"
            if panel["phi_of_local_maxima_g_sc"] is not None:
                maxima = ", ".join(angle_text(v) for v in panel["phi_of_local_maxima_g_sc"]) or "none"
                text += f"; g_sc maxima at phi = {maxima}"
        lines.append(f"{text}; solver: {panel['solver_path']}")
    return lines


def _result(config, argv, args, kT, theta, phi, energies, name, values, panels, scans, seconds):
    """The arrays of scan.npz, the content of scan.json, and the labelled Dataset of scan.nc (``io.results``), from
    which ``plot.results.draw_scan`` draws polar.png (where g_sc is defined; no energy axis), energy.png (an energy
    axis at one angle) or map.png (an energy axis and the phi grid), and junction.png."""
    keys = sorted(scans[0].G)
    shape = np.broadcast_shapes(phi.shape, () if energies is None else (energies.size, 1))
    arrays = {key: np.stack([np.broadcast_to(s.G[key], shape) for s in scans]) for key in keys}
    gx, gy = spin_charge_pair(arrays)  # side leads on one axis only: the other is zero
    amplitude = np.hypot(gx, gy)  # (n_panels, [n_energies,] n_phi)
    n_phi = phi.size
    if n_phi > 1:
        with contextlib.suppress(ValueError):  # g_sc is undefined where G_sc vanishes at every angle of a curve
            arrays["g_sc"] = normalised_amplitude(gx, gy)
    g_sc = arrays.get("g_sc")
    per = "per panel" + ("" if energies is None else " and energy")
    scanned = ({"phi": "2 pi j / n_phi, j = 0 .. n_phi - 1 (the config's phi is not used)", "n_phi": n_phi,
                "theta": theta} if n_phi > 1 else
               {"phi": "the config's phi (--nphi 1)", "n_phi": 1, "phi_value": float(phi[0]), "theta": theta})
    if energies is not None:
        scanned["energy"] = {"name": config.system.energy_name, "given": args.energy, "values": energies.tolist(),
                             "n_energy": int(energies.size)}
    meta = {"jaxsge_version": __version__, "command": command_line(argv), "config": config.path,
            "system": config.system.describe(), "scanned": scanned,
            "kT": kT, "solver": {"requested": requested(args), **scans[0].solver},
            "seconds": seconds, "leads": list(scans[0].leads),
            "units": f"conductances in e^2/h; angles in radians; energies in units of t; g_sc normalised {per} (over "
                     "phi)",
            "panels": [_panel(value, name, s, phi, energies, amplitude[i], None if g_sc is None else g_sc[i])
                       for i, (value, s) in enumerate(zip(values, scans))],
            "onsager_note": "G_cs here is at the same exchange; Eq. (4) relates G_sc(dxc) to G_cs(-dxc)"}
    if n_phi > 1:
        n_max = default_order(n_phi)
        meta["harmonics"] = {"m": list(range(n_max + 1)),
                             **{key: angular_harmonics(a, n_max).tolist() for key, a in arrays.items()}}
    axes = "n_panels, " + ("" if energies is None else "n_energy, ") + "n_phi"
    meta["arrays"] = {"scan.npz": "phi (n_phi), theta, " + ("energy (n_energy), " if energies is not None else "")
                      + ("compare_values (n_panels), " if name else "") + ", ".join(keys) + f" ({axes}), "
                      + (f"g_sc ({axes}), " if n_phi > 1 else "") + f"T ({axes}, n_leads, 2, n_leads, 2), "
                      f"n_open ({axes}, n_leads, 2)"}
    if name is not None:
        meta["compare"] = {"name": name, "values": values}
        arrays = {"compare_values": np.asarray(values, dtype=float), **arrays}
    if g_sc is None and n_phi > 1:
        meta["undefined"] = {"g_sc": f"G_sc vanishes (below {ZERO_CONDUCTANCE:g} e^2/h) at every angle of a panel"
                                     + ("" if energies is None else " at some energy") + ": nothing to normalise"
                                     + (", no polar.png" if energies is None else "")}
        print(f"jaxsge: warning: g_sc is {meta['undefined']['g_sc']}", file=sys.stderr)
    arrays = {"phi": phi, "theta": np.asarray(theta), **({} if energies is None else {"energy": energies}), **arrays,
              "T": np.stack([s.T for s in scans]), "n_open": np.stack([s.n_open for s in scans])}
    stack = config.system.stack()
    labels = ["" if name is None else value_text(name, v) for v in values]
    if name == "xi" and config.kind == "junction":
        labels = [f"{t[:-1]} = {v / config.system.base.Lz:.3g}\\,L_z$" for t, v in zip(labels, values)]
    size = f"$L_x \\times L_y = {stack.Lx} \\times {stack.Ly}$"
    if energies is None:
        energy = value_text(config.system.energy_name, float(np.asarray(config.system.energy())))
        title = (f"spin-charge conductance $|G_{{\\mathrm{{sc}}}}|(\\varphi)$: {value_text('theta', theta)}, "
                 f"{energy}, {value_text('kT', kT)}, {size}")
    elif n_phi == 1:
        title = (f"conversion conductances against the Fermi energy: {value_text('theta', theta)}, "
                 f"{value_text('phi', float(phi[0]))}, {value_text('kT', kT)}, {size}")
    else:
        title = (f"spin-charge conductance over $\\varphi$ and the Fermi energy: {value_text('theta', theta)}, "
                 f"{value_text('kT', kT)}, {size}")
    figure = {"polar": g_sc is not None and energies is None, "energy_lines": energies is not None and n_phi == 1,
              "map": energies is not None and n_phi > 1, "labels": labels, "absolute": bool(args.absolute),
              "energy_label": axis_label(config.system.energy_name),
              "titles": [f"({chr(97 + i)})" if name else "" for i in range(len(labels))], "suptitle": title,
              "junction_title": f"junction of {config.path.rsplit('/', 1)[-1]}"}
    contours = ([junction_contours(system) for system in panels] if config.kind == "junction" and figure["polar"]
                else None)
    labelled = scan_dataset(arrays, meta, provenance(config.system, config.path, command_line(argv)), figure, contours,
                            energy=np.asarray(config.system.energy(), dtype=float) if energies is None else None)
    return arrays, meta, labelled


def _panel(value, name, s, phi, energies, amplitude, g_sc) -> dict:
    """scan.json's entry of one panel: its solver, where |G_sc| is largest and the local maxima of g_sc over phi
    (per energy with --energy)."""
    top = np.unravel_index(int(np.argmax(amplitude)), amplitude.shape)
    entry = {"compare": None if name is None else {name: value}, "solver_path": s.path, "solver": s.solver,
             "max_abs_Gsc": float(amplitude.max()),
             "phi_of_local_maxima_g_sc": None if g_sc is None else (
                 local_maxima(phi, g_sc) if energies is None else [local_maxima(phi, g) for g in g_sc]),
             "quadrature_nodes": s.quadrature_nodes, "quadrature_error": s.quadrature_error}
    if energies is not None:
        entry.update(energy_of_max_abs_Gsc=float(energies[top[0]]), phi_of_max_abs_Gsc=float(phi[top[-1]]),
                     max_abs_Gsc_per_energy=amplitude.max(axis=-1).tolist())
    return entry
