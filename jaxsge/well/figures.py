"""``jaxsge well CONFIG.toml --out DIR [--set name=value ...]``: the seed's Figs. 2-6 for the quantum well.

The config (see ``configs/well_paper.toml``) has a ``[well]`` table with the fields of
:class:`jaxsge.quantum_well.WellParams` and one table per figure; missing entries take the
values of :data:`DEFAULT_SECTIONS`. ``--set d=3`` changes a well parameter, ``--set
fig3.n_alpha=51`` or ``--set fig4.alpha_L=0.02,0.06`` a figure setting. Writes ``well.npz``
(arrays), ``well.json`` (every parameter, the summary numbers, timings, units) and
``well_fig2_states.png`` ... ``well_fig6_thickness.png``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pathlib
import sys
import time

import numpy as np

from .. import __version__
from ..io.config import parse_number, read_toml
from .model import (HBAR2_2ME, PARAM_FIELDS, UNITS, WellNumerics, WellParams, fermi_states,
                           resolve_numerics, spin_derivatives, spin_profile)

DEFAULT_SECTIONS = {
    "fig2": {"alpha_L": [0.046, 0.05], "alpha_R": 0.0},
    "fig3": {"alpha_L_max": 0.15, "n_alpha": 151, "alpha_R": [-0.025, 0.0, 0.025], "resolved_alpha_R": -0.025},
    "fig4": {"alpha_R": -0.025, "alpha_L": [0.02, 0.04, 0.062, 0.08, 0.1], "n_z": 601, "margin": 0.5},
    "fig5": {"d": [0.52, 1.0, 3.0], "alpha": 0.01, "n_z": 601, "margin": 0.5},
    "fig6": {"d_min": 0.1, "d_max": 10.0, "n_d": 397, "alpha": [0.001, 0.01], "guide_from": 4.0,
             "maxima_below": 2.0, "n_fine": 381},
    "derivatives": {"step_alpha": 1e-6, "step_d": 1e-6},
    "numerics": {"n_k_factor": 1},
}
INTEGER_KEYS = {"n_alpha", "n_z", "n_d", "n_k_factor", "n_fine"}
UNITS_NOTE = ("spin densities in units of tau e E / hbar: profiles S_y(z) in nm^-2, integrals in nm^-1 "
              "(Eq. (6) of the seed with the angular integral done analytically; sigma_y is the Pauli matrix); "
              "energies eV, lengths nm, alpha eV nm^2, k and kappa 1/nm")


def _number(name, value):
    if isinstance(value, str):
        return parse_number(value, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} = {value!r} must be a number")
    return float(value)


def _coerce(section, key, value, reference):
    name = f"{section}.{key}"
    if isinstance(reference, list):
        items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else [value]
        return [_number(name, v) for v in items]
    number = _number(name, value)
    if key in INTEGER_KEYS:
        if not float(number).is_integer() or number < 1:
            raise ValueError(f"{name} = {value!r} must be a positive integer")
        return int(number)
    return number


def load_well_config(path=None, overrides=()) -> tuple[WellParams, dict]:
    """WellParams and the figure settings from a TOML file with ``name=value`` overrides."""
    raw = {} if path is None else read_toml(path)
    unknown = set(raw) - {"well"} - set(DEFAULT_SECTIONS)
    if unknown:
        raise ValueError(f"unknown config table(s) {sorted(unknown)}; allowed: well, {', '.join(DEFAULT_SECTIONS)}")
    well = dict(WellParams().as_dict())
    sections = copy.deepcopy(DEFAULT_SECTIONS)

    def assign(name, value):
        if "." in name:
            section, key = name.split(".", 1)
            if section not in sections or key not in sections[section]:
                allowed = [f"{s}.{k}" for s in sections for k in sections[s]]
                raise ValueError(f"unknown setting {name!r}; allowed: {', '.join(allowed)}")
            sections[section][key] = _coerce(section, key, value, DEFAULT_SECTIONS[section][key])
        elif name in PARAM_FIELDS:
            well[name] = _number(name, value)
        else:
            raise ValueError(f"unknown parameter {name!r}; allowed: {', '.join(PARAM_FIELDS)} or TABLE.KEY")

    for name, value in raw.get("well", {}).items():
        assign(name, value)
    for section in DEFAULT_SECTIONS:
        for key, value in raw.get(section, {}).items():
            assign(f"{section}.{key}", value)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected name=value")
        name, value = item.split("=", 1)
        assign(name.strip(), value.strip())
    return WellParams(**well), sections


def _numerics(p, sections) -> WellNumerics:
    num, _ = resolve_numerics(p)
    return WellNumerics(num.k_max, num.n_k * sections["numerics"]["n_k_factor"], num.n_slots, num.n_quad)


def _threshold(p, name, lo, hi, numerics, steps=40):
    """Bisection on the number of states between two values of one parameter."""
    n_lo = int(fermi_states(p.replace(**{name: lo}), numerics).n_states)
    for _ in range(steps):
        mid = (lo + hi) / 2
        if int(fermi_states(p.replace(**{name: mid}), numerics).n_states) == n_lo:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _steps(x, n):
    """(x_before, x_after, n_before, n_after) wherever the number of states changes."""
    return [(float(x[i]), float(x[i + 1]), int(n[i]), int(n[i + 1])) for i in np.flatnonzero(np.diff(n))]


def _local_maxima(x, y):
    inner = np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:])) + 1
    return [(float(x[i]), float(y[i])) for i in inner]


def _fig2(p, cfg, arrays, summary, progress, sections):
    alpha_L = np.asarray(cfg["alpha_L"])
    batch = p.replace(alpha_L=alpha_L, alpha_R=cfg["alpha_R"])
    st = fermi_states(batch, _numerics(batch, sections), progress=progress)
    c = HBAR2_2ME / float(p.mass)
    panels = []
    for i, a in enumerate(alpha_L):
        v = st.valid[i]
        chi = st.chirality[i][v]
        panels.append({"title": f"alpha_L = {a:g}, alpha_R = {cfg['alpha_R']:g} eV nm^2", "d": float(p.d),
                       "V_L": float(p.V_L), "V_R": float(p.V_R), "E_F": float(p.E_F),
                       "level": float(p.E_F) - c * st.k[i][v] ** 2, "kappa": st.kappa[i][v],
                       "S_state": st.S_state_well[i][v], "chirality": chi, "S_total": float(st.S_well[i])})
        summary["fig2"].append({"alpha_L": float(a), "alpha_R": cfg["alpha_R"], "n_states": int(st.n_states[i]),
                                "n_plus": int(np.sum(chi > 0)), "n_minus": int(np.sum(chi < 0)),
                                "S_well": float(st.S_well[i]), "S_total": float(st.S_total[i]),
                                "k": st.k[i][v].tolist(), "S_state_well": st.S_state_well[i][v].tolist(),
                                "chirality": chi.tolist(), "sigma_z": st.sigma_z[i][v].tolist(),
                                "k_max_rigorous": st.k_max_rigorous})
    arrays.update(fig2_alpha_L=alpha_L, fig2_k=st.k, fig2_valid=st.valid, fig2_S_state_well=st.S_state_well,
                  fig2_chirality=st.chirality, fig2_kappa=st.kappa, fig2_dE_dk=st.dE_dk, fig2_sigma_z=st.sigma_z)
    return panels


def _fig3(p, cfg, arrays, summary, progress, sections):
    alpha_L = np.linspace(0.0, cfg["alpha_L_max"], cfg["n_alpha"])
    alpha_R = np.asarray(cfg["alpha_R"])
    resolved = cfg["resolved_alpha_R"]
    all_R = np.append(alpha_R, resolved) if resolved not in alpha_R else alpha_R
    grid = p.replace(alpha_L=alpha_L[None, :], alpha_R=all_R[:, None])
    num = _numerics(grid, sections)
    st = fermi_states(grid, num, progress=progress)
    r = int(np.flatnonzero(all_R == resolved)[0])
    plus = np.where(st.S_state_well[r] > 0, st.S_state_well[r], 0).sum(-1)
    minus = np.where(st.S_state_well[r] < 0, st.S_state_well[r], 0).sum(-1)
    # Value of S_y at the left interface along the resolved curve (the seed's Fig. 4 discussion).
    at_interface = spin_profile(_row(st, r), np.array([0.0])).sum(-2)[:, 0]
    for i, a_r in enumerate(all_R):
        steps = _steps(alpha_L, st.n_states[i])
        refined = [_threshold(p.replace(alpha_R=float(a_r)), "alpha_L", lo, hi, num) for lo, hi, _, _ in steps]
        summary["fig3"].append({"alpha_R": float(a_r), "n_states_at_0": int(st.n_states[i, 0]),
                                "state_changes": [{"alpha_L": t, "n_before": s[2], "n_after": s[3]}
                                                  for t, s in zip(refined, steps)],
                                "S_well_max": float(st.S_well[i].max()),
                                "alpha_L_of_max": float(alpha_L[np.argmax(st.S_well[i])])})
    summary["fig3_interface_maximum"] = {"alpha_R": float(resolved),
                                         "alpha_L_of_max_S_y(0)": float(alpha_L[np.argmax(at_interface)])}
    summary["numerics"]["fig3"] = {**num.__dict__, "k_max_rigorous": st.k_max_rigorous}
    arrays.update(fig3_alpha_L=alpha_L, fig3_alpha_R=all_R, fig3_S_well=st.S_well, fig3_S_total=st.S_total,
                  fig3_n_states=st.n_states, fig3_plus=plus, fig3_minus=minus, fig3_S_y_at_0=at_interface)
    curves = {f"alpha_R = {a:g}": st.S_well[i] for i, a in enumerate(all_R) if a in alpha_R}
    return alpha_L, curves, {"label": f"alpha_R = {resolved:g}", "plus": plus, "minus": minus,
                             "total": st.S_well[r], "n_states": st.n_states[r]}


def _row(st, index):
    """The states of one row of a 2D batch, as a 1D WellStates."""
    fields = {f.name: getattr(st, f.name) for f in dataclasses.fields(st)}
    for key, value in fields.items():
        if isinstance(value, np.ndarray):
            fields[key] = value[index]
    fields["params"] = WellParams(**{n: np.asarray(getattr(st.params, n))[index] for n in PARAM_FIELDS})
    return type(st)(**fields)


def _fig4(p, cfg, arrays, summary, progress, sections):
    alpha_L = np.asarray(cfg["alpha_L"])
    batch = p.replace(alpha_L=alpha_L, alpha_R=cfg["alpha_R"])
    st = fermi_states(batch, _numerics(batch, sections), progress=progress)
    d = float(p.d)
    z = np.linspace(-cfg["margin"], d + cfg["margin"], cfg["n_z"])
    prof = st.profile(z).sum(-2)
    summary["fig4"] = {"alpha_R": cfg["alpha_R"], "alpha_L": alpha_L.tolist(), "n_states": st.n_states.tolist(),
                       "S_y_at_0": spin_profile(st, np.array([0.0])).sum(-2)[:, 0].tolist(),
                       "S_well": st.S_well.tolist()}
    arrays.update(fig4_z=z, fig4_alpha_L=alpha_L, fig4_profile=prof)
    return z, {f"alpha_L = {a:g}": prof[i] for i, a in enumerate(alpha_L)}


CASES = (("(a) alpha_L = alpha_R", 1.0, 1.0), ("(b) alpha_R = 0", 1.0, 0.0), ("(c) alpha_L = -alpha_R", 1.0, -1.0))


def _fig5(p, cfg, arrays, summary, progress, sections):
    ds, a = np.asarray(cfg["d"]), cfg["alpha"]
    signs_L, signs_R = np.array([s for _, s, _ in CASES]), np.array([s for _, _, s in CASES])
    num = _numerics(p.replace(d=ds[:, None], alpha_L=a * signs_L, alpha_R=a * signs_R), sections)
    grid, rows, zs = [], [], []
    for d in ds:
        st = fermi_states(p.replace(d=float(d), alpha_L=a * signs_L, alpha_R=a * signs_R), num, progress=progress)
        z = np.linspace(-cfg["margin"], d + cfg["margin"], cfg["n_z"])
        prof = st.profile(z).sum(-2)
        grid.append([{"z": z, "S": prof[j], "d": float(d),
                      "title": f"{name}, d = {d:g} nm: {int(st.n_states[j])} states, int_0^d = {st.S_well[j]:.3g}"}
                     for j, (name, _, _) in enumerate(CASES)])
        rows.append(prof)
        summary["fig5"].append({"d": float(d), "alpha": a, "cases": [
            {"case": name, "n_states": int(st.n_states[j]), "S_well": float(st.S_well[j]),
             "S_total": float(st.S_total[j])} for j, (name, _, _) in enumerate(CASES)]})
        zs.append(z)
    arrays.update(fig5_d=ds, fig5_z=np.array(zs), fig5_profiles=np.array(rows))
    return grid


def _fig6(p, cfg, arrays, summary, progress, sections):
    d = np.linspace(cfg["d_min"], cfg["d_max"], cfg["n_d"])
    alphas = np.asarray(cfg["alpha"])
    grid = p.replace(d=d[None, :], alpha_L=alphas[:, None], alpha_R=-alphas[:, None])
    num = _numerics(grid, sections)
    st = fermi_states(grid, num, progress=progress)
    series = []
    for i, a in enumerate(alphas):
        S, n = st.S_well[i], st.n_states[i]
        far = d >= cfg["guide_from"]
        guide = float(S[far].mean()) if np.any(far) else float("nan")
        first = np.flatnonzero(n > 0)
        onset = None
        if first.size and first[0] > 0:
            onset = _threshold(p.replace(alpha_L=float(a), alpha_R=-float(a)), "d", float(d[first[0] - 1]),
                               float(d[first[0]]), num)
        fine_d = np.linspace(cfg["d_min"], cfg["maxima_below"], cfg["n_fine"])
        fine_p = p.replace(d=fine_d, alpha_L=float(a), alpha_R=-float(a))
        fine = fermi_states(fine_p, _numerics(fine_p, sections), progress=progress)
        summary["fig6"].append({"alpha_L": float(a), "alpha_R": -float(a), "guide_constant": guide,
                                "d_first_state": onset,
                                "local_maxima_S_well": _local_maxima(fine_d, fine.S_well),
                                "local_maxima_mean_density": _local_maxima(fine_d, fine.S_well / fine_d),
                                "fine_step": float(fine_d[1] - fine_d[0]),
                                "n_states_at": {f"{x:g}": int(n[np.argmin(np.abs(d - x))])
                                                for x in (0.2, 0.52, 1.0, 2.2, 3.0, 5.0, 10.0) if d[0] <= x <= d[-1]},
                                "relative_spread_S_well_beyond_guide_from": float(np.ptp(S[far]) / abs(guide))
                                if np.any(far) and guide else None})
        series.append({"label": f"alpha_L = -alpha_R = {a:g}", "S": S, "n_states": n, "guide": guide})
    summary["numerics"]["fig6"] = {**num.__dict__, "k_max_rigorous": st.k_max_rigorous}
    arrays.update(fig6_d=d, fig6_alpha=alphas, fig6_S_well=st.S_well, fig6_S_total=st.S_total,
                  fig6_n_states=st.n_states)
    return d, series


def _derivative_checks(p, sections, summary):
    """AD derivatives against central differences at the Fig. 2 point and a Fig. 5 (c) point."""
    cfg = sections["derivatives"]
    points = [("fig2", p.replace(alpha_L=float(sections["fig2"]["alpha_L"][0]), alpha_R=sections["fig2"]["alpha_R"])),
              ("fig5c", p.replace(d=float(sections["fig5"]["d"][-1]), alpha_L=sections["fig5"]["alpha"],
                                  alpha_R=-sections["fig5"]["alpha"]))]
    both = WellParams(**{n: np.array([float(getattr(q, n)) for _, q in points]) for n in PARAM_FIELDS})
    num = _numerics(both, sections)
    for label, q in points:
        ad = spin_derivatives(q, ("alpha_L", "d"), num)
        entry = {"point": label, "params": q.as_dict(), "S_well": ad["value"]}
        for name, step in (("alpha_L", cfg["step_alpha"]), ("d", cfg["step_d"])):
            x = float(getattr(q, name))
            st = fermi_states(q.replace(**{name: np.array([x + step, x - step])}), num)
            fd = float((st.S_well[0] - st.S_well[1]) / (2 * step))
            entry[name] = {"autodiff": ad[name], "central_difference": fd, "step": step,
                           "relative_difference": abs(fd - ad[name]) / max(abs(ad[name]), 1e-300),
                           "same_state_count": bool(st.n_states[0] == st.n_states[1])}
        summary["derivatives"].append(entry)


def well_report(p: WellParams, sections: dict, out_dir, progress: bool = False, argv=None) -> dict:
    """Compute every figure of the config, write well.npz, well.json and the pngs; return the JSON dict."""
    from ..plot import well as well_plot

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fermi_states(p)  # validates the base parameters before any scan
    arrays, timings = {}, {}
    summary = {"fig2": [], "fig3": [], "fig5": [], "fig6": [], "derivatives": [], "numerics": {}}
    start = time.perf_counter()
    panels = _fig2(p, sections["fig2"], arrays, summary, progress, sections)
    well_plot.states_panels(panels, out / "well_fig2_states.png")
    timings["fig2"] = time.perf_counter() - start
    start = time.perf_counter()
    alpha_L, curves, resolved = _fig3(p, sections["fig3"], arrays, summary, progress, sections)
    well_plot.alpha_scan(alpha_L, curves, resolved, out / "well_fig3_alpha.png")
    timings["fig3"] = time.perf_counter() - start
    start = time.perf_counter()
    z, curves = _fig4(p, sections["fig4"], arrays, summary, progress, sections)
    title = f"S_y(z), d = {float(p.d):g} nm, alpha_R = {sections['fig4']['alpha_R']:g}"
    well_plot.profiles(z, curves, float(p.d), title, out / "well_fig4_profiles.png")
    timings["fig4"] = time.perf_counter() - start
    start = time.perf_counter()
    well_plot.profile_grid(_fig5(p, sections["fig5"], arrays, summary, progress, sections),
                           out / "well_fig5_profiles.png")
    timings["fig5"] = time.perf_counter() - start
    start = time.perf_counter()
    d, series = _fig6(p, sections["fig6"], arrays, summary, progress, sections)
    well_plot.thickness_scan(d, series, out / "well_fig6_thickness.png")
    timings["fig6"] = time.perf_counter() - start
    start = time.perf_counter()
    _derivative_checks(p, sections, summary)
    timings["derivatives"] = time.perf_counter() - start
    np.savez(out / "well.npz", **arrays)
    meta = {"jaxsge_version": __version__, "command": argv, "params": p.as_dict(),
            "param_units": UNITS, "hbar2_over_2me_eV_nm2": HBAR2_2ME, "sections": sections,
            "units": UNITS_NOTE, "summary": summary, "seconds": timings,
            "files": {"well.npz": sorted(arrays), "figures": sorted(f.name for f in out.glob("well_fig*.png"))}}
    with open(out / "well.json", "w") as fh:
        json.dump(meta, fh, indent=1, default=float)
    return meta


def add_parser(subparsers) -> None:
    """Register the ``well`` subcommand on an argparse subparsers object."""
    cmd = subparsers.add_parser("well", help="magnetic quantum well with interfacial Rashba coupling (seed Figs. 2-6)")
    cmd.add_argument("config", help="TOML file with a [well] table and figure tables (configs/well_paper.toml)")
    cmd.add_argument("--out", required=True, help="output folder (well.npz, well.json, well_fig*.png)")
    cmd.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="override a well parameter (d=3) or a figure setting (fig3.n_alpha=51); repeatable")
    cmd.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_well(args) -> int:
    """Handler of ``jaxsge well``: 0 on success, 2 (with a message on stderr) on bad input."""
    try:
        params, sections = load_well_config(args.config, args.set)
        start = time.perf_counter()
        meta = well_report(params, sections, args.out, progress=not args.no_progress, argv=sys.argv)
    except ValueError as err:
        print(f"jaxsge: error: {err}", file=sys.stderr)
        return 2
    for entry in meta["summary"]["fig2"]:
        print(f"alpha_L = {entry['alpha_L']:g}, alpha_R = {entry['alpha_R']:g}: {entry['n_states']} states "
              f"({entry['n_plus']} +, {entry['n_minus']} -), int_0^d S_y dz = {entry['S_well']:.5g}")
    for entry in meta["summary"]["fig3"]:
        changes = ", ".join(f"{c['n_before']}->{c['n_after']} at alpha_L = {c['alpha_L']:.5g}"
                            for c in entry["state_changes"]) or "none"
        print(f"alpha_R = {entry['alpha_R']:g}: {entry['n_states_at_0']} states at alpha_L = 0; changes: {changes}")
    for entry in meta["summary"]["fig6"]:
        print(f"alpha_L = -alpha_R = {entry['alpha_L']:g}: first state at d = {entry['d_first_state']}, "
              f"maxima of int S below {sections['fig6']['maxima_below']:g} nm at d = "
              f"{[round(x, 3) for x, _ in entry['local_maxima_S_well']]}")
    print(f"wrote {args.out}/well.npz, well.json, well_fig2..6 png in {time.perf_counter() - start:.1f} s "
          f"({UNITS_NOTE})")
    return 0
