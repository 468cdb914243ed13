"""Command line: ``jaxsge conductance CONFIG.toml [--set name=value ...] [--json]``."""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np

from . import __version__
from .config import _coerce, load_params, params_dict
from .model import LEADS, SIDE_LEADS, exchange_profile
from .precision import x64
from .response import conversions
from .scan import angular_harmonics, conversion_scan
from .solve import PATHS, transmissions
from .ensemble_cli import add_parser as add_ensemble_parser
from .stack_cli import add_parser as add_stack_parser
from .stack_cli import run_stack
from .well_cli import add_parser as add_well_parser
from .well_cli import run_well

SPIN_LABELS = {"M": ("+", "-")}
NORMAL_SPINS = ("up", "down")


@x64
def conductance_report(p, path: str = "auto", allow_closed: bool = False) -> dict:
    """Spin-resolved conductances (units e^2/h, zero temperature) as a JSON-able dict."""
    start = time.perf_counter()
    result = transmissions(p, path=path, allow_closed=allow_closed)
    T = np.asarray(result.T)
    seconds = time.perf_counter() - start
    from_m, to_m = np.asarray(result.from_M()), np.asarray(result.to_M())
    conversion = conversions(result.T, result.n_open)
    spins = {lead: SPIN_LABELS.get(lead, NORMAL_SPINS) for lead in LEADS}
    return {
        "T_from_M": {lead: {"+": from_m[i, 0], "-": from_m[i, 1]} for i, lead in enumerate(SIDE_LEADS)},
        "T_to_M": {lead: {"+": to_m[i, 0], "-": to_m[i, 1]} for i, lead in enumerate(SIDE_LEADS)},
        "n_open": {lead: dict(zip(spins[lead], result.n_open[i].astype(int).tolist())) for i, lead in enumerate(LEADS)},
        "conservation_residual": float(result.conservation_residual()),
        **{name: float(value) for name, value in conversion.items()},
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
    if "Gsc_x" in report:
        print(f"spin-charge  G_sc^x = {report['Gsc_x']:.6g}  G_sc^y = {report['Gsc_y']:.6g}   (Eq. 8, e^2/h)", file=out)
        print(f"charge-spin  G_cs^x = {report['Gcs_x']:.6g}  G_cs^y = {report['Gcs_y']:.6g}   (Eq. 3 set-up, e^2/h)",
              file=out)


def run_scan(params, out_dir, n_phi=64, compare=None, kT=0.0, path="auto", memory_gib=None, argv=None) -> dict:
    """Phi scan of the conversion conductances, one panel per compared value; writes data and figure."""
    from .plot import fermi_contour_bands, polar_panels

    if n_phi < 8:
        raise ValueError(f"n_phi = {n_phi} must be >= 8")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name, values = (None, [None]) if compare is None else compare
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    panels, start = [], time.perf_counter()
    for value in values:
        p = params if name is None else params.replace(**{name: value})
        scan = conversion_scan(p.replace(phi=phi), kT=kT, path=path, memory_budget_gib=memory_gib, progress=True)
        panels.append((p, scan))
    seconds = time.perf_counter() - start
    arrays = {key: np.stack([np.broadcast_to(getattr(s, key), phi.shape) for _, s in panels])
              for key in ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y", "g_sc")}
    arrays["T"] = np.stack([s.T for _, s in panels])
    arrays["n_open"] = np.stack([s.n_open for _, s in panels])
    np.savez(out_dir / "scan.npz", phi=phi, theta=np.asarray(params.theta, dtype=float),
             compare_values=np.asarray([np.nan if v is None else v for v in values], dtype=float), **arrays)
    n_max = min(8, (n_phi - 1) // 2)
    harmonics = {key: angular_harmonics(arrays[key], n_max).tolist() for key in ("Gsc_x", "Gsc_y", "g_sc")}
    summary = []
    for i, (p, s) in enumerate(panels):
        g = arrays["g_sc"][i]
        local_max = np.flatnonzero((g > np.roll(g, 1)) & (g >= np.roll(g, -1)))
        summary.append({"compare": None if name is None else {name: values[i]}, "solver_path": s.path,
                        "phi_of_local_maxima": phi[local_max].tolist(),
                        "max_abs_Gsc": float(np.hypot(s.Gsc_x, s.Gsc_y).max()),
                        "onsager_note": "G_cs here is at the same dxc; Eq. (4) relates G_sc(dxc) to G_cs(-dxc)",
                        "quadrature_nodes": s.quadrature_nodes, "quadrature_error": s.quadrature_error})
    meta = {"jaxsge_version": __version__, "command": argv, "params": params_dict(params), "kT": kT, "n_phi": n_phi,
            "compare": None if name is None else {"name": name, "values": values}, "seconds": seconds,
            "units": "conductances in e^2/h; angles in radians; g_sc normalised per panel",
            "arrays": {"scan.npz": "phi (n_phi), theta, compare_values (n_panels), Gsc_x, Gsc_y, Gcs_x, Gcs_y, g_sc "
                                   "(n_panels, n_phi), T (n_panels, n_phi, 5, 2, 5, 2), n_open (n_panels, n_phi, 5, 2)"},
            "harmonics": {"m": list(range(n_max + 1)), **harmonics}, "panels": summary}
    with open(out_dir / "scan.json", "w") as fh:
        json.dump(_jsonable(meta), fh, indent=1)
    titles, contours = [], []
    for p, _ in panels:
        titles.append("clean" if name is None else f"{name} = {getattr(p, name):g}"
                      + (f" = {getattr(p, name) / p.Lz:g} Lz" if name == "xi" else ""))
        dxc0 = float(np.asarray(exchange_profile(p))[0])
        contours.append([(f"phi = {lab}", *fermi_contour_bands(float(p.t), float(p.mu), float(p.alpha3), dxc0,
                                                                float(np.asarray(p.theta)), ang, k_max=1.8))
                         for lab, ang in (("0", 0.0), ("3pi/2", 1.5 * np.pi))])
    polar_panels(phi, [{"g_sc": arrays["g_sc"][i]} for i in range(len(panels))], titles, contours,
                 suptitle=(f"normalised spin-charge conductance g_sc(phi), theta = {float(np.asarray(params.theta)):.3g}, "
                           f"Lx = {params.Lx}, Ly = {params.Ly}, W = {params.W}, kT = {kT:g}"),
                 path=out_dir / "polar.png")
    return meta


def run_sensitivity(params, out_dir, wrt, n_phi=64, path="auto", memory_gib=None, argv=None) -> dict:
    """Values and derivatives of G_sc, G_cs and T over a phi scan; writes data and figure."""
    from .plot import sensitivity_panels
    from .sensitivity import sensitivities

    if n_phi < 1:
        raise ValueError(f"n_phi = {n_phi} must be >= 1")
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    start = time.perf_counter()
    s = sensitivities(params.replace(phi=phi), wrt, path=path, memory_budget_gib=memory_gib, progress=True)
    seconds = time.perf_counter() - start
    arrays = {"phi": phi, "theta": np.asarray(params.theta, dtype=float),
              **{q: np.broadcast_to(v, phi.shape + np.shape(v)[phi.ndim:]) for q, v in s.values.items()},
              **{f"d{q}_d{name}": d for q, per in s.derivatives.items() for name, d in per.items()}}
    np.savez(out_dir / "sensitivity.npz", **arrays)
    meta = {"jaxsge_version": __version__, "command": argv, "params": params_dict(params), "wrt": list(s.wrt),
            "n_phi": n_phi, "solver_path": s.path, "seconds": seconds,
            "units": "conductances in e^2/h; derivatives in e^2/h per unit of the parameter (energies in t, "
                     "angles in radians); zero temperature",
            "arrays": {"sensitivity.npz": "phi (n_phi); Gsc_x, Gsc_y, Gcs_x, Gcs_y (n_phi); T (n_phi, 5, 2, 5, 2); "
                                          "dQ_dNAME: derivative of Q with respect to NAME, same shape as Q"},
            "max_abs_derivative": {f"d{q}_d{name}": float(np.abs(s.derivatives[q][name]).max())
                                   for q in ("Gsc_x", "Gsc_y", "Gcs_x", "Gcs_y") for name in s.wrt}}
    with open(out_dir / "sensitivity.json", "w") as fh:
        json.dump(_jsonable(meta), fh, indent=1)
    sensitivity_panels(phi, s.values, s.derivatives, s.wrt,
                       suptitle=(f"G_sc and its derivatives, theta = {float(np.asarray(params.theta)):.3g}, "
                                 f"Lx = {params.Lx}, Ly = {params.Ly}, W = {params.W}"),
                       path=out_dir / "sensitivity.png")
    return meta


def _parse_compare(text):
    if text is None:
        return None
    if "=" not in text:
        raise ValueError(f"--compare {text!r}: expected NAME=V1,V2,...")
    name, values = text.split("=", 1)
    name = name.strip()
    if name in ("theta", "phi", "dxc_profile", "disorder_file", "disorder_layers"):
        raise ValueError(f"--compare: {name!r} cannot be compared; use a number parameter such as xi, mu or K0")
    return name, [_coerce(name, v.strip(), None) for v in values.split(",")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="jaxsge", description="Spin-charge conversion in magnetic tunnel junctions")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(cmd):
        cmd.add_argument("config", help="TOML file with the parameters of shared/model.md")
        cmd.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                         help="override a parameter (repeatable), e.g. --set phi=pi/4")
        cmd.add_argument("--path", choices=PATHS, default="auto", help="solver path for the upper layers (default: auto)")

    cond = sub.add_parser("conductance", help="spin-resolved conductances T(a, s <- M) and T(M, s <- a) at one angle")
    common(cond)
    cond.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    cond.add_argument("--allow-closed", action="store_true",
                      help="return zero transmissions for a lead without open channels instead of failing")
    cond.add_argument("--out", help="also write the JSON result (with all parameters) to this file")

    scan = sub.add_parser("scan", help="G_sc and G_cs over a phi scan, with the polar plot of Fig. 3")
    common(scan)
    scan.add_argument("--out", required=True, help="output folder (scan.npz, scan.json, polar.png)")
    scan.add_argument("--nphi", type=int, default=64, help="number of phi values on [0, 2 pi) (default 64)")
    scan.add_argument("--compare", help="one panel per value, e.g. --compare xi=7.2,9.6")
    scan.add_argument("--kT", type=float, default=0.0, help="temperature in units of t (default 0)")
    scan.add_argument("--memory-gib", type=float, help="memory budget for one vmapped chunk (default 4 GiB)")

    sens = sub.add_parser("sensitivity", help="G_sc, G_cs and their derivatives (automatic differentiation) over phi")
    common(sens)
    sens.add_argument("--out", required=True, help="output folder (sensitivity.npz, sensitivity.json, sensitivity.png)")
    sens.add_argument("--wrt", default="alpha3", help="comma-separated parameters, e.g. alpha3,dxc (default alpha3)")
    sens.add_argument("--nphi", type=int, default=64, help="number of phi values on [0, 2 pi) (default 64)")
    sens.add_argument("--memory-gib", type=float, help="memory budget for one vmapped chunk (default 4 GiB)")
    add_well_parser(sub)
    add_ensemble_parser(sub)
    add_stack_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "stack":  # its config describes a general stack, layer by layer
        return run_stack(args)
    if args.command == "ensemble":  # its config holds lists (K0, xi) and ensemble settings
        return args.handler(args)
    if args.command == "well":  # its config file describes a quantum well, not a junction
        return run_well(args)

    try:
        params = load_params(args.config, args.set)
        if args.command == "scan":
            meta = run_scan(params, args.out, args.nphi, _parse_compare(args.compare), args.kT, args.path,
                            args.memory_gib, argv=sys.argv if argv is None else argv)
            for panel in meta["panels"]:
                label = panel["compare"] or "scan"
                print(f"{label}: g_sc maxima at phi = {[round(v, 4) for v in panel['phi_of_local_maxima']]}, "
                      f"max |G_sc| = {panel['max_abs_Gsc']:.4g} e^2/h ({panel['solver_path']})")
            print(f"wrote {args.out}/scan.npz, scan.json, polar.png in {meta['seconds']:.1f} s")
            return 0
        if args.command == "sensitivity":
            wrt = [name.strip() for name in args.wrt.split(",") if name.strip()]
            meta = run_sensitivity(params, args.out, wrt, args.nphi, args.path, args.memory_gib,
                                   argv=sys.argv if argv is None else argv)
            for key, value in meta["max_abs_derivative"].items():
                print(f"max over phi |{key}| = {value:.4g}")
            print(f"wrote {args.out}/sensitivity.npz, sensitivity.json, sensitivity.png in {meta['seconds']:.1f} s")
            return 0
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
