"""Figs. 2-6 of A. Hariri, M. Alawein, A. Manchon, arXiv:1907.07116 (Sec. III) for the quantum well,
autodiff check, report.

:func:`well_report` computes every figure of a config (:mod:`jaxsge.well.config`) and writes
``well.npz`` (arrays), ``well.json`` (every parameter, the summary numbers, numerics, timings,
units; strict JSON), ``well_fig2_states.png`` ... ``well_fig6_thickness.png`` and ``run.json``,
replacing a previous well result in that folder as a whole when asked (``overwrite``, ``io.files.result_folder``).
Every input, every grid the figures will solve on (:func:`figure_numerics`) and the output
folder are checked before the first state is computed, and nothing is written before all
of it is computed. Spin densities are those of Eq. (6) in units of tau e E / hbar
(:data:`UNITS_NOTE`).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from .. import __version__
from ..io.files import result_folder, write_json, write_npz
from ..plot import well as well_plot
from .config import validate_sections
from .model import (HBAR2_2ME, PARAM_FIELDS, UNITS, WellParams, WellStates, fermi_states, resolve_numerics,
                    spin_derivatives, spin_profile, validate)

UNITS_NOTE = ("spin densities in units of tau e E / hbar: profiles S_y(z) in nm^-2, integrals in nm^-1 "
              "(Eq. (6) of the paper with the angular integral done analytically; sigma_y is the Pauli matrix); "
              "energies eV, lengths nm, alpha eV nm^2, k and kappa 1/nm")
FIGURE_FILES = ("well_fig2_states.png", "well_fig3_alpha.png", "well_fig4_profiles.png", "well_fig5_profiles.png",
                "well_fig6_thickness.png")
#: The Rashba cases of the paper's Fig. 5: (name, sign of alpha_L, sign of alpha_R) times the coupling alpha.
CASES = (("(a) alpha_L = alpha_R", 1.0, 1.0), ("(b) alpha_R = 0", 1.0, 0.0), ("(c) alpha_L = -alpha_R", 1.0, -1.0))
#: The settings that shape each scan of :func:`figure_batches` (besides the [well] table), for messages.
SCAN_SETTINGS = {"fig2": "fig2.alpha_L, fig2.alpha_R", "fig3": "fig3.alpha_L_max, fig3.alpha_R, fig3.resolved_alpha_R",
                 "fig4": "fig4.alpha_L, fig4.alpha_R", "fig5": "fig5.d, fig5.alpha",
                 "fig6": "fig6.d_min, fig6.d_max, fig6.alpha", "fig6.fine": "fig6.d_min, fig6.maxima_below, fig6.alpha",
                 "derivatives": "fig2.alpha_L, fig2.alpha_R, fig5.d, fig5.alpha"}
#: Widths (nm) at which the Fig. 6 summary reports the number of states (those inside the scanned range).
STATE_COUNT_WIDTHS = (0.2, 0.52, 1.0, 2.2, 3.0, 5.0, 10.0)
#: Points per call of the solver: every call of the report has this many (padded), so that each set of static
#: numerics is compiled once (a compilation takes 5-30 s on a 2-core CPU, a chunk of 64 points well under that).
CHUNK = 64
#: The state-count thresholds are located to 2**-THRESHOLD_BITS of the scan step around them.
THRESHOLD_BITS = 40


def fig5_batch(p: WellParams, d, alpha) -> WellParams:
    """The three Rashba cases of Fig. 5 at width(s) d."""
    return p.replace(d=d, alpha_L=alpha * np.array([s for _, s, _ in CASES]),
                     alpha_R=alpha * np.array([s for _, _, s in CASES]))


def derivative_points(p: WellParams, sections) -> list:
    """(label, scalar parameters) of the autodiff check: the Fig. 2 point and the Fig. 5 (c) point at the largest d."""
    fig2, fig5 = sections["fig2"], sections["fig5"]
    return [("fig2", p.replace(alpha_L=float(fig2["alpha_L"][0]), alpha_R=fig2["alpha_R"])),
            ("fig5c", p.replace(d=float(fig5["d"][-1]), alpha_L=fig5["alpha"], alpha_R=-fig5["alpha"]))]


def figure_batches(p: WellParams, sections) -> dict:
    """The parameter batch of every scan of the report, by name (what :func:`figure_numerics` sizes).

    Fig. 3 appends the chirality-resolved alpha_R to the curves' alpha_R if it is not among them.
    """
    fig3, fig6 = sections["fig3"], sections["fig6"]
    alpha_R3, alpha6 = np.asarray(fig3["alpha_R"]), np.asarray(fig6["alpha"])
    if fig3["resolved_alpha_R"] not in alpha_R3:
        alpha_R3 = np.append(alpha_R3, fig3["resolved_alpha_R"])
    points = [q for _, q in derivative_points(p, sections)]
    return {
        "fig2": p.replace(alpha_L=np.asarray(sections["fig2"]["alpha_L"]), alpha_R=sections["fig2"]["alpha_R"]),
        "fig3": p.replace(alpha_L=np.linspace(0.0, fig3["alpha_L_max"], fig3["n_alpha"])[None, :],
                          alpha_R=alpha_R3[:, None]),
        "fig4": p.replace(alpha_L=np.asarray(sections["fig4"]["alpha_L"]), alpha_R=sections["fig4"]["alpha_R"]),
        "fig5": fig5_batch(p, np.asarray(sections["fig5"]["d"])[:, None], sections["fig5"]["alpha"]),
        "fig6": p.replace(d=np.linspace(fig6["d_min"], fig6["d_max"], fig6["n_d"])[None, :], alpha_L=alpha6[:, None],
                          alpha_R=-alpha6[:, None]),
        **{f"fig6.fine[{i}]": p.replace(d=np.linspace(fig6["d_min"], fig6["maxima_below"], fig6["n_fine"]),
                                        alpha_L=float(a), alpha_R=-float(a)) for i, a in enumerate(alpha6)},
        "derivatives": WellParams(**{n: np.array([float(getattr(q, n)) for q in points]) for n in PARAM_FIELDS}),
    }


def figure_numerics(batches: dict, n_k_factor: int) -> dict:
    """(WellNumerics, k_max_rigorous) per batch: the default grids with n_k times ``n_k_factor``.

    Validates every batch and sizes every grid before anything is computed, so that a width or
    coupling beyond what the solver handles is refused up front, named by its figure. Batches with
    the same root grid (n_k) share its static settings (the largest n_slots and n_quad among them;
    each keeps its own k_max, which is traced), so that they share one compiled program: more root
    slots only pad, more Gauss-Legendre nodes only refine integrals that are converged already
    (the results agree to rounding, tests/well).
    """
    out = {}
    for name, batch in batches.items():
        try:
            validate(batch)
            default, _ = resolve_numerics(batch)
            out[name] = resolve_numerics(batch, dataclasses.replace(default, n_k=default.n_k * n_k_factor))
        except ValueError as err:
            raise ValueError(f"the {name} scan (set by {SCAN_SETTINGS[name.split('[')[0]]}): {err}") from None
    shared = {}
    for num, _ in out.values():
        n_slots, n_quad = shared.get(num.n_k, (0, 0))
        shared[num.n_k] = (max(n_slots, num.n_slots), max(n_quad, num.n_quad))
    return {name: (dataclasses.replace(num, n_slots=shared[num.n_k][0], n_quad=shared[num.n_k][1]), rigorous)
            for name, (num, rigorous) in out.items()}


def states(p: WellParams, numerics, progress: bool = False, label: str = "well states"):
    """:func:`~jaxsge.well.model.fermi_states` in padded chunks of :data:`CHUNK` (one compilation per numerics)."""
    return fermi_states(p, numerics, chunk=CHUNK, pad=True, progress=progress, label=label)


def threshold(p: WellParams, name, lo, hi, numerics) -> float:
    """Where the number of states first changes from its value at ``lo`` between two values of one parameter.

    Multisection: each round solves :data:`CHUNK` equally spaced points of the bracket in one call and keeps
    the interval of the first change, until the bracket is 2**-THRESHOLD_BITS of the initial one (what 40
    bisection steps reach, in 7 calls instead of 41); the midpoint of the last bracket."""
    rounds = int(np.ceil(THRESHOLD_BITS / np.log2(CHUNK - 1)))
    for _ in range(rounds):
        x = np.linspace(lo, hi, CHUNK)
        n = states(p.replace(**{name: x}), numerics).n_states
        changed = np.flatnonzero(n != n[0])
        if changed.size == 0:  # no change left inside the bracket (at the resolution of the solver)
            break
        lo, hi = float(x[changed[0] - 1]), float(x[changed[0]])
    return (lo + hi) / 2


def local_maxima(x, y) -> list:
    inner = np.flatnonzero((y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:])) + 1
    return [(float(x[i]), float(y[i])) for i in inner]


def batch_row(st: WellStates, index) -> WellStates:
    """The states of one row of a 2D batch, as a 1D WellStates."""
    rows = {key: value[index] for key, value in vars(st).items() if isinstance(value, np.ndarray)}
    return dataclasses.replace(st, params=jax.tree.map(lambda a: np.asarray(a)[index], st.params), **rows)


def fig2(p, cfg, batches, num, progress):
    """The paper's Fig. 2: the states at E_F and their contributions to int_0^d S_y dz.

    Like every figN below: returns (arrays, summary entries, a function drawing the figure into a path).
    """
    st = states(batches["fig2"], num["fig2"], progress, "Fig. 2 states")
    c = HBAR2_2ME / float(p.mass)
    panels, summary = [], []
    for i, a in enumerate(cfg["alpha_L"]):
        v = st.valid[i]
        chi = st.chirality[i][v]
        panels.append({"title": rf"$\alpha_L = {a:g}$, $\alpha_R = {cfg['alpha_R']:g}$ eV nm$^2$", "d": float(p.d),
                       "V_L": float(p.V_L), "V_R": float(p.V_R), "E_F": float(p.E_F),
                       "level": float(p.E_F) - c * st.k[i][v] ** 2, "kappa": st.kappa[i][v],
                       "S_state": st.S_state_well[i][v], "chirality": chi, "S_total": float(st.S_well[i])})
        summary.append({"alpha_L": float(a), "alpha_R": cfg["alpha_R"], "n_states": int(st.n_states[i]),
                        "n_plus": int(np.sum(chi > 0)), "n_minus": int(np.sum(chi < 0)),
                        "S_well": float(st.S_well[i]), "S_total": float(st.S_total[i]),
                        "k": st.k[i][v].tolist(), "S_state_well": st.S_state_well[i][v].tolist(),
                        "chirality": chi.tolist(), "sigma_z": st.sigma_z[i][v].tolist(),
                        "k_max_rigorous": st.k_max_rigorous})
    arrays = {"fig2_alpha_L": np.asarray(cfg["alpha_L"]), "fig2_k": st.k, "fig2_valid": st.valid,
              "fig2_S_state_well": st.S_state_well, "fig2_chirality": st.chirality, "fig2_kappa": st.kappa,
              "fig2_dE_dk": st.dE_dk, "fig2_sigma_z": st.sigma_z}
    return arrays, {"fig2": summary}, lambda path: well_plot.states_panels(panels, path)


def fig3(p, cfg, batches, num, progress):
    """The paper's Fig. 3: int_0^d S_y dz versus alpha_L per alpha_R, its chirality parts, the refined state changes,
    and where S_y at the left interface peaks along the resolved curve (the paper's Fig. 4 discussion)."""
    alpha_L, all_R = batches["fig3"].alpha_L[0], batches["fig3"].alpha_R[:, 0]
    resolved = cfg["resolved_alpha_R"]
    st = states(batches["fig3"], num["fig3"], progress, "Fig. 3 alpha_L scan")
    r = int(np.flatnonzero(all_R == resolved)[0])
    plus, minus = (np.where(sign * st.S_state_well[r] > 0, st.S_state_well[r], 0).sum(-1) for sign in (1, -1))
    at_interface = spin_profile(batch_row(st, r), np.array([0.0])).sum(-2)[:, 0]
    summary = []
    for i, (a_r, n) in enumerate(zip(all_R, st.n_states)):
        # Each change of the number of states, refined by bisection between the scan points around it.
        q = p.replace(alpha_R=float(a_r))
        changes = [{"alpha_L": threshold(q, "alpha_L", float(alpha_L[j]), float(alpha_L[j + 1]), num["fig3"]),
                    "n_before": int(n[j]), "n_after": int(n[j + 1])} for j in np.flatnonzero(np.diff(n))]
        summary.append({"alpha_R": float(a_r), "n_states_at_0": int(n[0]), "state_changes": changes,
                        "S_well_max": float(st.S_well[i].max()),
                        "alpha_L_of_max": float(alpha_L[np.argmax(st.S_well[i])])})
    interface = {"alpha_R": float(resolved), "alpha_L_of_max_S_y(0)": float(alpha_L[np.argmax(at_interface)])}
    arrays = {"fig3_alpha_L": alpha_L, "fig3_alpha_R": all_R, "fig3_S_well": st.S_well, "fig3_S_total": st.S_total,
              "fig3_n_states": st.n_states, "fig3_plus": plus, "fig3_minus": minus, "fig3_S_y_at_0": at_interface}
    curves = {rf"$\alpha_R = {a:g}$ eV nm$^2$": st.S_well[i] for i, a in enumerate(all_R) if a in cfg["alpha_R"]}
    resolved_curve = {"label": rf"$\alpha_R = {resolved:g}$ eV nm$^2$", "plus": plus, "minus": minus,
                      "total": st.S_well[r],
                      "n_states": st.n_states[r]}
    return (arrays, {"fig3": summary, "fig3_interface_maximum": interface},
            lambda path: well_plot.alpha_scan(alpha_L, curves, resolved_curve, path))


def fig4(p, cfg, batches, num, progress):
    """The paper's Fig. 4: profiles S_y(z) for several alpha_L at one alpha_R."""
    st = states(batches["fig4"], num["fig4"], progress, "Fig. 4 profiles")
    z = np.linspace(-cfg["margin"], float(p.d) + cfg["margin"], cfg["n_z"])
    prof = st.profile(z).sum(-2)
    summary = {"alpha_R": cfg["alpha_R"], "alpha_L": list(cfg["alpha_L"]), "n_states": st.n_states.tolist(),
               "S_y_at_0": spin_profile(st, np.array([0.0])).sum(-2)[:, 0].tolist(), "S_well": st.S_well.tolist()}
    arrays = {"fig4_z": z, "fig4_alpha_L": np.asarray(cfg["alpha_L"]), "fig4_profile": prof}
    curves = {rf"$\alpha_L = {a:g}$ eV nm$^2$": prof[i] for i, a in enumerate(cfg["alpha_L"])}
    title = rf"$S_y(z)$, $d = {float(p.d):g}$ nm, $\alpha_R = {cfg['alpha_R']:g}$ eV nm$^2$"
    return arrays, {"fig4": summary}, lambda path: well_plot.profiles(z, curves, float(p.d), title, path)


def fig5(p, cfg, batches, num, progress):
    """The paper's Fig. 5: profiles for each width and the three Rashba cases."""
    a = cfg["alpha"]
    grid, summary = [], []
    every = states(batches["fig5"], num["fig5"], progress, "Fig. 5 profiles")  # (widths, cases), in one call
    for i, d in enumerate(cfg["d"]):
        st = batch_row(every, i)
        z = np.linspace(-cfg["margin"], d + cfg["margin"], cfg["n_z"])
        prof = st.profile(z).sum(-2)
        grid.append([{"z": z, "S": prof[j], "d": d,
                      "title": (name.replace("alpha_L", r"$\alpha_L$").replace("alpha_R", r"$\alpha_R$")
                                + rf", $d = {d:g}$ nm: {int(st.n_states[j])} states, "
                                rf"$\int_0^d S_y\,dz = {st.S_well[j]:.3g}$")}
                     for j, (name, _, _) in enumerate(CASES)])
        summary.append({"d": d, "alpha": a, "cases": [
            {"case": name, "n_states": int(st.n_states[j]), "S_well": float(st.S_well[j]),
             "S_total": float(st.S_total[j])} for j, (name, _, _) in enumerate(CASES)]})
    arrays = {"fig5_d": np.asarray(cfg["d"]), "fig5_z": np.array([row[0]["z"] for row in grid]),
              "fig5_profiles": np.array([[cell["S"] for cell in row] for row in grid])}
    return arrays, {"fig5": summary}, lambda path: well_plot.profile_grid(grid, path)


def fig6(p, cfg, batches, num, progress):
    """The paper's Fig. 6: int_0^d S_y dz versus d for alpha_L = -alpha_R, its 1/d guide, onset and local maxima.

    The summary entries include ``undefined``: in words, which summary numbers do not exist for
    this config (stored as null).
    """
    d = batches["fig6"].d[0]
    st = states(batches["fig6"], num["fig6"], progress, "Fig. 6 thickness scan")
    far = d >= cfg["guide_from"]
    series, summary, undefined = [], [], {}
    for i, a in enumerate(cfg["alpha"]):
        S, n = st.S_well[i], st.n_states[i]
        where = f"fig6 alpha = {a:g}"
        guide = float(S[far].mean()) if np.any(far) else None
        spread = float(np.ptp(S[far]) / abs(guide)) if guide else None
        if guide is None:
            undefined[f"{where}: guide_constant"] = (f"no width d >= fig6.guide_from = {cfg['guide_from']:g} nm in "
                                                     f"[{cfg['d_min']:g}, {cfg['d_max']:g}] nm to fit the 1/d guide on")
        elif guide == 0:
            undefined[f"{where}: relative_spread_S_well_beyond_guide_from"] = (
                "int_0^d S_y dz averages to 0 beyond fig6.guide_from: no relative spread")
        first = int(np.argmax(n > 0))  # the first width with a state (0 also where there is none)
        onset = threshold(p.replace(alpha_L=float(a), alpha_R=-float(a)), "d", float(d[first - 1]), float(d[first]),
                          num["fig6"]) if first > 0 else None
        fine_d = batches[f"fig6.fine[{i}]"].d
        fine = states(batches[f"fig6.fine[{i}]"], num[f"fig6.fine[{i}]"], progress, f"Fig. 6 maxima, alpha = {a:g}")
        summary.append({"alpha_L": float(a), "alpha_R": -float(a), "guide_constant": guide, "d_first_state": onset,
                        "local_maxima_S_well": local_maxima(fine_d, fine.S_well),
                        "local_maxima_mean_density": local_maxima(fine_d, fine.S_well / fine_d),
                        "fine_step": float(fine_d[1] - fine_d[0]),
                        "n_states_at": {f"{x:g}": int(n[np.argmin(np.abs(d - x))])
                                        for x in STATE_COUNT_WIDTHS if d[0] <= x <= d[-1]},
                        "relative_spread_S_well_beyond_guide_from": spread})
        series.append({"label": rf"$\alpha_L = -\alpha_R = {a:g}$ eV nm$^2$", "S": S, "n_states": n, "guide": guide})
    arrays = {"fig6_d": d, "fig6_alpha": np.asarray(cfg["alpha"]), "fig6_S_well": st.S_well,
              "fig6_S_total": st.S_total, "fig6_n_states": st.n_states}
    return arrays, {"fig6": summary, "undefined": undefined}, lambda path: well_plot.thickness_scan(d, series, path)


def derivative_checks(p, sections, numerics) -> list:
    """dS_well/d alpha_L and dS_well/d d by autodiff through the roots against central differences,
    at the Fig. 2 point and the Fig. 5 (c) point."""
    steps = sections["derivatives"]
    out = []
    for label, q in derivative_points(p, sections):
        ad = spin_derivatives(q, ("alpha_L", "d"), numerics)
        entry = {"point": label, "params": q.as_dict(), "S_well": ad["value"]}
        for name, step in (("alpha_L", steps["step_alpha"]), ("d", steps["step_d"])):
            x = float(getattr(q, name))
            st = states(q.replace(**{name: np.array([x + step, x - step])}), numerics)
            fd = float((st.S_well[0] - st.S_well[1]) / (2 * step))
            entry[name] = {"autodiff": ad[name], "central_difference": fd, "step": step,
                           "relative_difference": abs(fd - ad[name]) / max(abs(ad[name]), 1e-300),
                           "same_state_count": bool(st.n_states[0] == st.n_states[1])}
        out.append(entry)
    return out


def well_report(p: WellParams, sections: dict, out_dir, progress: bool = False, command=None,
                overwrite: bool = False) -> dict:
    """Compute every figure of the config, then write well.npz, well.json and the pngs into ``out_dir``.

    Checks the parameters, the settings, every grid and the output folder first (ValueError
    naming what is wrong). ``command``: the command line, recorded in well.json; ``overwrite``: a previous
    well result in ``out_dir`` may be replaced (``io.files.Output``). Returns the JSON dict.
    """
    validate_sections(p, sections)
    batches = figure_batches(p, sections)
    numerics = figure_numerics(batches, sections["numerics"]["n_k_factor"])
    with result_folder(out_dir, "well", ("well.npz", "well.json", *FIGURE_FILES), overwrite=overwrite) as out:
        meta, write = _compute(p, sections, batches, numerics, progress, command)
        out.commit(write)
    return meta


def _compute(p: WellParams, sections: dict, batches: dict, numerics: dict, progress: bool, command):
    """well.json's content, and what writes every file into a folder."""
    num = {name: value[0] for name, value in numerics.items()}
    summary = {"numerics": {name: {**dataclasses.asdict(n), "k_max_rigorous": rigorous}
                            for name, (n, rigorous) in numerics.items()}}
    arrays, draws, timings = {}, [], {}
    for name, compute in (("fig2", fig2), ("fig3", fig3), ("fig4", fig4), ("fig5", fig5), ("fig6", fig6)):
        start = time.perf_counter()
        figure_arrays, entries, draw = compute(p, sections[name], batches, num, progress)
        arrays.update(figure_arrays)
        summary.update(entries)
        draws.append(draw)
        timings[name] = time.perf_counter() - start
    start = time.perf_counter()
    summary["derivatives"] = derivative_checks(p, sections, num["derivatives"])
    timings["derivatives"] = time.perf_counter() - start
    undefined = summary.pop("undefined")
    meta = {"jaxsge_version": __version__, "command": command, "params": p.as_dict(),
            "param_units": UNITS, "hbar2_over_2me_eV_nm2": HBAR2_2ME, "sections": sections,
            "units": UNITS_NOTE, "summary": summary, "seconds": timings,
            "files": {"well.npz": sorted(arrays), "figures": list(FIGURE_FILES)}}
    if undefined:
        meta["undefined"] = undefined

    def write(folder):
        for draw, name in zip(draws, FIGURE_FILES):
            draw(folder / name)
        write_npz(folder / "well.npz", **arrays)
        write_json(folder / "well.json", meta)

    return meta, write
