"""Every figure of a result, drawn from its labelled data alone (``io.results``): the one function per
result kind that the command calls when it writes its folder and ``jaxsge plot`` calls to redraw it,
without any solve."""

from __future__ import annotations

import itertools
import pathlib

import numpy as np

from ..io.results import contours_of, meta_of, stack_of
from ..observables.scan import spin_charge_pair
from .densities import site_maps, totals_panels
from .ensemble import plot_convergence, plot_curves, plot_fig3
from .junction import draw_stack
from .style import value_colors
from .transport import (ENERGY_CURVES, conductance_maps, energy_panels, phi_energy_maps, polar_panels,
                        sensitivity_panels, sweep_panels)


def _figure(ds) -> dict:
    import json

    return json.loads(ds.attrs.get("figure", "{}"))


def _arrays(ds, names) -> dict:
    return {name: np.asarray(ds[name].values) for name in names if name in ds}


def draw_scan(ds, folder, fmt: str = "png") -> list:
    """polar.{fmt} (where g_sc is defined; the 2DEG's Fermi contours stored in the file), energy.{fmt} (an energy
    axis at one angle) or map.{fmt} (an energy axis over the phi grid), and junction.{fmt}."""
    folder, fig, written = pathlib.Path(folder), _figure(ds), []
    if fig.get("polar"):
        gx, gy = spin_charge_pair(_arrays(ds, ("Gsc_x", "Gsc_y")))
        n = ds.sizes["compare"]
        polar_panels(np.asarray(ds["phi"].values), [{label: np.hypot(gx[i], gy[i])} for i, label in
                                                    enumerate(fig["labels"])],
                     fig["titles"], absolute=fig["absolute"], contours=contours_of(ds, n), suptitle=fig["suptitle"],
                     path=folder / f"polar.{fmt}")
        written.append(f"polar.{fmt}")
    if fig.get("energy_lines"):  # one angle: the phi axis has length 1
        values = {key: value[:, :, 0] for key, value in _arrays(ds, [k for k, _, _ in ENERGY_CURVES]).items()}
        curves = {label: {key: value[i] for key, value in values.items()} for i, label in enumerate(fig["labels"])}
        energy_panels(np.asarray(ds["energy"].values), curves, fig["energy_label"], suptitle=fig["suptitle"],
                      path=folder / f"energy.{fmt}")
        written.append(f"energy.{fmt}")
    if fig.get("map"):
        gx, gy = spin_charge_pair(_arrays(ds, ("Gsc_x", "Gsc_y")))
        titles = [" ".join(part for part in (title, label) if part) for title, label in zip(fig["titles"],
                                                                                            fig["labels"])]
        phi_energy_maps(np.asarray(ds["phi"].values), np.asarray(ds["energy"].values), list(np.hypot(gx, gy)), titles,
                        fig["energy_label"], normalised=list(ds["g_sc"].values) if "g_sc" in ds else None,
                        suptitle=fig["suptitle"], path=folder / f"map.{fmt}")
        written.append(f"map.{fmt}")
    if fig.get("sweep"):
        written += _draw_sweep(ds, fig, folder, fmt)
    draw_stack(stack_of(ds), folder / f"junction.{fmt}", title=fig.get("junction_title"))
    return [*written, f"junction.{fmt}"]


def _draw_sweep(ds, fig, folder, fmt) -> list:
    """The figures of a scan along a swept parameter (the dimension ``fig["sweep"]``): sweep.{fmt} at one angle;
    on the phi grid map.{fmt} (signed conductances), anisotropy.{fmt} and polar.{fmt} (g_sc, one curve per value
    of ``fig["sweep_polar"]``, coloured by value)."""
    values, phi = np.asarray(ds[fig["sweep"]].values), np.asarray(ds["phi"].values)
    components = _arrays(ds, [k for k, _, _ in ENERGY_CURVES])
    panels = [{key: value[i] for key, value in components.items()} for i in range(ds.sizes["compare"])]
    titles = [" ".join(part for part in (title, label) if part) for title, label in zip(fig["titles"], fig["labels"])]
    written = []
    if fig.get("sweep_lines"):  # one angle: the phi axis has length 1
        energy_panels(values, {label: {key: value[:, 0] for key, value in panel.items()}
                               for label, panel in zip(fig["labels"], panels)},
                      fig["sweep_label"], suptitle=fig["suptitle"], path=folder / f"sweep.{fmt}")
        written.append(f"sweep.{fmt}")
    if fig.get("sweep_map"):
        conductance_maps(phi, values, panels, titles, fig["sweep_label"], suptitle=fig["suptitle"],
                         path=folder / f"map.{fmt}")
        written.append(f"map.{fmt}")
    if fig.get("sweep_anisotropy"):
        zero = np.zeros_like(next(iter(components.values())))
        curves = {label: {kind: np.hypot(panel.get(f"G{kind}_x", zero[0]), panel.get(f"G{kind}_y", zero[0]))
                          for kind in ("sc", "cs")} for label, panel in zip(fig["labels"], panels)}
        sweep_panels(values, curves, fig["sweep_label"], suptitle=fig["suptitle"], path=folder / f"anisotropy.{fmt}")
        written.append(f"anisotropy.{fmt}")
    if fig.get("sweep_polar"):
        shown, labels = fig["sweep_polar"], fig["sweep_polar_labels"]
        gx, gy = spin_charge_pair(_arrays(ds, ("Gsc_x", "Gsc_y")))
        amplitude = np.hypot(gx, gy)
        polar_panels(phi, [{label: amplitude[i, k] for k, label in zip(shown, labels)} for i in range(len(panels))],
                     titles, absolute=fig["absolute"], colors=dict(zip(labels, value_colors(values, shown))),
                     suptitle=fig["sweep_polar_title"], path=folder / f"polar.{fmt}")
        written.append(f"polar.{fmt}")
    return written


def draw_sensitivity(ds, folder, fmt: str = "png") -> list:
    """sensitivity.{fmt}: G_sc and its derivatives against phi (the mean over realizations), if the result has one."""
    fig = _figure(ds)
    if not fig.get("sensitivity"):
        return []
    wrt = [str(w) for w in ds["parameter"].values]
    mean = (lambda a: a.mean(axis=0)) if "realization" in ds.dims else (lambda a: a)
    values = {q: mean(np.asarray(ds[q].values)) for q in ("Gsc_x", "Gsc_y") if q in ds}
    derivatives = {name[2:]: {w: mean(np.asarray(ds[name].values[i])) for i, w in enumerate(wrt)}
                   for name in ds.data_vars if name.startswith("d_") and name != "d_T"}
    sensitivity_panels(np.asarray(ds["phi"].values), values, derivatives, wrt, suptitle=fig["suptitle"],
                       path=pathlib.Path(folder) / f"sensitivity.{fmt}")
    return [f"sensitivity.{fmt}"]


def draw_stack_result(ds, folder, fmt: str = "png") -> list:
    """polar.{fmt} of a stack result scanned over phi (--nphi), where g_sc is defined."""
    fig = _figure(ds)
    if not fig.get("polar"):
        return []
    gx, gy = spin_charge_pair(_arrays(ds, ("Gsc_x", "Gsc_y")))
    polar_panels(np.asarray(ds["phi"].values), [{"": np.hypot(gx, gy)}], fig["titles"], suptitle=fig["suptitle"],
                 path=pathlib.Path(folder) / f"polar.{fmt}")
    return [f"polar.{fmt}"]


def draw_ensemble(ds, folder, fmt: str = "png") -> list:
    """fig3.{fmt}, curves.{fmt}, convergence.{fmt} (those the statistics allow: ``ensemble.report.figures``)."""
    import json

    folder, fig, meta = pathlib.Path(folder), _figure(ds), meta_of(ds)
    names = json.loads(ds.attrs["case_axes"])
    disorder = (names[-1], tuple(float(v) for v in ds[names[-1]].values))
    cases = [dict(zip(names[:-1], (float(v) for v in values)))
             for values in itertools.product(*(ds[n].values for n in names[:-1]))]
    stats = {name: np.asarray(ds[name].values) for name in ds.data_vars if not name.startswith("fermi_")}
    clean = {name[len("clean_"):]: value for name, value in stats.items() if name.startswith("clean_")}
    n, phi = meta["n_realizations"], np.asarray(ds["phi"].values)
    draw = {"fig3.png": lambda path: plot_fig3(phi, cases, disorder, stats, clean, n,
                                               contours=contours_of(ds, len(cases)), suptitle=fig["suptitle"],
                                               path=path),
            "curves.png": lambda path: plot_curves(phi, cases, disorder, stats, clean, n, path=path),
            "convergence.png": lambda path: plot_convergence(cases, disorder, stats, n, path=path)}
    written = []
    for name in meta["figures"]:
        target = f"{name[:-len('.png')]}.{fmt}"
        draw[name](folder / target)
        written.append(target)
    return written


def draw_densities(ds, folder, fmt: str = "png") -> list:
    """totals.{fmt} (layer totals against phi, one panel per operator) and map.{fmt} (site maps of one operator at
    one angle, one panel per layer) of the densities per unit bias of the current between the two leads of
    ``figure["current"]``: (values(a) - values(b)) / 2 / 2 pi (a at +V/2, b at -V/2; docs/densities.md); the mean
    over the realizations, with standard errors on the totals, where there are several."""
    folder, fig = pathlib.Path(folder), _figure(ds)
    a, b = fig["current"]

    def current(name):
        values = ds[name]
        return np.asarray(((values.sel(lead=a) - values.sel(lead=b)) / 2 / (2 * np.pi)).values)

    totals, density = current("total"), current("density")
    errors, band = None, None
    if "realization" in ds.dims:
        n = ds.sizes["realization"]
        if n > 1:
            errors, band = totals.std(axis=0, ddof=1) / np.sqrt(n), f"mean $\\pm$ standard error over {n} realizations"
        totals, density = totals.mean(axis=0), density.mean(axis=0)
    phi, operators = np.asarray(ds["phi"].values), [str(o) for o in ds["operator"].values]
    layers = fig["layer_labels"]
    totals_panels(phi, totals, operators, layers, errors=errors, band=band, current=f"{a} -> {b}",
                  suptitle=fig["totals_title"], path=folder / f"totals.{fmt}")
    o, i = operators.index(fig["map_operator"]), fig["map_phi_index"]
    site_maps([density[i, k, o] for k in range(len(layers))], layers, fig["map_operator"],
              suptitle=fig["map_title"], path=folder / f"map.{fmt}")
    return [f"totals.{fmt}", f"map.{fmt}"]


DRAW = {"scan": draw_scan, "sensitivity": draw_sensitivity, "stack": draw_stack_result, "ensemble": draw_ensemble,
        "densities": draw_densities}


def draw_result(ds, folder, fmt: str = "png") -> list:
    """Every figure of the result ``ds`` (any kind) into ``folder``; the names written."""
    return DRAW[ds.attrs["kind"]](ds, folder, fmt)
