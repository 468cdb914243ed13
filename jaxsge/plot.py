"""Figures: polar plots of the normalised spin-charge conductance with the 2DEG Fermi contours."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _finish(fig, suptitle, path, fontsize):
    """Title, layout, and the file if a path is given."""
    if suptitle:
        fig.suptitle(suptitle, fontsize=fontsize)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=130)
    return fig


def fermi_contour_bands(t, mu, alpha3, dxc0, theta, phi, n_k=301, k_max=np.pi):
    """The two bands of the bulk 2DEG layer on a k grid, minus mu: (kx, ky, bands (2, n_k, n_k)).

    H(k) = (4t - 2t cos kx - 2t cos ky) + b(k).sigma with the cubic Rashba field of
    ``shared/model.md`` and the exchange -(Dxc(0)/2) n: bands eps0 -/+ |b(k)|.
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


def polar_panels(phi, curves, titles, contours=None, suptitle=None, path=None):
    """One polar panel per entry of ``curves``: each a dict label -> g(phi) (normalised).

    ``contours``: optional list (one per panel) of lists of (label, kx, ky, bands) drawn as an
    inset of Fermi contours. Returns the figure; saved to ``path`` if given.
    """
    n = len(curves)
    fig = plt.figure(figsize=(5.2 * n, 5.4))
    closed = np.append(phi, phi[:1] + 2 * np.pi)
    for i, (panel, title) in enumerate(zip(curves, titles)):
        ax = fig.add_subplot(1, n, i + 1, projection="polar")
        for label, values in panel.items():
            ax.plot(closed, np.append(values, values[:1]), lw=1.8, label=label)
        ax.set_ylim(0, 1.05)
        ax.set_title(title, pad=14)
        ax.set_rlabel_position(112)
        if len(panel) > 1:
            ax.legend(loc="lower left", bbox_to_anchor=(-0.12, -0.14), fontsize=8, frameon=False)
        if contours is not None and contours[i]:
            inset = ax.inset_axes([0.76, 0.76, 0.32, 0.32])
            colors = ["C3", "C2", "C4", "C5"]
            for j, (label, kx, ky, bands) in enumerate(contours[i]):
                for band in bands:
                    inset.contour(kx, ky, band, levels=[0.0], colors=colors[j % len(colors)], linewidths=0.9)
                inset.plot([], [], color=colors[j % len(colors)], label=label)
            inset.set_aspect("equal")
            inset.set_xticks([])
            inset.set_yticks([])
            inset.set_title("Fermi contours (2DEG)", fontsize=7)
            inset.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.02), frameon=False)
    return _finish(fig, suptitle, path, fontsize=10)


def sensitivity_panels(phi, values, derivatives, wrt, suptitle=None, path=None):
    """G_sc^x, G_sc^y versus phi, then one row per parameter with their derivatives.

    ``values``: dict with "Gsc_x", "Gsc_y" (n_phi,); ``derivatives``: dict quantity -> name ->
    (n_phi,). Also shows d|G_sc|/d name, the derivative of the amplitude whose normalised form
    is the g_sc(phi) of Fig. 3. Returns the figure; saved to ``path`` if given.
    """
    rows = 1 + len(wrt)
    fig, axes = plt.subplots(rows, 1, figsize=(7.0, 2.4 * rows), sharex=True, squeeze=False)
    axes = axes[:, 0]
    amplitude = np.hypot(values["Gsc_x"], values["Gsc_y"])
    axes[0].plot(phi, values["Gsc_x"], label="G_sc^x")
    axes[0].plot(phi, values["Gsc_y"], label="G_sc^y")
    axes[0].plot(phi, amplitude, "k--", lw=1, label="|G_sc|")
    axes[0].set_ylabel("e^2/h")
    for ax, name in zip(axes[1:], wrt):
        dx, dy = derivatives["Gsc_x"][name], derivatives["Gsc_y"][name]
        ax.plot(phi, dx, label=f"dG_sc^x/d{name}")
        ax.plot(phi, dy, label=f"dG_sc^y/d{name}")
        ax.plot(phi, (values["Gsc_x"] * dx + values["Gsc_y"] * dy) / amplitude, "k--", lw=1,
                label=f"d|G_sc|/d{name}")
        ax.axhline(0, color="0.7", lw=0.6)
        ax.set_ylabel(f"per unit {name}")
    for ax in axes:
        ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 0.98), ncol=3, frameon=False)
    axes[-1].set_xlabel("phi (rad)")
    axes[-1].set_xticks(np.pi * np.arange(5) / 2, ["0", "pi/2", "pi", "3pi/2", "2pi"])
    return _finish(fig, suptitle, path, fontsize=9)
