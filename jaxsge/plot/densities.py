"""Figures of current-induced densities (``jaxsge densities``): layer totals against phi, one panel per
operator, and site maps of one operator at one angle.

Plain arrays in, as every figure function of :mod:`jaxsge.plot`: the densities per unit bias (units 1/t:
per unit eV of bias, per site or per layer) of a current between two leads, ``docs/densities.md``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .style import case_colors, closed, finish, pi_fraction, pi_ticks, symbol

#: mathtext of the named operators (a given matrix keeps its name in roman type).
OPERATOR_SYMBOLS = {"charge": "n", "sx": r"\sigma_x", "sy": r"\sigma_y", "sz": r"\sigma_z", "Lx": "L_x",
                    "Ly": "L_y", "Lz": "L_z", "LdotS": r"\mathbf{L}\cdot\mathbf{S}"}


def operator_symbol(name: str) -> str:
    """The mathtext symbol (without $) of an operator's name."""
    return OPERATOR_SYMBOLS.get(name, symbol(name))


def totals_panels(phi, totals, operators, layers, *, errors=None, band=None, current="", suptitle=None, path=None):
    """One panel per operator: the layer total of delta<O> per unit bias against phi, one line per layer.

    ``totals``: (n_phi, layers, operators) in units 1/t (per unit eV of bias); ``layers``: their labels;
    ``errors``: the same shape
    (standard errors, drawn as error bars that ``band`` names) or None; ``current``: what drives it (for
    the y label, e.g. "L -> R"). At one angle: one panel of bars, grouped by operator, one bar per layer.
    Returns the figure; written to ``path`` if given."""
    phi = np.asarray(phi, dtype=float)
    if phi.size == 1:
        return _totals_bars(phi[0], totals[0], operators, layers, None if errors is None else errors[0], band,
                            current, suptitle, path)
    n = len(operators)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig = Figure(figsize=(3.3 * cols, 2.8 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, squeeze=False)).ravel()
    colors = case_colors(layers)
    for o, (ax, name) in enumerate(zip(axes, operators)):
        for i, label in enumerate(layers):
            angles, y, err = closed(phi, totals[:, i, o], np.zeros(phi.size) if errors is None else errors[:, i, o])
            if errors is None:
                ax.plot(angles, y, "o-" if phi.size < 40 else "-", ms=3, color=colors[label], label=label)
            else:
                ax.errorbar(angles, y, yerr=err, fmt="o-", ms=3, capsize=2, color=colors[label], label=label)
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.set_title(f"${operator_symbol(name)}$")
        ax.set_ylabel(rf"$\delta\langle {operator_symbol(name)}\rangle / eV$ ($1/t$)")
        if phi.size > 1:
            pi_ticks(ax, "x", lo=float(angles.min()), hi=float(angles.max()),
                     step=np.pi / 2 if np.ptp(phi) > np.pi / 2 else np.pi / 8)
        if o >= n - cols:  # the lowest panel of each column (the x axis is shared)
            ax.set_xlabel(r"$\varphi$")
    for ax in axes[n:]:
        ax.set_visible(False)
    if len(layers) > 1 or band:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=len(layers), frameon=False,
                   title=band or None)
    fig.suptitle(suptitle or f"layer totals per unit bias, current {current}")
    return finish(fig, path)


def _totals_bars(phi, totals, operators, layers, errors, band, current, suptitle, path):
    """The layer totals (layers, operators) at one angle as bars grouped by operator, one colour per layer."""
    fig = Figure(figsize=(max(1.1 * len(operators) * max(len(layers), 2) / 2 + 2.0, 5.0), 3.6), layout="constrained")
    ax = fig.subplots()
    colors = case_colors(layers)
    width = 0.8 / len(layers)
    x = np.arange(len(operators))
    for i, label in enumerate(layers):
        ax.bar(x + (i - (len(layers) - 1) / 2) * width, totals[i], width, color=colors[label], label=label,
               yerr=None if errors is None else errors[i], capsize=2)
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.set_xticks(x, [f"${operator_symbol(name)}$" for name in operators])
    ax.set_ylabel(r"$\delta\langle O\rangle / eV$ ($1/t$)")
    ax.set_title(rf"$\varphi = {pi_fraction(phi)}$")
    ax.legend(frameon=False, title=band or None, fontsize="small")
    fig.suptitle(suptitle or f"layer totals per unit bias, current {current}")
    return finish(fig, path)


def site_maps(maps, titles, operator: str, *, suptitle=None, path=None):
    """One panel per layer: ``maps[i]`` (Lx, Ly), delta<O>(x, y) per unit bias (1/t per site), x across and
    y up, each with its own colour scale symmetric about zero and its colorbar (layers differ by orders of
    magnitude)."""
    maps = [np.asarray(m, dtype=float) for m in maps]
    fig = Figure(figsize=(max(4.2 * len(maps), 6.0), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(maps), squeeze=False)).ravel()
    label = rf"$\delta\langle {operator_symbol(operator)}\rangle / eV$ ($1/t$ per site)"
    for ax, m, title in zip(axes, maps, titles):
        limit = float(np.abs(m).max()) or 1.0
        image = ax.imshow(m.T, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest",
                          extent=(-0.5, m.shape[0] - 0.5, -0.5, m.shape[1] - 0.5))
        ax.set_title(title)
        ax.set_xlabel("$x$ ($a$)")
        ax.set_ylabel("$y$ ($a$)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        fig.colorbar(image, ax=ax, label=label, shrink=0.9)
    fig.suptitle(suptitle or "")
    return finish(fig, path)
