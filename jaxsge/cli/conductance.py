"""``jaxsge conductance CONFIG [--set NAME=VALUE ...] [--json] [--out FILE]``: spin-resolved conductances at one angle.

Prints T(a, s <- M) and T(M, s <- a) for every other lead a and spin s along n in M (units
e^2/h, zero temperature), the open channels, the current-conservation residual and, when the
leads allow, G_sc and G_cs. ``--json`` prints one JSON object; ``--out`` writes it to a file
(atomically, as README.md, Output files, says; a previous result there only with ``--overwrite``).
Works for junction and stack configs.
"""

from __future__ import annotations

import contextlib
import sys
import time

import numpy as np

from .. import __version__
from ..core.precision import x64
from ..io.files import json_text, result_file, write_json
from ..io.config import load_config
from ..observables import response
from ..observables.scan import ZERO_CONDUCTANCE
from ..solve.transmissions import Transmissions, solve
from .common import add_config, add_output, add_solver, command_line, lean_note, requested, solver_options

UNITS = "conductances in e^2/h (transmission probabilities) at zero temperature, at the Fermi energy"


def add_parser(sub):
    cmd = sub.add_parser("conductance", help="spin-resolved conductances T(a, s <- M), T(M, s <- a) at one angle")
    add_config(cmd)
    add_solver(cmd)
    cmd.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    cmd.add_argument("--allow-closed", action="store_true",
                     help="give zero transmissions for a lead without open channels instead of failing")
    add_output(cmd, "also write the JSON result (with every parameter) to this file", required=False, metavar="FILE")
    return cmd


def spin_labels(result: Transmissions, index: int):
    """Labels of the two spin states of a lead: "+"/"-" along n for magnetic and vertical leads, else up/down."""
    name = result.leads[index]
    return ("+", "-") if name == "M" or index >= len(result.plan.side_channels) \
        or result.plan.side_magnetic[index] else ("up", "down")


def conversions_or_undefined(result: Transmissions):
    """(conductances, undefined): the conversion conductances that are finite, and a reason for the others."""
    if not response.conversion_axes(result.leads):
        return {}, {}
    values = {k: np.asarray(v) for k, v in response.conversions(result.T, result.n_open, result.leads).items()}
    m = result.index("M")
    out_of_m = np.delete(np.asarray(result.T)[..., m, :], m, axis=-3).sum(axis=(-3, -2, -1))  # to every other lead
    if not np.all(result.n_open[..., m, :].sum(-1) > 0):
        return {}, dict.fromkeys(values, "undefined: the floating lead M has no open channel, so no current can "
                                 "keep it neutral")
    if np.any(out_of_m <= ZERO_CONDUCTANCE):  # the conversions would be rounding noise
        return {}, dict.fromkeys(values, f"undefined: no current flows out of M (its transmission to the other "
                                 f"leads, {float(out_of_m.min()):.2g} e^2/h, is below the rounding level "
                                 f"{ZERO_CONDUCTANCE:g}): the junction is insulating, for instance under disorder "
                                 "strong enough to localize it")
    good = {k: v for k, v in values.items() if np.all(np.isfinite(v))}
    return good, {k: "undefined: the response equations are singular" for k in values if k not in good}


def warn_undefined(undefined: dict) -> None:
    """One warning line on stderr per reason why conductances are undefined (the results say it too)."""
    for why in dict.fromkeys(undefined.values()):
        print(f"jaxsge: warning: {', '.join(k for k, w in undefined.items() if w == why)} {why}", file=sys.stderr)


def transmission_report(result: Transmissions, system, asked: dict, seconds: float) -> dict:
    """The spin-resolved conductances of a result (one angle) as a JSON-able dict."""
    T, n_open = np.asarray(result.T), np.asarray(result.n_open)
    out = {"jaxsge_version": __version__, "leads": list(result.leads),
           "n_open": {name: dict(zip(spin_labels(result, i), n_open[i].astype(int).tolist()))
                      for i, name in enumerate(result.leads)},
           "conservation_residual": float(result.conservation_residual()),
           "T": {"axes": ["to_lead", "to_spin", "from_lead", "from_spin"], "leads": list(result.leads),
                 "spins": "+/- along n for M, magnetic and vertical leads; up/down along each normal lead's spin_axis",
                 "values": T.tolist()},
           "solver": {"requested": asked, **result.solver_report, "explain": result.plan.explain(),
                      "seconds": seconds},
           "system": system.describe(), "units": UNITS}
    if "M" in result.leads:
        others = [name for name in result.leads if name != "M"]
        for key, T_M in (("T_from_M", result.from_lead("M")), ("T_to_M", result.to_lead("M"))):
            out[key] = {a: {"+": float(T_M[i, 0]), "-": float(T_M[i, 1])} for i, a in enumerate(others)}
    good, undefined = conversions_or_undefined(result)
    out.update({k: float(v) for k, v in good.items()})
    if undefined:
        out["undefined"] = undefined
    if not result.reflection_resolved:
        out["note"] = lean_note(False)
    return out


def _print(report: dict) -> None:
    print(f"solver: {report['solver']['path']} ({report['solver']['seconds']:.2f} s)")
    if "T_from_M" in report:
        print("spin-resolved conductances in e^2/h (s = +/-: spin parallel/antiparallel to n in M)")
        print(f"{'lead':<6}{'T(a<-M,+)':>14}{'T(a<-M,-)':>14}{'T(M,+<-a)':>14}{'T(M,-<-a)':>14}{'open':>14}")
        for lead, fm in report["T_from_M"].items():
            tm, n = report["T_to_M"][lead], report["n_open"][lead]
            print(f"{lead:<6}{fm['+']:>14.8g}{fm['-']:>14.8g}{tm['+']:>14.8g}{tm['-']:>14.8g}"
                  f"{'/'.join(str(v) for v in n.values()):>14}")
        nm = report["n_open"]["M"]
        print(f"open channels in M: {nm['+']} (s = +), {nm['-']} (s = -)")
    if "note" in report:
        print(f"note: {report['note']}")
    print(f"current-conservation residual: {report['conservation_residual']:.2e} "
          "(max over incoming lead and spin of |sum of outgoing probabilities - open channels|)")
    for line in conversion_lines(report, report.get("undefined", {})):
        print(line)


def conversion_lines(values: dict, undefined: dict) -> list:
    """The spin-charge line (G_sc^x, G_sc^y) first, then the charge-spin line (G_cs), in e^2/h, from the
    conversions ``values`` (numbers; the first of an array) and the reasons of those ``undefined``."""
    lines = []
    for kind, label, symbol in (("Gsc", "spin-charge", "G_sc"), ("Gcs", "charge-spin", "G_cs")):
        parts = [f"{symbol}^{axis} = {float(np.ravel(values[key])[0]):.6g}" if key in values
                 else f"{symbol}^{axis} {undefined[key]}"
                 for axis, key in ((axis, f"{kind}_{axis}") for axis in "xy") if key in values or key in undefined]
        if parts:
            lines.append(f"{label}  " + "  ".join(parts) + "   (e^2/h)")
    return lines


@x64
def run(args, argv=None) -> int:
    config = load_config(args.config, args.set)
    options = solver_options(args)
    system = config.system
    for name in ("theta", "phi"):
        if np.ndim(system.values[name]):
            raise ValueError(f"{name} is a list: conductance works at one angle (use jaxsge scan for a scan)")
    output = (result_file(args.out, "conductance", overwrite=args.overwrite) if args.out is not None
              else contextlib.nullcontext())
    with output:
        report = _compute(args, argv, system, options)
        if args.out is not None:
            output.commit(lambda path: write_json(path, report))
    if args.json:
        print(json_text(report))
    else:
        _print(report)
    return 0


def _compute(args, argv, system, options) -> dict:
    start = time.perf_counter()
    result = solve(system.stack(), system.energy(), reflection="auto", allow_closed=args.allow_closed, **options)
    report = transmission_report(result, system, requested(args),
                                 time.perf_counter() - start)
    report["command"] = command_line(argv)
    warn_undefined(report.get("undefined", {}))
    return report
