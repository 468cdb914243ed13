"""A drawing of any layered junction: its layers and what they carry, its leads, its magnetization.

:func:`draw_stack` reads a :class:`jaxsge.model.stack.Stack` (numbers only; nothing is solved) and
draws (a) the layers bottom to top, each with its index, name, onsite energy and terms (spin-orbit
coupling, exchange, disorder), the side leads beside the layers they continue (grouped by edge)
and the vertical leads above and below; (b) the top view Lx x Ly with each side lead at its edge,
offset and width; (c) the magnetization direction n(theta, phi) as an arrow in 3D.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle

from .style import finish, pi_fraction, value_text

#: Fill colours of a layer by what it carries (first match): spin-orbit, exchange, plain.
SOC_COLOR, EXCHANGE_COLOR, PLAIN_COLOR, LEAD_COLOR = "#cfe8cf", "#f4d3d0", "#e8e8e8", "#c9dcf2"
EDGE_NAMES = {"-x": r"$-x$ edge", "+x": r"$+x$ edge", "-y": r"$-y$ edge", "+y": r"$+y$ edge"}


def _number(value):
    """A field as a float, or None when it is an array (a profile) or not a number."""
    arr = np.asarray(value)
    return float(arr) if arr.ndim == 0 else None


def layer_terms(layer) -> list:
    """The terms a layer carries, as short mathtext strings (energies in units of t)."""
    onsite = _number(layer.onsite)
    terms = [f"$\\epsilon = {onsite:.3g}\\,t$" if onsite is not None else r"$\epsilon(x, y)$ profile"]
    if getattr(layer, "orbitals", 1) > 1:
        terms.append(f"{layer.orbitals} orbitals")
    for name in ("alpha1", "alpha3", "beta", "dxc"):
        value = _number(getattr(layer, name))
        if value:
            terms.append(value_text(name, value))
    if getattr(layer, "hoppings", None):
        terms.append("extra hoppings")
    if _number(layer.K0):
        terms.append(value_text("K0", _number(layer.K0)) + " (disorder)")
    if layer.theta is not None or layer.phi is not None:
        angles = f"{value_text('theta', layer.theta or 0)}, {value_text('phi', layer.phi or 0)}"
        terms.append(f"own $\\mathbf{{n}}$ ({angles})")
    return terms


def _layer_color(layer) -> str:
    if any(_number(getattr(layer, n)) for n in ("alpha1", "alpha3", "beta")):
        return SOC_COLOR
    return EXCHANGE_COLOR if _number(layer.dxc) else PLAIN_COLOR


def _lead_text(lead) -> str:
    dxc = _number(lead.dxc)
    return lead.name + (f", {value_text('dxc', dxc)}" if dxc else "")


def draw_stack(stack, path=None, title=None):
    """Draw ``stack`` (a :class:`~jaxsge.model.stack.Stack`); returns the figure, written to ``path`` if given.

    Layer colours: green = spin-orbit coupling (alpha1, alpha3 or beta), red = exchange only,
    grey = neither; a hatched layer is disordered (K0 > 0); leads are blue.
    """
    edges = [e for e in ("-x", "-y", "+x", "+y") if any(lead.edge == e for lead in stack.side_leads)]
    left, right = [e for e in edges if e[0] == "-"], [e for e in edges if e[0] == "+"]
    n_layers = stack.Lz
    fig = Figure(figsize=(13.5, max(5.2, 0.62 * n_layers + 3.4)), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=[2.3, 1], height_ratios=[1.2, 1])
    side = fig.add_subplot(grid[:, 0])
    # (a) layers: rows z = 0 .. Lz - 1 in the middle (x from 0 to 10), edge columns of width 1.6 each side.
    col = 1.8
    x_of = ({e: -col * (len(left) - i) for i, e in enumerate(left)}
            | {e: 10 + 0.2 + col * i for i, e in enumerate(right)})
    for z, layer in enumerate(stack.layers):
        side.add_patch(Rectangle((0, z), 10, 0.92, facecolor=_layer_color(layer), edgecolor="k", lw=0.8))
        if _number(layer.K0):  # disorder: a light hatch under the text
            side.add_patch(Rectangle((0, z), 10, 0.92, facecolor="none", edgecolor="0.55", lw=0, hatch="//"))
        box = {"facecolor": _layer_color(layer), "edgecolor": "none", "pad": 1.5}
        side.text(0.2, z + 0.46, f"$z = {z}$  {layer.name or ''}", ha="left", va="center", fontsize=9,
                  fontweight="bold", bbox=box)
        side.text(3.6, z + 0.46, ",  ".join(layer_terms(layer)), ha="left", va="center", fontsize=8, bbox=box)
    for e in edges:
        side.text(x_of[e] + 0.8, n_layers + (1.5 if stack.top is not None else 0.3), EDGE_NAMES[e], ha="center",
                  va="bottom", fontsize=8, color="0.3")
    for lead in stack.side_leads:
        first, last = lead.layers
        side.add_patch(Rectangle((x_of[lead.edge] + 0.1, first + 0.05), col - 0.2, last - first + 0.82,
                                 facecolor=LEAD_COLOR, edgecolor="tab:blue", lw=1))
        side.text(x_of[lead.edge] + 0.8, (first + last + 0.92) / 2, lead.name, ha="center", va="center", fontsize=9)
    x_lo, x_hi = min([0.0, *x_of.values()]) - 0.2, max([10.0, *(v + col for v in x_of.values())]) + 0.2
    for where, lead in stack.vertical_leads:
        y = n_layers + 0.05 if where == "top" else -1.0
        side.add_patch(Rectangle((0, y), 10, 0.9, facecolor=LEAD_COLOR, edgecolor="tab:blue", lw=1))
        side.text(5, y + 0.45, f"{where} lead {_lead_text(lead)}" + (f", $\\epsilon = {_number(lead.onsite):.3g}\\,t$"
                  if _number(lead.onsite) is not None else ""), ha="center", va="center", fontsize=9)
    side.set(xlim=(x_lo, x_hi), ylim=(-1.2 if stack.bottom is not None else -0.2, n_layers + 2.2),
             xticks=[], yticks=[], title=f"(a) layers bottom to top ($L_z = {n_layers}$), leads by edge; "
                                         "energies in units of $t$")
    side.title.set_fontsize(10)
    legend = [Patch(facecolor=c, edgecolor="k", lw=0.6, label=t) for c, t in (
        (SOC_COLOR, "spin-orbit coupling"), (EXCHANGE_COLOR, "exchange only"), (PLAIN_COLOR, "neither"),
        (LEAD_COLOR, "lead"))] + [Patch(facecolor="white", edgecolor="0.55", hatch="//", label="disordered")]
    side.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=5, fontsize=8, frameon=False)
    for spine in side.spines.values():
        spine.set_visible(False)
    _top_view(fig.add_subplot(grid[0, 1]), stack)
    _magnetization(fig.add_subplot(grid[1, 1], projection="3d"), stack)
    if title:
        fig.suptitle(title, fontsize=11)
    return finish(fig, path)


def _top_view(ax, stack) -> None:
    """(b) The Lx x Ly layer with each side lead at its edge, offset and width."""
    Lx, Ly = stack.Lx, stack.Ly
    ax.add_patch(Rectangle((0, 0), Lx, Ly, facecolor=PLAIN_COLOR, edgecolor="k", lw=0.8))
    depth = 0.22 * max(Lx, Ly)
    for lead in stack.side_leads:
        along = Ly if lead.edge in ("-x", "+x") else Lx
        width = along if lead.width is None else lead.width
        offset = (along - width) // 2 if lead.offset is None else lead.offset
        first, last = lead.layers
        layers = f"$z = {first}$" if first == last else f"$z = {first}$–${last}$"
        if lead.edge in ("-x", "+x"):
            x0 = -depth if lead.edge == "-x" else Lx
            rect, centre = (x0, offset), (x0 + depth / 2, offset + width / 2)
            size = (depth, width)
        else:
            y0 = -depth if lead.edge == "-y" else Ly
            rect, centre = (offset, y0), (offset + width / 2, y0 + depth / 2)
            size = (width, depth)
        ax.add_patch(Rectangle(rect, *size, facecolor=LEAD_COLOR, edgecolor="tab:blue", lw=1, alpha=0.8))
        ax.text(*centre, f"{lead.name}\n{layers}\n$w = {width}$", ha="center", va="center", fontsize=7)
    theta, phi = float(np.asarray(stack.theta).ravel()[0]), float(np.asarray(stack.phi).ravel()[0])
    length = 0.35 * min(Lx, Ly) * np.sin(theta)
    if np.sin(theta) > 0.35:  # the in-plane part of n (not drawn when n is nearly along z)
        ax.add_patch(FancyArrowPatch((Lx / 2, Ly / 2), (Lx / 2 + length * np.cos(phi), Ly / 2 + length * np.sin(phi)),
                                     arrowstyle="-|>", mutation_scale=14, color="tab:red", lw=2))
    ax.set(aspect="equal", xlim=(-depth * 1.05, Lx + depth * 1.05), ylim=(-depth * 1.05, Ly + depth * 1.05),
           xlabel="$x/a$", ylabel="$y/a$")
    ax.set_title(f"(b) top view, $L_x \\times L_y = {Lx} \\times {Ly}$; red: in-plane part of $\\mathbf{{n}}$",
                 fontsize=9)
    ax.tick_params(labelsize=7)


def _magnetization(ax, stack) -> None:
    """(c) The magnetization n = (sin theta cos phi, sin theta sin phi, cos theta) as a 3D arrow."""
    theta = np.asarray(stack.theta, dtype=float).ravel()
    phi = np.asarray(stack.phi, dtype=float).ravel()
    for a in ("x", "y", "z"):
        end = {"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1)}[a]
        ax.plot(*zip((0, 0, 0), end), color="0.5", lw=0.8)
        ax.text(*(1.12 * np.array(end)), f"${a}$", fontsize=9, color="0.3")
    t0, p0 = float(theta[0]), float(phi[0])
    n = (np.sin(t0) * np.cos(p0), np.sin(t0) * np.sin(p0), np.cos(t0))
    ax.quiver(0, 0, 0, *n, color="tab:red", lw=2, arrow_length_ratio=0.15)
    ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1))
    ax.set_box_aspect((1, 1, 1))
    ax.set_axis_off()
    scanned = f" (first of {max(theta.size, phi.size)} angles)" if max(theta.size, phi.size) > 1 else ""
    ax.set_title(f"(c) magnetization $\\mathbf{{n}}$: $\\theta = {pi_fraction(t0)}$, $\\varphi = {pi_fraction(p0)}$"
                 + scanned, fontsize=9)
