"""Ensemble figures: the disorder-averaged Fig. 3, the mean curves with their errors, convergence.

One panel (or row) per combination of the non-disorder case values; in each, every disorder
strength over the clean junction.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..io.files import write_figure
from .transport import fermi_contour_bands, polar_panels


def _panels(spec):
    """(index of the non-disorder cases, title) per panel."""
    return [(case, ", ".join(f"{n} = {spec.values(case + (-1,))[n]:g}" for n in spec.names[:-1]) or "ensemble")
            for case in np.ndindex(*spec.shape[:-1])]


def junction_contours(system):
    """Fermi contours of the paper's 2DEG at phi = 0 and 3 pi/2 (None for other systems)."""
    if system.kind != "junction":
        return None
    from ..model.junction import exchange_profile

    p = system.base.replace(**system.values)
    dxc0 = float(np.asarray(exchange_profile(p))[0])
    return [(f"phi = {label}", *fermi_contour_bands(float(p.t), float(np.asarray(p.mu)), float(p.alpha3), dxc0,
                                                    float(np.asarray(p.theta)), angle, k_max=1.8))
            for label, angle in (("0", 0.0), ("3pi/2", 1.5 * np.pi))]


def plot_fig3(data, stats, path):
    """Fig. 3 (b), (c): disorder-averaged g_sc(phi) with its jackknife error, over the clean curve."""
    spec = data.spec
    panels = _panels(spec)
    labels = [f"{spec.disorder} = {value:g} (mean of {spec.n_realizations})" for value in spec.cases[-1][1]]
    curves = [({"clean": stats["clean_g_sc"][case]} if "clean_g_sc" in stats else {})
              | {label: stats["g_sc"][case + (j,)] for j, label in enumerate(labels)} for case, _ in panels]
    errors = [{label: stats["g_sc_stderr"][case + (j,)] if "g_sc_stderr" in stats else None
               for j, label in enumerate(labels)} for case, _ in panels]
    stack, theta = spec.system.stack(), float(np.asarray(spec.system.values["theta"]))
    return polar_panels(spec.phi, curves, [title for _, title in panels],
                        [junction_contours(spec.case_system(case + (-1,))) for case, _ in panels], errors=errors,
                        suptitle=f"disorder-averaged g_sc(phi), theta = {theta:.3g}, Lx = {stack.Lx}, Ly = {stack.Ly}",
                        path=path)


def plot_curves(data, stats, path):
    """G_sc^x and G_sc^y against phi: clean, and mean +- standard error for each disorder strength."""
    spec = data.spec
    keys = [k for k in ("Gsc_x", "Gsc_y") if f"mean_{k}" in stats]
    panels = _panels(spec)
    fig = Figure(figsize=(5 * len(keys), 3.4 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), len(keys), squeeze=False, sharex=True)
    for row, (case, title) in enumerate(panels):
        for ax, key in zip(axes[row], keys):
            ax.plot(spec.phi, data.clean[key][case], "k--", lw=1.2, label="clean")
            for j, value in enumerate(spec.cases[-1][1]):
                mean = stats[f"mean_{key}"][case + (j,)]
                ax.plot(spec.phi, mean, lw=1.5, label=f"{spec.disorder} = {value:g}")
                if f"stderr_{key}" in stats:
                    err = stats[f"stderr_{key}"][case + (j,)]
                    ax.fill_between(spec.phi, mean - err, mean + err, alpha=0.3)
            ax.set_title(f"{key.replace('Gsc_', 'G_sc^')}, {title}", fontsize=10)
            ax.set_ylabel("e^2/h")
            ax.legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("phi (rad)")
    write_figure(path, fig, dpi=120)
    return fig


def plot_convergence(data, stats, path):
    """Convergence with the number of realizations n: change of the running mean, standard error, g_sc."""
    spec = data.spec
    n = np.arange(1, spec.n_realizations + 1)
    fig = Figure(figsize=(15, 3.8), layout="constrained")
    measures = (("convergence", n[:-1], "max_phi |<G_sc>_n - <G_sc>_N| / max_phi |<G_sc>_N|"),
                ("relative_stderr", n[1:], "standard error of <G_sc>_n / max_phi |<G_sc>_N|"),
                ("convergence_g_sc", n[:-1], "max_phi |g_sc(<G>_n) - g_sc(<G>_N)|"))
    for ax, (key, x, title) in zip(fig.subplots(1, 3), measures):
        for case, panel in _panels(spec) if spec.n_realizations > 1 else ():
            for j, value in enumerate(spec.cases[-1][1]):
                ax.loglog(x, stats[key][case + (j,)][: x.size], lw=1.2, label=f"{panel}, {spec.disorder} = {value:g}")
        if key == "relative_stderr" and spec.n_realizations > 2:
            ax.loglog(x, max(stats[key][..., 0].max(), 1e-300) * np.sqrt(2 / x), "k:", lw=1, label="1/sqrt(n)")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("realizations n")
        if spec.n_realizations > 1:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "one realization: no convergence to show", ha="center", va="center",
                    transform=ax.transAxes)
    write_figure(path, fig, dpi=120)
    return fig
