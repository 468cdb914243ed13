"""Finite temperature: G = int d eps (-df/d eps) T(eps), by a quadrature split at the subband edges.

The substitution u = tanh((eps - mu)/2kT) turns the thermal window into
int_{-1}^{1} du/2 T(mu + 2 kT artanh u). T is analytic in eps except at the subband edges of
the leads, where channels open with square-root onsets; so [-1, 1] is split at the edges
inside the window, and each piece is integrated by Gauss-Legendre in s after the map
u = a + (b - a) sin^2(pi s / 2), s in [0, 1], under which sqrt(u - a) and sqrt(b - u) become
analytic in s. The quadrature then converges exponentially; its order is doubled until the
conductances change by less than the requested tolerance (``observables.scan``). The
conductances are averaged first and the conversion formulas applied to them, as in the paper
(text below its Eq. (1)).
"""

from __future__ import annotations

import numpy as np

# Beyond |eps - mu| = 30 kT the thermal weight -df/d eps integrates to 2 / (1 + e^30) < 2e-13; the
# window must end before u = tanh(15) rounds to 1.
THERMAL_WINDOW_KT = 30.0


def thermal_nodes(mu: float, kT: float, edges, order: int):
    """Energies and weights of int d eps (-df/d eps) F(eps) for one Fermi energy ``mu``.

    ``order`` Gauss-Legendre nodes on each piece of u = tanh((eps - mu)/2kT) in [-1, 1] between
    the ``edges`` (subband edges) inside the window |eps - mu| < 30 kT, after the sin^2 map of
    the module docstring. The weights sum to 1 - 2e-13 (the weight outside the window is dropped).
    """
    edges = np.asarray(edges, dtype=float)
    inside = edges[np.abs(edges - mu) < THERMAL_WINDOW_KT * kT]
    end = np.tanh(THERMAL_WINDOW_KT / 2)
    breaks = np.unique(np.concatenate([[-end, end], np.tanh((inside - mu) / (2 * kT))]))
    x, w = np.polynomial.legendre.leggauss(order)
    s = (x + 1) / 2
    a, b = breaks[:-1, None], breaks[1:, None]
    u = a + (b - a) * np.sin(np.pi * s / 2) ** 2
    # du = (b - a) (pi/2) sin(pi s) ds, ds = dx/2, and the thermal measure is du/2.
    weight = (b - a) * (np.pi / 2) * np.sin(np.pi * s) * (w / 2) / 2
    return (mu + 2 * kT * np.arctanh(u)).ravel(), weight.ravel()
