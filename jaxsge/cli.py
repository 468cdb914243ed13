"""Command line: ``jaxsge conductance CONFIG.toml [--set name=value ...] [--json]``."""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from .config import load_params, params_dict
from .model import LEADS, SIDE_LEADS
from .solve import PATHS, transmissions

SPIN_LABELS = {"M": ("+", "-")}
NORMAL_SPINS = ("up", "down")


def conductance_report(p, path: str = "auto", allow_closed: bool = False) -> dict:
    """Spin-resolved conductances (units e^2/h, zero temperature) as a JSON-able dict."""
    start = time.perf_counter()
    result = transmissions(p, path=path, allow_closed=allow_closed)
    T = np.asarray(result.T)
    seconds = time.perf_counter() - start
    from_m, to_m = np.asarray(result.from_M()), np.asarray(result.to_M())
    spins = {lead: SPIN_LABELS.get(lead, NORMAL_SPINS) for lead in LEADS}
    return {
        "T_from_M": {lead: {"+": from_m[i, 0], "-": from_m[i, 1]} for i, lead in enumerate(SIDE_LEADS)},
        "T_to_M": {lead: {"+": to_m[i, 0], "-": to_m[i, 1]} for i, lead in enumerate(SIDE_LEADS)},
        "n_open": {lead: dict(zip(spins[lead], result.n_open[i].astype(int).tolist())) for i, lead in enumerate(LEADS)},
        "conservation_residual": float(result.conservation_residual()),
        "T": {"axes": ["to_lead", "to_spin", "from_lead", "from_spin"], "leads": list(LEADS),
              "spins": "M: + / - along n; normal leads: up / down along z", "values": T.tolist()},
        "solver": {"path": result.path, "seconds": seconds},
        "params": params_dict(p),
        "units": "conductances in e^2/h (transmission probabilities) at zero temperature, energy mu",
    }


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


def _print_table(report: dict, out) -> None:
    p = report["params"]
    geometry = " ".join(f"{k}={p[k]}" for k in ("Lx", "Ly", "Lz", "W", "n_barrier"))
    physics = " ".join(f"{k}={p[k]:g}" for k in ("t", "mu", "alpha3", "dxc", "U0", "xi", "theta", "phi", "K0"))
    print(f"junction: {geometry}", file=out)
    print(f"          {physics}", file=out)
    print(f"solver: {report['solver']['path']} ({report['solver']['seconds']:.2f} s)", file=out)
    print("spin-resolved conductances in e^2/h (s = +/-: spin parallel/antiparallel to n in M)", file=out)
    print(f"{'lead':<6}{'T(a<-M,+)':>14}{'T(a<-M,-)':>14}{'T(M,+<-a)':>14}{'T(M,-<-a)':>14}{'open up/down':>14}", file=out)
    for lead in SIDE_LEADS:
        fm, tm, n = report["T_from_M"][lead], report["T_to_M"][lead], report["n_open"][lead]
        print(f"{lead:<6}{fm['+']:>14.8g}{fm['-']:>14.8g}{tm['+']:>14.8g}{tm['-']:>14.8g}"
              f"{str(n['up']) + '/' + str(n['down']):>14}", file=out)
    nm = report["n_open"]["M"]
    print(f"open channels in M: {nm['+']} (s = +), {nm['-']} (s = -)", file=out)
    print(f"current-conservation residual: {report['conservation_residual']:.2e} "
          "(max over incoming lead and spin of |sum of outgoing probabilities - open channels|)", file=out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="jaxsge", description="Spin-charge conversion in magnetic tunnel junctions")
    sub = parser.add_subparsers(dest="command", required=True)
    cond = sub.add_parser("conductance", help="spin-resolved conductances T(a, s <- M) and T(M, s <- a) at one angle")
    cond.add_argument("config", help="TOML file with the parameters of shared/model.md")
    cond.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                      help="override a parameter (repeatable), e.g. --set phi=pi/4")
    cond.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    cond.add_argument("--path", choices=PATHS, default="auto", help="solver path for the upper layers (default: auto)")
    cond.add_argument("--allow-closed", action="store_true",
                      help="return zero transmissions for a lead without open channels instead of failing")
    cond.add_argument("--out", help="also write the JSON result (with all parameters) to this file")
    args = parser.parse_args(argv)

    try:
        params = load_params(args.config, args.set)
        report = _jsonable(conductance_report(params, path=args.path, allow_closed=args.allow_closed))
    except ValueError as err:
        print(f"jaxsge: error: {err}", file=sys.stderr)
        return 2
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(report, fh, indent=1)
    if args.json:
        json.dump(report, sys.stdout)
        print()
    else:
        _print_table(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
