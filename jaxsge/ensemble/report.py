"""A finished ensemble's files: every unit assembled, the statistics, the summary and the figures.

``ensemble.npz`` (every unit and statistic), ``stats.json`` (every parameter, a summary per case,
what is undefined and why), ``ensemble.nc`` (the arrays labelled, with the provenance:
``io.results``; the figures are drawn from it), ``fig3.png`` (the disorder-averaged g_sc(phi) over the clean curve),
``curves.png`` (G_sc^x, G_sc^y with their standard errors) and ``convergence.png``, then
``run.json`` (their sizes and SHA-256) last; a new report first removes the previous one
(``io.files.Output``, kind "in_place").
"""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
from typing import Optional

import jax
import numpy as np

from .. import __version__
from ..io.files import result_folder, write_json, write_npz
from ..observables.harmonics import default_order, local_maxima
from ..observables.scan import spin_charge_pair
from . import store
from .run import RunReport, run_ensemble
from .spec import FORMAT, EnsembleSpec, all_units, identity, run_hash
from .stats import ensemble_statistics


REPORT_FILES = ("ensemble.npz", "stats.json", "ensemble.nc", "fig3.png", "curves.png", "convergence.png")


@dataclasses.dataclass(frozen=True)
class EnsembleData:
    """All units of a finished run, and its leads."""

    spec: EnsembleSpec
    disordered: dict
    clean: dict
    leads: tuple


def load_ensemble(source, spec: EnsembleSpec) -> EnsembleData:
    """Read every unit of the run from its folder or from an archive of it (``store.pack``, read
    directly); a ValueError if any is missing or damaged. T is included when every unit has it."""
    source = pathlib.Path(source)
    units = all_units(spec)
    leads = spec.case_system(units[0].case).stack().lead_names
    keys = store.RESULT_KEYS + store.conductance_keys(leads)
    folder = source / store.UNITS
    if source.is_file():
        read = store.read_archive(source, spec)
        missing = [u for u in units if u not in read]
    else:
        missing = [u for u in units if not (folder / u.filename(spec.names)).is_file()]
    if missing:
        raise ValueError(f"{len(missing)} of {len(units)} units are missing in {str(source)!r} "
                         f"(first: {missing[0].filename(spec.names)}); run again with --resume")
    if not source.is_file():
        read = {u: store.read_unit(source, spec, u, keys) for u in units}
    keys = [k for k in keys if all(k in read[u] for u in units)]
    clean = [read[u] for u in units if u.clean]
    ordered = [read[u] for u in sorted(u for u in units if not u.clean)]  # case by case, then realization
    shape = spec.shape + (spec.n_realizations,)
    disordered = {k: np.asarray([u[k] for u in ordered]).reshape(shape + ordered[0][k].shape) for k in keys}
    clean_arrays = {k: np.asarray([u[k] for u in clean]).reshape(spec.shape[:-1] + clean[0][k].shape) for k in keys}
    return EnsembleData(spec, disordered, clean_arrays, leads)


def _summary(data: EnsembleData, stats: dict, conductances) -> list:
    spec, out = data.spec, []
    for case in np.ndindex(*spec.shape):
        mean_x, mean_y = spin_charge_pair(stats, "mean_")
        defined = "g_sc" in stats  # not when <G_sc> vanishes at every angle of some case
        entry = {"case": spec.values(case), "n_realizations": spec.n_realizations,
                 "max_abs_mean_Gsc": float(np.hypot(mean_x[case], mean_y[case]).max()),
                 "phi_of_local_maxima_g_sc": local_maxima(spec.phi, stats["g_sc"][case]) if defined else None,
                 "harmonics": {k: stats[f"harmonics_{k}"][case].tolist() for k in conductances}}
        if spec.n_realizations >= 2:
            entry["max_stderr"] = {k: float(stats[f"stderr_{k}"][case].max()) for k in conductances}
            entry["harmonics_stderr"] = {k: stats[f"harmonics_stderr_{k}"][case].tolist() for k in conductances}
        if spec.n_realizations >= 2 and defined:
            entry["relative_stderr"] = float(stats["relative_stderr"][case][-1])
            entry["max_g_sc_stderr"] = float(stats["g_sc_stderr"][case].max())
            entry["g_sc_change_since_half_the_realizations"] = float(
                stats["convergence_g_sc"][case][(spec.n_realizations - 1) // 2])
        out.append(entry)
    return out


def figures(stats: dict) -> list:
    """The file names of the figures the statistics allow (no g_sc: only the curves)."""
    return [name for name in ("fig3.png", "curves.png", "convergence.png") if "g_sc" in stats or name == "curves.png"]


def write_outputs(out_dir, data: EnsembleData, stats: dict, report: Optional[RunReport] = None,
                  attrs: Optional[dict] = None) -> dict:
    """ensemble.npz (every unit and statistic), stats.json (summary), ensemble.nc (the same arrays labelled, with
    the provenance ``attrs`` of ``io.results.provenance``; the system's alone when None) and the figures
    (:func:`figures`, drawn from ensemble.nc's data by ``plot.results.draw_ensemble``)."""
    from ..io.results import ensemble_dataset, provenance, write_dataset
    from ..observables.fermi import junction_contours
    from ..plot.results import draw_ensemble
    from ..plot.style import value_text

    out_dir = pathlib.Path(out_dir)
    spec = data.spec
    conductances = store.conductance_keys(data.leads)
    arrays = dict(phi=spec.phi, **{f"case_{n}": np.asarray(values) for n, values in spec.cases}, **data.disordered,
                  **{f"clean_{k}": v for k, v in data.clean.items()}, **stats)
    write_npz(out_dir / "ensemble.npz", **arrays)
    undefined = {}
    if spec.n_realizations < 2:
        undefined["stderr"] = "undefined with one realization (the sample standard deviation needs two or more)"
    if "T" not in data.disordered:
        undefined["T"] = ("the transmissions are not stored: some units were unpacked from an archive, which holds the "
                          "conductances only (ensemble.store)")
    if "g_sc" not in stats:
        undefined["g_sc"] = ("the disorder-averaged G_sc vanishes (below 1e-12 e^2/h) at every angle in some case, for "
                             "instance under disorder strong enough to localize the junction: g_sc, its error, the "
                             "convergence measures, fig3.png and convergence.png are left out")
    if "clean_g_sc" not in stats:
        undefined["clean_g_sc"] = "the clean junction's G_sc vanishes at every angle in some case: nothing to normalise"
    meta = {"format": FORMAT, "hash": run_hash(spec), "identity": identity(spec), "n_realizations": spec.n_realizations,
            "jaxsge_version": __version__, "leads": list(data.leads), "case_axes": list(spec.names),
            "cases": _summary(data, stats, conductances), "undefined": undefined,
            "figures": figures(stats),
            "stderr": "s / sqrt(n) with s the sample standard deviation (ddof = 1); g_sc and harmonics: jackknife",
            "g_sc": "sqrt(<Gx>^2 + <Gy>^2) / max over phi, of the disorder-averaged conductances",
            "reflection": "T holds the top lead's spin-resolved self-reflection from unitarity (its sums are exact)",
            "units": "conductances in e^2/h; angles in radians; disorder strength in units of t",
            "arrays": {"ensemble.npz": "phi; case_<name>; T, n_open, G... (*cases, n_realizations, n_phi, ...); "
                                       "clean_* (*cases[:-1], n_phi, ...); mean_*, stderr_*, g_sc, g_sc_stderr "
                                       "(*cases, n_phi); harmonics_* (*cases, m); running_mean_Gsc (*cases, n, n_phi);"
                                       " convergence, convergence_g_sc (*cases, n); relative_stderr (*cases, n - 1)"}}
    if report is not None:
        meta["last_run"] = dataclasses.asdict(report)
    write_json(out_dir / "stats.json", meta)
    stack, theta = spec.system.stack(), float(np.asarray(spec.system.values["theta"]))
    figure = {"suptitle": (f"disorder-averaged $g_{{\\mathrm{{sc}}}}(\\varphi)$, {value_text('theta', theta)}, "
                           f"$L_x = {stack.Lx}$, $L_y = {stack.Ly}$")}
    contours = ([junction_contours(spec.case_system(case + (-1,))) for case in np.ndindex(*spec.shape[:-1])]
                if "g_sc" in stats else None)
    labelled = ensemble_dataset(arrays, meta, provenance(spec.system) if attrs is None else attrs, figure, spec.cases,
                                contours)
    write_dataset(out_dir / "ensemble.nc", labelled)
    draw_ensemble(labelled, out_dir)
    return meta


def run_and_report(spec: EnsembleSpec, out_dir, *, resume: bool = False, force: bool = False, memory_budget_gib=None,
                   progress: bool = True, time_limit=None, attrs: Optional[dict] = None,
                   overwrite: bool = False) -> Optional[dict]:
    """``run_ensemble``, then (process 0) assemble and write the statistics and figures; stats.json's content.
    Process 0 holds the folder's lock throughout; ``attrs``: the provenance of ensemble.nc. When a ``time_limit``
    left units undone: no report, and ``{"more_to_do": units left, "last_run": ...}``. ``overwrite``: as
    ``run_ensemble``."""
    out = result_folder(out_dir, "ensemble", REPORT_FILES, in_place=True, overwrite=overwrite)
    with out if jax.process_index() == 0 else contextlib.nullcontext():
        report = run_ensemble(spec, out, resume=resume, force=force, memory_budget_gib=memory_budget_gib,
                              progress=progress, time_limit=time_limit)
        if report.process_index != 0:
            return None
        folder = out.path / store.UNITS
        left = sum(not (folder / u.filename(spec.names)).is_file() for u in all_units(spec))
        if left:
            return {"more_to_do": left, "last_run": dataclasses.asdict(report)}
        meta = {}
        out.commit(lambda target: meta.update(write_report(out.path, spec, target, report, attrs)))
        return meta


def write_report(source, spec: EnsembleSpec, out_dir, report: Optional[RunReport] = None,
                 attrs: Optional[dict] = None) -> dict:
    """Statistics and figures of a finished run read from its folder or an archive (``store.pack``),
    written into ``out_dir``; stats.json's content."""
    data = load_ensemble(source, spec)
    conductances = store.conductance_keys(data.leads)
    stats = ensemble_statistics(data.disordered, data.clean, conductances, default_order(spec.n_phi))
    return write_outputs(out_dir, data, stats, report, attrs)
