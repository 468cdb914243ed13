"""Ensemble figures: the disorder-averaged Fig. 3, the mean curves with their errors, convergence.

One panel (or row) per combination of the non-disorder case values; in each, every disorder
strength over the clean junction. Every function takes plain arrays: ``cases`` (per panel, a dict
of the non-disorder parameter values), ``disorder`` (the disorder parameter's name and values),
and the statistics of ``ensemble.stats.ensemble_statistics`` with shape ``(*cases, n_disorder, ...)``
(``clean``: the clean conductances, shape ``(*cases, n_phi)``). A disorder strength has one colour in
every figure of a run, the clean junction is black.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from .style import CLEAN_COLOR, E2H, case_colors, case_text, closed, finish, pi_ticks, symbol, value_text
from .transport import polar_panels


PLAIN = FuncFormatter(lambda v, _: f"{v:g}")


def disorder_labels(disorder) -> list:
    """The label of each disorder strength, e.g. ``$K_0 = 0.5\\,t$`` (the key of its colour)."""
    name, values = disorder
    return [value_text(name, v) for v in values]


def _rows(stats_array, n_panels: int, n_disorder: int):
    return np.asarray(stats_array).reshape(n_panels, n_disorder, *np.shape(stats_array)[-1:])


def plot_fig3(phi, cases, disorder, stats, clean, n_realizations, contours=None, suptitle=None, path=None):
    """Fig. 3 (b), (c): disorder-averaged g_sc(phi) with its jackknife standard error, over the clean curve.

    Radius: ``|<G_sc>| / max_phi |<G_sc>|`` per curve (its maximum in the legend). ``contours``: per
    panel, the 2DEG's Fermi contours (``observables.fermi.junction_contours``) or None.
    """
    labels = disorder_labels(disorder)
    n_panels, n_dis = len(cases), len(labels)
    mean = [_rows(stats[f"mean_Gsc_{a}"], n_panels, n_dis) if f"mean_Gsc_{a}" in stats else 0.0 for a in "xy"]
    amplitude = np.hypot(*mean) * np.ones((n_panels, n_dis, len(phi)))
    g_err = _rows(stats["g_sc_stderr"], n_panels, n_dis) if "g_sc_stderr" in stats else None
    clean_amp = np.hypot(*(np.asarray(clean.get(f"Gsc_{a}", 0.0)) for a in "xy")).reshape(n_panels, -1)
    curves, errors = [], []
    for i in range(n_panels):
        # The clean curve is drawn where it can be normalised (stats hold clean_g_sc then).
        curves.append(({"clean": clean_amp[i]} if "clean_g_sc" in stats else {})
                      | {label: amplitude[i, j] for j, label in enumerate(labels)})
        # g_sc's jackknife error in units of the curve (polar_panels divides by the same maximum).
        errors.append({label: None if g_err is None else g_err[i, j] * amplitude[i, j].max()
                       for j, label in enumerate(labels)})
    band = (f"error bars: ± standard error of $g_{{\\mathrm{{sc}}}}$ (jackknife), {n_realizations} realizations"
            if g_err is not None else None)
    return polar_panels(phi, curves, [case_text(c) or "ensemble" for c in cases], errors=errors, band=band,
                        contours=contours, colors={"clean": CLEAN_COLOR} | case_colors(labels),
                        suptitle=suptitle, path=path)


def plot_curves(phi, cases, disorder, stats, clean, n_realizations, path=None):
    """G_sc^x and G_sc^y against phi: clean, and mean ± standard error for each disorder strength."""
    keys = [k for k in ("Gsc_x", "Gsc_y") if f"mean_{k}" in stats]
    labels = disorder_labels(disorder)
    colors = case_colors(labels)
    n_panels, n_dis = len(cases), len(labels)
    fig = Figure(figsize=(5 * len(keys) + 2.6, 3.2 * n_panels + 0.6), layout="constrained")
    axes = fig.subplots(n_panels, len(keys), squeeze=False, sharex=True)
    for row, case in enumerate(cases):
        for ax, key in zip(axes[row], keys):
            component = key[-1]
            angles, clean_curve = closed(phi, np.asarray(clean[key]).reshape(n_panels, -1)[row])
            ax.plot(angles, clean_curve, "--", color=CLEAN_COLOR, lw=1.2, label="clean")
            means = _rows(stats[f"mean_{key}"], n_panels, n_dis)[row]
            errs = _rows(stats[f"stderr_{key}"], n_panels, n_dis)[row] if f"stderr_{key}" in stats else None
            for j, label in enumerate(labels):
                _, mean = closed(phi, means[j])
                ax.plot(angles, mean, lw=1.5, color=colors[label], label=f"{label}: mean")
                if errs is not None:  # error bars, not bands: overlapping bands would mix the colours
                    ax.errorbar(phi, means[j], yerr=errs[j], fmt="none", ecolor=colors[label], elinewidth=1.0,
                                alpha=0.7, capsize=2)
            ax.set_title(rf"$G_{{\mathrm{{sc}}}}^{component}$" + (f", {case_text(case)}" if case else ""), fontsize=10)
            ax.set_ylabel(rf"$G_{{\mathrm{{sc}}}}^{component}$ ({E2H})")
            ax.axhline(0, color="0.8", lw=0.6)
        handles, names = axes[row, -1].get_legend_handles_labels()
        if errs is not None:
            handles.append(Line2D([], [], color="0.4", lw=0, marker="|", markersize=10))
            names.append(f"error bars: mean ± standard error\nover {n_realizations} realizations")
        axes[row, -1].legend(handles, names, fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    for ax in axes[-1]:
        ax.set_xlabel(f"${symbol('phi')}$")
        pi_ticks(ax)
        ax.set_xlim(0, 2 * np.pi)
    return finish(fig, path, dpi=120)


def plot_convergence(cases, disorder, stats, n_realizations, path=None):
    """Convergence with the number of realizations n: change of the running mean, standard error, g_sc.

    One colour per disorder strength (as in the other figures), one line style per panel's case.
    """
    labels = disorder_labels(disorder)
    colors = case_colors(labels)
    n_panels, n_dis = len(cases), len(labels)
    n = np.arange(1, n_realizations + 1)
    fig = Figure(figsize=(15, 4.4), layout="constrained")
    avg = r"\langle G_{\mathrm{sc}} \rangle"
    measures = (("convergence", n[:-1], rf"$\max_\varphi |{avg}_n - {avg}_N| \,/\, \max_\varphi |{avg}_N|$"),
                ("relative_stderr", n[1:], rf"standard error of ${avg}_n$ / $\max_\varphi |{avg}_N|$"),
                ("convergence_g_sc", n[:-1], r"$\max_\varphi |g_{\mathrm{sc}}(n) - g_{\mathrm{sc}}(N)|$"))
    styles = ("-", "--", ":", "-.")
    axes = fig.subplots(1, 3)
    for ax, (key, x, title) in zip(axes, measures):
        if n_realizations > 1:
            values = np.asarray(stats[key]).reshape(n_panels, n_dis, -1)
            for i, case in enumerate(cases):
                for j, label in enumerate(labels):
                    name = f"{label}, {case_text(case)}" if case else label
                    ax.loglog(x, values[i, j, : x.size], lw=1.3, color=colors[label], ls=styles[i % len(styles)],
                              label=name)
            if key == "relative_stderr" and n_realizations > 2:
                ax.loglog(x, max(values[..., 0].max(), 1e-300) * np.sqrt(2 / x), color="0.5", ls=":", lw=1,
                          label=r"$\propto 1/\sqrt{n}$")
        else:
            ax.text(0.5, 0.5, "one realization: no convergence to show", ha="center", va="center",
                    transform=ax.transAxes)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("realizations $n$")
        # Plain numbers (2, 3, 0.4), not 2 x 10^0; on the y axis, minor ticks labelled at 2, 3 and 5 only.
        ax.xaxis.set_major_formatter(PLAIN)
        ax.xaxis.set_minor_formatter(PLAIN)
        ax.yaxis.set_major_formatter(PLAIN)
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "235" else ""))
    if n_realizations > 1:
        handles, names = axes[1].get_legend_handles_labels()
        fig.legend(handles, names, fontsize=8, loc="outside lower center", ncol=min(len(names), 4), frameon=False)
    return finish(fig, path, dpi=120)
