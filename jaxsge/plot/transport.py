"""Transport figures: polar plots of ``|G_sc|(phi)`` (normalised or absolute) with the 2DEG's Fermi
contours, G_sc with its derivatives against phi, and the conductances against the Fermi energy or a
swept parameter (lines, maps over phi, angle averages and anisotropy).

Built with ``matplotlib.figure.Figure`` (no pyplot, no backend switch: importing jaxsge leaves the
user's matplotlib configuration alone) and saved atomically. Every function takes plain arrays
(conductances in e^2/h, angles in radians) and labels, so a figure can be redrawn from saved data.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..observables.scan import anisotropy, spin_charge_pair
from .style import (E2H, case_colors, closed, finish, pi_fraction, pi_ticks, polar_angle_ticks, radial_range, symbol,
                    unit)

G_SC_ABS = r"$|G_{\mathrm{sc}}|$"
#: Colours of the Fermi contours per magnetization angle (distinct from the case colours C0, C1, ...).
CONTOUR_COLORS = ("tab:purple", "tab:olive", "tab:cyan", "tab:brown")
BAND_STYLES = (("-", r"$\epsilon_-(\mathbf{k}) = \mu$ (spin antiparallel to $\mathbf{b}$)"),
               ("--", r"$\epsilon_+(\mathbf{k}) = \mu$ (spin parallel to $\mathbf{b}$)"))


def polar_panels(phi, curves, titles, *, absolute=False, errors=None, band=None, contours=None, colors=None,
                 suptitle=None, path=None):
    """One polar panel per entry of ``curves``: ``r = |G_sc|(phi)``, normalised by each curve's maximum
    (g_sc of the paper's Fig. 3, the maximum stated in the legend) or, with ``absolute``, in e^2/h.

    ``curves``: per panel, a dict label -> ``|G_sc|`` (n_phi,) in e^2/h (label "" for a panel's only
    curve); ``errors``: optional, per panel, label -> standard error in e^2/h (or None), drawn as
    error bars in the curve's colour that ``band`` (e.g. "mean ± standard error over 16 realizations")
    names in the legend; ``contours``: optional, per panel, the 2DEG's Fermi contours (a list of
    dicts with phi, k, bands, as ``observables.fermi.junction_contours`` gives) drawn in a panel
    below; ``colors``: label -> colour (default: one per label in order, ``style.case_colors``).
    Curves over a full turn are closed at 2 pi. The radial axis starts just below the smallest
    value when every curve stays far from the origin (a few-percent anisotropy is then visible)
    and says so. Returns the figure; written to ``path`` if given.
    """
    n = len(curves)
    errors = errors or [{} for _ in curves]
    colors = colors or case_colors(label for panel in curves for label in panel)
    with_contours = contours is not None and any(c for c in contours)
    # Room for the legend below each panel: its title (two lines) and one line per curve and band.
    legend_lines = 2 + max(len(panel) for panel in curves) + (1 if band else 0)
    polar_height = 4.6 + 0.2 * legend_lines
    fig = Figure(figsize=(max(4.6 * n, 6.0), polar_height + (3.0 if with_contours else 0.4)), layout="constrained")
    # One subfigure per panel: its title is laid out above the polar axes' angle labels (an axes title
    # of a polar plot is moved up at draw time, past where the layout put it).
    for i, (sub, panel, title) in enumerate(zip(fig.subfigures(1, n, squeeze=False)[0], curves, titles)):
        grid = sub.add_gridspec(2 if with_contours else 1, 1,
                                height_ratios=[polar_height, 3.0] if with_contours else None)
        ax = sub.add_subplot(grid[0], projection="polar")
        drawn, handles = [], []
        for label, values in panel.items():
            values = np.asarray(values, dtype=float)
            scale = 1.0 if absolute else float(np.max(values))
            err = errors[i].get(label)
            r = values / scale
            angles, ring = closed(phi, r)
            line, = ax.plot(angles, ring, lw=1.8, color=colors[label])
            text = f"max {G_SC_ABS} = {np.max(values):.3g} {E2H}"
            handles.append(Line2D([], [], color=colors[label], lw=1.8, label=f"{label}: {text}" if label else text))
            if err is not None:  # error bars in the curve's colour: overlapping bands would mix colours
                err = np.asarray(err) / scale
                ax.errorbar(phi, r, yerr=err, fmt="none", ecolor=colors[label], elinewidth=1.0, alpha=0.6)
                drawn += [closed(phi, r - err)[1], closed(phi, r + err)[1]]
            drawn.append(ring)
        if band and any(errors[i].get(label) is not None for label in panel):
            handles.append(Line2D([], [], color="0.4", lw=0, marker="|", markersize=10, label=band))
        lo, hi = min(np.min(d) for d in drawn), max(np.max(d) for d in drawn)
        r_min, r_max = radial_range(lo, hi)
        ax.set_ylim(r_min, r_max)
        ticks = [v for v in MaxNLocator(4, steps=[1, 2, 2.5, 5, 10]).tick_values(r_min, r_max) if r_min <= v <= hi]
        ax.set_yticks(ticks, [f"{v:.3g}" for v in ticks], fontsize=7)
        if r_min > 0:  # an empty disc in the middle shows that the radius does not start at 0
            ax.set_rorigin(r_min - 0.35 * (r_max - r_min))
        ax.set_rlabel_position(np.rad2deg(label_angle(phi, drawn[::-1], ticks, r_max - r_min)))
        for tick in ax.yaxis.get_ticklabels():
            tick.set_bbox({"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 0.5})
        polar_angle_ticks(ax)
        if title:
            sub.suptitle(title, fontsize=10)
        radius = (f"radius: {G_SC_ABS} ({E2H})" if absolute else
                  r"radius: $g_{\mathrm{sc}} = |G_{\mathrm{sc}}| \,/\, \max_\varphi |G_{\mathrm{sc}}|$")
        if r_min > 0:
            radius += f"\n(radial axis from {r_min:.3g}, not 0)"
        ax.legend(handles=handles, title=radius, title_fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08),
                  fontsize=8, frameon=False)
        if with_contours and contours[i]:
            _fermi_inset(sub.add_subplot(grid[1]), contours[i])
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return finish(fig, path)


def label_angle(phi, curves, ticks, span: float) -> float:
    """The angle (radians) for the radial tick labels: the one of ``phi`` (and the midpoints) where the
    ticks are farthest from every curve, so that no label sits on a curve."""
    angles = np.asarray(phi, dtype=float)
    candidates = np.concatenate([angles, angles + np.pi / max(angles.size, 1)])
    radii = [np.interp(candidates, *closed(angles, np.asarray(c)[: angles.size]), period=2 * np.pi) for c in curves]
    gap = np.min([np.abs(r[:, None] - np.asarray(ticks)[None, :]).min(axis=1) for r in radii], axis=0) / span
    # Prefer, among nearly equal gaps, angles off the angular grid lines (every pi/4) where the angle labels are.
    off_grid = np.abs(((candidates + np.pi / 8) % (np.pi / 4)) - np.pi / 8)
    return float(candidates[np.argmax(gap + 0.05 * off_grid)] % (2 * np.pi))


def _fermi_inset(ax, contours) -> None:
    """The Fermi contours of one panel: one colour per magnetization angle, one line style per band."""
    handles = []
    for j, c in enumerate(contours):
        color = CONTOUR_COLORS[j % len(CONTOUR_COLORS)]
        for band, (style, _) in zip(c["bands"], BAND_STYLES):
            ax.contour(c["k"], c["k"], band, levels=[0.0], colors=[color], linewidths=1.0, linestyles=style)
        handles.append(Line2D([], [], color=color, label=f"${symbol('phi')} = {pi_fraction(c['phi'])}$"))
    handles += [Line2D([], [], color="0.3", ls=style, label=label) for style, label in BAND_STYLES]
    ax.set(aspect="equal", xlabel="$k_x a$", ylabel="$k_y a$")
    ax.tick_params(labelsize=7)
    ax.set_title("Fermi contours of the 2DEG", fontsize=9)
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)


def sensitivity_panels(phi, values, derivatives, wrt, suptitle=None, path=None):
    """G_sc^x (and G_sc^y) versus phi, then one row per parameter with their derivatives and that of ``|G_sc|``.

    ``values``: dict with "Gsc_x" (and "Gsc_y"), (n_phi,) in e^2/h; ``derivatives``: quantity ->
    name -> (n_phi,) in e^2/h per unit of the parameter. Returns the figure; written to ``path``
    if given.
    """
    rows = 1 + len(wrt)
    fig = Figure(figsize=(8.6, 2.3 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    gx, gy = spin_charge_pair(values)  # an axis without its lead pair is zero
    amplitude = np.hypot(gx, gy)
    angles, gx_c, gy_c, amp_c = closed(phi, gx, gy, amplitude)
    for key, g_c, color, label in (("Gsc_x", gx_c, "C0", r"$G_{\mathrm{sc}}^x$"),
                                   ("Gsc_y", gy_c, "C1", r"$G_{\mathrm{sc}}^y$")):
        if key in values:
            axes[0].plot(angles, g_c, color=color, label=label)
    axes[0].plot(angles, amp_c, "k--", lw=1, label=G_SC_ABS)
    axes[0].set_ylabel(f"$G_{{\\mathrm{{sc}}}}$ ({E2H})")
    for ax, name in zip(axes[1:], wrt):
        dx, dy = spin_charge_pair({q: per[name] for q, per in derivatives.items()})
        s = symbol(name)
        # d|G|/dp = (Gx dGx/dp + Gy dGy/dp) / |G| (chain rule; 0 where |G| vanishes).
        safe = np.where(amplitude > 0, amplitude, 1.0)
        d_amp = np.where(amplitude > 0, (gx * dx + gy * dy) / safe, 0.0)
        _, dx_c, dy_c, d_amp_c = closed(phi, dx, dy, d_amp)
        if "Gsc_x" in derivatives:
            ax.plot(angles, dx_c, color="C0", label=rf"$\partial G_{{\mathrm{{sc}}}}^x / \partial {s}$")
        if "Gsc_y" in derivatives:
            ax.plot(angles, dy_c, color="C1", label=rf"$\partial G_{{\mathrm{{sc}}}}^y / \partial {s}$")
        ax.plot(angles, d_amp_c, "k--", lw=1, label=rf"$\partial |G_{{\mathrm{{sc}}}}| / \partial {s}$")
        ax.axhline(0, color="0.7", lw=0.6)
        u = unit(name)
        per = f"per ${u}$" if u and u != "layers" else "per unit"
        ax.set_ylabel(rf"$\partial G_{{\mathrm{{sc}}}} / \partial {s}$ ({E2H} {per})")
    for ax in axes:  # legends right of the axes: clear of the curves and of the offset text (x 1e-3)
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    axes[-1].set_xlabel(rf"${symbol('phi')}$")
    pi_ticks(axes[-1])
    axes[-1].set_xlim(0, 2 * np.pi)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return finish(fig, path)


#: The conversion conductances of an energy figure: (key, mathtext, line style).
ENERGY_CURVES = (("Gsc_x", r"$G_{\mathrm{sc}}^x$", "-"), ("Gsc_y", r"$G_{\mathrm{sc}}^y$", "--"),
                 ("Gcs_x", r"$G_{\mathrm{cs}}^x$", "-"), ("Gcs_y", r"$G_{\mathrm{cs}}^y$", "--"))


def energy_panels(energy, curves, energy_label, *, colors=None, suptitle=None, path=None):
    """G_sc (top) and G_cs (bottom) against the Fermi energy (or a swept parameter) at one magnetization angle,
    in e^2/h.

    ``energy``: (n_energy,) in units of t (or the parameter's values); ``curves``: per case label (``""``
    for a single case) a dict Gsc_x, Gsc_y, Gcs_x, Gcs_y (those the leads allow) -> (n_energy,) in
    e^2/h; ``energy_label``: the x-axis label (``style.axis_label``). One colour per case
    (``style.case_colors``), one line style per component (x solid, y dashed); the legends stand right
    of the axes. Returns the figure; written to ``path`` if given.
    """
    energy = np.asarray(energy, dtype=float)
    colors = colors or case_colors(curves)
    fig = Figure(figsize=(8.6, 6.2), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.1)  # room right of the legends, which end the figure
    axes = fig.subplots(2, 1, sharex=True)
    marker = "o" if energy.size <= 40 else None  # few energies: the points computed are shown
    for ax, prefix, quantity in zip(axes, ("Gsc", "Gcs"), (r"G_{\mathrm{sc}}", r"G_{\mathrm{cs}}")):
        handles = []
        for label, values in curves.items():
            for key, text, style in ENERGY_CURVES:
                if key.startswith(prefix) and key in values:
                    ax.plot(energy, values[key], ls=style, color=colors[label], marker=marker, markersize=3, lw=1.5)
        for key, text, style in ENERGY_CURVES:
            if key.startswith(prefix) and any(key in values for values in curves.values()):
                handles.append(Line2D([], [], color="0.3", ls=style, label=text))
        handles += [Line2D([], [], color=colors[label], lw=3, label=label) for label in curves if label]
        ax.axhline(0, color="0.7", lw=0.6)
        ax.set_ylabel(f"${quantity}$ ({E2H})")
        ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    axes[-1].set_xlabel(energy_label)
    for ax in axes:
        ax.margins(x=0.02)  # the first and last points whole, little else
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return finish(fig, path)


def phi_energy_maps(phi, energy, amplitudes, titles, energy_label, *, normalised=None, suptitle=None, path=None):
    """``|G_sc|`` over phi (x axis, multiples of pi) and the Fermi energy (y axis, units of t), one column per panel.

    ``amplitudes``: per panel ``|G_sc|`` (n_energy, n_phi) in e^2/h, on one colour scale (colour bar in
    e^2/h); ``normalised``: optional, per panel g_sc = ``|G_sc|`` / its maximum over phi at each energy,
    drawn in a second row (the angular pattern at every energy, whatever its size). The phi grid
    covers [0, 2 pi) uniformly: its first column is repeated at 2 pi, so the map spans the full turn.
    Returns the figure; written to ``path`` if given.
    """
    phi, energy = np.asarray(phi, dtype=float), np.asarray(energy, dtype=float)
    rows = [("amplitude", amplitudes)] + ([("normalised", normalised)] if normalised is not None else [])
    n = len(amplitudes)
    # at least as wide as the energy figure: room for a title that states every parameter on one line
    fig = Figure(figsize=(max(3.9 * n + 1.6, 8.6), 3.4 * len(rows) + 0.8), layout="constrained")
    axes = fig.subplots(len(rows), n, squeeze=False, sharex=True, sharey=True)
    angles = np.append(phi, phi[0] + 2 * np.pi)
    for r, (kind, maps) in enumerate(rows):
        maps = [np.asarray(m, dtype=float) for m in maps]
        lo = 0.0 if kind == "amplitude" else min(float(m.min()) for m in maps)
        hi = max(float(m.max()) for m in maps)
        for ax, values in zip(axes[r], maps):
            values = np.concatenate([values, values[:, :1]], axis=1)
            mesh = ax.pcolormesh(angles, energy, values, shading="nearest", vmin=lo, vmax=hi,
                                 cmap="viridis" if kind == "amplitude" else "magma", rasterized=True)
            ax.set_xlim(0, 2 * np.pi)
        label = (f"{G_SC_ABS} ({E2H})" if kind == "amplitude" else
                 r"$g_{\mathrm{sc}} = |G_{\mathrm{sc}}| \,/\, \max_\varphi |G_{\mathrm{sc}}|$" "\n(at each energy)")
        fig.colorbar(mesh, ax=list(axes[r]), label=label, shrink=0.95, pad=0.02)
        axes[r][0].set_ylabel(energy_label)
    return _finish_phi_maps(fig, axes, titles, suptitle, path)


def _finish_phi_maps(fig, axes, titles, suptitle, path):
    """The phi axis of the bottom row in multiples of pi, the panels' titles and the figure's: the common end
    of the phi maps (energy or a swept parameter on the y axis)."""
    for ax in axes[-1]:
        pi_ticks(ax)
        ax.set_xlabel(rf"${symbol('phi')}$")
    for ax, title in zip(axes[0], titles):
        if title:
            ax.set_title(title, fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return finish(fig, path)


def conductance_maps(phi, values, panels, titles, value_label, *, suptitle=None, path=None):
    """G_sc^x, G_sc^y, G_cs^x, G_cs^y (one row each, those the leads allow) over phi (x axis, multiples of pi) and a
    swept parameter (y axis), one column per panel, in e^2/h.

    ``values``: (n_values,) the parameter, increasing; ``panels``: per panel a dict Gsc_x, ... -> (n_values,
    n_phi) in e^2/h; ``value_label``: the y-axis label (``style.axis_label``). A diverging colour map
    centred at zero (blue negative, white zero, red positive), symmetric and shared by the panels of a
    row, with one colour bar per row: a sign change of the conversion is a change of colour. The phi
    grid covers [0, 2 pi) uniformly: its first column is repeated at 2 pi, so the map spans the full
    turn. Returns the figure; written to ``path`` if given.
    """
    phi, values = np.asarray(phi, dtype=float), np.asarray(values, dtype=float)
    rows = [(key, text) for key, text, _ in ENERGY_CURVES if key in panels[0]]
    n = len(panels)
    fig = Figure(figsize=(max(3.9 * n + 1.6, 7.4), 2.3 * len(rows) + 0.9), layout="constrained")
    axes = fig.subplots(len(rows), n, squeeze=False, sharex=True, sharey=True)
    angles = np.append(phi, phi[0] + 2 * np.pi)
    for r, (key, text) in enumerate(rows):
        maps = [np.asarray(panel[key], dtype=float) for panel in panels]
        top = max(float(np.abs(m).max()) for m in maps) or 1.0  # a component that vanishes: white
        for ax, m in zip(axes[r], maps):
            mesh = ax.pcolormesh(angles, values, np.concatenate([m, m[:, :1]], axis=1), shading="nearest",
                                 cmap="RdBu_r", vmin=-top, vmax=top, rasterized=True)
            ax.set_xlim(0, 2 * np.pi)
        fig.colorbar(mesh, ax=list(axes[r]), label=f"{text} ({E2H})", shrink=0.95, pad=0.02)
        axes[r][0].set_ylabel(value_label)
    return _finish_phi_maps(fig, axes, titles, suptitle, path)


def sweep_panels(values, curves, value_label, *, colors=None, suptitle=None, path=None):
    """The angle averages of ``|G_sc|`` and ``|G_cs|`` (top, e^2/h) and their anisotropy (max - min)/mean over phi
    (bottom, ``observables.scan.anisotropy``) against a swept parameter.

    ``values``: (n_values,); ``curves``: per case label (``""`` for a single case) a dict "sc", "cs" ->
    ``|G_sc|``, ``|G_cs|`` (n_values, n_phi) in e^2/h on the uniform phi grid; ``value_label``: the
    x-axis label. One colour per case (``style.case_colors``), G_sc solid, G_cs dashed, broad and pale
    below it (visible where the two coincide); the legends stand
    right of the axes. Returns the figure; written to ``path`` if given.
    """
    values = np.asarray(values, dtype=float)
    colors = colors or case_colors(curves)
    fig = Figure(figsize=(8.6, 6.2), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.1)
    axes = fig.subplots(2, 1, sharex=True)
    marker = "o" if values.size <= 40 else None
    # G_cs drawn first, broad and pale: where it equals G_sc (Onsager reciprocity at these settings) it shows as a halo
    quantities = (("cs", r"|G_{\mathrm{cs}}|", dict(ls="--", lw=3.0, alpha=0.45)),
                  ("sc", r"|G_{\mathrm{sc}}|", dict(ls="-", lw=1.5, marker=marker, markersize=3)))
    for label, amplitudes in curves.items():
        for key, _, style in quantities:
            a = np.asarray(amplitudes[key], dtype=float)
            for ax, y in zip(axes, (a.mean(axis=-1), anisotropy(a))):
                ax.plot(values, y, color=colors[label], **style)
    axes[0].set_ylabel(rf"$\langle |G| \rangle_{{{symbol('phi')}}}$ ({E2H})")
    axes[1].set_ylabel(rf"$(\max_{{{symbol('phi')}}} - \min_{{{symbol('phi')}}}) \,/\, \mathrm{{mean}}$")
    axes[0].set_ylim(bottom=0)
    axes[1].set_ylim(bottom=0)
    for ax, what in zip(axes, ("mean over {}", "anisotropy over {}")):
        handles = [Line2D([], [], color="0.3", **style, label=f"${text}$: " + what.format(rf"${symbol('phi')}$"))
                   for _, text, style in quantities[::-1]]
        handles += [Line2D([], [], color=colors[label], lw=3, label=label) for label in curves if label]
        ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        ax.margins(x=0.02)
    axes[-1].set_xlabel(value_label)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return finish(fig, path)
