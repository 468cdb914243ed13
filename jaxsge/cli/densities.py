"""``jaxsge densities CONFIG --out DIR [--layer 0,3] [--operators sx,sy] [--nphi N | --phi V1,V2]``: current-induced
densities.

The density of onsite operators (charge, spin sx, sy, sz, and on a layer of the three t2g orbitals Lx, Ly,
Lz, LdotS) in the chosen layers per unit bias of each lead (``jaxsge.densities``, docs/densities.md):
site maps and layer totals at the config's theta, over the angles phi (the config's phi, ``--phi`` values
or the uniform grid of ``--nphi``), at temperature ``--kT``, for the disorder realizations 0 .. n - 1
(``--realizations`` or ``n_realizations`` of the config). Writes ``densities.nc`` (labelled: dimensions
[realization,] phi, layer, lead, operator, x, y; every parameter in its attributes; ``jaxsge.load``
reads it back), ``densities.npz``, ``densities.json`` (every parameter, the angles, the solver, the
largest totals), ``totals.png`` (layer totals against phi, one panel per operator, for the current
between the two leads of ``--current``), ``map.png`` (site maps of ``--map`` at ``--map-phi``) and
``run.json``, replacing a previous densities result in that folder as a whole with ``--overwrite``.
``jaxsge plot`` redraws the figures from densities.nc. Every input is checked before anything is computed.
"""

from __future__ import annotations

import time

import numpy as np

from .. import __version__
from ..core.precision import x64
from ..io.config import load_config, parse_integer, parse_number
from ..io.files import result_folder
from ..io.results import densities_dataset, provenance, write_result
from ..observables.densities import NAMED_OPERATORS, ORBITAL_OPERATORS, densities, layer_operators, request
from ..observables.harmonics import uniform_phi
from ..plot.densities import operator_symbol
from ..plot.results import draw_densities
from ..plot.style import value_text
from .common import (add_config, add_output, add_solver, angle_text, check_n_phi, command_line, requested,
                     solver_options)

FILES = ("densities.npz", "densities.json", "densities.nc", "totals.png", "map.png")
UNITS = ("densities: sum over the channels of a lead of psi^dagger O psi (units 1/t, per site in density, per layer "
         "in total); the density per unit bias eV of that lead is this / 2 pi; the figures show the current "
         "between two leads, (lead a - lead b) / 2 / 2 pi per unit eV; angles in radians, energies in units of t")


def add_parser(sub):
    cmd = sub.add_parser("densities", help="current-induced spin, orbital and charge densities per unit bias of "
                         "each lead: site maps and layer totals over phi")
    add_config(cmd)
    add_solver(cmd)
    add_output(cmd, "output folder (densities.nc, densities.npz, densities.json, totals.png, map.png)")
    cmd.add_argument("--layer", default="0", metavar="Z1,Z2,...",
                     help="layer indices, 0 the lowest (default 0, the 2DEG of a junction); layers folded into a "
                          "vertical lead need --no-fold")
    cmd.add_argument("--operators", metavar="NAME,...",
                     help=f"operators: {', '.join(NAMED_OPERATORS)}, and on a layer of 3 orbitals (t2g) "
                          f"{', '.join(ORBITAL_OPERATORS)} (default: all of those the layer has)")
    angles = cmd.add_mutually_exclusive_group()
    angles.add_argument("--nphi", type=int, help="the uniform grid of N angles phi on [0, 2 pi)")
    angles.add_argument("--phi", metavar="V1,V2,...", help="angles phi in radians (pi allowed, e.g. 0,pi/4,pi/2)")
    cmd.add_argument("--kT", type=float, help="temperature in units of t (default: kT of the config, or 0)")
    cmd.add_argument("--rtol", type=float, default=1e-6,
                     help="at kT > 0: the thermal quadrature is refined until the densities change by less than this, "
                          "relative to their largest value (default 1e-6; 1e-4 suits site maps of small junctions)")
    cmd.add_argument("--max-order", type=int, default=128, metavar="N",
                     help="at kT > 0: the most quadrature nodes per piece between subband edges (default 128)")
    cmd.add_argument("--realizations", type=int, metavar="N",
                     help="disorder realizations 0 .. N - 1 (default: n_realizations of the config, or none)")
    cmd.add_argument("--current", metavar="A,B",
                     help="the two leads whose current the figures show, lead A at +V/2 and B at -V/2 (default L,R, "
                          "else the first two leads)")
    cmd.add_argument("--map", metavar="OPERATOR", help="operator of the site map (default sy, else the first)")
    cmd.add_argument("--map-phi", metavar="ANGLE", help="angle of the site map, one of the computed phi (default "
                     "the first)")
    cmd.add_argument("--no-progress", action="store_true", help="no progress bar")
    return cmd


def _list(text: str, option: str) -> list:
    items = [item.strip() for item in text.split(",")]
    if not items or not all(items):
        raise ValueError(f"{option} {text!r}: expected a comma-separated list without empty entries")
    if len(set(items)) != len(items):
        raise ValueError(f"{option} {text!r} names an entry twice")
    return items


def _layers(text: str, stack) -> tuple:
    layers = tuple(parse_integer(item, "--layer", minimum=0) for item in _list(text, "--layer"))
    for z in layers:
        if not 0 <= z < stack.Lz:
            raise ValueError(f"--layer {z}: this stack has layers 0 .. {stack.Lz - 1}")
    return layers


def _phi(args, config) -> np.ndarray:
    if args.nphi is not None:
        return uniform_phi(check_n_phi(args.nphi, 1))
    if args.phi is not None:
        return np.asarray([parse_number(item, "--phi") for item in _list(args.phi, "--phi")])
    return np.atleast_1d(np.asarray(config.system.values["phi"], dtype=float)).ravel()


def _current(spec, leads) -> list:
    if spec is None:
        return ["L", "R"] if {"L", "R"} <= set(leads) else list(leads[:2])
    pair = _list(spec, "--current")
    if len(pair) != 2 or not set(pair) <= set(leads):
        raise ValueError(f"--current {spec!r}: give two different leads A,B of this junction's leads "
                         f"{', '.join(leads)}")
    return pair


def _map_choice(args, names, phi) -> tuple:
    """(operator, index of the angle) of the site map."""
    default = "sy" if "sy" in names else names[0]
    operator = default if args.map is None else args.map
    if operator not in names:
        raise ValueError(f"--map {operator!r} is not one of the operators computed: {', '.join(names)}")
    if args.map_phi is None:
        return operator, 0
    angle = parse_number(args.map_phi, "--map-phi")
    distance = np.abs(np.angle(np.exp(1j * (phi - angle))))
    if distance.min() > 1e-6:
        raise ValueError(f"--map-phi {args.map_phi}: not one of the computed angles phi = "
                         f"{', '.join(angle_text(v) for v in phi)}")
    return operator, int(np.argmin(distance))


@x64
def run(args, argv=None) -> int:
    config = load_config(args.config, args.set)
    options = solver_options(args)
    system = config.system
    if np.ndim(system.values["theta"]):
        raise ValueError("theta must be one number (give it with --set theta=...); phi is scanned by --phi or --nphi")
    theta = float(np.asarray(system.values["theta"]))
    stack = system.stack()
    layers = _layers(args.layer, stack)
    if args.operators is None:
        names = layer_operators(stack.layers[layers[0]].orbitals)
    else:
        names = tuple(_list(args.operators, "--operators"))
    phi = _phi(args, config)
    kT = args.kT if args.kT is not None else config.settings.get("kT", 0.0)
    n_real = args.realizations if args.realizations is not None else config.settings.get("n_realizations")
    if n_real is not None and not 1 <= n_real <= 100_000:
        raise ValueError(f"--realizations {n_real}: must be between 1 and 100000")
    realizations = None if n_real is None else list(range(n_real))
    if not 8 <= args.max_order <= 4096:  # the quadrature starts at 4 nodes and doubles: 8 allows one comparison
        raise ValueError(f"--max-order {args.max_order}: must be between 8 and 4096")
    if not 0 < args.rtol < 1:
        raise ValueError(f"--rtol {args.rtol}: must lie between 0 and 1")
    energy = system.energy()
    target = stack.replace(theta=theta, phi=phi)
    asked = dict(layer=layers, operators=names, kT=kT, realizations=realizations, max_order=args.max_order, **options)
    try:
        request(target, energy, **asked)  # every input checked before anything is computed or written
    except ValueError as err:  # the API's words for the options of this command
        message = str(err).replace("pass fold=False", "give --no-fold")
        message, _, closed = message.partition("; pass allow_closed")  # conductance's option, not this command's
        if closed:
            message += (f" ({system.energy_name} = {float(np.asarray(energy)):.6g} t); give a Fermi energy at which "
                        "every lead has open channels")
        option = next((o for o in ("layer", "operator") if message.startswith(o)), None)
        name = {"layer": "--layer", "operator": "--operators"}.get(option)
        raise ValueError(message if name is None else f"{name}: {message}") from None
    current = _current(args.current, stack.lead_names)
    map_operator, map_index = _map_choice(args, names, phi)
    with result_folder(args.out, "densities", FILES, overwrite=args.overwrite) as out:
        start = time.perf_counter()
        try:
            d = densities(target, energy, rtol=args.rtol, progress=False if args.no_progress else "densities", **asked)
        except ValueError as err:  # the thermal quadrature's advice, in this command's options
            raise ValueError(str(err).replace("raise max_order or rtol", "raise --max-order or --rtol")) from None
        seconds = time.perf_counter() - start
        arrays, meta, labelled = _result(config, argv, args, d, theta, phi, realizations, current,
                                         (map_operator, map_index), seconds)

        def write(folder):
            write_result(folder, "densities", arrays, meta, labelled)
            draw_densities(labelled, folder)

        written = out.commit(write)
    for line in summary(meta):
        print(line)
    print(f"wrote {args.out}: {', '.join(written)} in {seconds:.1f} s")
    return 0


def summary(meta) -> list:
    """One line per layer: the largest layer total per unit bias of each operator for the current of the figures."""
    a, b = meta["current"]
    lines = []
    for z, per in meta["largest_current_totals"].items():
        parts = [f"{name} {entry['value']:.4g} at phi = {angle_text(entry['phi'])}" for name, entry in per.items()]
        lines.append(f"layer {z}, current {a} -> {b}, largest layer totals per unit bias (1/t): " + "; ".join(parts))
    lines.append(f"solver: {meta['solver']['path']}" + (f"; kT = {meta['kT']:.4g} t, {meta['quadrature_nodes']} "
                                                      "quadrature nodes" if meta["kT"] else ""))
    return lines


def _result(config, argv, args, d, theta, phi, realizations, current, map_choice, seconds):
    """The arrays of densities.npz, the content of densities.json and the labelled Dataset of densities.nc, from
    which ``plot.results.draw_densities`` draws totals.png and map.png."""
    system, stack = config.system, config.system.stack()
    values = d.values  # ([realizations,] n_phi, layers, leads, operators, Lx, Ly)
    a, b = (d.leads.index(name) for name in current)
    along = (d.total[..., a, :] - d.total[..., b, :]) / 2 / (2 * np.pi)  # ([realizations,] n_phi, layers, operators)
    if realizations is not None:
        along = along.mean(axis=0)
    largest = {}
    for i, z in enumerate(d.layers):
        top = np.argmax(np.abs(along[:, i, :]), axis=0)
        largest[str(z)] = {name: {"value": float(along[top[o], i, o]), "phi": float(phi[top[o]])}
                           for o, name in enumerate(d.operators)}
    arrays = {"phi": phi, "theta": np.asarray(theta), "energy": np.asarray(system.energy(), dtype=float),
              "layers": np.asarray(d.layers), "density": values, "total": d.total,
              "magnetization": d.magnetization[(0,) * (realizations is not None)].reshape(phi.size, len(d.layers), 3),
              "operator_matrix": d.matrices}
    if {"sx", "sy", "sz"} <= set(d.operators):  # the torque (dxc/2) m x <sigma> on each layer's magnetization
        arrays["torque_total"] = d.torque().sum(axis=(-2, -1))
    if realizations is not None:
        arrays["realizations"] = np.asarray(realizations)
    meta = {"jaxsge_version": __version__, "command": command_line(argv), "config": config.path,
            "system": system.describe(), "layers": list(d.layers), "leads": list(d.leads),
            "operators": list(d.operators), "current": current,
            "scanned": {"phi": phi.tolist(), "n_phi": int(phi.size), "theta": theta,
                        "energy": {"name": system.energy_name, "value": float(np.asarray(system.energy()))},
                        "realizations": realizations},
            "kT": d.kT, "rtol": args.rtol, "quadrature_nodes": d.quadrature_nodes,
            "quadrature_error": d.quadrature_error,
            "solver": {"requested": requested(args), "path": d.path, **d.solver}, "seconds": seconds,
            "units": UNITS, "largest_current_totals": largest,
            "arrays": {"densities.npz": "phi (n_phi), theta, energy, layers, density ([n_realizations,] n_phi, layers, "
                                        "leads, operators, Lx, Ly), total (the same without Lx, Ly), magnetization "
                                        "(n_phi, layers, 3), operator_matrix (operators, d, d), with sx, sy, sz "
                                        "torque_total ([n_realizations,] n_phi, layers, leads, 3)"
                                        + (", realizations" if realizations is not None else "")}}
    size = f"$L_x \\times L_y = {stack.Lx} \\times {stack.Ly}$"
    energy = value_text(system.energy_name, float(np.asarray(system.energy())))
    where = f"{value_text('theta', theta)}, {energy}, {value_text('kT', d.kT)}, {size}"
    operator, index = map_choice
    labels = [f"layer {z}" + (f" ({stack.layers[z].name})" if stack.layers[z].name else "") for z in d.layers]
    figure = {"current": current, "map_operator": operator, "map_phi_index": index, "layer_labels": labels,
              "totals_title": f"layer totals per unit bias, current {current[0]} $\\to$ {current[1]}:\n{where}"
                              + (f", mean of {len(realizations)} realizations" if realizations else ""),
              "map_title": f"${operator_symbol(operator)}$ site map per unit bias, current {current[0]} "
                           f"$\\to$ {current[1]}, "
                           f"{value_text('phi', float(phi[index]))}:\n{where}"
                           + (f", mean of {len(realizations)} realizations" if realizations else "")}
    labelled = densities_dataset(arrays, meta, provenance(system, config.path, command_line(argv)), figure)
    return arrays, meta, labelled
