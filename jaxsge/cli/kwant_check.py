"""``jaxsge kwant-check CONFIG [--set NAME=VALUE ...] [--json] [--tolerance 1e-8]``: your junction against Kwant.

Builds the config's junction (junction or stack config) a second time with Kwant, independently
of jaxsge's Hamiltonian (``jaxsge.validation.kwant_model``), and compares every spin-resolved
transmission T(a, sa <- b, sb) and the open channels; with ``--densities Z[,Z...]`` also the
current-induced densities of every operator the layer has (charge, sigma_k, and on a t2g layer L_k
and L.S: ``jaxsge.densities``) on every site of layers Z per unit bias of each lead, against Kwant's
``wave_function`` and ``operator.Density``. Prints the tables and the largest deviations; exit
status 0 when every ``|jaxsge - Kwant|`` is within ``--tolerance`` and the open channels agree, 1
when not. Kwant is optional: a missing Kwant is reported with how to install
it. Layers of more than 400 sites (20 x 20) are refused: Kwant would take many minutes.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from .. import __version__
from ..core.precision import x64
from ..io.config import load_config
from ..io.files import json_text
from ..observables.densities import layer_operators, request
from ..validation import kwant_model
from .common import add_config, add_solver, command_line, solver_options
from .conductance import spin_labels

DEFAULT_TOLERANCE = 1e-8


def add_parser(sub):
    cmd = sub.add_parser("kwant-check", help="cross-check every spin-resolved transmission of a config against Kwant",
                         description="Build the config's junction a second time with Kwant (independently of "
                         "jaxsge's Hamiltonian) and compare every spin-resolved transmission T(a, sa <- b, sb) "
                         "and the open channels. Exit status 0 when every deviation is within --tolerance, 1 when "
                         f"not. Needs Kwant (make kwant); at most {kwant_model.MAX_LAYER_SITES} sites per layer.")
    add_config(cmd, example="--set Lx=12")
    add_solver(cmd)
    cmd.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, metavar="TOL",
                     help=f"largest allowed |T_jaxsge - T_Kwant| (absolute, on transmission probabilities; "
                          f"default {DEFAULT_TOLERANCE:g})")
    cmd.add_argument("--densities", metavar="Z[,Z...]", default=None,
                     help="also compare the current-induced densities (every operator the layer has, every site, "
                          "per unit bias of each lead) in these layers (0 the lowest; layers in dense slices: "
                          "give --no-fold for the folded ones)")
    cmd.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the table")
    return cmd


def _rows(report: dict, result) -> list:
    leads = report["leads"]
    T, K = report["jaxsge"], report["kwant"]
    return [{"to": a, "to_spin": spin_labels(result, i)[si], "from": b, "from_spin": spin_labels(result, j)[sj],
             "jaxsge": float(T[i, si, j, sj]), "kwant": float(K[i, si, j, sj]),
             "deviation": float(abs(T[i, si, j, sj] - K[i, si, j, sj]))}
            for j, b in enumerate(leads) for sj in range(2) for i, a in enumerate(leads) for si in range(2)]


def _print(rows, report, tolerance, seconds) -> None:
    print("spin-resolved transmissions T(a, sa <- b, sb) in e^2/h (s: +/- along n for magnetic and vertical "
          "leads, up/down along z for normal side leads)")
    print(f"{'from b':<8}{'sb':<6}{'to a':<8}{'sa':<6}{'jaxsge':>16}{'Kwant':>16}{'|difference|':>14}")
    for r in rows:
        print(f"{r['from']:<8}{r['from_spin']:<6}{r['to']:<8}{r['to_spin']:<6}{r['jaxsge']:>16.10g}"
              f"{r['kwant']:>16.10g}{r['deviation']:>14.2e}")
    worst = max(rows, key=lambda r: r["deviation"])
    print(f"open channels: jaxsge {report['n_open_jaxsge'].astype(int).tolist()}, "
          f"Kwant {report['n_open_kwant'].astype(int).tolist()} (per lead, spin +/up and -/down)")
    print(f"largest deviation: {worst['deviation']:.2e} at T({worst['to']}, {worst['to_spin']} <- {worst['from']}, "
          f"{worst['from_spin']}) (tolerance {tolerance:g}); jaxsge {seconds['jaxsge']:.1f} s, "
          f"Kwant {seconds['kwant']:.1f} s")


def density_layers(text, stack) -> list:
    """The layers of ``--densities`` (a comma-separated list of indices), checked: ValueError otherwise."""
    try:
        layers = [int(z) for z in text.split(",")]
    except ValueError:
        raise ValueError(f"--densities = {text!r} must be layer indices separated by commas, e.g. 0 or 0,1") from None
    bad = [z for z in layers if not 0 <= z < stack.Lz]
    if bad or len(set(layers)) != len(layers):
        raise ValueError(f"--densities = {text!r}: each layer once, from 0 to {stack.Lz - 1} (Lz = {stack.Lz})")
    return layers


def _density_rows(report: dict) -> list:
    return [{"layer": z, "operator": name, "max_abs_kwant": float(report["scale"][i, o]),
             "deviation": float(report["deviation"][i, o])}
            for i, z in enumerate(report["layers"]) for o, name in enumerate(report["operators"])]


def _print_densities(rows, seconds) -> None:
    print("current-induced densities per unit bias (1/t per site), max over leads and sites")
    print(f"{'layer':<7}{'operator':<10}{'max |Kwant|':>14}{'|difference|':>14}")
    for r in rows:
        print(f"{r['layer']:<7}{r['operator']:<10}{r['max_abs_kwant']:>14.4g}{r['deviation']:>14.2e}")
    print(f"densities: jaxsge {seconds['jaxsge']:.1f} s, Kwant {seconds['kwant']:.1f} s")


@x64
def run(args, argv=None) -> int:
    tolerance = args.tolerance
    if not (math.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"--tolerance = {tolerance!r} must be a positive finite number")
    config = load_config(args.config, args.set)
    options = solver_options(args)
    system = config.system
    energy = float(np.asarray(system.energy()))
    stack = system.stack()
    layers = [] if args.densities is None else density_layers(args.densities, stack)
    operators = {z: layer_operators(stack.layers[z].orbitals) for z in layers}
    for z in layers:  # every density input checked before anything is computed
        request(stack, energy, layer=z, operators=operators[z], **options)
    try:  # compare() checks the angles, the size and Kwant before computing anything
        report = kwant_model.compare(stack, energy, **options)
        density_reports = [kwant_model.compare_densities(stack, energy, z, operators[z], **options) for z in layers]
    except ImportError as err:
        raise ValueError(str(err)) from None
    rows = _rows(report, report["result"])
    density_rows = [row for d in density_reports for row in _density_rows(d)]
    density_deviation = max((r["deviation"] for r in density_rows), default=0.0)
    density_seconds = {side: sum(d["seconds"][side] for d in density_reports) for side in ("jaxsge", "kwant")}
    channels_agree = bool(np.array_equal(report["n_open_jaxsge"], report["n_open_kwant"]))
    passed = channels_agree and report["max_deviation"] <= tolerance and density_deviation <= tolerance
    if args.json:
        print(json_text({"jaxsge_version": __version__, "kwant_version": report["kwant_version"],
                         "command": command_line(argv), "config": config.path, "system": system.describe(),
                         "energy": energy, "leads": report["leads"],
                         "transmissions": rows, "n_open": {"jaxsge": report["n_open_jaxsge"],
                                                           "kwant": report["n_open_kwant"]},
                         "max_deviation": report["max_deviation"], "tolerance": tolerance,
                         "open_channels_agree": channels_agree, "passed": passed, "seconds": report["seconds"],
                         "densities": {"rows": density_rows, "max_deviation": density_deviation,
                                       "seconds": density_seconds,
                                       "units": "1/t per site per unit bias of each lead (jaxsge.densities)"}
                         if layers else None,
                         "units": "transmission probabilities (conductances in e^2/h) at zero temperature"}))
    else:
        _print(rows, report, tolerance, report["seconds"])
        if layers:
            _print_densities(density_rows, density_seconds)
    if not passed:
        worst = max(report["max_deviation"], density_deviation)
        what = "density" if density_deviation > report["max_deviation"] else "deviation"
        why = ("the open channels differ" if not channels_agree
               else f"the largest {what} deviation {worst:.2e} exceeds the tolerance {tolerance:g}")
        print(f"jaxsge kwant-check: FAILED: {why}", file=sys.stderr)
        return 1
    if not args.json:
        print(f"passed: every transmission{' and density' if layers else ''} agrees with Kwant within "
              f"{tolerance:g}")
    return 0
