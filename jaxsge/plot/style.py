"""The conventions every jaxsge figure shares: symbols and units, angles in multiples of pi, one
colour per case, a radial range that shows small anisotropy, and atomic saving.

Every figure function of :mod:`jaxsge.plot` takes plain arrays and labels (nothing is solved or
derived there), so a figure can be redrawn from saved results alone.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ..io.files import write_figure

#: Parameter name -> (mathtext symbol, unit or ""): energies in units of the hopping t, lengths in
#: lattice constants a (the well's own units are eV and nm, named in its labels).
SYMBOLS = {
    "theta": (r"\theta", ""), "phi": (r"\varphi", ""), "mu": (r"\mu", "t"), "energy": ("E", "t"),
    "xi": (r"\xi", "a"), "K0": ("K_0", "t"), "alpha1": (r"\alpha_1", "t"), "alpha3": (r"\alpha_3", "t"),
    "beta": (r"\beta", "t"), "dxc": (r"\Delta_{\mathrm{xc}}", "t"), "U0": ("U_0", "t"), "t": ("t", "t"),
    "kT": (r"k_B T", "t"), "W": ("W", "a"), "Lx": ("L_x", "a"), "Ly": ("L_y", "a"), "Lz": ("L_z", "layers"),
    "tz": ("t_z", "t"), "onsite": (r"\epsilon", "t"),
    # the t2g junction (docs/model.md): energies in units of its light hopping t_l, which is t
    "gate": (r"\mathrm{gate}", "t"), "t_h": ("t_h", "t"), "delta_E": (r"\Delta_E", "t"), "lam": (r"\lambda", "t"),
    "gamma": (r"\gamma", "t"),
}
#: The spin-charge conductance and its units, as mathtext.
G_SC = r"$G_{\mathrm{sc}}$"
E2H = r"$e^2/h$"
#: The clean (disorder-free) curve of an ensemble figure is always this colour.
CLEAN_COLOR = "k"


def pi_fraction(angle: float, max_denominator: int = 12) -> str:
    """An angle (radians) as mathtext in multiples of pi: 0, pi/2, 3pi/2, 2pi; other angles as 0.37 pi."""
    x = float(angle) / np.pi
    f = Fraction(x).limit_denominator(max_denominator)
    if abs(float(f) - x) > 1e-9:
        return rf"{x:.3g}\pi"
    if f == 0:
        return "0"
    sign = "-" if f < 0 else ""
    num, den = abs(f.numerator), f.denominator
    top = r"\pi" if num == 1 else rf"{num}\pi"
    return sign + (top if den == 1 else rf"{top}/{den}")


def symbol(name: str) -> str:
    """The mathtext symbol of a parameter (its name in roman type when it has none), without $."""
    if name in SYMBOLS:
        return SYMBOLS[name][0]
    head, _, tail = name.partition(".")  # a stack parameter such as layers[2].alpha1 or M.dxc
    if tail in SYMBOLS:
        return rf"{SYMBOLS[tail][0]}^{{\mathrm{{{head}}}}}".replace("[", "").replace("]", "")
    return rf"\mathrm{{{name}}}".replace("_", r"\_")


def unit(name: str) -> str:
    """The unit of a parameter ("t", "a", ... or "" for angles and unknown names)."""
    return SYMBOLS.get(name, SYMBOLS.get(name.rpartition(".")[2], ("", "")))[1]


def axis_label(name: str) -> str:
    """An axis label: the symbol and its unit in parentheses, e.g. ``$\\mu$ ($t$)``."""
    u = unit(name)
    return f"${symbol(name)}$" + (f" (${u}$)" if u and u != "layers" else "")


def value_text(name: str, value) -> str:
    """``name = value`` for a title: angles in multiples of pi, other numbers with their unit."""
    if name in ("theta", "phi"):
        return f"${symbol(name)} = {pi_fraction(value)}$"
    u = unit(name)
    return f"${symbol(name)} = {float(value):.4g}" + (f"\\,{u}$" if u and u != "layers" else "$")


def case_text(values: dict) -> str:
    """The title of a case: ``name = value`` for each of its parameters, comma separated."""
    return ", ".join(value_text(n, v) for n, v in values.items())


def case_colors(labels) -> dict:
    """One colour per case label, in order (matplotlib's tab10 cycle): every figure of a run looks
    its cases up here, so a case has the same colour everywhere."""
    return {label: f"C{i % 10}" for i, label in enumerate(dict.fromkeys(labels))}


def value_colors(values, shown) -> list:
    """The colours of the curves at ``values[k]`` for k in ``shown``: viridis over the range of ``values`` (a swept
    parameter), so that a curve's colour says where in the sweep it lies."""
    from matplotlib import colormaps

    values = np.asarray(values, dtype=float)
    span = float(values.max() - values.min()) or 1.0
    return [colormaps["viridis"](0.9 * (values[k] - values.min()) / span) for k in shown]


def pi_ticks(ax, axis: str = "x", lo: float = 0.0, hi: float = 2 * np.pi, step: float = np.pi / 2) -> None:
    """Ticks of an angle axis at multiples of ``step`` between lo and hi, labelled in multiples of pi."""
    ticks = step * np.arange(np.ceil(lo / step - 1e-9), np.floor(hi / step + 1e-9) + 1)
    labels = [f"${pi_fraction(t)}$" for t in ticks]
    (ax.set_xticks if axis == "x" else ax.set_yticks)(ticks, labels)


def polar_angle_ticks(ax) -> None:
    """The angular grid of a polar axis every pi/4, labelled in multiples of pi."""
    degrees = np.arange(0, 360, 45)
    ax.set_thetagrids(degrees, [f"${pi_fraction(np.deg2rad(d))}$" for d in degrees])


def is_full_turn(phi) -> bool:
    """Whether the angles are the uniform grid 2 pi j / n on [0, 2 pi) (a closed curve may then be drawn)."""
    phi = np.asarray(phi, dtype=float)
    n = phi.size
    return n > 1 and bool(np.allclose(phi, 2 * np.pi * np.arange(n) / n, atol=1e-9))


def closed(phi, *curves):
    """The angles and curves with the first point repeated at phi + 2 pi, when phi covers [0, 2 pi)
    uniformly (a polar curve then closes); unchanged otherwise."""
    phi = np.asarray(phi, dtype=float)
    if not is_full_turn(phi):
        return (phi, *(np.asarray(c) for c in curves))
    return (np.append(phi, phi[0] + 2 * np.pi), *(np.append(c, np.asarray(c)[:1]) for c in curves))


def radial_range(lo: float, hi: float):
    """(r_min, r_max) of a polar axis for curves with values in [lo, hi] (hi > 0).

    From 0 when the curves come within half their maximum of the origin; otherwise from just below
    the minimum (a few-percent anisotropy then fills the panel), rounded to a tick-friendly value.
    """
    if lo < 0.5 * hi:
        return 0.0, hi * 1.04
    spread = hi - lo
    step = 10.0 ** np.floor(np.log10(max(spread, 1e-3 * hi) / 2))
    r_min = float(np.floor((lo - 0.25 * spread) / step) * step)
    return r_min, hi + 0.05 * (hi - r_min)


def finish(fig, path=None, dpi: int = 130):
    """Write the figure to ``path`` (atomically; its format from the suffix) if given; return it."""
    # Constrained layout converges over a few passes when legends hang below axes that it shrinks (the
    # first pass leaves them a few pixels past the edge); three passes settle it before saving.
    for _ in range(3):
        fig.draw_without_rendering()
    if path is not None:
        write_figure(path, fig, dpi=dpi)
    return fig
