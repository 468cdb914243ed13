"""Figures of the quantum well, analogues of Figs. 2-6 of the quantum-well paper (A. Hariri et al., arXiv:1907.07116).

Each function takes the arrays computed by :mod:`jaxsge.well.figures` (plain arrays and labels),
returns the figure and, given a path, writes it atomically. Figures are built with
``matplotlib.figure.Figure`` (no pyplot, no backend switch) in constrained layout, legends outside
the data. Spin densities are in units of tau e E / hbar (nm^-2 for profiles, nm^-1 for integrals).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .style import finish

PLUS, MINUS, NONE = "tab:blue", "tab:red", "0.6"
Z = "$z$ (nm)"
ALPHA_L = r"$\alpha_L$ (eV nm$^2$)"
S_INT = r"$\int_0^d S_y\,dz$"
S_INT_UNIT = r"($\tau e E / \hbar$ nm$^{-1}$)"
S_Z = r"$S_y(z)$ ($\tau e E / \hbar$ nm$^{-2}$)"
CHIRALITY = [Line2D([], [], color=PLUS, lw=2, label="+ chirality"), Line2D([], [], color=MINUS, lw=2,
                                                                              label="− chirality")]


def chirality_color(chi):
    return PLUS if chi > 0 else MINUS if chi < 0 else NONE


def states_panels(panels, path=None):
    """Fig. 2: per panel the levels E_F - c k_n^2 in the well (left) and each state's
    contribution to int_0^d S_y dz versus kappa_n (right), coloured by chirality.

    ``panels``: list of dicts with title, d, V_L, V_R, E_F, level (z-energies), kappa, S_state, chirality.
    """
    fig = Figure(figsize=(11, 3.8 * len(panels) + 0.4), layout="constrained")
    axes = fig.subplots(len(panels), 2, squeeze=False, gridspec_kw={"width_ratios": [1, 1.4]})
    for (left, right), panel in zip(axes, panels):
        d = panel["d"]
        z = np.array([-0.4 * d, 0, 0, d, d, 1.4 * d])
        left.plot(z, [panel["V_L"], panel["V_L"], 0, 0, panel["V_R"], panel["V_R"]], "k-", lw=1.2)
        left.axhline(panel["E_F"], color="k", ls=":", lw=1)
        for level, chi in zip(panel["level"], panel["chirality"]):
            left.plot([0, d], [level, level], color=chirality_color(chi), lw=1.5)
        left.set(xlabel=Z, ylabel=r"$E_F - \hbar^2 k_n^2 / 2m$ (eV)", title=panel["title"],
                 ylim=(min(0, np.min(panel["level"], initial=0)) - 0.3, max(panel["V_L"], panel["V_R"]) + 0.3))
        colors = [chirality_color(c) for c in panel["chirality"]]
        right.vlines(panel["kappa"], 0, panel["S_state"], colors=colors, lw=2)
        right.scatter(panel["kappa"], panel["S_state"], c=colors, s=18, zorder=3)
        right.axhline(0, color="k", lw=0.6)
        n_plus, n_minus = int(np.sum(panel["chirality"] > 0)), int(np.sum(panel["chirality"] < 0))
        right.set(xlabel=r"$\kappa_n = \sqrt{2 m E_F / \hbar^2 - k_n^2}$ (nm$^{-1}$; $< 0$: evanescent in the well)",
                  ylabel=f"{S_INT} per state\n{S_INT_UNIT}",
                  title=f"{len(panel['kappa'])} states: {n_plus} (+), {n_minus} (−); total {panel['S_total']:.4g}")
        right.legend(handles=CHIRALITY, fontsize=8, loc="best")
    return finish(fig, path)


def alpha_scan(alpha_L, curves, resolved, path=None):
    """Fig. 3: (a) int_0^d S_y dz versus alpha_L for each alpha_R, (b) its + and - chirality parts
    and the number of states for one alpha_R. ``curves``: {label: S}; ``resolved``: dict with
    label, plus, minus, total, n_states."""
    fig = Figure(figsize=(12, 4.4), layout="constrained")
    a, b = fig.subplots(1, 2)
    for label, values in curves.items():
        a.plot(alpha_L, values, label=label)
    a.axhline(0, color="k", lw=0.6)
    a.set(xlabel=ALPHA_L, ylabel=f"{S_INT} {S_INT_UNIT}", title="(a) total")
    a.legend(fontsize=8, loc="best")
    b.plot(alpha_L, resolved["plus"], color=PLUS, label="+ chirality")
    b.plot(alpha_L, resolved["minus"], color=MINUS, label="− chirality")
    b.plot(alpha_L, resolved["total"], "k--", lw=1, label="total")
    b.axhline(0, color="k", lw=0.6)
    b.set(xlabel=ALPHA_L, ylabel=f"{S_INT} {S_INT_UNIT}", title=f"(b) chirality-resolved, {resolved['label']}")
    twin = b.twinx()
    twin.step(alpha_L, resolved["n_states"], color="0.5", where="mid", lw=0.8)
    twin.set_ylabel("number of states", color="0.5")
    twin.yaxis.set_major_locator(MaxNLocator(integer=True))
    b.legend(handles=b.get_legend_handles_labels()[0] + [Line2D([], [], color="0.5", lw=0.8)],
             labels=b.get_legend_handles_labels()[1] + ["number of states (right)"], fontsize=8,
             loc="upper left", bbox_to_anchor=(1.12, 1.0), frameon=False)
    return finish(fig, path)


def profiles(z, curves, d, title, path=None):
    """Fig. 4: S_y(z) for several parameter values on one well. ``curves``: {label: S_y(z)}."""
    fig = Figure(figsize=(7.5, 4.4), layout="constrained")
    ax = fig.subplots()
    for label, values in curves.items():
        ax.plot(z, values, label=label)
    for edge in (0, d):
        ax.axvline(edge, color="k", ls=":", lw=0.8)
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel=Z, ylabel=S_Z, title=title)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return finish(fig, path)


def profile_grid(grid, path=None):
    """Fig. 5: rows = widths, columns = Rashba cases. ``grid``: list of rows, each a list of
    dicts with z, S, d, title."""
    rows, cols = len(grid), len(grid[0])
    fig = Figure(figsize=(4.2 * cols, 2.9 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for (r, c), ax in np.ndenumerate(axes):
        cell = grid[r][c]
        ax.plot(cell["z"], cell["S"], color="k")
        ax.fill_between(cell["z"], 0, cell["S"], where=cell["S"] > 0, color=PLUS, alpha=0.4)
        ax.fill_between(cell["z"], 0, cell["S"], where=cell["S"] < 0, color=MINUS, alpha=0.4)
        for edge in (0, cell["d"]):
            ax.axvline(edge, color="k", ls=":", lw=0.8)
        ax.set_title(cell["title"], fontsize=9)
        if r == rows - 1:
            ax.set_xlabel(Z)
        if c == 0:
            ax.set_ylabel(S_Z, fontsize=9)
    fig.legend(handles=[Line2D([], [], color=PLUS, lw=6, alpha=0.4, label="$S_y > 0$"),
                        Line2D([], [], color=MINUS, lw=6, alpha=0.4, label="$S_y < 0$"),
                        Line2D([], [], color="k", ls=":", lw=0.8, label="interfaces $z = 0, d$")],
               loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    return finish(fig, path)


def thickness_scan(d, series, path=None):
    """Fig. 6: mean spin density (1/d) int_0^d S_y dz versus d with its c/d guide (top) and the
    integral itself with the number of states (bottom). ``series``: list of dicts with label,
    S (integral), n_states, guide (the fitted constant c, or None where it is undefined)."""
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    for s in series:
        line, = top.plot(d, s["S"] / d, label=s["label"], lw=1)
        if s["guide"] is not None:
            top.plot(d, s["guide"] / d, "--", color=line.get_color(), lw=0.8, label=f"${s['guide']:.3g} / d$")
        bottom.plot(d, s["S"], color=line.get_color(), lw=1, label=s["label"])
    # A log axis shows the 1/d law; it needs some positive densities (the seed's case), else it stays linear.
    positive = any(np.any(s["S"] > 0) for s in series)
    top.set(ylabel=r"$d^{-1}\int_0^d S_y\,dz$ ($\tau e E / \hbar$ nm$^{-2}$)", xscale="log",
            yscale="log" if positive else "linear")
    fig.suptitle("thickness dependence (dashed: $1/d$ guide fitted at large $d$" + ("; log-log)" if positive else ")"),
                 fontsize=11)
    top.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    bottom.set(xlabel="$d$ (nm)", ylabel=f"{S_INT} {S_INT_UNIT}")
    twin = bottom.twinx()
    twin.step(d, series[0]["n_states"], color="0.5", where="mid", lw=0.8)
    twin.set_ylabel("number of states", color="0.5")
    twin.yaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = bottom.get_legend_handles_labels()
    bottom.legend(handles + [Line2D([], [], color="0.5", lw=0.8)],
                  labels + [f"number of states (right axis),\n{series[0]['label']}"], fontsize=8,
                  loc="center left", bbox_to_anchor=(1.12, 0.5), frameon=False)
    return finish(fig, path)
