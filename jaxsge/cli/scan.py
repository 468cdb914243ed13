"""``jaxsge scan CONFIG --out DIR [--nphi 64] [--energy SPEC | --sweep NAME=SPEC] [--compare NAME=V1,V2] [--kT KT]``.

For a junction or a stack config: G_sc^x, G_sc^y (Eq. (8) of Fleury, Barth, Gorini (2023) and its
L <-> B, R <-> F image) and G_cs^x, G_cs^y (the Onsager-reciprocal set-up of their Eq. (3)) at
phi_j = 2 pi j / n_phi, one panel per value of ``--compare`` (any parameter of the system).
``--energy`` adds a Fermi-energy axis: START:STOP:N (N equally spaced energies, both ends
included) or V1,V2,... (units of t; mu of a junction, energy of a stack); with ``--nphi 1`` at the
config's phi (``energy.png``: the conductances against energy), else on the phi grid
(``map.png``: phi x energy maps). ``--sweep NAME=SPEC`` (the same SPEC) adds instead the axis of a
traced parameter (the t2g junction's ``gate``, ``mu``, ``lam``: any number of the system that
``--set`` reaches), each value set as ``--set NAME=VALUE`` sets it, at the config's theta: on the phi
grid ``map.png`` (G_sc^x, G_sc^y, G_cs^x, G_cs^y over phi and the parameter, signed), ``anisotropy.png``
(the angle averages of ``|G_sc|``, ``|G_cs|`` and their anisotropy against the parameter) and
``polar.png`` (g_sc(phi), one curve per value, at most POLAR_CURVES of them); with ``--nphi 1``
``sweep.png`` (the conductances against the parameter at the config's phi). Writes ``scan.npz``
(arrays), ``scan.json`` (every parameter, the angles, energies and swept values actually scanned,
the harmonics, timings), ``polar.png`` (without an axis: normalised g_sc(phi) of the paper's
Fig. 3, its maximum stated, or ``|G_sc|`` in e^2/h with ``--absolute``; with the 2DEG's Fermi
contours for the paper's junction), ``junction.png`` (a drawing of the junction: layers, leads,
magnetization), ``scan.nc`` (the labelled arrays with the full provenance, ``io.results``; the
figures are drawn from it, as ``jaxsge plot`` redraws them) and ``run.json``,
replacing a previous scan in that folder as a whole with ``--overwrite`` (without it a non-empty
``--out`` is refused: README.md, Output files). Every panel, energy and swept value is validated
before the first is computed.

A sweep evaluates one value after the other through ``observables.scan.conversion_scan`` (each
value planned on its own: the planner picks the leads' open channels, whose number changes with
a gate or mu); the compiled programs take every number as a traced argument, so the values whose
plans agree (the same open channels) share one compiled program.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time

import numpy as np

from .. import __version__
from ..core.precision import x64
from ..io.config import (INTEGER_JUNCTION, OTHER_JUNCTION, SETTINGS, T2G_FIELDS, did_you_mean, load_config,
                         parse_integer, parse_number)
from ..io.files import result_folder
from ..observables.fermi import junction_contours
from ..observables.harmonics import angular_harmonics, default_order, local_maxima, uniform_phi
from ..observables.response import conversion_axes
from ..observables.scan import (ZERO_CONDUCTANCE, anisotropy, check_temperature, conversion_scan,
                                normalised_amplitude, spin_charge_pair)
from ..io.results import provenance, scan_dataset, write_result
from ..plot.results import draw_scan
from ..plot.style import axis_label, symbol, unit, value_text
from ..solve.transmissions import plan_for
from .common import (add_config, add_output, add_solver, angle_text, check_n_phi, command_line, quantity_text,
                     requested, solver_options)


FILES = ("scan.npz", "scan.json", "scan.nc", "polar.png", "energy.png", "map.png", "sweep.png", "anisotropy.png",
         "junction.png")
# The most values of --energy or --sweep (the run's length is bounded before it starts).
MAX_VALUES = 10_000
ENERGY_SYNTAX = "START:STOP:N (N equally spaced energies, both ends included, e.g. 0.8:1.2:21) or V1,V2,..."
SWEEP_SYNTAX = "NAME=START:STOP:N (N equally spaced values, both ends included, e.g. gate=0.3:1.2:10) or NAME=V1,V2,..."
# The most swept values drawn in the polar figure (spread evenly over the sweep): more curves cannot be told apart.
POLAR_CURVES = 6
ANGLES = ("theta", "phi")


def add_parser(sub):
    cmd = sub.add_parser("scan", help="G_sc and G_cs over phi (and the Fermi energy or a parameter), with the polar "
                         "plot of Fig. 3")
    add_config(cmd)
    add_solver(cmd)
    add_output(cmd, "output folder (scan.npz, scan.json, scan.nc, junction.png, and polar.png, or with --energy "
               "energy.png or map.png, or with --sweep map.png, anisotropy.png and polar.png or sweep.png)")
    cmd.add_argument("--nphi", type=int, help="number of angles phi on [0, 2 pi) (default: n_phi of the config, or "
                     "64); with --energy or --sweep, 1 is the config's phi")
    cmd.add_argument("--energy", metavar="START:STOP:N|V1,V2,...",
                     help="Fermi energies in units of t (mu of a junction, energy of a stack): N equally spaced from "
                          "START to STOP, both included (e.g. 0.8:1.2:21), or a list (e.g. 0.9,1.0,1.1); with --nphi 1 "
                          "G_sc and G_cs against energy at the config's phi (energy.png), else phi x energy maps "
                          "(map.png)")
    cmd.add_argument("--sweep", metavar="NAME=START:STOP:N|NAME=V1,V2,...",
                     help="an axis of a traced parameter (any number --set reaches: gate, lam, gamma of the t2g "
                          "junction, mu, xi, ...), each value set as --set NAME=VALUE would: N equally spaced values "
                          "from START to STOP, both included (e.g. gate=0.3:1.2:10), or a list (e.g. gate=0.3,0.6); "
                          "on the phi grid map.png (signed G_sc, G_cs over phi and the parameter), anisotropy.png "
                          "and polar.png (one curve per value), with --nphi 1 sweep.png; not with --energy")
    cmd.add_argument("--compare", metavar="NAME=V1,V2,...", help="one panel per value, e.g. --compare xi=7.2,9.6")
    cmd.add_argument("--kT", type=float, help="temperature in units of t (default: kT of the config, or 0)")
    cmd.add_argument("--absolute", action="store_true",
                     help="polar figure of |G_sc| in e^2/h (default: normalised per panel, the maximum stated)")
    cmd.add_argument("--no-progress", action="store_true",
                     help="no progress bar (by default one per panel and swept value on stderr: evaluations done, "
                          "time left)")
    return cmd


def axis_values(spec, option: str, syntax: str, what: str, one: str):
    """The values of an axis (``--energy``, ``--sweep NAME``) in increasing order, checked in plain Python: START:STOP:N
    or V1,V2,... (``syntax``), numbers, at least two, distinct, at most MAX_VALUES; ``what``: their plural noun in
    the messages, ``one``: what to do for a single value."""
    text = spec.strip()
    if ":" in text:
        parts = [part.strip() for part in text.split(":")]
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"{option} {spec!r}: expected {syntax}")
        start, stop = parse_number(parts[0], f"{option} START"), parse_number(parts[1], f"{option} STOP")
        n = parse_integer(parts[2], f"{option} N", 2, MAX_VALUES)
        if not start < stop:
            raise ValueError(f"{option} {spec!r}: START = {start:g} must be below STOP = {stop:g}")
        return np.linspace(start, stop, n)
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise ValueError(f"{option} {spec!r}: an empty value; expected {syntax}")
    values = np.asarray([parse_number(item, option) for item in items])
    if values.size < 2:
        raise ValueError(f"{option} {spec!r}: give at least two {what} ({one})")
    if values.size > MAX_VALUES:
        raise ValueError(f"{option}: {values.size} {what}, more than {MAX_VALUES}")
    if np.unique(values).size < values.size:
        raise ValueError(f"{option} {spec!r} holds a value twice")
    return np.sort(values)


def energy_values(spec):
    """The Fermi energies of ``--energy`` (ENERGY_SYNTAX) in increasing order (:func:`axis_values`); None without
    the option."""
    if spec is None:
        return None
    return axis_values(spec, "--energy", ENERGY_SYNTAX, "energies",
                       "for one energy: --set mu=VALUE, or energy=VALUE for a stack")


def sweep_axis(args, config):
    """(name, values) of ``--sweep NAME=SPEC`` (SWEEP_SYNTAX): NAME a traced parameter of the config's system other
    than the angles, the values increasing numbers (:func:`axis_values`); None without the option. A static
    setting (a size, a choice, a run setting), an unknown name, an angle or a second axis (``--energy``, or
    ``--compare`` of the same name) is refused, naming what is allowed."""
    if args.sweep is None:
        return None
    name, sep, spec = (part.strip() for part in args.sweep.partition("="))
    if not (sep and name and spec):
        raise ValueError(f"--sweep {args.sweep!r}: expected {SWEEP_SYNTAX}")
    system = config.system
    traced = ", ".join(n for n in system.names if n not in ANGLES)
    if args.energy is not None:
        raise ValueError(f"--sweep {name} and --energy are two axes: give one of them (--sweep "
                         f"{system.energy_name}=START:STOP:N sweeps the Fermi energy as a parameter)")
    if name in ANGLES:
        raise ValueError(f"--sweep {name}: phi is the scan's angle axis (--nphi) and theta is fixed (--set "
                         f"theta=VALUE); sweep one of the traced parameters: {traced}")
    if name not in system.values:
        static = set(INTEGER_JUNCTION) | (set(OTHER_JUNCTION) if config.kind == "junction" else set())
        if config.kind == "junction" and name in T2G_FIELDS:
            why = f"{name} belongs to the t2g junction (preset = \"t2g\"), not to this one"
        elif name in SETTINGS:
            why = f"{name} is a run setting (--nphi, --kT), not a parameter of the {config.kind}"
        elif name in static:
            why = (f"{name} is a static setting (a size or a choice, fixed in the compiled program), not a traced "
                   f"parameter; run one scan per value (--set {name}=VALUE) or compare them as panels "
                   f"(--compare {name}=V1,V2)")
        else:
            why = f"{name!r} is not a parameter of this {config.kind}{did_you_mean(name, system.names)}"
        raise ValueError(f"--sweep {name}: {why}; the traced parameters are: {traced}")
    if args.compare is not None and args.compare.partition("=")[0].strip() == name:
        raise ValueError(f"--compare {name} and --sweep {name} both set {name}: give one of them")
    return name, axis_values(spec, f"--sweep {name}", SWEEP_SYNTAX, "values", f"for one value: --set {name}=VALUE")


def sweep_systems(system, name: str, values, where: str = ""):
    """One system per swept value, each set and validated as ``--set NAME=VALUE`` would (``System.with_values``),
    an invalid one refused naming the option, the value and the reason."""
    systems = []
    for value in values:
        try:
            systems.append(system.with_values(**{name: float(value)}))
        except ValueError as err:
            raise ValueError(f"--sweep {quantity_text(name, value)}{where}: {err}") from None
    return systems


def planned(system, energies, options, where: str, advice: str) -> None:
    """Plan the solve of ``system`` at ``energies``, which validates it (the planner refuses an energy at which a
    lead has no open channel or that sits on a subband edge), the error led by ``where`` (the option and value)
    and followed by ``advice`` where a lead is closed."""
    try:
        plan_for(system.stack(), energies, fold=options["fold"], path=options["path"], precision=options["precision"])
    except ValueError as err:
        # the planner's advice to allow closed leads is the conductance command's option, not scan's
        why, _, closed = str(err).partition("; pass allow_closed")
        raise ValueError(f"{where}: {why}" + (f"; {advice}" if closed else "")) from None


def check_energies(system, energies, options, what: str) -> None:
    """Every energy of ``--energy`` planned on its own (:func:`planned`), the error naming the option and the value."""
    for value in energies:
        planned(system, [value], options, f"--energy: {system.energy_name} = {value:.6g} t{what}",
                "give energies at which every lead has open channels")


def scan_angles(args, config, axis):
    """(n_phi, phi): the uniform grid of ``--nphi`` angles, or with an axis (``--energy``, ``--sweep``) and
    ``--nphi 1`` the config's phi."""
    n_phi = args.nphi if args.nphi is not None else config.settings.get("n_phi", 64)
    if axis is not None and n_phi == 1:
        if np.ndim(config.system.values["phi"]):
            raise ValueError("--nphi 1 evaluates at the config's phi, which must then be one number")
        return 1, np.asarray([float(np.asarray(config.system.values["phi"]))])
    if n_phi == 1 and axis is None:
        raise ValueError("--nphi 1 (one angle) needs an energy axis, --energy START:STOP:N, or a parameter axis, "
                         "--sweep NAME=START:STOP:N; at one angle and one energy use jaxsge conductance")
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
    sweep = sweep_axis(args, config)
    # the axis besides phi, if any: its kind, the name of its dimension, its values
    axis = (None if energies is None and sweep is None else
            {"kind": "energy", "name": "energy", "values": energies} if sweep is None else
            {"kind": "sweep", "name": sweep[0], "values": sweep[1]})
    n_phi, phi = scan_angles(args, config, axis)
    kT = args.kT if args.kT is not None else config.settings.get("kT", 0.0)
    if np.ndim(config.system.values["theta"]):
        raise ValueError("theta must be one number for a phi scan")
    theta = float(np.asarray(config.system.values["theta"]))
    name, values, panels = compare_panels(args, config)
    energy_name = config.system.energy_name
    if energies is not None and name == energy_name:
        raise ValueError(f"--compare {name} and --energy both set the Fermi energy {energy_name}: give one of them")
    points = []  # per panel, the systems evaluated: the panel's, or one per swept value
    for system, value in zip(panels, values):  # every point is planned (and so validated) before the first is computed
        where = "" if name is None else f" (--compare {quantity_text(name, value)})"
        stack = system.stack()
        if sweep is None:
            if energies is not None:
                check_energies(system, energies, options, where)
            plan_for(stack, system.energy() if energies is None else energies, fold=options["fold"],
                     path=options["path"], precision=options["precision"])
            check_temperature(stack, system.energy() if energies is None else energies, kT)
            points.append([system])
        else:
            points.append(sweep_systems(system, *sweep, where))
            for point, swept in zip(points[-1], sweep[1]):
                at = f"--sweep {quantity_text(sweep[0], swept)}{where}"
                planned(point, point.energy(), options, at,
                        f"give values of {sweep[0]} at which every lead has open channels")
                try:
                    check_temperature(point.stack(), point.energy(), kT)
                except ValueError as err:
                    raise ValueError(f"{at}: {err}") from None
        if not conversion_axes(stack.lead_names):
            raise ValueError(f"a conversion scan needs the injector M and the side leads L, R (and B, F for the y "
                             f"axis): the leads are {stack.lead_names}" + where)
    grid = {"phi": phi} if energies is None else {"phi": phi[None, :], "energy": energies[:, None]}
    n_runs = sum(len(p) for p in points)
    with result_folder(args.out, "scan", FILES, overwrite=args.overwrite) as out:
        start, scans, solvers, k = time.perf_counter(), [], [], 0
        for value, systems in zip(values, points):
            runs = []
            for j, system in enumerate(systems):
                parts = ([] if name is None else [quantity_text(name, value)]) + (
                    [] if sweep is None else [quantity_text(sweep[0], sweep[1][j])])
                progress = False if args.no_progress else _label(k, n_runs, parts)
                runs.append(conversion_scan(system, kT=kT, progress=progress, **grid, **options))
                k += 1
            scans.append(runs[0] if sweep is None else along_sweep(runs))
            solvers.append([r.solver for r in runs])
        seconds = time.perf_counter() - start
        arrays, meta, labelled = _result(config, argv, args, kT, theta, phi, axis, name, values, panels, scans,
                                         solvers, seconds)

        def write(folder):
            write_result(folder, "scan", arrays, meta, labelled)
            draw_scan(labelled, folder)

        written = out.commit(write)
    for line in summary(meta, energy_name):
        print(line)
    print(f"wrote {args.out}: {', '.join(written)} in {seconds:.1f} s")
    return 0


def _label(k: int, n: int, parts) -> str:
    """What a progress bar computes: ``scan 1/2 (xi = 7.2 a)``, ``scan 3/10 (gate = 0.5 t)``."""
    count = f" {k + 1}/{n}" if n > 1 else ""
    return f"scan{count}" + (f" ({', '.join(parts)})" if parts else "")


def along_sweep(runs):
    """The conversion scans of one panel's swept values as one ``ConversionScan`` whose leading axis is the sweep
    (the conductances, transmissions, angles and energies stacked); its path names every path the values took."""
    fields = ("theta", "phi", "energy", "T", "n_open")
    stacked = {field: np.stack([getattr(r, field) for r in runs]) for field in fields}
    return dataclasses.replace(runs[0], **stacked, G={key: np.stack([r.G[key] for r in runs]) for key in runs[0].G},
                               path="; ".join(dict.fromkeys(r.path for r in runs)),
                               quadrature_nodes=sum(r.quadrature_nodes for r in runs),
                               quadrature_error=max(r.quadrature_error for r in runs))


def summary(meta, energy_name) -> list:
    """Readable lines of a scan's results (units stated), one per panel: the largest ``|G_sc|``, where it is, and
    the solver path."""
    lines = []
    scanned = meta["scanned"]
    axis = "energy" if "energy" in scanned else "sweep" if "sweep" in scanned else None
    for panel in meta["panels"]:
        compare = panel["compare"]
        head = "scan" if compare is None else ", ".join(quantity_text(k, v) for k, v in compare.items())
        if axis is not None:
            key, noun = ("energy", "energies") if axis == "energy" else ("value", "values")
            parameter = energy_name if axis == "energy" else scanned["sweep"]["name"]
            given, u = scanned[axis]["values"], unit(parameter)
            lowest = min(panel[f"max_abs_Gsc_per_{key}"])
            top = quantity_text(parameter, panel[f"{key}_of_max_abs_Gsc"])
            text = (f"{head}: {'max over phi of ' if scanned['n_phi'] > 1 else ''}|G_sc| = {lowest:.4g} .. "
                    f"{panel['max_abs_Gsc']:.4g} e^2/h over {parameter} = {given[0]:.4g} .. {given[-1]:.4g}"
                    f"{' ' + u if u else ''} ({len(given)} {noun}), largest at {top}")
            if scanned["n_phi"] > 1:
                text += f", {quantity_text('phi', panel['phi_of_max_abs_Gsc'])}"
        else:
            text = f"{head}: max |G_sc| = {panel['max_abs_Gsc']:.4g} e^2/h"
            if panel["phi_of_local_maxima_g_sc"] is not None:
                maxima = ", ".join(angle_text(v) for v in panel["phi_of_local_maxima_g_sc"]) or "none"
                text += f"; g_sc maxima at phi = {maxima}"
        lines.append(f"{text}; solver: {panel['solver_path']}")
    return lines


def _result(config, argv, args, kT, theta, phi, axis, name, values, panels, scans, solvers, seconds):
    """The arrays of scan.npz, the content of scan.json, and the labelled Dataset of scan.nc (``io.results``), from
    which ``plot.results.draw_scan`` draws polar.png (where g_sc is defined; no axis, or one curve per swept
    value), energy.png / sweep.png (an axis at one angle), map.png (an axis and the phi grid), anisotropy.png (a
    swept parameter and the phi grid) and junction.png."""
    keys = sorted(scans[0].G)
    shape = np.broadcast_shapes(phi.shape, () if axis is None else (axis["values"].size, 1))
    arrays = {key: np.stack([np.broadcast_to(s.G[key], shape) for s in scans]) for key in keys}
    gx, gy = spin_charge_pair(arrays)  # side leads on one axis only: the other is zero
    amplitude = np.hypot(gx, gy)  # (n_panels, [n_values,] n_phi)
    n_phi = phi.size
    if n_phi > 1:
        with contextlib.suppress(ValueError):  # g_sc is undefined where G_sc vanishes at every angle of a curve
            arrays["g_sc"] = normalised_amplitude(gx, gy)
    g_sc = arrays.get("g_sc")
    kind = None if axis is None else axis["kind"]
    per = "per panel" + {None: "", "energy": " and energy", "sweep": f" and value of {axis and axis['name']}"}[kind]
    scanned = ({"phi": "2 pi j / n_phi, j = 0 .. n_phi - 1 (the config's phi is not used)", "n_phi": n_phi,
                "theta": theta} if n_phi > 1 else
               {"phi": "the config's phi (--nphi 1)", "n_phi": 1, "phi_value": float(phi[0]), "theta": theta})
    if kind == "energy":
        scanned["energy"] = {"name": config.system.energy_name, "given": args.energy,
                             "values": axis["values"].tolist(), "n_energy": int(axis["values"].size)}
    elif kind == "sweep":
        scanned["sweep"] = {"name": axis["name"], "given": args.sweep, "values": axis["values"].tolist(),
                            "n_values": int(axis["values"].size), "unit": unit(axis["name"]),
                            "how": f"each value set as --set {axis['name']}=VALUE (a traced parameter of the "
                                   f"{config.kind}: docs/{'model' if config.kind == 'junction' else 'layered'}.md); "
                                   "the other parameters as in the config"}
    swept_unit = f"; {axis['name']} in units of {unit(axis['name'])}" if kind == "sweep" and unit(axis["name"]) else ""
    meta = {"jaxsge_version": __version__, "command": command_line(argv), "config": config.path,
            "system": config.system.describe(), "scanned": scanned,
            "kT": kT, "solver": {"requested": requested(args), **scans[0].solver},
            "seconds": seconds, "leads": list(scans[0].leads),
            "units": f"conductances in e^2/h; angles in radians; energies in units of t{swept_unit}; g_sc normalised "
                     f"{per} (over phi)",
            "panels": [_panel(value, name, s, phi, axis, amplitude[i], None if g_sc is None else g_sc[i],
                              solvers[i]) for i, (value, s) in enumerate(zip(values, scans))],
            "onsager_note": "G_cs here is at the same exchange; Eq. (4) relates G_sc(dxc) to G_cs(-dxc)"}
    if n_phi > 1:
        n_max = default_order(n_phi)
        meta["harmonics"] = {"m": list(range(n_max + 1)),
                             **{key: angular_harmonics(a, n_max).tolist() for key, a in arrays.items()}}
    dim = "" if axis is None else f"n_{axis['name']}, "
    axes = "n_panels, " + dim + "n_phi"
    meta["arrays"] = {"scan.npz": "phi (n_phi), theta, " + ("" if axis is None else f"{axis['name']} ({dim[:-2]}), ")
                      + ("compare_values (n_panels), " if name else "") + ", ".join(keys) + f" ({axes}), "
                      + (f"g_sc ({axes}), " if n_phi > 1 else "") + f"T ({axes}, n_leads, 2, n_leads, 2), "
                      f"n_open ({axes}, n_leads, 2)"}
    if name is not None:
        meta["compare"] = {"name": name, "values": values}
        arrays = {"compare_values": np.asarray(values, dtype=float), **arrays}
    if g_sc is None and n_phi > 1:
        meta["undefined"] = {"g_sc": f"G_sc vanishes (below {ZERO_CONDUCTANCE:g} e^2/h) at every angle of a panel"
                                     + {None: "", "energy": " at some energy",
                                        "sweep": f" at some value of {axis and axis['name']}"}[kind]
                                     + ": nothing to normalise" + (", no polar.png" if kind != "energy" else "")}
        print(f"jaxsge: warning: g_sc is {meta['undefined']['g_sc']}", file=sys.stderr)
    arrays = {"phi": phi, "theta": np.asarray(theta), **({} if axis is None else {axis["name"]: axis["values"]}),
              **arrays, "T": np.stack([s.T for s in scans]), "n_open": np.stack([s.n_open for s in scans])}
    stack = config.system.stack()
    labels = ["" if name is None else value_text(name, v) for v in values]
    if name == "xi" and config.kind == "junction":
        labels = [f"{t[:-1]} = {v / config.system.base.Lz:.3g}\\,L_z$" for t, v in zip(labels, values)]
    size = f"$L_x \\times L_y = {stack.Lx} \\times {stack.Ly}$"
    fermi = value_text(config.system.energy_name, float(np.asarray(config.system.energy())))
    if kind == "sweep" and axis["name"] != config.system.energy_name:
        size = f"{fermi}, {size}"
    if axis is None:
        title = (f"spin-charge conductance $|G_{{\\mathrm{{sc}}}}|(\\varphi)$: {value_text('theta', theta)}, "
                 f"{fermi}, {value_text('kT', kT)}, {size}")
    elif n_phi == 1:
        what = "the Fermi energy" if kind == "energy" else f"${symbol(axis['name'])}$"
        title = (f"conversion conductances against {what}: {value_text('theta', theta)}, "
                 f"{value_text('phi', float(phi[0]))}, {value_text('kT', kT)}, {size}")
    elif kind == "energy":
        title = (f"spin-charge conductance over $\\varphi$ and the Fermi energy: {value_text('theta', theta)}, "
                 f"{value_text('kT', kT)}, {size}")
    else:
        title = (f"conversion conductances over $\\varphi$ and ${symbol(axis['name'])}$: "
                 f"{value_text('theta', theta)}, {value_text('kT', kT)}, {size}")
    figure = {"polar": g_sc is not None and axis is None, "energy_lines": kind == "energy" and n_phi == 1,
              "map": kind == "energy" and n_phi > 1, "labels": labels, "absolute": bool(args.absolute),
              "energy_label": axis_label(config.system.energy_name),
              "titles": [f"({chr(97 + i)})" if name else "" for i in range(len(labels))], "suptitle": title,
              "junction_title": f"junction of {config.path.rsplit('/', 1)[-1]}"}
    if kind == "sweep":
        n = axis["values"].size
        shown = [] if g_sc is None or n_phi == 1 else sorted({int(round(k)) for k in
                                                               np.linspace(0, n - 1, min(n, POLAR_CURVES))})
        figure.update(sweep=axis["name"], sweep_label=axis_label(axis["name"]), sweep_lines=n_phi == 1,
                      sweep_map=n_phi > 1, sweep_anisotropy=n_phi > 1, sweep_polar=shown,
                      sweep_polar_labels=[value_text(axis["name"], axis["values"][k]) for k in shown],
                      sweep_polar_title=(("$|G_{\\mathrm{sc}}|(\\varphi)$" if args.absolute else
                                          "$g_{\\mathrm{sc}}(\\varphi)$") + " for "
                                         + ("each value" if len(shown) == n else f"{len(shown)} of the {n} values")
                                         + f" of ${symbol(axis['name'])}$: {value_text('theta', theta)}, "
                                         f"{value_text('kT', kT)}, {size}"))
    contours = ([junction_contours(system) for system in panels] if config.kind == "junction" and figure["polar"]
                else None)
    swept = None if kind != "sweep" else (axis["name"], {
        "units": unit(axis["name"]), "long_name": f"{axis['name']}: the swept parameter",
        "description": scanned["sweep"]["how"]})
    fixed_energy = axis is None or (kind == "sweep" and axis["name"] != config.system.energy_name)
    labelled = scan_dataset(arrays, meta, provenance(config.system, config.path, command_line(argv)), figure, contours,
                            energy=np.asarray(config.system.energy(), dtype=float) if fixed_energy else None,
                            sweep=swept)
    return arrays, meta, labelled


def _panel(value, name, s, phi, axis, amplitude, g_sc, solvers) -> dict:
    """scan.json's entry of one panel: its solver, where |G_sc| is largest and the local maxima of g_sc over phi
    (per energy with --energy, per value with --sweep, with the angle average of ``|G_sc|`` and its anisotropy
    (max - min)/mean over phi, and the solver of each value)."""
    top = np.unravel_index(int(np.argmax(amplitude)), amplitude.shape)
    entry = {"compare": None if name is None else {name: value}, "solver_path": s.path, "solver": s.solver,
             "max_abs_Gsc": float(amplitude.max()),
             "phi_of_local_maxima_g_sc": None if g_sc is None else (
                 local_maxima(phi, g_sc) if axis is None else [local_maxima(phi, g) for g in g_sc]),
             "quadrature_nodes": s.quadrature_nodes, "quadrature_error": s.quadrature_error}
    if axis is not None:
        key = "energy" if axis["kind"] == "energy" else "value"
        entry.update({f"{key}_of_max_abs_Gsc": float(axis["values"][top[0]]), "phi_of_max_abs_Gsc": float(phi[top[-1]]),
                      f"max_abs_Gsc_per_{key}": amplitude.max(axis=-1).tolist()})
    if axis is not None and axis["kind"] == "sweep":
        if any(solver != solvers[0] for solver in solvers):  # the values took different paths: each one's
            entry["solver_per_value"] = solvers
        if phi.size > 1:
            entry.update(mean_abs_Gsc_per_value=amplitude.mean(axis=-1).tolist(),
                         anisotropy_per_value=[None if np.isnan(a) else float(a) for a in anisotropy(amplitude)])
    return entry
