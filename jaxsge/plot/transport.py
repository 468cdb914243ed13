"""Transport figures: polar plots of the normalised G_sc with the 2DEG Fermi contours, derivatives against phi.

Built with ``matplotlib.figure.Figure`` (no pyplot, no backend switch: importing jaxsge leaves the
user's matplotlib configuration alone) and saved atomically (``io.files.write_figure``).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ..io.files import write_figure
from ..observables.scan import spin_charge_pair


def fermi_contour_bands(t, mu, alpha3, dxc0, theta, phi, n_k=301, k_max=np.pi):
    """The two bands of the bulk 2DEG layer on a k grid, minus mu: (kx, ky, bands (2, n_k, n_k)).

    H(k) = (4t - 2t cos kx - 2t cos ky) + b(k).sigma with the cubic Rashba field of
    ``docs/model.md`` and the exchange -(Dxc(0)/2) n: bands eps0 -/+ |b(k)|.
    """
    k = np.linspace(-k_max, k_max, n_k)
    kx, ky = np.meshgrid(k, k, indexing="xy")
    eps0 = t * (4 - 2 * np.cos(kx) - 2 * np.cos(ky))
    bx = alpha3 * ((2 - 2 * np.cos(kx)) * np.sin(ky) - np.sin(ky) ** 3)
    by = -alpha3 * (np.sin(kx) ** 3 - (2 - 2 * np.cos(ky)) * np.sin(kx))
    n = np.array([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)])
    b = np.stack([bx, by, np.zeros_like(bx)]) - dxc0 / 2 * n[:, None, None]
    norm = np.sqrt((b ** 2).sum(0))
    return kx, ky, np.stack([eps0 - norm - mu, eps0 + norm - mu])


def polar_panels(phi, curves, titles, contours=None, suptitle=None, path=None, errors=None):
    """One polar panel per entry of ``curves`` (each a dict label -> g(phi), normalised), with the
    optional Fermi contours (one list of (label, kx, ky, bands) per panel) in a small square
    panel below each polar one, where they hide no data. ``errors``: optional dict per panel,
    label -> standard error, drawn as a band. Returns the figure; written to ``path`` if given.
    """
    n = len(curves)
    with_contours = contours is not None and any(contours)
    fig = Figure(figsize=(4.8 * n, 7.4 if with_contours else 5.4), layout="constrained")
    grid = fig.add_gridspec(2 if with_contours else 1, n, height_ratios=[3.2, 1.3] if with_contours else None)
    closed = np.append(phi, phi[:1] + 2 * np.pi)
    for i, (panel, title) in enumerate(zip(curves, titles)):
        ax = fig.add_subplot(grid[0, i], projection="polar")
        for label, values in panel.items():
            ring = np.append(values, values[:1])
            line, = ax.plot(closed, ring, lw=1.8, label=label)
            if errors is not None and errors[i].get(label) is not None:
                err = np.append(errors[i][label], errors[i][label][:1])
                ax.fill_between(closed, ring - err, ring + err, color=line.get_color(), alpha=0.25, lw=0)
        ax.set(ylim=(0, 1.08), rlabel_position=112)
        ax.set_title(title, fontsize=10)
        if len(panel) > 1:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), fontsize=8, frameon=False, ncol=2)
        if with_contours and contours[i]:
            inset = fig.add_subplot(grid[1, i])
            colors = ["C3", "C2", "C4", "C5"]
            for j, (label, kx, ky, bands) in enumerate(contours[i]):
                for band in bands:
                    inset.contour(kx, ky, band, levels=[0.0], colors=colors[j % len(colors)], linewidths=0.9)
                inset.plot([], [], color=colors[j % len(colors)], label=label)
            inset.set(aspect="equal", xticks=[], yticks=[])
            inset.set_title("Fermi contours of the 2DEG", fontsize=8)
            inset.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    if path is not None:
        write_figure(path, fig)
    return fig


def sensitivity_panels(phi, values, derivatives, wrt, suptitle=None, path=None):
    """G_sc^x (and G_sc^y) versus phi, then one row per parameter with their derivatives and that of |G_sc|.

    ``values``: dict with "Gsc_x" (and "Gsc_y"), (n_phi,); ``derivatives``: quantity -> name ->
    (n_phi,). Returns the figure; written to ``path`` if given.
    """
    rows = 1 + len(wrt)
    fig = Figure(figsize=(7.0, 2.4 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    gx, gy = spin_charge_pair(values)  # an axis without its lead pair is zero
    amplitude = np.hypot(gx, gy)
    for key, g in (("Gsc_x", gx), ("Gsc_y", gy)):
        if key in values:
            axes[0].plot(phi, g, label=key.replace("Gsc_", "G_sc^"))
    axes[0].plot(phi, amplitude, "k--", lw=1, label="|G_sc|")
    axes[0].set_ylabel("e^2/h")
    for ax, name in zip(axes[1:], wrt):
        dx, dy = spin_charge_pair({q: per[name] for q, per in derivatives.items()})
        for key, d in (("Gsc_x", dx), ("Gsc_y", dy)):
            if key in derivatives:
                ax.plot(phi, d, label=f"d{key.replace('Gsc_', 'G_sc^')}/d{name}")
        safe = np.where(amplitude > 0, amplitude, 1.0)
        ax.plot(phi, np.where(amplitude > 0, (gx * dx + gy * dy) / safe, 0.0), "k--", lw=1, label=f"d|G_sc|/d{name}")
        ax.axhline(0, color="0.7", lw=0.6)
        ax.set_ylabel(f"per unit {name}")
    for ax in axes:
        ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 0.98), ncol=3, frameon=False)
    axes[-1].set_xlabel("phi (rad)")
    axes[-1].set_xticks(np.pi * np.arange(5) / 2, ["0", "pi/2", "pi", "3pi/2", "2pi"])
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    if path is not None:
        write_figure(path, fig)
    return fig
